"""Arguments the distro passes to individual instrumentors when the launcher loads them."""

from __future__ import annotations

from typing import Any


def instrumentor_kwargs(name: str, settings: Any) -> dict[str, Any]:
    if name == "fastapi" and not settings.asgi_message_spans:
        # One internal span per ASGI message costs several microseconds per request and carries
        # nothing a user reads; the server span already has status and timing.
        return {"exclude_spans": ["receive", "send"]}
    return {}
