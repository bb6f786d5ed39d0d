"""Persisted operations: a manifest of known documents by SHA-256, and automatic persisted queries.

Requests name a document by ``extensions.persistedQuery.sha256Hash`` (Apollo's protocol, version 1).
Manifest documents are trusted, loaded once and compiled or parsed ahead of the first request.
With APQ on, a client that sends an unknown hash gets ``PERSISTED_QUERY_NOT_FOUND`` and retries
with the document, which is then kept (in Redis, shared by every instance) under its verified hash.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from pathlib import Path
from typing import Any

import orjson

from codex_graphql.kv import KeyValue

log = logging.getLogger(__name__)

LOCAL_CACHE_SIZE = 2000


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
    def __init__(self, manifest: dict[str, str], kv: KeyValue, *, apq: bool, only: bool, ttl: int) -> None:
        self.manifest = manifest
        self.kv = kv
        self.apq = apq
        self.only = only
        self.ttl = ttl
        self._registered: OrderedDict[str, str] = OrderedDict()

    async def resolve(self, query: str | None, extensions: Any) -> str:
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
            return await self._register(digest, query)
        known = self.manifest.get(digest) or await self._registered_document(digest)
        if known is None:
            raise PersistedQueryError("PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND")
        return known

    async def _register(self, digest: str, query: str) -> str:
        if document_hash(query) != digest:
            raise PersistedQueryError("provided sha does not match query", "PERSISTED_QUERY_HASH_MISMATCH")
        if digest in self.manifest:
            return query
        if not self.apq or self.only:
            raise PersistedQueryError("Registering new persisted queries is not allowed on this server.",
                                      "PERSISTED_QUERY_NOT_SUPPORTED")
        self._remember(digest, query)
        try:
            await self.kv.set(f"apq:{digest}", query.encode(), self.ttl)
        except Exception:  # Redis down: the document still runs, it is just not shared yet
            log.warning("could not store a persisted query", exc_info=True)
        return query

    async def _registered_document(self, digest: str) -> str | None:
        if not self.apq or self.only:
            return None
        local = self._registered.get(digest)
        if local is not None:
            self._registered.move_to_end(digest)
            return local
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
        self._registered[digest] = document
        if len(self._registered) > LOCAL_CACHE_SIZE:
            self._registered.popitem(last=False)
