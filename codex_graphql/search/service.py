"""The rules of ``Organization.search`` around its statement: what a query may be, what a cursor holds, and how a
snippet becomes safe HTML.

Queries (``normalize_query``): control, format, private-use and unassigned characters become spaces, runs of
whitespace one space; then an empty query is a ``BAD_USER_INPUT`` error ("nothing to search for"), and so is one
over ``MAX_QUERY_CHARACTERS`` (a query sent with more than four times that many characters is refused unread). Anything else is searched: PostgreSQL's ``websearch_to_tsquery`` reads it (quoted
phrases, ``or``, ``-word``) and never fails on syntax, so quotes, backslashes, tsquery operators (``& | ! <->
:*``) are only characters. A query whose words are all ignored (``the``, punctuation) finds nothing.

Typo tolerance (``typo_tolerant``): a short query (at most ``SHORT_WORDS`` words and ``SHORT_CHARACTERS``
characters) without search syntax that matches no visible item is matched by similarity instead (the trigram
fallback of migration 0032): every word of it (``fuzzy_words``) must be similar to a word of the item's title,
tags or creator's name.

Ranking: ``rank`` is ``ts_rank`` of the weighted vector (title A 1.0, tags and creator B 0.4, description C 0.2,
article text D 0.1); typo-tolerant hits rank by word similarity (0.4 to 1). Results are ordered by rank, then id,
both descending; the cursor carries both (``encode_cursor``), so pages follow one another without gaps or
repeats while the items do not change.
"""

from __future__ import annotations

import base64
import binascii
import html
import math
import re
import unicodedata
import uuid

from graphql import GraphQLError

from codex_graphql.pagination import invalid_cursor

MAX_QUERY_CHARACTERS = 200
SHORT_WORDS = 3
SHORT_CHARACTERS = 40
# What ts_headline puts around a match (Unicode private-use characters; ``normalize_query`` never lets one
# through, and the statement removes them from the text before highlighting), replaced by <mark> after escaping.
START, STOP = "\ue000", "\ue001"
HEADLINE_OPTIONS = f"StartSel={START}, StopSel={STOP}, MaxWords=30, MinWords=12, ShortWord=2"


WORD = re.compile(r"\w+")


def bad_query(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "BAD_USER_INPUT"})


def normalize_query(raw: str) -> str:
    """The query as searched; a ``BAD_USER_INPUT`` error when nothing is left or it is too long."""
    if len(raw) > MAX_QUERY_CHARACTERS * 4:  # not worth cleaning character by character
        raise bad_query(f"`query` takes at most {MAX_QUERY_CHARACTERS} characters.")
    cleaned = "".join(" " if unicodedata.category(ch).startswith("C") else ch for ch in raw)
    words = " ".join(cleaned.split())
    if not words:
        raise bad_query("`query` is empty: give at least one word to search for.")
    if len(words) > MAX_QUERY_CHARACTERS:
        raise bad_query(f"`query` takes at most {MAX_QUERY_CHARACTERS} characters.")
    return words


def typo_tolerant(words: str) -> bool:
    """A short query of plain words: no phrase quotes, no ``or``, no excluded ``-word``, at least one word."""
    parts = words.split()
    if len(parts) > SHORT_WORDS or len(words) > SHORT_CHARACTERS or '"' in words or not fuzzy_words(words):
        return False
    return not any(part.lower() == "or" or part.startswith("-") for part in parts)


def fuzzy_words(words: str) -> list[str]:
    """The words the typo fallback compares, each of which must be similar to a word of the item (lower-cased,
    punctuation dropped: ``yoga & flw`` is ``yoga``, ``flw``)."""
    return WORD.findall(words.lower())


def encode_cursor(rank: float, id_: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{rank!r}|{id_}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[float, uuid.UUID]:
    try:
        raw_rank, _, raw_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        rank = float(raw_rank)
        if not math.isfinite(rank):
            raise ValueError("not a finite rank")
        return rank, uuid.UUID(raw_id)
    except (ValueError, binascii.Error, UnicodeError) as exc:
        raise invalid_cursor() from exc


def headline_html(raw: str | None) -> str | None:
    """ts_headline's snippet as HTML: everything escaped, then the matches wrapped in <mark>."""
    if raw is None:
        return None
    return html.escape(raw, quote=True).replace(START, "<mark>").replace(STOP, "</mark>")
