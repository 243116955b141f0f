"""What a route, task or peer is called once it leaves the span processor: in the shared stores (SQLite file,
Redis), in alert summaries, notifications and alert log records.

Span names and routes are the application's own text: ``GET /reset/token=…`` and lone surrogates (from
``surrogateescape`` decoding) reach them. The name goes through tl-otel's one redaction step, then lone
surrogates become U+FFFD, as in the JSON lines, so every name can be encoded as UTF-8 (SQLite and Redis
need it)."""

from __future__ import annotations

from tl_otel.redaction import current, encodable


def published_name(name: str) -> str:
    # encodable() again: with redaction turned off, scrub_text hands the text back as it came.
    return encodable(current().scrub_text(str(name)))
