"""The one normalisation of a key name before it is compared with the sensitive names: ``accessToken``,
``access-token``, ``ACCESS_TOKEN``, ``user[access_token]``, ``b'access_token'`` and ``PGPASSWORD`` are all
read as words (``access``, ``token``; ``pg``, ``password``), so the list of names stays a list of words.

Words are cut at case humps (``clientSecret``), at every character that is not a letter or a digit
(separators, brackets, quotes) and before a word that always ends a sensitive name even when glued to a
vendor prefix (``pgpassword``, ``jsessionid``: ``GLUED_SUFFIXES``). Dotted namespaces stay apart: only the
last dotted segment is the field's own name (``session.id`` is an identifier, ``session_id`` a credential)."""

from __future__ import annotations

import re
from collections.abc import Collection

from tl_otel.redaction.denylists import GLUED_SUFFIXES

# Runs of capitals not followed by a lowercase letter (an acronym: ``PGPASSWORD``, the ``API`` of
# ``APIKey``), a capital with its lowercase tail (``Token``), lowercase runs, digit runs.
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def key_words(key: str) -> list[str]:
    """The words of a key's own name (its last dotted segment), lowercased; trailing numbers dropped
    (``token_2``) and a glued vendor prefix split off its last word (``pgpassword`` -> ``pg``, ``password``)."""
    tail = key.rsplit(".", 1)[-1]
    words = [word.lower() for word in _WORD.findall(tail)]
    while words and words[-1].isdigit():
        words.pop()
    if words:
        last = words[-1]
        for suffix in GLUED_SUFFIXES:
            if last != suffix and last.endswith(suffix):
                words[-1:] = [last[: -len(suffix)], suffix]
                break
    return words


def names_a_secret(key: str, names: Collection[str]) -> bool:
    """Whether ``key`` names a secret: its whole normalised name, or the last word or last two words of its
    own name, is one of ``names`` (lowercase, words joined by ``_``)."""
    name = key.strip().lower().replace("-", "_")
    tail = name.rsplit(".", 1)[-1]
    if name in names or tail in names:
        return True
    # The common key (``http.method``, ``db_password``): lowercase words and underscores, read without the
    # word pattern; only a key with capitals, brackets, quotes, a glued suffix or a number needs it.
    plain = [word for word in tail.split("_") if word]
    if plain and (plain[-1] in names or "_".join(plain[-2:]) in names):
        return True
    if (key == name and tail.replace("_", "").isalnum() and tail.isascii() and plain
            and not plain[-1].endswith(GLUED_SUFFIXES) and not plain[-1][-1].isdigit()):
        return False
    words = key_words(key)
    if not words:
        return False
    return words[-1] in names or (len(words) > 1 and "_".join(words[-2:]) in names) or "".join(words[-2:]) in names
