"""One redaction step applied to every item before any destination sees it (see docs/security.md)."""

from tl_otel.redaction.redactor import MARKER, Redactor, current, encodable, install

__all__ = ["MARKER", "Redactor", "current", "encodable", "install"]
