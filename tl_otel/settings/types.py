"""Value parsers for settings: each turns a raw string (or a Python value from configure()) into a
typed value, or raises ``InvalidValue`` with a sentence saying what is accepted."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


class InvalidValue(ValueError):
    """Raised by a parser; the message says what is accepted."""


Parser = Callable[[Any], Any]

_TRUE = {"true", "yes", "t", "1", "on"}
_FALSE = {"false", "no", "f", "0", "off"}


def parse_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidValue("one of true/false (also yes/no, t/f, 1/0, on/off)")


def parse_str(raw: Any) -> str:
    if not isinstance(raw, str):
        raise InvalidValue("a string")
    return raw.strip()


@dataclass(frozen=True)
class IntRange:
    """An integer with bounds; ``minimum`` is inclusive."""

    minimum: int = 1
    maximum: int = 2**31 - 1

    def __call__(self, raw: Any) -> int:
        accepted = f"a whole number from {self.minimum} to {self.maximum}"
        if isinstance(raw, bool):
            raise InvalidValue(accepted)
        if isinstance(raw, int):
            value = raw
        else:
            text = str(raw).strip()
            if not re.fullmatch(r"[+-]?\d+", text):
                raise InvalidValue(accepted)
            value = int(text)
        if not self.minimum <= value <= self.maximum:
            raise InvalidValue(accepted)
        return value


@dataclass(frozen=True)
class Milliseconds:
    """A duration given in milliseconds (the OTEL_* convention); parsed to seconds.

    ``allow_zero`` follows the spec's Timeout type, where 0 means "no limit"."""

    allow_zero: bool = False
    maximum_ms: int = 2**31 - 1

    def __call__(self, raw: Any) -> float:
        lower = 0 if self.allow_zero else 1
        try:
            value = IntRange(lower, self.maximum_ms)(raw)
        except InvalidValue:
            raise InvalidValue(
                f"a whole number of milliseconds from {lower} to {self.maximum_ms}"
            ) from None
        return value / 1000.0


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


@dataclass(frozen=True)
class Seconds:
    """A duration in seconds; accepts ``2.5``, ``500ms``, ``30s``, ``5m``, ``1h``."""

    minimum: float = 0.0
    maximum: float = 24 * 3600.0

    def __call__(self, raw: Any) -> float:
        accepted = (
            f"a duration from {self.minimum:g}s to {self.maximum:g}s, such as 10, 2.5, 500ms, 30s or 5m"
        )
        if isinstance(raw, bool):
            raise InvalidValue(accepted)
        if isinstance(raw, (int, float)):
            value = float(raw)
        else:
            match = _DURATION.match(str(raw).lower())
            if not match:
                raise InvalidValue(accepted)
            value = float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        if not self.minimum <= value <= self.maximum or value != value:
            raise InvalidValue(accepted)
        return value


@dataclass(frozen=True)
class Choice:
    """One of a fixed set of words, case-insensitive; returns the canonical (lower-case) word."""

    choices: Sequence[str]

    def __call__(self, raw: Any) -> str:
        text = str(raw).strip().lower()
        if text not in self.choices:
            raise InvalidValue("one of " + ", ".join(self.choices))
        return text


LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def parse_exporter_list(raw: Any) -> tuple[str, ...]:
    """A comma-separated list of exporter names; ``none`` alone means no exporter."""
    items = raw if isinstance(raw, (list, tuple)) else str(raw).split(",")
    names = tuple(str(item).strip().lower() for item in items if str(item).strip())
    for name in names:
        if not re.fullmatch(r"[a-z0-9_.\-]+", name):
            raise InvalidValue("a comma-separated list of exporter names such as json,otlp or none")
    if "none" in names:
        if len(names) > 1:
            raise InvalidValue("either none alone or a list of exporter names without none")
        return ()
    return names


def parse_ratio(raw: Any) -> float:
    accepted = "a number from 0 to 1"
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise InvalidValue(accepted) from None
    if not 0.0 <= value <= 1.0:
        raise InvalidValue(accepted)
    return value


def parse_name_list(raw: Any) -> tuple[str, ...]:
    """A comma-separated list of names or patterns (empty items are ignored)."""
    items = raw if isinstance(raw, (list, tuple)) else str(raw).split(",")
    return tuple(str(item).strip() for item in items if str(item).strip())


def parse_patterns(raw: Any) -> tuple[str, ...]:
    """Regular expressions: a JSON list of strings, or one per line (commas belong to regexes)."""
    import json

    accepted = 'a JSON list of regular expressions such as ["acct-[0-9]{8}"], or one per line'
    if isinstance(raw, str):
        text = raw.strip()
        if text.startswith("["):
            try:
                raw = json.loads(text)
            except ValueError:
                raise InvalidValue(accepted) from None
        else:
            raw = [line for line in text.splitlines() if line.strip()]
    if not isinstance(raw, (list, tuple)) or not all(isinstance(item, str) and item for item in raw):
        raise InvalidValue(accepted)
    for item in raw:
        try:
            re.compile(item)
        except re.error as exc:
            raise InvalidValue(f"{accepted} ({item!r} does not compile: {exc})") from None
    return tuple(raw)


def parse_event_rules(raw: Any) -> tuple[dict[str, Any], ...]:
    """User rules that turn spans into PostHog events: a JSON list (or, from configure(), a list) of
    objects with ``event`` and at least one of ``span_name`` (glob) and ``attribute`` (``key`` or
    ``key=value``), optionally ``properties`` (event property -> span attribute)."""
    import json

    accepted = ('a JSON list of rules such as [{"event": "checkout_completed", "span_name": "POST /checkout", '
                '"properties": {"order_id": "order.id"}}]')
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise InvalidValue(accepted) from None
    if not isinstance(raw, (list, tuple)):
        raise InvalidValue(accepted)
    rules = []
    for rule in raw:
        if not isinstance(rule, dict) or not isinstance(rule.get("event"), str) or not rule["event"]:
            raise InvalidValue(accepted)
        if not (isinstance(rule.get("span_name"), str) or isinstance(rule.get("attribute"), str)):
            raise InvalidValue(accepted)
        properties = rule.get("properties", {})
        if not isinstance(properties, dict) or not all(isinstance(v, str) for v in properties.values()):
            raise InvalidValue(accepted)
        if set(rule) - {"event", "span_name", "attribute", "properties"}:
            raise InvalidValue(accepted)
        rules.append(dict(rule))
    return tuple(rules)


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(%|b|kb|mb|gb|tb|kib|mib|gib|tib)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {None: 1, "b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
               "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_free_space(raw: Any) -> tuple[str, float]:
    """A free-space threshold: a percentage (``5%``) or a size (``5GiB``, ``500MB``, bytes)."""
    accepted = "a percentage such as 5% or a size such as 5GiB or 500MB"
    match = _SIZE.match(str(raw))
    if not match:
        raise InvalidValue(accepted)
    number, unit = float(match.group(1)), (match.group(2) or "").lower() or None
    if unit == "%":
        if not 0 < number < 100:
            raise InvalidValue(accepted)
        return ("percent", number)
    return ("bytes", number * _SIZE_UNITS[unit])


_HOST = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?)$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def _valid_port(port: str) -> bool:
    return port.isdigit() and 0 < int(port) < 65536


@dataclass(frozen=True)
class Endpoint:
    """Where tl-otel sends something: the one parser of every destination setting.

    ``kind`` is ``url`` (http/https), ``socket`` (``tcp://host:port`` or a Unix socket path), ``redis``
    (``redis://``, ``rediss://``, ``unix://``) or ``host`` (a bare host name, the port being its own setting).
    A form without a scheme is read as the user's host: ``host:port`` and ``host[/path]`` get ``https://``,
    or ``http://`` when the port is not 443 (``posthog.internal:8000`` → ``http://posthog.internal:8000``);
    Scout's ``host:port`` gets ``tcp://``; Redis's gets ``redis://``. What cannot be read as a host is
    refused: the resolver then turns the destination off instead of using the default host
    (``REFUSED_MEANS_OFF``), so data never goes to a host the user did not choose."""

    kind: str = "url"

    def __call__(self, raw: Any) -> str:
        text = parse_str(raw)
        if not text or any(c.isspace() for c in text):
            raise InvalidValue(self.accepted)
        return {"url": self._url, "socket": self._socket, "redis": self._redis, "host": self._host}[self.kind](text)

    @property
    def accepted(self) -> str:
        return {
            "url": "an http:// or https:// URL with a host (or host:port, read as http://host:port, "
                   "https:// for port 443)",
            "socket": "tcp://host:port (a port from 1 to 65535), host:port, or a Unix socket path",
            "redis": "redis://host[:port][/db], rediss://host[:port][/db] or unix:///path",
            "host": "a host name or IP address alone (the port and TLS are their own settings)",
        }[self.kind]

    def _authority(self, authority: str) -> None:
        """``[user[:password]@]host[:port]``: the host must be there and the port a port."""
        host_port = authority.rpartition("@")[2]
        if host_port.startswith("["):
            host, _, rest = host_port.partition("]")
            host += "]"
            port = rest[1:] if rest.startswith(":") else None
            if rest and port is None:
                raise InvalidValue(self.accepted)
        else:
            host, colon, port_text = host_port.partition(":")
            port = port_text if colon else None
        if not _HOST.match(host) or (port is not None and not _valid_port(port)):
            raise InvalidValue(self.accepted)

    def _url(self, text: str) -> str:
        if not _SCHEME.match(text):
            authority = text.split("/", 1)[0]
            port = authority.rpartition("@")[2].rpartition(":")[2] if ":" in authority else "443"
            text = ("https://" if port == "443" else "http://") + text
        scheme, _, rest = text.partition("://")
        if scheme.lower() not in ("http", "https"):
            raise InvalidValue(self.accepted)
        self._authority(re.split(r"[/?#]", rest, maxsplit=1)[0])
        return scheme.lower() + "://" + rest.rstrip("/")

    def _socket(self, text: str) -> str:
        if text.startswith("/") or (":" not in text and not _SCHEME.match(text)):
            return text  # a Unix socket path (absolute, or relative to the working directory)
        if text.startswith("tcp://"):
            text = text[len("tcp://"):]
        elif _SCHEME.match(text):
            raise InvalidValue(self.accepted)
        host, colon, port = text.rpartition(":")
        if not colon or not _HOST.match(host) or not _valid_port(port):
            raise InvalidValue(self.accepted)
        return f"tcp://{host}:{port}"

    def _redis(self, text: str) -> str:
        if not _SCHEME.match(text):
            text = "redis://" + text
        scheme, _, rest = text.partition("://")
        if scheme.lower() == "unix":
            if not rest.startswith("/"):
                raise InvalidValue(self.accepted)
            return text
        if scheme.lower() not in ("redis", "rediss"):
            raise InvalidValue(self.accepted)
        self._authority(re.split(r"[/?#]", rest, maxsplit=1)[0])
        return text

    def _host(self, text: str) -> str:
        if not _HOST.match(text):
            raise InvalidValue(self.accepted)
        return text


REFUSED_MEANS_OFF = (Endpoint,)
"""Parsers whose refused value turns the destination off rather than falling back to the default."""
