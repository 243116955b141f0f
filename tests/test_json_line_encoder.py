"""JSON lines written by orjson are byte-identical to the lines of the json encoder tl-otel used before it
(kept here verbatim as the reference), for every value; without orjson the json path writes them."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from examples.processes import REPO
from tl_otel.exporters.jsonl import encoder
from tl_otel.exporters.jsonl.encoder import encode_line
from tl_otel.semantics.safe_values import safe_str, to_jsonable

_reference_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False,
                                    default=safe_str).encode
_SURROGATES = re.compile("[\ud800-\udfff]")


def reference_line(fields: dict[str, Any]) -> bytes:
    """The encoder before orjson (tl-otel 0.1.0), verbatim."""
    try:
        text = _reference_dumps(fields)
    except Exception:
        text = _reference_dumps(to_jsonable(fields))
    try:
        return text.encode("utf-8") + b"\n"
    except UnicodeEncodeError:
        return _SURROGATES.sub("\ufffd", text).encode("utf-8") + b"\n"


def nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"a": [value]}
    return value


# Text with lone surrogates, control characters and characters beyond the BMP.
texts = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=()), max_size=12)
floats = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(
    [1e16, 1e-5, 1e-4, 9999999999999998.0, -0.0, 0.0, 1e300, 5e-324, 123.456, float("nan"), float("-inf")])
integers = st.integers() | st.integers(min_value=-(2**70), max_value=2**70) | st.sampled_from(
    [2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64 - 1, 2**64])
scalars = st.none() | st.booleans() | integers | floats | texts
keys = texts | integers | floats | st.booleans() | st.none() | st.tuples(st.integers())
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.tuples(children, children)
    | st.dictionaries(keys, children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(keys, values, max_size=10))
@example({"nan": float("nan"), "inf": float("inf"), "minus_inf": float("-inf")})
@example({"surrogate": "a\ud800b", "low": "\udfff", "pair": "\U0001f600"})
@example({"big": 2**64, "bigger": -(2**200), "edge": 2**63 - 1})
@example({1: "int key", 2.5: "float key", False: "bool key", None: "none key"})
@example({(1, 2): "tuple key"})
@example({"floats": [1e16, 1e-5, 0.1, 1e15, 100.0, -0.0]})
@example({"control": "\x00\x1f\x7f\u2028\"\\/"})
def test_every_line_is_byte_identical_to_the_json_encoder(fields):
    assert encode_line(fields) == reference_line(fields)


def test_deep_nesting_is_byte_identical():
    for depth in (10, 300, 2000):
        fields = {"deep": nested(depth), "list": [nested(depth)]}
        assert encode_line(fields) == reference_line(fields), depth


def test_usual_lines_take_orjson_and_match():
    assert encoder.orjson is not None  # a core dependency: the fast path is what runs
    fields = {"timestamp": "2026-11-29T19:40:00.123456Z", "level": "INFO", "message": "engine run finished",
              "pid": 1234, "duration_ms": 12.5, "ok": True, "parent_span_id": None, "tags": ["a", "b", 3]}
    assert encoder._fast_line(fields) is not None
    assert encode_line(fields) == reference_line(fields)


def test_without_orjson_the_json_path_writes_the_same_lines():
    """orjson refusing to import (a platform without a wheel, a broken install): the exporters still write
    every line, the same bytes."""
    script = """
import sys
sys.modules["orjson"] = None  # makes `import orjson` raise ImportError
from tl_otel.exporters.jsonl import encoder
assert encoder.orjson is None
lines = [encoder.encode_line(fields) for fields in (
    {"message": "hello", "pid": 12, "duration_ms": 1.5, "ok": True},
    {"nan": float("nan"), "big": 2**70, 1: "int key", "s": "a\\ud800b"},
)]
sys.stdout.buffer.write(b"".join(lines))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    expected = [reference_line({"message": "hello", "pid": 12, "duration_ms": 1.5, "ok": True}),
                reference_line({"nan": float("nan"), "big": 2**70, 1: "int key", "s": "a\ud800b"})]
    assert result.stdout == b"".join(expected)
