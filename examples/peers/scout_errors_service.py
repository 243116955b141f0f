"""A local stand-in for Scout's errors service: ``POST /apps/error.scout?key=…&name=…`` with a gzip'd JSON
body, recorded (path with its query, headers, the gunzipped body) with scriptable answers (200, 400, 500,
429 + Retry-After, or hang), on 127.0.0.1 in a thread of the test process. The HTTP side is the PostHog
capture stand-in's; only what is read back differs."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from examples.peers.posthog_capture import PostHogCapture


class ScoutErrorsService(PostHogCapture):
    def problems(self, accepted_only: bool = True) -> list[dict[str, Any]]:
        with self._lock:
            requests = list(self.received)
        return [problem for request in requests if request.body and (request.status == 200 or not accepted_only)
                for problem in request.body.get("problems", [])]

    def posts(self) -> list[dict[str, Any]]:
        """Each request as ``{path, query, headers, body}``."""
        with self._lock:
            requests = list(self.received)
        return [{"path": urlsplit(r.path).path, "query": parse_qs(urlsplit(r.path).query), "headers": r.headers,
                 "body": r.body, "status": r.status} for r in requests]
