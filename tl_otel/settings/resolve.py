"""Resolving the registry against configure() arguments and an environment mapping.

One precedence rule for every setting: configure() argument > TL_OTEL_* > POSTHOG_*/SCOUT_* > OTEL_* >
default (each Setting lists its variables in that order). A bad value never raises here: it becomes a
``Problem`` and the default is used; the caller decides whether strict mode turns problems into an error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tl_otel.settings.registry import BY_NAME, SETTINGS, Setting
from tl_otel.settings.types import REFUSED_MEANS_OFF, InvalidValue


class ConfigurationError(ValueError):
    """Raised in strict mode; the message lists every bad setting."""


def mask(value: Any) -> str:
    """How a secret is shown: never its content, only that it is set and how long it is."""
    if value is None or value == "":
        return "(unset)"
    return f"<secret, {len(str(value))} chars>"



def _scrubbed(text: str) -> str:
    """A setting's value as printed by every command and warning: through the redaction step, so a URL that is
    not a secret setting still never shows its password (``POSTHOG_HOST=https://user:pass@…`` refused)."""
    from tl_otel.redaction import current

    try:
        return current().scrub_text(text)
    except Exception:
        return "<value not shown: it could not be redacted>"


@dataclass(frozen=True)
class Problem:
    setting: Setting
    source: str  # the variable name, or "configure(name=...)"
    raw: Any
    accepted: str
    fallback: Any
    note: str | None = None  # a problem of two settings together, said in its own words

    @property
    def message(self) -> str:
        if self.note is not None:
            return self.note
        shown = mask(self.raw) if self.setting.secret else _scrubbed(repr(self.raw))
        if refuses_to_default(self.setting):
            return (f"{self.source}={shown} is not valid: expected {self.accepted}; nothing is sent there "
                    "and no default host is used instead: this destination is off")
        return (
            f"{self.source}={shown} is not valid: expected {self.accepted}; "
            f"using {'the default ' if self.fallback == self.setting.default else ''}{self.fallback!r}"
        )


REFUSED = "refused"
"""The source of a destination setting whose value was refused: its value is None (the destination is off)."""


def refuses_to_default(setting: Setting) -> bool:
    """A destination the user named but that cannot be read goes nowhere, never to the default host."""
    return isinstance(setting.parse, REFUSED_MEANS_OFF)


@dataclass(frozen=True)
class Resolved:
    value: Any
    source: str  # where the value came from: a variable name, configure(), or "default"


class Settings:
    """Resolved settings. Attribute access returns values (``settings.service_name``)."""

    def __init__(self, resolved: Mapping[str, Resolved], problems: Iterable[Problem]) -> None:
        self._resolved = dict(resolved)
        self.problems: tuple[Problem, ...] = tuple(problems)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._resolved[name].value
        except KeyError:
            raise AttributeError(name) from None

    def source(self, name: str) -> str:
        return self._resolved[name].source

    def is_explicit(self, name: str) -> bool:
        return self._resolved[name].source != "default"

    def display(self) -> list[tuple[str, str, str]]:
        """(name, shown value, source) rows with secrets masked, for printing."""
        rows = []
        for setting in SETTINGS:
            entry = self._resolved[setting.name]
            shown = mask(entry.value) if setting.secret else _scrubbed(repr(entry.value))
            rows.append((setting.name, shown, entry.source))
        return rows

    def __repr__(self) -> str:
        return "Settings(" + ", ".join(f"{name}={shown}" for name, shown, _ in self.display()) + ")"


def _candidates(setting: Setting, overrides: Mapping[str, Any], env: Mapping[str, str]):
    if setting.name in overrides and overrides[setting.name] is not None:
        yield f"configure({setting.name}=...)", overrides[setting.name]
    for variable in setting.env:
        raw = env.get(variable)
        # The spec treats an empty value as unset.
        if raw is not None and raw.strip() != "":
            yield variable, raw


def _resolve_one(setting: Setting, overrides: Mapping[str, Any], env: Mapping[str, str], problems: list):
    for source, raw in _candidates(setting, overrides, env):
        try:
            return Resolved(setting.parse(raw), source)
        except InvalidValue as exc:
            if refuses_to_default(setting):
                problems.append(Problem(setting, source, raw, str(exc), None))
                return Resolved(None, REFUSED)
            problems.append(Problem(setting, source, raw, str(exc), setting.default))
            return Resolved(setting.default, "default")
    return Resolved(setting.default, "default")


def _check_batch_sizes(resolved: dict[str, Resolved], problems: list[Problem]) -> None:
    for queue_name, batch_name in (("span_queue_size", "span_batch_size"), ("log_queue_size", "log_batch_size")):
        queue, batch = resolved[queue_name], resolved[batch_name]
        if batch.value > queue.value:
            setting = BY_NAME[batch_name]
            fallback = min(setting.default, queue.value)
            problems.append(
                Problem(setting, batch.source, batch.value,
                        f"a batch size no larger than the queue size {queue.value} ({queue.source})", fallback)
            )
            resolved[batch_name] = Resolved(fallback, "default")


def _check_scout_key(resolved: dict[str, Resolved], problems: list[Problem]) -> None:
    monitor, key = resolved["scout_monitor"], resolved["scout_key"]
    if monitor.value and monitor.source != "default" and not key.value:
        problems.append(Problem(BY_NAME["scout_monitor"], monitor.source, monitor.value, "", monitor.value,
                                note=f"{monitor.source} asks for Scout monitoring, but SCOUT_KEY is not set (or "
                                     "empty): nothing is sent to Scout until it is"))


def resolve(overrides: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Resolve every setting. ``env`` defaults to ``os.environ``; tests pass a plain dict."""
    import os

    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(BY_NAME))
    if unknown:
        raise TypeError(f"unknown tl-otel setting(s): {', '.join(unknown)}")
    env = os.environ if env is None else env
    problems: list[Problem] = []
    resolved = {setting.name: _resolve_one(setting, overrides, env, problems) for setting in SETTINGS}
    _check_batch_sizes(resolved, problems)
    _check_scout_key(resolved, problems)
    return Settings(resolved, problems)
