"""Names derived from a span's name (the JSON line's ``message``, Scout's operation, PostHog's ``span_name``).

A span without a route can be named after its raw target (``GET /reset?token=...``): the query string is
dropped whole from the derived name, so no value in it reaches a name (redaction has already replaced the
sensitive ones; the rest still make one Scout operation per distinct URL)."""

from __future__ import annotations


def without_query(name: str) -> str:
    """``name`` with the query string of each path or URL in it dropped (``GET /a?b=1`` -> ``GET /a``); a
    ``?`` that does not follow a path (``ready?``) is kept. The same object when nothing was dropped."""
    if "?" not in name:
        return name
    words = name.split(" ")
    changed = False
    for index, word in enumerate(words):
        mark = word.find("?")
        if mark < 0 or (mark > 0 and "/" not in word[:mark]):
            continue
        words[index] = word[:mark]
        changed = True
    return " ".join(words).rstrip() if changed else name
