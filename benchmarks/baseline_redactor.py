"""The redactor as it was before issue 14 (commit 59f3783), frozen here so `./run bench redaction` can compare
it with the current one in one interleaved run. Not used by tl-otel itself."""

# ruff: noqa

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tl_otel.redaction.denylists import (
    KEY_NAMES,
    QUERY_KEYS,
    SECRET_SHAPES,
    SHAPE_ANCHORS,
    SQL_KEYS,
    WHOLE_QUERY_KEYS,
)
from tl_otel.safe_values import safe_str, truncate

MARKER = "REDACTED"
REDACTED_KEYS_ATTRIBUTE = "tl.redacted"
# A configured secret shorter than this is not searched for in free text: it would erase common words.
MIN_SECRET_LENGTH = 6
_MAX_DEPTH = 10
_MAX_TEXT = 16384
_PLAIN = frozenset({int, float, bool, bytes, type(None)})
_VALUE_TAIL = re.compile(r"[^\s&\"',;}#)\]=:]+$")
_UNCHANGED = "\x00unchanged"
# A colon that can separate a key from a value (not a URL scheme's).
_COLON_PAIR = re.compile(r"[A-Za-z\"'\]]\s*:(?!//)")
_SQL_LITERAL = re.compile(r"'(?:[^']|'')*'|(?<![\w$.:?@])-?\b\d+(?:\.\d+)?(?:[eE][+-]?\d+)?\b(?![\w.])")


def _normalise(key: str) -> str:
    return key.strip().lower().replace("-", "_")


class Redactor:
    def __init__(
        self,
        secrets: Iterable[str] = (),
        extra_keys: Iterable[str] = (),
        extra_patterns: Iterable[str] = (),
        replace_defaults: bool = False,
        enabled: bool = True,
    ) -> None:
        self.enabled = enabled
        extra = {_normalise(k) for k in extra_keys if k.strip()}
        self._key_names = frozenset(extra) if replace_defaults else KEY_NAMES | extra
        query_keys = extra if replace_defaults else {_normalise(k) for k in QUERY_KEYS - WHOLE_QUERY_KEYS} | extra
        whole_keys = frozenset() if replace_defaults else WHOLE_QUERY_KEYS
        self._key_cache: dict[str, bool] = {}
        self._secrets = self._secret_variants(secrets)
        self._exact, self._folded, self._replacements = self._compile(query_keys, whole_keys, extra_patterns,
                                                                      replace_defaults)
        # Attribute values repeat (methods, hosts, routes, user agents): a scrubbed value is remembered.
        self._text_cache: dict[str, str] = {}
        self._sql_cache: dict[str, str] = {}  # ORM statements repeat: parameterized text, a handful of shapes

    # -- construction ------------------------------------------------------------------------
    @staticmethod
    def _secret_variants(secrets: Iterable[str]) -> list[str]:
        """A URL secret (webhook, Redis URL) leaks in pieces too: its path in an HTTP client's error, its
        password inside the URL. Each piece long enough to be specific is searched for."""
        from urllib.parse import urlsplit

        variants: set[str] = set()
        for secret in secrets:
            if not secret:
                continue
            variants.add(secret)
            if "://" in secret:
                try:
                    parts = urlsplit(secret)
                except ValueError:
                    continue
                for piece in (parts.path, parts.password, parts.query):
                    if piece and len(piece) >= MIN_SECRET_LENGTH and piece.strip("/"):
                        variants.add(piece)
        return sorted((v for v in variants if len(v) >= MIN_SECRET_LENGTH), key=len, reverse=True)

    def _compile(self, query_keys: Iterable[str], whole_keys: Iterable[str], extra_patterns: Iterable[str],
                 replace_defaults: bool):
        """Two patterns, both searched once per string: ``key=value`` pairs and URL userinfo are matched
        on the lowercased text with a case-sensitive pattern (several times faster than IGNORECASE in
        ``re``); secret shapes, configured secrets and user patterns on the original text."""
        exact: list[str] = []
        replacements: list[str | None] = []
        # The exact pattern runs only when a string holds one of these (user patterns: always).
        self._anchors: tuple[str, ...] | None = tuple(self._secrets) + (() if replace_defaults else SHAPE_ANCHORS)
        if self._secrets:
            exact.append("|".join(re.escape(s) for s in self._secrets))
            replacements.append(MARKER)
        if not replace_defaults:
            for source, replacement in SECRET_SHAPES:
                exact.append(source)
                replacements.append(replacement)
        for source in extra_patterns:
            exact.append(source)
            replacements.append(MARKER)
            self._anchors = None
        exact_pattern = re.compile("|".join(f"({alt})" for alt in exact)) if exact else None
        folded = [r"://[^/\s@?#]+@"]
        value = r"[\"']?\s*[=:]\s*[\"']?(?!redacted\b)(?:(?:bearer|basic|digest|token)\s+)?[^\s&\"',;}#)\]]+"
        # key=value, key: value, "key": "value"; most names may carry a prefix (db_password, client-secret),
        # and an auth scheme before the value is kept (Authorization: Bearer REDACTED).
        if query_keys:
            keys = "|".join(re.escape(k).replace("_", "[_-]") for k in sorted(query_keys, key=len, reverse=True))
            folded.append(rf"(?<![a-z0-9])(?:{keys}){value}")
        if whole_keys:
            keys = "|".join(re.escape(k) for k in sorted(whole_keys, key=len, reverse=True))
            folded.append(rf"(?<![a-z0-9_.-])(?:{keys}){value}")
        folded_pattern = re.compile("|".join(folded))
        return exact_pattern, folded_pattern, replacements

    # -- predicates -------------------------------------------------------------------------
    def is_sensitive_key(self, key: str) -> bool:
        cached = self._key_cache.get(key)
        if cached is not None:
            return cached
        name = _normalise(key)
        # The last dotted segment is the field's own name (``http.request.header.x_api_key`` ->
        # ``x_api_key``); within it, the last word or two (``db_password``, ``stripe_secret_key``). Dotted
        # namespaces are not joined: ``session.id`` is an identifier, ``session_id`` a credential.
        tail = name.rsplit(".", 1)[-1]
        words = [w for w in tail.split("_") if w]
        names = self._key_names
        decision = (name in names or tail in names or (bool(words) and words[-1] in names)
                    or (len(words) > 1 and "_".join(words[-2:]) in names))
        if len(self._key_cache) < 4096:
            self._key_cache[key] = decision
        return decision

    # -- values ----------------------------------------------------------------------------------
    def _substitute(self, match: re.Match[str]) -> str:
        replacement = self._replacements[(match.lastindex or 1) - 1]
        return MARKER if replacement is None else replacement

    def _may_match_exact(self, text: str) -> bool:
        if self._anchors is None:
            return True
        # A plain loop, not any(generator): this runs for every new string and the generator costs more.
        for anchor in self._anchors:  # noqa: SIM110
            if anchor in text:
                return True
        return False

    def _scrub_folded(self, text: str) -> str:
        # Cheap test first: userinfo needs '@', a pair needs '=' or a colon that is not a URL scheme's.
        if "=" not in text and "@" not in text and (":" not in text or not _COLON_PAIR.search(text)):
            return text
        folded = text.lower()
        if len(folded) != len(text):  # a few non-ASCII characters change length when lowercased
            folded = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
        pieces: list[str] = []
        last = 0
        for match in self._folded.finditer(folded):
            start, end = match.span()
            matched = folded[start:end]
            if matched.startswith("://"):
                pieces.append(text[last:start] + f"://{MARKER}:{MARKER}@")
            else:
                value = _VALUE_TAIL.search(matched)
                cut = start + (value.start() if value else 0)
                pieces.append(text[last:cut] + MARKER)
            last = end
        if not pieces:
            return text
        pieces.append(text[last:])
        return "".join(pieces)

    def scrub_text(self, text: str) -> str:
        """``text`` with every secret shape, configured secret, userinfo and sensitive ``key=value`` value
        replaced. Returns the same object when nothing matched (the common case, and the cheap one)."""
        if not text:
            return text
        if not self.enabled:
            return text if text.isascii() else _encodable(text)
        cache = self._text_cache
        cached = cache.get(text)
        if cached is not None:
            return text if cached is _UNCHANGED else cached
        result = text
        if self._exact is not None and self._may_match_exact(result) and self._exact.search(result) is not None:
            result = self._exact.sub(self._substitute, result)
        result = self._scrub_folded(result)
        if not result.isascii():
            result = _encodable(result)
        if len(text) <= 512:
            if len(cache) >= 8192:
                cache.clear()
            cache[text] = _UNCHANGED if result == text else result
        return text if result == text else result

    def scrub_sql(self, text: str) -> str:
        cached = self._sql_cache.get(text)
        if cached is not None:
            return cached
        result = self.scrub_text(_SQL_LITERAL.sub("?", text))
        if len(text) <= 4096:
            if len(self._sql_cache) >= 2048:
                self._sql_cache.clear()
            self._sql_cache[text] = result
        return result

    def scrub_value(self, value: Any, depth: int = 0) -> Any:
        kind = type(value)
        if kind is str:
            return self.scrub_text(value)
        if kind in _PLAIN:
            return value
        if depth >= _MAX_DEPTH:
            return value
        if isinstance(value, (list, tuple)):
            scrubbed = [self.scrub_value(v, depth + 1) for v in value]
            if all(a is b for a, b in zip(scrubbed, value, strict=True)):
                return value
            return type(value)(scrubbed) if isinstance(value, tuple) else scrubbed
        if isinstance(value, Mapping):
            changed, out = False, {}
            for k, v in value.items():
                if self.enabled and isinstance(k, str) and self.is_sensitive_key(k):
                    out[k] = MARKER
                    changed = True
                    continue
                new = self.scrub_value(v, depth + 1)
                changed = changed or new is not v
                out[k] = new
            return out if changed else value
        # Not a value any exporter can encode (the logs API takes any object as a body; an instrumentation can
        # leave one in an attribute): its safe text, so the item is kept and no exporter fails its batch.
        return self.scrub_text(truncate(safe_str(value), _MAX_TEXT))

    def redact_attributes(self, attributes: Mapping[str, Any] | None) -> tuple[dict[str, Any], list[str]]:
        """The changed attributes only (``{}`` when nothing changed) and the keys that were touched.

        Written for the common case (every key and most values seen before): two dictionary look-ups per
        attribute before anything else."""
        if not attributes:
            return {}, []
        changes: dict[str, Any] = {}
        key_cache, text_cache, unchanged, enabled = self._key_cache, self._text_cache, _UNCHANGED, self.enabled
        sql_keys = SQL_KEYS if enabled else frozenset()
        # BoundedAttributes is a MutableMapping whose items() iterates in Python; its dict does not.
        inner = getattr(attributes, "_dict", None)
        items = inner.items() if isinstance(inner, dict) else attributes.items()
        for key, value in items:
            sensitive = key_cache.get(key)
            if sensitive is None:
                sensitive = self.is_sensitive_key(key)
            sensitive = sensitive and enabled
            if sensitive:
                if value != MARKER and key != REDACTED_KEYS_ATTRIBUTE:
                    changes[key] = _marker_like(value)
                continue
            kind = type(value)
            if kind is str:
                if text_cache.get(value) is unchanged and key not in sql_keys:
                    continue
                new = self.scrub_sql(value) if key in sql_keys else self.scrub_text(value)
            elif kind is int or kind is float or kind is bool:
                continue
            elif kind is tuple and all(type(v) is str and text_cache.get(v) is unchanged for v in value):
                continue  # captured headers: a tuple of strings seen before
            else:
                new = self.scrub_value(value)
            if new is not value and new != value:
                changes[key] = new
        return changes, sorted(changes)

    # -- telemetry items --------------------------------------------------------------------
    def redact_span(self, span: Any) -> None:
        touched: set[str] = set()
        changes, keys = self.redact_attributes(span._attributes)
        if changes:
            _apply(span, "_attributes", changes)
            touched.update(keys)
        for event in span._events or ():
            changes, keys = self.redact_attributes(event._attributes)
            if changes:
                _apply(event, "_attributes", changes)
                touched.update(keys)
        status = span._status
        if status is not None and status.description:
            description = self.scrub_text(status.description)
            if description is not status.description:
                status._description = description
                touched.add("status.description")
        if touched:
            _apply(span, "_attributes", {REDACTED_KEYS_ATTRIBUTE: tuple(sorted(touched))})

    def redact_log(self, record: Any) -> None:
        log_record = getattr(record, "log_record", record)
        touched: set[str] = set()
        changes, keys = self.redact_attributes(log_record.attributes)
        if changes:
            _apply(log_record, "attributes", changes)
            touched.update(keys)
        body = log_record.body
        if body is not None:
            new_body = self.scrub_value(body)
            if new_body is not body:
                log_record.body = new_body
                touched.add("body")
        if touched:
            _apply(log_record, "attributes", {REDACTED_KEYS_ATTRIBUTE: tuple(sorted(touched))})

    def redact_resource_attributes(self, attributes: Mapping[str, Any]) -> dict[str, Any]:
        changes, _ = self.redact_attributes(attributes)
        return {**attributes, **changes}


def _encodable(text: str) -> str:
    """Lone surrogates (from ``surrogateescape`` decoding or broken input) make UTF-8 encoders raise - the
    OTLP exporter loses the whole batch. They become U+FFFD, as the JSON lines writer writes them."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)


def _marker_like(value: Any) -> Any:
    # Keep the attribute's shape: a header captured as a list of values stays a list.
    if isinstance(value, (list, tuple)):
        return tuple(MARKER for _ in value)
    return MARKER


def _apply(holder: Any, name: str, changes: Mapping[str, Any]) -> None:
    """Write ``changes`` into a finished item's attributes. BoundedAttributes is immutable once the span
    ends; its dictionary is written directly so its limits and dropped count stay as they were."""
    attributes = getattr(holder, name)
    inner = getattr(attributes, "_dict", None)
    if isinstance(inner, dict):
        inner.update(changes)
    else:
        setattr(holder, name, {**(attributes or {}), **changes})


_current = Redactor()


def current() -> Redactor:
    return _current


def install(redactor: Redactor) -> None:
    global _current
    _current = redactor


def from_settings(settings: Any, secrets: Sequence[str]) -> Redactor:
    return Redactor(secrets=secrets, extra_keys=settings.redact_keys, extra_patterns=settings.redact_patterns,
                    replace_defaults=settings.redact_replace_defaults, enabled=settings.redact)
