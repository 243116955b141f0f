"""Reading span and log-record attributes quickly.

The SDK keeps attributes in ``BoundedAttributes`` and hands spans' out wrapped in a ``mappingproxy``;
both iterate and look up through the Mapping ABC, item by item. Exporters read every attribute of every
span, so they read the plain dict underneath when there is one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def plain(attributes: Any) -> Mapping[str, Any]:
    """The dict inside a ``BoundedAttributes`` (or the mapping itself, or an empty one)."""
    inner = getattr(attributes, "_dict", None)
    if isinstance(inner, dict):
        return inner
    return attributes if attributes is not None else {}


def as_dict(attributes: Any) -> dict[str, Any]:
    """A plain dict of the attributes: the one inside a ``BoundedAttributes``, else a copy (a ``mappingproxy``
    or any other mapping), for what keeps them past the SDK object (tl_otel.pipeline's records)."""
    inner = getattr(attributes, "_dict", None)
    if type(inner) is dict:
        return inner
    return dict(attributes) if attributes else {}


def of_span(span: Any) -> Mapping[str, Any]:
    """A span's attributes, without the mappingproxy ``ReadableSpan.attributes`` builds on each access."""
    inner = getattr(getattr(span, "_attributes", None), "_dict", None)
    return inner if isinstance(inner, dict) else (span.attributes or {})


def first(attributes: Mapping[str, Any], *names: str) -> Any:
    """The value of the first of ``names`` that is set (old and stable semantic-convention names)."""
    for name in names:
        value = attributes.get(name)
        if value is not None:
            return value
    return None


def set_after_end(span: Any, values: Mapping[str, Any]) -> None:
    """Add ``values`` to a span that has ended (the SDK's ``set_attribute`` ignores them then), for a span
    processor whose data exists only at the end (Scout's end-of-span readings). The dictionary inside
    ``BoundedAttributes`` is written directly, so its limits and dropped count stay as they were; call it
    before the span is handed to any exporter."""
    attributes = getattr(span, "_attributes", None)
    inner = getattr(attributes, "_dict", None)
    if isinstance(inner, dict):
        inner.update(values)
    else:
        span._attributes = {**(attributes or {}), **values}
