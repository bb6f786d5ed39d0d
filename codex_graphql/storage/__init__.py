"""Object storage behind one protocol: ``s3`` (aioboto3, any S3-compatible endpoint) and ``local``
(files under the data folder, with upload and download URLs signed by the app and served by it).

Objects are private: clients only ever get short-lived signed URLs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol


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
        """A single PUT upload of exactly ``size`` bytes with this content type."""

    async def create_multipart(self, key: str, content_type: str) -> str:
        """Start a multipart upload; returns its upload id."""

    async def presign_part(self, key: str, upload_id: str, part_number: int, expires_in: int) -> SignedRequest:
        """A PUT for one part (1-based); the response's ETag header is needed to complete."""

    async def complete_multipart(self, key: str, upload_id: str, parts: list[CompletedPart]) -> None: ...

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        """Abort; succeeds if the upload is already gone."""

    async def head(self, key: str) -> ObjectInfo | None:
        """Size (and type) of a stored object, or None when it does not exist."""

    async def presign_get(self, key: str, expires_in: int, filename: str | None = None) -> SignedRequest: ...

    async def download(self, key: str, destination: Path) -> None: ...

    async def upload_file(self, key: str, source: Path, content_type: str) -> None: ...

    async def delete(self, key: str) -> None:
        """Delete; succeeds if the object is already gone."""

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every object whose key starts with ``prefix`` (a folder, ending in ``/``); returns how many."""

    async def sweep_abandoned(self, started_before: datetime) -> int:
        """Abort multipart uploads started before ``started_before`` and drop partial files written before
        it (whatever no database row remembers: a crash between starting an upload and recording it)."""

    async def close(self) -> None: ...
