"""Persisted operations: a manifest of known documents by SHA-256, and automatic persisted queries.

Requests name a document by ``extensions.persistedQuery.sha256Hash`` (Apollo's protocol, version 1).
Manifest documents are trusted, loaded once and compiled or parsed ahead of the first request.
With APQ on, a client that sends an unknown hash gets ``PERSISTED_QUERY_NOT_FOUND`` and retries
with the document, which is then kept (in Redis, shared by every instance) under its verified hash.

Registration is bounded, since it stores what a caller sends: documents over ``MAX_DOCUMENT_BYTES``
are refused before this module sees them; a signed-in caller registers at most
``APQ_USER_REGISTRATIONS_PER_HOUR`` documents, kept ``APQ_TTL_SECONDS``; an anonymous caller at most
``APQ_ANONYMOUS_REGISTRATIONS_PER_HOUR`` per client address, kept ``APQ_ANONYMOUS_TTL_SECONDS`` (an
hour, not a week). Over the quota the document still runs (it was sent in full and is charged like any
request), it is just not stored: the client's next hash-only request gets ``PERSISTED_QUERY_NOT_FOUND``
and sends the document again, which Apollo-style clients do by themselves. Each process keeps a copy of
the documents it has seen in a ``ByteLRU`` (``APQ_LOCAL_CACHE_BYTES``).
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from codex_graphql.doccache import ENTRY_OVERHEAD, ByteLRU, document_bytes
from codex_graphql.kv import KeyValue

log = logging.getLogger(__name__)

QUOTA_WINDOW_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class Registrant:
    """Who registers a document: ``key`` names the quota (``user:<id>`` or ``ip:<address>``)."""

    key: str
    signed_in: bool


@dataclass(frozen=True, slots=True)
class ApqPolicy:
    ttl: int = 7 * 24 * 3600  # signed-in callers' documents
    anonymous_ttl: int = 3600
    anonymous_per_hour: int = 20
    user_per_hour: int = 200
    local_cache_bytes: int = 16_000_000


class PersistedQueryError(Exception):
    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


def document_hash(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


def load_manifest(path: Path) -> dict[str, str]:
    """Read ``{"<sha256>": "<document>"}`` and refuse any entry whose hash does not match."""
    raw = orjson.loads(path.read_bytes())
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: the manifest must be a JSON object of hash -> document")
    for digest, document in raw.items():
        if not isinstance(document, str) or document_hash(document) != digest:
            raise ValueError(f"{path}: entry {digest[:12]}… does not match the SHA-256 of its document")
    return raw


def build_manifest(paths: list[Path]) -> dict[str, str]:
    """Every ``.graphql`` file under ``paths`` (files or folders), keyed by its hash."""
    documents: dict[str, str] = {}
    for path in paths:
        files = sorted(path.rglob("*.graphql")) if path.is_dir() else [path]
        for file in files:
            text = file.read_text()
            documents[document_hash(text)] = text
    return dict(sorted(documents.items()))


class PersistedOperations:
    def __init__(self, manifest: dict[str, str], kv: KeyValue, *, apq: bool, only: bool,
                 policy: ApqPolicy | None = None) -> None:
        self.manifest = manifest
        self.kv = kv
        self.apq = apq
        self.only = only
        self.policy = policy or ApqPolicy()
        # This process's copies, (document, monotonic expiry): kept at most the anonymous TTL, so a short-lived
        # registration is not served here after Redis forgot it.
        self.registered: ByteLRU[tuple[str, float]] = ByteLRU(self.policy.local_cache_bytes)

    async def resolve(self, query: str | None, extensions: Any, registrant: Registrant | None = None) -> str:
        """The document to run for this request, or PersistedQueryError."""
        persisted = extensions.get("persistedQuery") if isinstance(extensions, dict) else None
        if persisted is None:
            if query is None:
                raise PersistedQueryError("`query` must be a non-empty string.", "BAD_REQUEST")
            if self.only:
                raise PersistedQueryError(
                    "This server runs persisted operations only; send extensions.persistedQuery.sha256Hash.",
                    "PERSISTED_QUERY_REQUIRED")
            return query
        if not isinstance(persisted, dict) or persisted.get("version") != 1 or not isinstance(
                persisted.get("sha256Hash"), str):
            raise PersistedQueryError("extensions.persistedQuery needs version 1 and a sha256Hash.", "BAD_REQUEST")
        digest = persisted["sha256Hash"].lower()
        if query is not None:
            return await self._register(digest, query, registrant or Registrant("ip:unknown", False))
        known = self.manifest.get(digest) or await self._registered_document(digest)
        if known is None:
            raise PersistedQueryError("PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND")
        return known

    async def _register(self, digest: str, query: str, registrant: Registrant) -> str:
        if document_hash(query) != digest:
            raise PersistedQueryError("provided sha does not match query", "PERSISTED_QUERY_HASH_MISMATCH")
        if digest in self.manifest:
            return query
        if not self.apq or self.only:
            raise PersistedQueryError("Registering new persisted queries is not allowed on this server.",
                                      "PERSISTED_QUERY_NOT_SUPPORTED")
        try:
            if not await self._within_quota(registrant):
                log.info("APQ registration quota reached for %s; the document runs unstored", registrant.key)
                return query
            ttl = self.policy.ttl if registrant.signed_in else self.policy.anonymous_ttl
            await self.kv.set(f"apq:{digest}", query.encode(), ttl)
        except Exception:  # Redis down: the document still runs, it is just not shared yet
            log.warning("could not store a persisted query", exc_info=True)
            return query
        self._remember(digest, query)
        return query

    async def _within_quota(self, registrant: Registrant) -> bool:
        limit = self.policy.user_per_hour if registrant.signed_in else self.policy.anonymous_per_hour
        count = await self.kv.incr(f"apq-quota:{registrant.key}", QUOTA_WINDOW_SECONDS)
        return count <= limit

    async def _registered_document(self, digest: str) -> str | None:
        if not self.apq or self.only:
            return None
        local = self.registered.get(digest)
        if local is not None and local[1] > time.monotonic():
            return local[0]
        try:
            raw = await self.kv.get(f"apq:{digest}")
        except Exception:
            return None
        if raw is None:
            return None
        document = raw.decode()
        if document_hash(document) != digest:  # never trust the store blindly
            return None
        self._remember(digest, document)
        return document

    def _remember(self, digest: str, document: str) -> None:
        expires = time.monotonic() + min(self.policy.ttl, self.policy.anonymous_ttl)
        self.registered.put(digest, (document, expires), ENTRY_OVERHEAD + document_bytes(document))
