"""Local storage: objects are files under a root folder; upload and download URLs are signed by the app
(HMAC-SHA256 over the operation, key, expiry and bound parameters) and served by ``routes.py``.

Layout under ``root``::

    objects/<key>            the object bytes
    meta/<key>.json          {"content_type": ...}
    multipart/<upload_id>/   upload.json ({"key", "content_type"}) and <part:05d>.part files
    used/<key>               one marker per staging key written once: its URLs are spent (swept after a day)
    tmp/                     files being written; moved into place with os.replace

Writes are signed only for staging keys (``uploads/...``), and each takes one upload: a PUT (or a
multipart completion) claims the key's marker with O_EXCL before the object lands, so a second PUT to the
same URL, concurrent or later, even after ``promote`` moved the object to its final key, gets 409.

Keys live in their own tree, so no key can collide with metadata, staging or temporary files.
Multipart uploads behave like S3's: each part PUT answers with an ``ETag`` (quoted md5 hex) that
``complete_multipart`` checks while concatenating (S3's 5 MiB minimum part size is not enforced here).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlencode

import anyio
import anyio.to_thread

from codex_graphql.storage import (
    AlreadyUploaded,
    CompletedPart,
    ObjectInfo,
    SignedRequest,
    is_staging_key,
    require_staging_key,
)
from codex_graphql.storage.memo import SIGNED_GETS_KEPT as SIGNED_GETS_KEPT  # re-exported
from codex_graphql.storage.memo import SignedGets

DEFAULT_MAX_OBJECT_BYTES = 5 * 1024**3
MAX_PART_NUMBER = 10_000
_SEGMENT = re.compile(r"^[A-Za-z0-9_~=+@-][A-Za-z0-9._~=+@-]*$")
_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
_CHUNK = 1024 * 1024
_SIGNING_CONTEXT = b"codex-storage-url-v1"
STAGING_FOLDER = "uploads"


def _now() -> float:
    """Current unix time; a function so tests can move the clock."""
    return time.time()


class SignedUrlError(Exception):
    """A request against a signed URL that must be refused with ``status`` and ``{"error": error}``."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


@dataclass(frozen=True, slots=True)
class Grant:
    """What a verified signed URL allows."""

    op: str
    key: str
    size: int | None = None
    content_type: str | None = None
    upload_id: str | None = None
    part_number: int | None = None
    filename: str | None = None


_URL_SAFE_KEY = re.compile(r"[A-Za-z0-9/_.\-]+")


def validate_key(key: str) -> str:
    """A relative path of safe segments; anything else (``..``, absolute, backslash, NUL, empty) is refused."""
    if not isinstance(key, str) or not key or len(key) > 1024:
        raise ValueError("invalid storage key")
    if "\\" in key or "\x00" in key or key.startswith("/"):
        raise ValueError(f"invalid storage key: {key!r}")
    for segment in key.split("/"):
        if segment in ("", ".", "..") or not _SEGMENT.match(segment):
            raise ValueError(f"invalid storage key: {key!r}")
    return key


def _validate_header_value(value: str, what: str) -> str:
    if not value or len(value) > 255 or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ValueError(f"invalid {what}")
    return value


def _etag(hex_digest: str) -> str:
    return f'"{hex_digest}"'


def _normalize_etag(etag: str) -> str:
    return etag.strip().removeprefix("W/").strip('"').lower()


class LocalStorage:
    def __init__(self, root: Path, base_url: str, secret_key: str,
                 max_object_bytes: int = DEFAULT_MAX_OBJECT_BYTES) -> None:
        if not secret_key:
            raise ValueError("LocalStorage needs a secret key to sign URLs")
        self.root = Path(root)
        self.base_url = base_url.rstrip("/")
        self.max_object_bytes = max_object_bytes
        self._key = hmac.new(secret_key.encode(), _SIGNING_CONTEXT, hashlib.sha256).digest()
        self._gets = SignedGets()  # presign_get's memo (storage/memo.py)
        self._objects = self.root / "objects"
        self._meta = self.root / "meta"
        self._multipart = self.root / "multipart"
        self._tmp = self.root / "tmp"
        self._used = self.root / "used"
        for folder in (self._objects, self._meta, self._multipart, self._tmp, self._used):
            folder.mkdir(parents=True, exist_ok=True)

    # ---- paths -------------------------------------------------------------------------------

    def object_path(self, key: str) -> Path:
        return self._objects / validate_key(key)

    def _meta_path(self, key: str) -> Path:
        return self._meta / (validate_key(key) + ".json")

    def _staging(self, upload_id: str) -> Path:
        if not isinstance(upload_id, str) or not _UPLOAD_ID.match(upload_id):
            raise ValueError("invalid upload id")
        return self._multipart / upload_id

    def _tmp_path(self) -> Path:
        return self._tmp / f"{secrets.token_hex(12)}.tmp"

    # ---- signing -----------------------------------------------------------------------------

    def _signature(self, op: str, key: str, exp: int, params: Mapping[str, str]) -> str:
        fields = [("op", op), ("key", key), ("exp", str(exp)), *sorted(params.items())]
        message = "\n".join(f"{name}={value}" for name, value in fields).encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def _sign(self, op: str, key: str, expires_in: int, params: dict[str, str],
              exp: int | None = None) -> tuple[str, datetime]:
        exp = int(_now()) + int(expires_in) if exp is None else exp
        signature = self._signature(op, key, exp, params)
        # Keys are safe segments already (validate_key); quoting them would change nothing. Catalogue
        # pages sign dozens of thumbnails per request, so the common case skips urlencode.
        path = key if _URL_SAFE_KEY.fullmatch(key) else quote(key, safe="/")
        extra = f"&{urlencode(params)}" if params else ""
        url = f"{self.base_url}/storage/{path}?op={op}{extra}&exp={exp}&sig={signature}"
        return url, datetime.fromtimestamp(exp, UTC)

    def verify(self, key: str, query: Mapping[str, str], allowed_ops: tuple[str, ...]) -> Grant:
        """Check the signature, then the expiry and the operation; raise SignedUrlError when refused."""
        try:
            validate_key(key)
        except ValueError:
            raise SignedUrlError(404, "not found") from None
        op = query.get("op", "")
        names = {"put": ("size", "ct"), "part": ("upload_id", "part"), "get": ("fn", "ct")}.get(op)
        try:
            exp = int(query.get("exp", ""))
        except ValueError:
            exp = None
        sig = query.get("sig", "")
        if names is None or exp is None or not sig:
            raise SignedUrlError(403, "invalid signature")
        params = {name: query[name] for name in names if name in query}
        expected = self._signature(op, key, exp, params)
        if not hmac.compare_digest(expected.encode(), sig.encode()):
            raise SignedUrlError(403, "invalid signature")
        if exp < _now():
            raise SignedUrlError(403, "expired")
        if op not in allowed_ops:
            raise SignedUrlError(403, "operation not allowed")
        if (op == "get") == is_staging_key(key):  # writes only to staging keys, reads only of final keys
            raise SignedUrlError(403, "operation not allowed on this key")
        if op == "put":
            return Grant(op, key, size=int(params["size"]), content_type=params["ct"])
        if op == "part":
            return Grant(op, key, upload_id=params["upload_id"], part_number=int(params["part"]))
        return Grant(op, key, filename=params.get("fn"), content_type=params.get("ct"))

    # ---- Storage protocol ---------------------------------------------------------------------

    async def presign_put(self, key: str, content_type: str, size: int, expires_in: int) -> SignedRequest:
        validate_key(require_staging_key(key))
        _validate_header_value(content_type, "content type")
        if size < 0 or size > self.max_object_bytes:
            raise ValueError(f"object size must be between 0 and {self.max_object_bytes} bytes")
        url, expires_at = self._sign("put", key, expires_in, {"size": str(size), "ct": content_type})
        return SignedRequest(url=url, method="PUT", headers={"Content-Type": content_type}, expires_at=expires_at)

    async def create_multipart(self, key: str, content_type: str) -> str:
        validate_key(require_staging_key(key))
        _validate_header_value(content_type, "content type")
        upload_id = secrets.token_hex(16)
        staging = self._staging(upload_id)
        staging.mkdir()
        (staging / "upload.json").write_text(json.dumps({"key": key, "content_type": content_type}))
        return upload_id

    async def presign_part(self, key: str, upload_id: str, part_number: int, expires_in: int) -> SignedRequest:
        validate_key(require_staging_key(key))
        self._staging(upload_id)
        if not 1 <= part_number <= MAX_PART_NUMBER:
            raise ValueError(f"part number must be between 1 and {MAX_PART_NUMBER}")
        url, expires_at = self._sign("part", key, expires_in, {"upload_id": upload_id, "part": str(part_number)})
        return SignedRequest(url=url, method="PUT", headers={}, expires_at=expires_at)

    async def complete_multipart(self, key: str, upload_id: str, parts: list[CompletedPart]) -> None:
        """Concatenate the parts in part-number order; ValueError when the upload or a part does not match."""
        upload = self._read_upload(key, upload_id)
        if upload is None:
            raise ValueError("no such upload")
        if not parts:
            raise ValueError("a multipart upload needs at least one part")
        ordered = sorted(parts, key=lambda p: p.part_number)
        numbers = [p.part_number for p in ordered]
        if len(set(numbers)) != len(numbers):
            raise ValueError("duplicate part numbers")
        staging = self._staging(upload_id)
        for part in ordered:
            if not (staging / f"{part.part_number:05d}.part").is_file():
                raise ValueError(f"part {part.part_number} was not uploaded")
        tmp = self._tmp_path()
        try:
            await anyio.to_thread.run_sync(self._concatenate, staging, ordered, tmp)
            try:
                self._claim(key)
            except AlreadyUploaded:
                raise ValueError("this upload was completed already") from None
            self._write_meta(key, upload["content_type"])
            await self._move_into_place(tmp, key)
        finally:
            tmp.unlink(missing_ok=True)
        await anyio.to_thread.run_sync(lambda: shutil.rmtree(staging, ignore_errors=True))

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        try:
            staging = self._staging(upload_id)
        except ValueError:
            return
        if self._read_upload(key, upload_id) is not None:
            await anyio.to_thread.run_sync(lambda: shutil.rmtree(staging, ignore_errors=True))

    async def head(self, key: str) -> ObjectInfo | None:
        path = self.object_path(key)
        try:
            size = path.stat().st_size
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not path.is_file():
            return None
        return ObjectInfo(size=size, content_type=self.content_type(key))

    async def presign_get(self, key: str, expires_in: int, filename: str | None = None,
                          content_type: str | None = None) -> SignedRequest:
        # A URL is a function of the key, its parameters and the expiry second: the same read signed again
        # within one second is the same URL, so it is kept for that second (storage/memo.py).
        second = int(_now())
        exp = second + int(expires_in)
        memo_key = (key, exp, filename, content_type)
        signed = self._gets.recall(second, memo_key)
        if signed is not None:
            return signed
        validate_key(key)
        if is_staging_key(key):
            raise ValueError("staging keys are never served")
        params = {}
        if filename is not None:
            params["fn"] = _validate_header_value(filename, "file name")
        if content_type is not None:
            params["ct"] = _validate_header_value(content_type, "content type")
        url, expires_at = self._sign("get", key, expires_in, params, exp)
        signed = SignedRequest(url=url, method="GET", headers={}, expires_at=expires_at)
        self._gets.remember(second, memo_key, signed)
        return signed

    async def download(self, key: str, destination: Path) -> None:
        source = self.object_path(key)
        if not source.is_file():
            raise FileNotFoundError(f"no object {key!r}")
        destination = Path(destination)
        partial = destination.with_name(f".{destination.name}.{secrets.token_hex(6)}.part")
        try:
            await anyio.to_thread.run_sync(shutil.copyfile, source, partial)
            os.replace(partial, destination)
        finally:
            partial.unlink(missing_ok=True)

    async def read_bytes(self, key: str, limit: int) -> bytes:
        source = self.object_path(key)

        def read() -> bytes:
            with source.open("rb") as file:
                data = file.read(limit + 1)
            if len(data) > limit:
                raise ValueError(f"object {key!r} is larger than {limit} bytes")
            return data

        try:
            return await anyio.to_thread.run_sync(read)
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise FileNotFoundError(f"no object {key!r}") from exc

    async def upload_file(self, key: str, source: Path, content_type: str) -> None:
        validate_key(key)
        _validate_header_value(content_type, "content type")
        tmp = self._tmp_path()
        try:
            await anyio.to_thread.run_sync(shutil.copyfile, source, tmp)
            self._write_meta(key, content_type)
            await self._move_into_place(tmp, key)
        finally:
            tmp.unlink(missing_ok=True)

    async def promote(self, source: str, destination: str, content_type: str) -> ObjectInfo:
        """Rename the staging object to its final key (atomic on one file system) with the checked type."""
        require_staging_key(source)
        if is_staging_key(destination):
            raise ValueError("a final key cannot be a staging key")
        _validate_header_value(content_type, "content type")
        origin, target = self.object_path(source), self.object_path(destination)
        if not origin.is_file():
            raise FileNotFoundError(f"no object {source!r}")
        target.parent.mkdir(parents=True, exist_ok=True)
        self._write_meta(destination, content_type)
        os.replace(origin, target)  # FileNotFoundError when the staging object is gone
        self._meta_path(source).unlink(missing_ok=True)
        return ObjectInfo(size=target.stat().st_size, content_type=content_type)

    async def delete(self, key: str) -> None:
        self.object_path(key).unlink(missing_ok=True)
        self._meta_path(key).unlink(missing_ok=True)

    async def delete_prefix(self, prefix: str) -> int:
        if not prefix.endswith("/"):
            raise ValueError("a prefix is a folder ending in '/'")
        folder = validate_key(prefix.rstrip("/"))
        objects, meta = self._objects / folder, self._meta / folder

        def remove() -> int:
            count = sum(1 for path in objects.rglob("*") if path.is_file()) if objects.is_dir() else 0
            shutil.rmtree(objects, ignore_errors=True)
            shutil.rmtree(meta, ignore_errors=True)
            return count

        return await anyio.to_thread.run_sync(remove)

    async def sweep_abandoned(self, started_before: datetime) -> int:
        """Multipart staging folders whose last part was written before ``started_before``, files left in
        ``tmp/`` by a write that never finished (a dropped upload connection, a crash), staging objects
        uploaded before it and never promoted, and the one-use markers of keys whose URLs have expired (URLs
        live at most as long as the sweep waits)."""
        cutoff = started_before.timestamp()

        def newest(path: Path) -> float:
            times = [path.stat().st_mtime] + [child.stat().st_mtime for child in path.iterdir()]
            return max(times)

        def sweep() -> int:
            removed = 0
            for staging in self._multipart.iterdir():
                with contextlib.suppress(FileNotFoundError):
                    if staging.is_dir() and newest(staging) < cutoff:
                        shutil.rmtree(staging, ignore_errors=True)
                        removed += 1
            for partial in self._tmp.iterdir():
                with contextlib.suppress(FileNotFoundError):
                    if partial.stat().st_mtime < cutoff:
                        partial.unlink()
                        removed += 1
            staged = self._objects / STAGING_FOLDER
            for path in list(staged.rglob("*")) if staged.is_dir() else []:
                with contextlib.suppress(FileNotFoundError):
                    if path.is_file() and path.stat().st_mtime < cutoff:
                        path.unlink()
                        (self._meta / (str(path.relative_to(self._objects)) + ".json")).unlink(missing_ok=True)
                        removed += 1
            for marker in list(self._used.rglob("*")):
                with contextlib.suppress(FileNotFoundError):
                    if marker.is_file() and marker.stat().st_mtime < cutoff:
                        marker.unlink()
            return removed

        return await anyio.to_thread.run_sync(sweep)

    async def close(self) -> None:
        return None

    # ---- used by the routes -------------------------------------------------------------------

    def content_type(self, key: str) -> str | None:
        try:
            return json.loads(self._meta_path(key).read_text()).get("content_type")
        except (FileNotFoundError, NotADirectoryError, ValueError):
            return None

    async def receive_object(self, grant: Grant, content_type: str | None, content_length: str | None,
                             body: AsyncIterator[bytes]) -> str:
        """Stream a signed single PUT to disk; returns the object's ETag. 409 when the key took its one
        upload already (``If-None-Match: *`` semantics, whether or not the client sends the header)."""
        assert grant.op == "put" and grant.size is not None and grant.content_type is not None
        if self._used_path(grant.key).exists():
            raise SignedUrlError(409, "this upload URL was used already")
        if (content_type or "").strip() != grant.content_type:
            raise SignedUrlError(400, "content type does not match the signed upload")
        if content_length is not None and _parse_length(content_length) != grant.size:
            raise SignedUrlError(400, "size does not match the signed upload")
        tmp = self._tmp_path()
        try:
            size, digest = await self._write_stream(body, tmp, min(grant.size, self.max_object_bytes))
            if size != grant.size:
                raise SignedUrlError(400, "size does not match the signed upload")
            try:
                self._claim(grant.key)  # the one upload this key takes; a concurrent PUT loses here
            except AlreadyUploaded:
                raise SignedUrlError(409, "this upload URL was used already") from None
            self._write_meta(grant.key, grant.content_type)
            await self._move_into_place(tmp, grant.key)
        finally:
            tmp.unlink(missing_ok=True)
        return _etag(digest)

    async def receive_part(self, grant: Grant, content_length: str | None, body: AsyncIterator[bytes]) -> str:
        """Stream one signed multipart part into the upload's staging folder; returns its ETag."""
        assert grant.op == "part" and grant.upload_id is not None and grant.part_number is not None
        if self._read_upload(grant.key, grant.upload_id) is None:
            raise SignedUrlError(404, "no such upload")
        if content_length is not None and _parse_length(content_length) > self.max_object_bytes:
            raise SignedUrlError(413, "too large")
        tmp = self._tmp_path()
        try:
            _, digest = await self._write_stream(body, tmp, self.max_object_bytes)
            try:
                os.replace(tmp, self._staging(grant.upload_id) / f"{grant.part_number:05d}.part")
            except FileNotFoundError:  # aborted while the part was being sent
                raise SignedUrlError(404, "no such upload") from None
        finally:
            tmp.unlink(missing_ok=True)
        return _etag(digest)

    # ---- internals ----------------------------------------------------------------------------

    def _used_path(self, key: str) -> Path:
        return self._used / validate_key(key)

    def _claim(self, key: str) -> None:
        """Take the staging key's one upload (O_EXCL); AlreadyUploaded when it was taken before."""
        marker = self._used_path(require_staging_key(key))
        marker.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            raise AlreadyUploaded(key) from None

    def _read_upload(self, key: str, upload_id: str) -> dict[str, str] | None:
        validate_key(key)
        try:
            upload = json.loads((self._staging(upload_id) / "upload.json").read_text())
        except (ValueError, FileNotFoundError, NotADirectoryError):
            return None
        return upload if upload.get("key") == key else None

    async def _write_stream(self, body: AsyncIterator[bytes], path: Path, limit: int) -> tuple[int, str]:
        """Write chunks as they arrive; past ``limit`` bytes refuse with 413 (the caller removes the file)."""
        md5 = hashlib.md5(usedforsecurity=False)
        total = 0
        async with await anyio.open_file(path, "wb") as out:
            async for chunk in body:
                if not chunk:
                    continue
                total += len(chunk)
                if total > limit:
                    raise SignedUrlError(413, "too large")
                md5.update(chunk)
                await out.write(chunk)
        return total, md5.hexdigest()

    def _concatenate(self, staging: Path, parts: list[CompletedPart], destination: Path) -> None:
        total = 0
        with destination.open("wb") as out:
            for part in parts:
                md5 = hashlib.md5(usedforsecurity=False)
                with (staging / f"{part.part_number:05d}.part").open("rb") as source:
                    while chunk := source.read(_CHUNK):
                        total += len(chunk)
                        if total > self.max_object_bytes:
                            raise ValueError("the completed object would be too large")
                        md5.update(chunk)
                        out.write(chunk)
                if md5.hexdigest() != _normalize_etag(part.etag):
                    raise ValueError(f"part {part.part_number} does not match its ETag")

    def _write_meta(self, key: str, content_type: str) -> None:
        path = self._meta_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._tmp_path()
        tmp.write_text(json.dumps({"content_type": content_type}))
        os.replace(tmp, path)

    async def _move_into_place(self, tmp: Path, key: str) -> None:
        destination = self.object_path(key)
        destination.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, destination)


def _parse_length(value: str) -> int:
    with contextlib.suppress(ValueError):
        length = int(value)
        if length >= 0:
            return length
    raise SignedUrlError(400, "invalid content length")
