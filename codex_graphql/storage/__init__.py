"""Object storage behind one protocol: ``s3`` (aioboto3, any S3-compatible endpoint) and ``local``
(files under the data folder, with upload and download URLs signed by the app and served by it).

Objects are private: clients only ever get short-lived signed URLs. Request path: URLs are signed
without a network call; deletions are queued in ``storage_cleanup`` in the caller's transaction and
done by the periodic hygiene pass (``hygiene.py``, platform scope), outside any transaction.

Uploads are immutable once checked. Both backends sign writes (single PUTs, multipart uploads and their
parts) only for staging keys under ``uploads/`` (``staging_key``), and each staging key takes one upload:
the local backend refuses a second PUT to a key written once (even after the object moved on), S3 PUT URLs
carry ``If-None-Match: *``. The server checks a staged object and then ``promote``s it (local: rename;
S3: server-side copy, then the staging object is deleted) to its final key, which no signed URL can write.
Reads are signed only for final keys, served with the checked content type, a ``Content-Disposition`` and
(local backend) ``X-Content-Type-Options: nosniff`` and a sandboxing ``Content-Security-Policy``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

STAGING_PREFIX = "uploads/"


def staging_key(organization_id: object, name: str) -> str:
    """A one-use upload target for ``organization_id``; ``name`` must be unpredictable (a random token)."""
    return f"{STAGING_PREFIX}{organization_id}/{name}"


def is_staging_key(key: str) -> bool:
    return isinstance(key, str) and key.startswith(STAGING_PREFIX) and len(key) > len(STAGING_PREFIX)


def require_staging_key(key: str) -> str:
    """Signed writes are only ever granted for staging keys: final keys cannot be written through a URL."""
    if not is_staging_key(key):
        raise ValueError(f"uploads may only target staging keys under {STAGING_PREFIX!r}: {key!r}")
    return key


class AlreadyUploaded(Exception):
    """A one-use staging key was written already (a second upload to a used URL)."""


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """An HTTP request a client may make directly against storage until ``expires_at``."""

    url: str
    method: str
    headers: dict[str, str] = field(default_factory=dict)
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CompletedPart:
    part_number: int
    etag: str


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    size: int
    content_type: str | None = None


class Storage(Protocol):
    async def presign_put(self, key: str, content_type: str, size: int, expires_in: int) -> SignedRequest:
        """A single one-use PUT of exactly ``size`` bytes with this content type, to a staging key only
        (ValueError otherwise); ``headers`` lists every header the client must send."""

    async def create_multipart(self, key: str, content_type: str) -> str:
        """Start a multipart upload to a staging key (ValueError otherwise); returns its upload id."""

    async def presign_part(self, key: str, upload_id: str, part_number: int, expires_in: int) -> SignedRequest:
        """A PUT for one part (1-based); the response's ETag header is needed to complete."""

    async def complete_multipart(self, key: str, upload_id: str, parts: list[CompletedPart]) -> None: ...

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        """Abort; succeeds if the upload is already gone."""

    async def head(self, key: str) -> ObjectInfo | None:
        """Size (and type) of a stored object, or None when it does not exist."""

    async def presign_get(self, key: str, expires_in: int, filename: str | None = None,
                          content_type: str | None = None) -> SignedRequest:
        """A GET of a final key (ValueError for a staging key). The response carries ``content_type`` (default:
        the type checked and stored with the object) and ``Content-Disposition``: ``attachment`` with
        ``filename`` when given, ``inline`` otherwise."""

    async def promote(self, source: str, destination: str, content_type: str) -> ObjectInfo:
        """Copy the checked staging object ``source`` to the final key ``destination`` with ``content_type``
        (server side; local: rename), then delete ``source``. FileNotFoundError when ``source`` is gone."""

    async def download(self, key: str, destination: Path) -> None: ...

    async def read_bytes(self, key: str, limit: int) -> bytes:
        """A small object's bytes (a playlist), read into memory. FileNotFoundError when missing; ValueError when
        it is larger than ``limit`` bytes."""

    async def upload_file(self, key: str, source: Path, content_type: str) -> None: ...

    async def delete(self, key: str) -> None:
        """Delete; succeeds if the object is already gone."""

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every object whose key starts with ``prefix`` (a folder, ending in ``/``); returns how many."""

    async def sweep_abandoned(self, started_before: datetime) -> int:
        """Abort multipart uploads started before ``started_before`` and drop partial files written before
        it (whatever no database row remembers: a crash between starting an upload and recording it)."""

    async def close(self) -> None: ...
