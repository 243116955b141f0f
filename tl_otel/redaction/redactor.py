"""The redaction step: attribute names, ``key=value`` text, URL userinfo, SQL literals, secret shapes and
the configured secrets themselves, applied to every field of a span or a log record that carries text.

It runs on the pipeline's dispatcher thread, once per item, before the item is handed to any destination;
spans and log records are changed in place (they are finished: nothing else writes to them) and a
``tl.redacted`` attribute names the fields that were touched. Which fields carry text is written down once
(``SPAN_FIELDS``, ``LOG_RECORD_FIELDS``); a test compares those tables with the SDK's classes, so a field
the SDK adds fails the build instead of leaking. Metrics: ``tl_otel.redaction.metrics``. Nothing here raises
to its caller: the pipeline drops (and counts) an item it could not redact rather than send it unredacted."""

from __future__ import annotations

import base64
import copy
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote, quote_plus, urlsplit

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationInfo, InstrumentationScope
from opentelemetry.trace import SpanContext, TraceState
from opentelemetry.trace.span import DEFAULT_TRACE_STATE

from tl_otel.redaction.denylists import (
    GLUED_SUFFIXES,
    KEY_NAMES,
    QUERY_KEYS,
    SECRET_SHAPES,
    SHAPE_ANCHORS,
    SQL_KEYS,
    WHOLE_QUERY_KEYS,
)
from tl_otel.redaction.key_names import names_a_secret
from tl_otel.semantics.safe_values import safe_str, truncate

MARKER = "REDACTED"
# In a change set: the attribute is removed (its key held a secret; it comes back under the redacted key).
DROPPED: Any = type("Dropped", (), {"__repr__": lambda self: "DROPPED"})()
REDACTED_KEYS_ATTRIBUTE = "tl.redacted"
# A configured secret shorter than this is not searched for in free text: it would erase common words.
MIN_SECRET_LENGTH = 6
# Containers nested deeper than this are replaced whole (never passed on unexamined).
MAX_DEPTH = 10
_MAX_TEXT = 16384
_PLAIN = frozenset({int, float, bool, type(None)})
_UNCHANGED = "\x00unchanged"
# A colon that can separate a key from a value (not a URL scheme's).
_COLON_PAIR = re.compile(r"[A-Za-z\"'\]]\s*:(?!//)")
# SQL inside free text (an exception message, a traceback's source line): a statement, from its verb to the end
# of its line, gets the literal rule of ``db.statement``; what drivers and SQLAlchemy echo of the parameters
# (``[parameters: …]``, PostgreSQL's ``Key (name)=(…)`` and ``Failing row contains (…)``) is replaced to the
# end of the line. Bounded repetitions only: one search per string stays linear.
_SQL_IN_TEXT = re.compile(
    r"(?i:(?P<statement>\b(?:insert\s{1,10}(?:ignore\s{1,10})?into|replace\s{1,10}into|upsert\s{1,10}into"
    r"|merge\s{1,10}into|delete\s{1,10}from|update\s{1,10}[\w.\"`\[\]]{1,200}\s{1,10}set"
    r"|select\s[^\n]{0,300}?\bfrom\s[^\n]{0,300}?\bwhere)\b)"
    r"|(?P<echo>\[parameters:|\bkey \([^)\n]{0,200}\)=\(|\bfailing row contains \())")
# A statement quoted in source code (a traceback's line: ``execute("INSERT … (:n, :p)", {"p": "…"})``): what
# follows its closing quote on that line is its parameters; every string and number there goes.
_CODE_LITERAL = re.compile(r"""\"(?:[^"\\\n]|\\.)*\"|'(?:[^'\\\n]|\\.)*'|(?<![\w$.])-?\d+(?:\.\d+)?""")
_SQL_LITERAL = re.compile(r"'(?:[^']|'')*'|(?<![\w$.:?@])-?\b\d+(?:\.\d+)?(?:[eE][+-]?\d+)?\b(?![\w.])")
# Characters of a query or form key (``card[number]``, ``X-Amz-Signature``), walked back over to find what
# precedes a key: ``?`` or ``&`` (or nothing) makes its value a query value.
_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_.-[]%")

# URL userinfo: from the scheme's ``://`` to the last ``@`` before the host (a password may hold ``@``); the
# class stops at the path, query, fragment, whitespace and quotes, so it never spans two URLs.
_USERINFO = r"(?P<userinfo>://[^/\s?#\"'<>\\]*@)"
# After a key: its closing bracket (``user[password]``, ``user%5Bpassword%5D``) and quote (``"password": ``,
# ``\"password\": ``), then ``=`` (``%3D`` in an encoded query: a redirect's ``next=%2Freset%3Ftoken%3D…``)
# or ``:`` (not ``://``; a YAML value may be on the next line).
_SEPARATOR = r"""(?:\]|%5d)?(?:\\?["'])?[ \t]*(?P<sep>=|%3d|:(?!//)(?:[ \t]*\r?\n)?)[ \t]*"""
# Where a key may start besides after a non-word character: after an encoded ``[``, ``?`` or ``&``.
_ENCODED_OPENER = r"(?<=%5b|%3f|%26)"
# The value, to its real end: a quoted value to its closing unescaped quote (escaped quotes inside), a
# value quoted with escaped quotes (JSON inside a JSON string) to the next ``\"``, anything else to
# whitespace (query values are cut at ``&`` afterwards). An auth scheme before a bare value is kept.
_VALUE = (r"""(?P<value>"(?:[^"\\\n]|\\.)*(?P<dq>")?|'(?:[^'\\\n]|\\.)*(?P<sq>')?"""
          r"""|\\"(?:[^\\\n]|\\[^"\n])*(?P<eq>\\")?"""
          r"""|(?P<scheme>(?:bearer|basic|digest|token)[ \t]+)?\S+)""")


# Each configured secret (and each of its forms) is looked for only in a string that holds its last characters
# (a key's random end, not a URL's scheme): enough to be specific, and the forms share them (a URL and its
# URL-encoded and lowercased forms, a base64 form padded or not).
ANCHOR_LENGTH = 8


def _minimal_anchors(anchors: list[str]) -> tuple[str, ...]:
    """The anchors without those that contain another (a string holding the longer holds the shorter)."""
    unique = sorted(set(anchors), key=len)
    kept: list[str] = []
    for anchor in unique:
        if not any(shorter in anchor for shorter in kept):
            kept.append(anchor)
    return tuple(kept)


def _normalise(key: str) -> str:
    return key.strip().lower().replace("-", "_")


def encoded_variants(secret: str) -> set[str]:
    """The forms a configured secret travels in besides its own: URL-encoded (a query parameter, a form
    field), its own base64 encoding (a header, a config dump) and lowercased (the SDK lowercases instrument
    names)."""
    raw = secret.encode("utf-8", "surrogatepass")
    forms = {quote(secret, safe=""), quote_plus(secret, safe=""), secret.lower(), secret.upper()}
    for encoded in (base64.b64encode(raw).decode("ascii"), base64.urlsafe_b64encode(raw).decode("ascii")):
        forms.add(encoded)
        forms.add(encoded.rstrip("="))
    forms.discard(secret)
    return forms


# Every field of a finished span and of a log record, and what the redaction step does with it. The tests
# compare these tables with the SDK's own classes: a field added by a new SDK version fails them.
SPAN_FIELDS: dict[str, str] = {
    "_name": "text",
    "_attributes": "attributes",
    "_events": "event names and attributes",
    "_links": "link attributes and trace state",
    "_status": "description as text",
    "_context": "trace state values as text",
    "_instrumentation_scope": "name, version, schema URL and attributes",
    "_instrumentation_info": "name, version and schema URL",
    "_resource": "attributes (once per resource object)",
    "_parent": "no text exported (ids only)",
    "_kind": "no text",
    "_start_time": "no text",
    "_end_time": "no text",
}
LOG_RECORD_FIELDS: dict[str, str] = {
    "body": "any value, at any depth",
    "attributes": "attributes",
    "severity_text": "text",
    "event_name": "text",
    "exception": "dropped (the SDK has already copied it into exception.* attributes)",
    "context": "dropped by the pipeline (release_context)",
    "timestamp": "no text",
    "observed_timestamp": "no text",
    "trace_id": "no text",
    "span_id": "no text",
    "trace_flags": "no text",
    "severity_number": "no text",
}
# The record's holder (ReadWriteLogRecord): its resource and scope are redacted; limits carry no text.
LOG_HOLDER_FIELDS: dict[str, str] = {
    "log_record": "the fields above",
    "resource": "attributes (once per resource object)",
    "instrumentation_scope": "name, version, schema URL and attributes",
    "limits": "no text",
}


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
        # Span names apart: an application naming spans after raw URLs must not evict the attribute values.
        self._name_cache: dict[str, str] = {}
        self._sql_cache: dict[str, str] = {}  # ORM statements repeat: parameterized text, a handful of shapes
        # Scopes and resources are shared by every item of a tracer, logger or provider: redacted once each.
        # Keyed by id, holding the original so a reused id is recognised.
        self._shared_cache: dict[int, tuple[Any, Any]] = {}
        self._clean_scope: Any = None  # the last scope and resource found to need nothing
        self._clean_resource: Any = None
        # Metric series: the SDK hands the same attribute mapping for a series at every collection, so its
        # redacted form is remembered (id -> (mapping, redacted mapping)); bounded by tl_otel.redaction.metrics.
        self.metric_attributes_cache: dict[int, tuple[Any, Any]] = {}

    # -- construction ------------------------------------------------------------------------
    @staticmethod
    def _secret_variants(secrets: Iterable[str]) -> list[str]:
        """A URL secret (webhook, Redis URL) leaks in pieces too: its path in an HTTP client's error, its
        password inside the URL. Each piece long enough to be specific is searched for, as it is and in
        its URL-encoded and base64 forms."""
        variants: set[str] = set()
        for secret in secrets:
            if not secret:
                continue
            pieces = {secret}
            if "://" in secret:
                try:
                    parts = urlsplit(secret)
                except ValueError:
                    parts = None
                if parts is not None:
                    pieces.update(piece for piece in (parts.path, parts.password, parts.query)
                                  if piece and len(piece) >= MIN_SECRET_LENGTH and piece.strip("/"))
            for piece in pieces:
                if len(piece) >= MIN_SECRET_LENGTH:
                    variants.add(piece)
                    variants.update(encoded_variants(piece))
        return sorted((v for v in variants if len(v) >= MIN_SECRET_LENGTH), key=len, reverse=True)

    def _compile(self, query_keys: Iterable[str], whole_keys: Iterable[str], extra_patterns: Iterable[str],
                 replace_defaults: bool):
        """Two patterns, both searched once per string: ``key=value`` pairs and URL userinfo are matched
        on the lowercased text with a case-sensitive pattern (several times faster than IGNORECASE in
        ``re``); secret shapes, configured secrets and user patterns on the original text. Neither nests
        one unbounded repetition in another (a test checks it), so matching stays linear in the text."""
        exact: list[str] = []
        replacements: list[str | None] = []
        # The exact pattern runs only when a string holds one of these (user patterns: always).
        self._anchors: tuple[str, ...] | None = _minimal_anchors(
            [secret.rstrip("=")[-ANCHOR_LENGTH:] for secret in self._secrets]
            + ([] if replace_defaults else list(SHAPE_ANCHORS)))
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
        keys: list[str] = []
        # key=value, key: value, "key": "value"; most names may carry a prefix (db_password, client-secret).
        # Words that end a sensitive name glued to a prefix (pgpassword=, accesstoken=, ;jsessionid=) match
        # wherever they end a key; the others need a separator, a bracket or an encoded opener before them.
        glued = set(query_keys) & set(GLUED_SUFFIXES) if not replace_defaults else set()
        separated = set(query_keys) - glued
        if glued:
            names = "|".join(re.escape(k) for k in sorted(glued, key=len, reverse=True))
            keys.append(f"(?:{names})")
        if separated:
            names = "|".join(re.escape(k).replace("_", "[_-]") for k in sorted(separated, key=len, reverse=True))
            keys.append(rf"(?:(?<![a-z0-9])|{_ENCODED_OPENER})(?:{names})")
        if whole_keys:
            names = "|".join(re.escape(k) for k in sorted(whole_keys, key=len, reverse=True))
            keys.append(rf"(?:(?<![a-z0-9_.%-])|{_ENCODED_OPENER})(?:{names})")
        folded = [_USERINFO]
        if keys:
            folded.append(f"(?:{'|'.join(keys)}){_SEPARATOR}{_VALUE}")
        folded_pattern = re.compile("|".join(folded))
        # A cheap first look for any key at all: alternatives that each start with a letter let the engine skip
        # every other position in C; most strings holding '=' ("mode=fast") hold no sensitive key.
        hints = {k.lstrip("_-") for k in (*query_keys, *whole_keys)} - {""}
        self._key_hint = re.compile("|".join(re.escape(k).replace("_", "[_-]")
                                             for k in sorted(hints, key=len, reverse=True))) if hints else None
        return exact_pattern, folded_pattern, replacements

    @property
    def patterns(self) -> tuple[re.Pattern[str], ...]:
        """The compiled patterns (for the linear-time test)."""
        return tuple(p for p in (self._exact, self._folded, self._key_hint) if p is not None)

    # -- predicates -------------------------------------------------------------------------
    def is_sensitive_key(self, key: str) -> bool:
        return bool(self._key_decision(key))

    def _key_decision(self, key: Any) -> bool | str:
        """True when the key names a secret; a string when the key itself holds one (the key's redacted
        form: the attribute is renamed and its value replaced); False otherwise. A key that is not text
        (``extra={b"password": …}``) is judged by its text."""
        cached = self._key_cache.get(key)
        if cached is not None:
            return cached
        text = key if type(key) is str else (key.decode("utf-8", "replace") if isinstance(key, bytes)
                                              else safe_str(key))
        decision: bool | str = self._names_a_secret(text)
        renamed = self.scrub_text(text) if self.enabled and not decision else text
        if renamed != text:
            decision = renamed
        if len(self._key_cache) < 4096:
            self._key_cache[key] = decision
        return decision

    def _names_a_secret(self, key: str) -> bool:
        return names_a_secret(key, self._key_names)

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

    @staticmethod
    def _value_span(match: re.Match[str], folded: str) -> tuple[int, int]:
        """Where the secret part of a matched value starts and ends: inside its quotes, after an auth scheme,
        and for a query or form value (its key follows ``?``, ``&`` or nothing) before the next ``&``."""
        start, end = match.span("value")
        first = folded[start]
        if first in "\"'\\":
            if match.start("dq") >= 0 or match.start("sq") >= 0:
                return start + 1, end - 1
            if first != "\\":
                return start + 1, end  # unterminated: to the end of the line
            if folded.startswith('\\"', start):
                return start + 2, (end - 2 if match.start("eq") >= 0 else end)
        scheme_end = match.end("scheme")
        if scheme_end >= 0:
            start = scheme_end
        separator = folded[match.start("sep")]
        if separator == "%":  # %3D: a query encoded inside a query value; the outer query's '&' ends it
            amp = folded.find("&", start, end)
            if amp >= 0:
                end = amp
        elif separator == "=":
            key_start = match.start()
            # The key may carry a prefix (db_password): what precedes the whole name decides.
            while key_start > 0 and folded[key_start - 1] in _KEY_CHARS:
                key_start -= 1
            if key_start == 0 or folded[key_start - 1] in "?&":
                amp = folded.find("&", start, end)
                if amp >= 0:
                    end = amp
        return start, end

    def _scrub_folded(self, text: str) -> str:
        # Cheap test first: userinfo needs '@', a pair needs '=' or a colon that is not a URL scheme's.
        if ("=" not in text and "@" not in text and "%3" not in text
                and (":" not in text or not _COLON_PAIR.search(text))):
            return text
        folded = text.lower()
        if len(folded) != len(text):  # a few non-ASCII characters change length when lowercased
            folded = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
        position = 0
        if "@" not in folded or "://" not in folded:  # no userinfo: the first key is where to start
            hint = self._key_hint.search(folded) if self._key_hint is not None else None
            if hint is None:
                return text
            position = max(0, hint.start() - 1)  # a key's leading '_' is not in the hint
        pieces: list[str] = []
        last = 0
        search = self._folded.search
        while True:
            match = search(folded, position)
            if match is None:
                break
            if match.start("userinfo") >= 0:
                start, end = match.span()
                pieces.append(text[last:start] + f"://{MARKER}:{MARKER}@")
                last = position = end
                continue
            start, end = self._value_span(match, folded)
            position = max(end, match.start("value") + 1)
            if end <= start or folded[start:end] == "redacted":
                continue
            pieces.append(text[last:start] + MARKER)
            last = end
        if not pieces:
            return text
        pieces.append(text[last:])
        return "".join(pieces)

    def scrub_text(self, text: str, cache: dict[str, str] | None = None) -> str:
        """``text`` with every secret shape, configured secret, userinfo and sensitive ``key=value`` value
        replaced. Returns the same object when nothing matched (the common case, and the cheap one).
        ``cache``: where the result is remembered (default: the cache of attribute values)."""
        if not text:
            return text
        if not self.enabled:
            return text if text.isascii() else encodable(text)
        if cache is None:
            cache = self._text_cache
        cached = cache.get(text)
        if cached is not None:
            return text if cached is _UNCHANGED else cached
        result = text
        if self._exact is not None and self._may_match_exact(result) and self._exact.search(result) is not None:
            result = self._exact.sub(self._substitute, result)
        result = self._scrub_folded(result)
        if _may_hold_sql(result) and _SQL_IN_TEXT.search(result) is not None:
            result = _scrub_sql_in_text(result)
        if not result.isascii():
            result = encodable(result)
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

    def scrub_bytes(self, value: bytes) -> bytes:
        """Bytes carry text as often as not (``b"password=…"``): scrubbed as their UTF-8 text, given back as
        bytes (undecodable bytes become U+FFFD in what is given back) when anything was replaced."""
        if not self.enabled or not value:
            return value
        text = value.decode("utf-8", "replace")
        new = self.scrub_text(text)
        return value if new == text else new.encode("utf-8", "replace")

    def scrub_value(self, value: Any, depth: int = 0) -> Any:
        kind = type(value)
        if kind is str:
            return self.scrub_text(value)
        if kind in _PLAIN:
            return value
        if kind is bytes:
            return self.scrub_bytes(value)
        if depth >= MAX_DEPTH:
            # Deeper than anything is examined: replaced whole, never passed on unexamined.
            return MARKER if self.enabled else value
        if isinstance(value, (list, tuple)):
            scrubbed = [self.scrub_value(v, depth + 1) for v in value]
            if all(a is b for a, b in zip(scrubbed, value, strict=True)):
                return value
            return type(value)(scrubbed) if isinstance(value, tuple) else scrubbed
        if isinstance(value, Mapping):
            changed, out = False, {}
            for k, v in value.items():
                if self.enabled and isinstance(k, (str, bytes)):
                    decision = self._key_decision(k)
                    if decision:
                        out[decision if type(decision) is str else k] = MARKER
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
                sensitive = self._key_decision(key)
            if sensitive and enabled:
                if type(sensitive) is str:  # the key itself holds a secret: renamed, its value replaced
                    changes[key] = DROPPED
                    changes[sensitive] = _marker_like(value)
                elif value != MARKER and key != REDACTED_KEYS_ATTRIBUTE:
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
        if not changes:
            return changes, []
        return changes, sorted(key for key, value in changes.items() if value is not DROPPED)

    # -- shared parts: scopes and resources --------------------------------------------------------
    def _shared(self, item: Any, build: Any) -> Any:
        cached = self._shared_cache.get(id(item))
        if cached is not None and cached[0] is item:
            return cached[1]
        redacted = build(item)
        if len(self._shared_cache) >= 256:
            self._shared_cache.clear()
        self._shared_cache[id(item)] = (item, redacted)
        return redacted

    def redact_scope(self, scope: Any) -> Any:
        """An instrumentation scope (a tracer's, a meter's, a logger's: a logger name can hold anything) with
        its texts redacted; the same object when nothing changed."""
        if scope is None or not self.enabled:
            return scope
        return self._shared(scope, self._build_scope)

    def _build_scope(self, scope: Any) -> Any:
        texts = (scope.name, scope.version, scope.schema_url)
        new = tuple(self.scrub_text(t) if isinstance(t, str) else t for t in texts)
        attributes = getattr(scope, "attributes", None)
        changes, _ = self.redact_attributes(attributes)
        if not changes and all(a is b for a, b in zip(new, texts, strict=True)):
            return scope
        if isinstance(scope, InstrumentationScope):
            return InstrumentationScope(*new, with_changes(attributes, changes) or None)
        if isinstance(scope, InstrumentationInfo):
            # Deprecated (its constructor warns): a copy with the redacted texts.
            info = copy.copy(scope)
            info._name, info._version, info._schema_url = new
            return info
        # A scope type the SDK does not make: the item is dropped (and counted) rather than sent unredacted.
        raise TypeError(f"cannot redact an instrumentation scope of type {type(scope).__name__}")

    def redact_resource(self, resource: Any) -> Any:
        if resource is None or not self.enabled:
            return resource
        return self._shared(resource, self._build_resource)

    def _build_resource(self, resource: Any) -> Any:
        changes, _ = self.redact_attributes(resource.attributes)
        schema_url = resource.schema_url
        new_schema_url = self.scrub_text(schema_url) if schema_url else schema_url
        if not changes and new_schema_url is schema_url:
            return resource
        return Resource(with_changes(resource.attributes, changes), new_schema_url)

    def redact_resource_attributes(self, attributes: Mapping[str, Any]) -> dict[str, Any]:
        changes, _ = self.redact_attributes(attributes)
        return with_changes(attributes, changes)

    def _trace_state(self, context: Any) -> Any:
        """A span context whose trace state (vendor values from the ``tracestate`` header) is redacted."""
        state = getattr(context, "trace_state", None)
        if not state:
            return context
        entries = [(key, self.scrub_text(value)) for key, value in state.items()]
        if all(new is state[key] for key, new in entries):
            return context
        return SpanContext(context.trace_id, context.span_id, context.is_remote, context.trace_flags,
                           TraceState(entries))

    # -- telemetry items --------------------------------------------------------------------
    def redact_span(self, span: Any) -> None:
        """Every field of ``SPAN_FIELDS`` that carries text, in place.

        Written for the common case (a name seen before, no events or links, a scope and a resource shared
        with every other span of the tracer): dictionary look-ups, no calls, before anything else."""
        touched: set[str] = set()
        name = span._name
        if type(name) is str and self._name_cache.get(name) is not _UNCHANGED:
            new_name = self.scrub_text(name, self._name_cache)
            if new_name is not name:
                span._name = new_name
                touched.add("name")
        changes, keys = self.redact_attributes(span._attributes)
        if changes:
            _apply(span, "_attributes", changes)
            touched.update(keys)
        if span._events:
            self._redact_events(span._events, touched)
        if span._links:
            self._redact_links(span._links, touched)
        status = span._status
        if status is not None and status.description:
            description = self.scrub_text(status.description)
            if description is not status.description:
                status._description = description
                touched.add("status.description")
        context = span._context
        state = context.trace_state if context is not None else None
        if state is not None and state is not DEFAULT_TRACE_STATE and state:
            new_context = self._trace_state(context)
            if new_context is not context:
                span._context = new_context
                touched.add("trace_state")
        shared = self._shared_cache
        scope = span._instrumentation_scope
        if scope is not None and scope is not self._clean_scope:
            cached = shared.get(id(scope))
            new_scope = cached[1] if cached is not None and cached[0] is scope else self.redact_scope(scope)
            if new_scope is not scope:
                span._instrumentation_scope = new_scope
                # The deprecated InstrumentationInfo holds the same name, version and schema URL.
                info = getattr(span, "_instrumentation_info", None)
                if info is not None:
                    span._instrumentation_info = self.redact_scope(info)
            else:
                self._clean_scope = scope  # the next span most likely has the same tracer
        resource = span._resource
        if resource is not self._clean_resource:
            cached = shared.get(id(resource))
            new_resource = cached[1] if cached is not None and cached[0] is resource else self.redact_resource(
                resource)
            if new_resource is not resource:
                span._resource = new_resource
            else:
                self._clean_resource = resource
        if touched:
            _apply(span, "_attributes", {REDACTED_KEYS_ATTRIBUTE: tuple(sorted(touched))})

    def _scrub_field(self, holder: Any, field: str, touched: set[str]) -> None:
        text = getattr(holder, field)
        if type(text) is str:
            new_text = self.scrub_text(text)
            if new_text is not text:
                setattr(holder, field, new_text)
                touched.add(field)

    def _redact_events(self, events: Any, touched: set[str]) -> None:
        for event in events:
            event_name = event._name
            if type(event_name) is str:
                new_name = self.scrub_text(event_name)
                if new_name is not event_name:
                    event._name = new_name
                    touched.add("event.name")
            changes, keys = self.redact_attributes(event._attributes)
            if changes:
                _apply(event, "_attributes", changes)
                touched.update(keys)

    def _redact_links(self, links: Any, touched: set[str]) -> None:
        for link in links:
            changes, keys = self.redact_attributes(link._attributes)
            if changes:
                _apply(link, "_attributes", changes)
                touched.update(f"link.{key}" for key in keys)
            context = self._trace_state(link._context)
            if context is not link._context:
                link._context = context
                touched.add("link.trace_state")

    def redact_log(self, record: Any) -> None:
        """Every field of ``LOG_RECORD_FIELDS`` and ``LOG_HOLDER_FIELDS`` that carries text, in place."""
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
        text_cache = self._text_cache
        severity, event_name = log_record.severity_text, log_record.event_name
        if severity and text_cache.get(severity) is not _UNCHANGED:
            self._scrub_field(log_record, "severity_text", touched)
        if event_name and text_cache.get(event_name) is not _UNCHANGED:
            self._scrub_field(log_record, "event_name", touched)
        if log_record.exception is not None:
            log_record.exception = None
        if record is not log_record:
            shared = self._shared_cache
            scope, resource = record.instrumentation_scope, record.resource
            cached = shared.get(id(scope))
            new_scope = cached[1] if cached is not None and cached[0] is scope else self.redact_scope(scope)
            cached = shared.get(id(resource))
            new_resource = cached[1] if cached is not None and cached[0] is resource else self.redact_resource(
                resource)
            # ReadableLogRecord is a frozen dataclass; like a finished span, it is written in place.
            if new_scope is not scope:
                object.__setattr__(record, "instrumentation_scope", new_scope)
            if new_resource is not resource:
                object.__setattr__(record, "resource", new_resource)
        if touched:
            _apply(log_record, "attributes", {REDACTED_KEYS_ATTRIBUTE: tuple(sorted(touched))})


# Words one of which every match of _SQL_IN_TEXT holds: a few ``in`` tests on the lowercased text cost far less
# than the case-insensitive search itself, which then runs only on the strings that hold one.
_SQL_HINTS: tuple[str, ...] = ("insert", "update", "delete", "select", "merge", "upsert", "replace", "[parameters:",
                               "key (", "failing row")


def _may_hold_sql(text: str) -> bool:
    lowered = text.lower()
    for hint in _SQL_HINTS:  # noqa: SIM110 - a plain loop: this runs for every new string
        if hint in lowered:
            return True
    return False


def _scrub_sql_in_text(text: str) -> str:
    pieces: list[str] = []
    last = 0
    for match in _SQL_IN_TEXT.finditer(text):
        if match.start() < last:
            continue  # inside a line already scrubbed
        line_end = text.find("\n", match.start())
        if line_end < 0:
            line_end = len(text)
        if match.group("statement") is not None:
            start = match.start()
            quote = text[start - 1] if start and text[start - 1] in "\"'" else ""
            close = text.find(quote, start, line_end) if quote else -1
            if close < 0:
                pieces.append(text[last:start] + _SQL_LITERAL.sub("?", text[start:line_end]))
            else:
                pieces.append(text[last:start] + _SQL_LITERAL.sub("?", text[start:close]) + quote
                              + _CODE_LITERAL.sub("?", text[close + 1:line_end]))
        else:
            closing = "]" if match.group("echo").startswith("[") else ")"
            pieces.append(f"{text[last:match.end()]} {MARKER}{closing}" if closing == "]"
                          else f"{text[last:match.end()]}{MARKER}{closing}")
        last = line_end
    pieces.append(text[last:])
    return "".join(pieces)


def encodable(text: str) -> str:
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
        return (MARKER,) * len(value)
    return MARKER


def _apply(holder: Any, name: str, changes: Mapping[str, Any]) -> None:
    """Write ``changes`` into a finished item's attributes. BoundedAttributes is immutable once the span
    ends; its dictionary is written directly so its limits and dropped count stay as they were."""
    attributes = getattr(holder, name)
    inner = getattr(attributes, "_dict", None)
    if isinstance(inner, dict):
        for key, value in changes.items():
            if value is DROPPED:
                inner.pop(key, None)
            else:
                inner[key] = value
    else:
        setattr(holder, name, with_changes(attributes, changes))


def with_changes(attributes: Mapping[str, Any] | None, changes: Mapping[str, Any]) -> dict[str, Any]:
    """A new mapping: ``attributes`` with ``changes`` applied (``DROPPED`` removes a key)."""
    out = dict(attributes or {})
    for key, value in changes.items():
        if value is DROPPED:
            out.pop(key, None)
        else:
            out[key] = value
    return out


_current = Redactor()


def current() -> Redactor:
    return _current


def install(redactor: Redactor) -> None:
    global _current
    _current = redactor


def from_settings(settings: Any, secrets: Sequence[str]) -> Redactor:
    return Redactor(secrets=secrets, extra_keys=settings.redact_keys, extra_patterns=settings.redact_patterns,
                    replace_defaults=settings.redact_replace_defaults, enabled=settings.redact)
