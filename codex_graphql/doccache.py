"""Caches of work done on GraphQL documents, keyed by the document's SHA-256 and bounded by bytes.

Every cache that remembers something per document (the parser's and the validator's here, the cost
analyses in cost.py, the compiled plans in fastpath/engine.py, the APQ documents in persisted.py) keys
its entries by ``document_digest(text)`` and is a ``ByteLRU``: a ``cachetools.LRUCache`` whose size is
the estimated memory of its entries, so that a budget in bytes holds whatever the documents weigh (an
entry limit does not: a thousand entries of 1 MB comments are a gigabyte). Documents larger than
``MAX_DOCUMENT_BYTES`` are refused before any of this (``check_document_size``).

An entry's weight is estimated, not measured: the source text (a parsed document keeps it through its
locations) plus ``BYTES_PER_TOKEN`` for every token (graphql-core keeps every token and builds about one
node per token; 360-540 bytes per token were measured on the client examples).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any, Generic, TypeVar

from cachetools import LRUCache
from graphql import DocumentNode, GraphQLError, parse
from strawberry.extensions import SchemaExtension

V = TypeVar("V")

DOCUMENT_TOO_LARGE = "DOCUMENT_TOO_LARGE"

BYTES_PER_TOKEN = 600
ENTRY_OVERHEAD = 200  # the key (a 64-character digest), the cache's bookkeeping, a small value


_last: tuple[str, str] = ("", hashlib.sha256(b"").hexdigest())


def document_digest(text: str) -> str:
    """SHA-256 of the document, hex; the parser, validator, cost and plan caches of one request ask for the
    same text in turn, so the last answer is remembered (by identity, one entry)."""
    global _last
    last = _last
    if last[0] is text:
        return last[1]
    digest = hashlib.sha256(text.encode()).hexdigest()
    _last = (text, digest)
    return digest


def document_bytes(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode())  # isascii is O(1): the string knows


def too_large(text: str, limit: int) -> bool:
    """Whether a document exceeds ``limit`` bytes (UTF-8), without encoding an obviously larger one."""
    return len(text) > limit or document_bytes(text) > limit


def document_weight(text: str, document: DocumentNode | None) -> int:
    """The estimated memory held by a parsed ``document`` of ``text``."""
    tokens = 0
    token = document.loc.start_token if document is not None and document.loc is not None else None
    while token is not None:
        tokens += 1
        token = token.next
    return ENTRY_OVERHEAD + document_bytes(text) + BYTES_PER_TOKEN * tokens


class ByteLRU(Generic[V]):
    """A least-recently-used map whose entries carry a weight in bytes; the total stays under ``budget``.

    An entry heavier than the whole budget is not kept (the work is simply not cached).
    """

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._cache: LRUCache[Any, tuple[V, int]] = LRUCache(maxsize=max(1, budget), getsizeof=lambda entry: entry[1])
        self.hits = 0
        self.misses = 0
        self.front: HotMap[V] | None = None  # a HotMap serving the same values by text, cleared with this one

    @property
    def bytes(self) -> int:
        """The tracked weight of the entries held now (never more than ``budget``)."""
        return int(self._cache.currsize)

    def __len__(self) -> int:
        return len(self._cache)

    def __contains__(self, key: object) -> bool:
        return key in self._cache

    def get(self, key: Any) -> V | None:
        entry = self._cache.get(key)
        if entry is None:
            self.misses += 1
            return None
        self.hits += 1
        return entry[0]

    def lookup(self, key: Any) -> tuple[bool, V | None]:
        """(found, value): for caches whose values may be None."""
        entry = self._cache.get(key)
        if entry is None:
            self.misses += 1
            return False, None
        self.hits += 1
        return True, entry[0]

    def put(self, key: Any, value: V, weight: int) -> None:
        if weight > self.budget:
            self._cache.pop(key, None)
            return
        self._cache[key] = (value, weight)

    def clear(self) -> None:
        self._cache.clear()
        if self.front is not None:
            self.front.clear()


class HotMap(Generic[V]):
    """The values of the documents served most recently, by the document's text itself: one dict lookup
    (Python hashes the string, no SHA-256, no LRU bookkeeping), in front of a ``ByteLRU`` keyed by digest.

    Bounded by the estimated bytes its entries keep alive (``budget``; an entry weighing more than an
    eighth of it is never kept): when a new entry would pass the budget, the map is cleared and starts
    over, so the documents in use come back after at most one slower lookup each."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.weight = 0
        self.entries: dict[Any, V] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, key: Any) -> V | None:
        return self.entries.get(key)

    def put(self, key: Any, value: V, weight: int) -> None:
        if weight > self.budget // 8 or key in self.entries:
            return
        if self.weight + weight > self.budget:
            self.entries.clear()
            self.weight = 0
        self.entries[key] = value
        self.weight += weight

    def clear(self) -> None:
        self.entries.clear()
        self.weight = 0


def check_document_size(text: str | None, limit: int) -> None:
    if text is not None and too_large(text, limit):
        raise GraphQLError(f"The GraphQL document exceeds {limit} bytes (MAX_DOCUMENT_BYTES).",
                           extensions={"code": DOCUMENT_TOO_LARGE})


class DocumentCaches:
    """The parser and validation caches of one schema (one budget each), and the document size cap."""

    def __init__(self, max_document_bytes: int, parser_budget: int, validation_budget: int) -> None:
        self.max_document_bytes = max_document_bytes
        self.parsed: ByteLRU[DocumentNode] = ByteLRU(parser_budget)
        # Validation results: an empty list for a valid document (a light entry); errors point into the
        # document's nodes, so an entry with errors weighs the whole parsed document.
        self.validated: ByteLRU[list[GraphQLError]] = ByteLRU(validation_budget)

    def parse(self, text: str, options: dict[str, Any]) -> DocumentNode:
        check_document_size(text, self.max_document_bytes)
        key = (document_digest(text), tuple(sorted(options.items())))
        document = self.parsed.get(key)
        if document is None:
            document = parse(text, **options)
            self.parsed.put(key, document, document_weight(text, document))
        return document

    def extensions(self) -> list[Any]:
        """The strawberry extensions (factories) that use these caches."""
        caches = self

        class CachedParse(SchemaExtension):
            def on_parse(self) -> Iterator[None]:
                ec = self.execution_context
                if ec.graphql_document is None and ec.query:
                    ec.graphql_document = caches.parse(ec.query, ec.parse_options)
                yield

        class CachedValidation(SchemaExtension):
            def on_validate(self) -> Iterator[None]:
                ec = self.execution_context
                if ec.query and ec.graphql_document is not None and ec.pre_execution_errors is None:
                    key = (document_digest(ec.query), tuple(ec.validation_rules))
                    errors = caches.validated.get(key)
                    if errors is None:
                        from strawberry.schema.schema import validate_document

                        errors = validate_document(ec.schema._schema, ec.graphql_document, ec.validation_rules)
                        weight = document_weight(ec.query, ec.graphql_document) if errors else ENTRY_OVERHEAD
                        caches.validated.put(key, errors, weight)
                    ec.pre_execution_errors = errors
                yield

        return [CachedParse, CachedValidation]
