"""tl-otel's typed settings registry and its resolution."""

from tl_otel.settings.registry import BY_NAME, SETTINGS, Setting
from tl_otel.settings.resolve import ConfigurationError, Problem, Settings, mask, resolve

__all__ = ["BY_NAME", "SETTINGS", "ConfigurationError", "Problem", "Setting", "Settings", "mask", "resolve"]
