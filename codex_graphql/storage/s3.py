"""S3 storage through aioboto3: AWS S3 or any S3-compatible endpoint (path-style when ``endpoint_url`` is set).

One client per process, opened at first use and closed by ``close()``. Clients only ever receive
presigned URLs (SigV4); a single PUT's URL signs its Content-Type, Content-Length and ``If-None-Match: *``,
so the upload must send exactly the type and size that were granted and S3 refuses it (412) when the
staging key holds an object already; multipart completions send ``If-None-Match: *`` too. Writes are
signed only for staging keys; ``promote`` copies a checked staging object to its final key server side
(CopyObject, or UploadPartCopy in 1 GiB ranges past CopyObject's 5 GB limit) and deletes it. Presigned
GETs set ``response-content-type`` and ``response-content-disposition``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import time
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aioboto3
from botocore.config import Config
from botocore.exceptions import ClientError

from codex_graphql.storage import (
    STAGING_PREFIX,
    CompletedPart,
    ObjectInfo,
    SignedRequest,
    is_staging_key,
    require_staging_key,
)
from codex_graphql.storage.memo import SignedGets

log = logging.getLogger(__name__)

_NOT_FOUND = {"404", "NoSuchKey", "NotFound", "NoSuchBucket"}
_BAD_COMPLETION = {"InvalidPart", "InvalidPartOrder", "NoSuchUpload", "EntityTooSmall", "MalformedXML",
                   "PreconditionFailed", "ConditionalRequestConflict"}
COPY_OBJECT_LIMIT = 5 * 1024**3  # the largest object one CopyObject may copy
COPY_PART_SIZE = 1024**3


def _now() -> float:
    """Current unix time; a function so tests can move the clock (with botocore's, which signs the URL)."""
    return time.time()


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback name and the RFC 6266 ``filename*`` for the rest."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in filename):
        raise ValueError("invalid file name")
    fallback = "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


class S3Storage:
    def __init__(self, bucket: str, region: str, endpoint_url: str | None = None,
                 access_key: str | None = None, secret_key: str | None = None) -> None:
        self.bucket = bucket
        self.region = region
        self.endpoint_url = endpoint_url
        # Without explicit keys botocore's default chain applies (environment, instance or task role).
        self._session = aioboto3.Session(
            aws_access_key_id=access_key, aws_secret_access_key=secret_key, region_name=region
        )
        self._config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path" if endpoint_url else "auto"},
            retries={"mode": "standard", "max_attempts": 3},
            # Checksums only where S3 requires them: S3-compatible servers differ in what they accept.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self._stack: AsyncExitStack | None = None
        self._client: Any = None
        self._lock = asyncio.Lock()
        self._gets = SignedGets()  # presign_get's memo (storage/memo.py)

    async def _s3(self) -> Any:
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    stack = AsyncExitStack()
                    self._client = await stack.enter_async_context(
                        self._session.client("s3", endpoint_url=self.endpoint_url, config=self._config)
                    )
                    self._stack = stack
        return self._client

    async def close(self) -> None:
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    @staticmethod
    def _expiry(expires_in: int) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=expires_in)

    async def ensure_bucket(self) -> None:
        """Create the bucket when missing (dev and tests), with all public access blocked."""
        s3 = await self._s3()
        try:
            await s3.head_bucket(Bucket=self.bucket)
            return
        except ClientError as exc:
            if _code(exc) not in _NOT_FOUND:
                raise
        kwargs: dict[str, Any] = {"Bucket": self.bucket}
        if self.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            await s3.create_bucket(**kwargs)
        except ClientError as exc:
            if _code(exc) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise
        try:
            await s3.put_public_access_block(
                Bucket=self.bucket,
                PublicAccessBlockConfiguration={
                    "BlockPublicAcls": True,
                    "IgnorePublicAcls": True,
                    "BlockPublicPolicy": True,
                    "RestrictPublicBuckets": True,
                },
            )
        except ClientError as exc:  # some S3-compatible servers lack the API; their buckets start private
            log.warning("could not set a public access block on %s: %s", self.bucket, _code(exc))

    async def presign_put(self, key: str, content_type: str, size: int, expires_in: int) -> SignedRequest:
        require_staging_key(key)
        if size < 0:
            raise ValueError("object size must not be negative")
        s3 = await self._s3()
        url = await s3.generate_presigned_url(
            "put_object",
            Params={"Bucket": self.bucket, "Key": key, "ContentType": content_type, "ContentLength": size,
                    "IfNoneMatch": "*"},
            ExpiresIn=expires_in,
            HttpMethod="PUT",
        )
        # Content-Length is signed too; HTTP clients (browsers included) send it themselves. If-None-Match is a
        # signed header: a client that leaves it out is refused, one that sends it cannot overwrite the key.
        return SignedRequest(url=url, method="PUT", headers={"Content-Type": content_type, "If-None-Match": "*"},
                             expires_at=self._expiry(expires_in))

    async def create_multipart(self, key: str, content_type: str) -> str:
        require_staging_key(key)
        s3 = await self._s3()
        response = await s3.create_multipart_upload(Bucket=self.bucket, Key=key, ContentType=content_type)
        return str(response["UploadId"])

    async def presign_part(self, key: str, upload_id: str, part_number: int, expires_in: int) -> SignedRequest:
        require_staging_key(key)
        if not 1 <= part_number <= 10_000:
            raise ValueError("part number must be between 1 and 10000")
        s3 = await self._s3()
        url = await s3.generate_presigned_url(
            "upload_part",
            Params={"Bucket": self.bucket, "Key": key, "UploadId": upload_id, "PartNumber": part_number},
            ExpiresIn=expires_in,
            HttpMethod="PUT",
        )
        return SignedRequest(url=url, method="PUT", headers={}, expires_at=self._expiry(expires_in))

    async def complete_multipart(self, key: str, upload_id: str, parts: list[CompletedPart]) -> None:
        """ValueError when S3 refuses the part list (missing part, wrong ETag, part too small, no such upload)."""
        if not parts:
            raise ValueError("a multipart upload needs at least one part")
        s3 = await self._s3()
        ordered = sorted(parts, key=lambda p: p.part_number)
        try:
            await s3.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": [{"PartNumber": p.part_number, "ETag": p.etag} for p in ordered]},
                IfNoneMatch="*",
            )
        except ClientError as exc:
            if _code(exc) in _BAD_COMPLETION:
                raise ValueError(f"multipart upload cannot be completed: {_code(exc)}") from exc
            raise

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        s3 = await self._s3()
        try:
            await s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except ClientError as exc:
            if _code(exc) not in ("NoSuchUpload", "404"):
                raise

    async def head(self, key: str) -> ObjectInfo | None:
        s3 = await self._s3()
        try:
            response = await s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in _NOT_FOUND:
                return None
            raise
        return ObjectInfo(size=int(response["ContentLength"]), content_type=response.get("ContentType"))

    async def presign_get(self, key: str, expires_in: int, filename: str | None = None,
                          content_type: str | None = None) -> SignedRequest:
        # SigV4 signs the second (X-Amz-Date) and the lifetime: the same read signed again within one second
        # is the same URL, so it is kept for that second (storage/memo.py) instead of signed again.
        second = int(_now())
        read = (key, int(expires_in), filename, content_type)
        signed = self._gets.recall(second, read)
        if signed is not None:
            return signed
        if is_staging_key(key):
            raise ValueError("staging keys are never served")
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "ResponseContentDisposition":
                                  content_disposition(filename) if filename is not None else "inline"}
        if content_type is not None:
            params["ResponseContentType"] = content_type
        s3 = await self._s3()
        url = await s3.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in)
        # Valid until the signing second plus the lifetime (botocore's second is this one or, across a
        # second's boundary, the next: never earlier).
        signed = SignedRequest(url=url, method="GET", headers={},
                               expires_at=datetime.fromtimestamp(second + int(expires_in), UTC))
        self._gets.remember(second, read, signed)
        return signed

    async def download(self, key: str, destination: Path) -> None:
        """Download to a temporary name beside ``destination``, moved into place once complete."""
        s3 = await self._s3()
        destination = Path(destination)
        partial = destination.with_name(f".{destination.name}.{secrets.token_hex(6)}.part")
        try:
            await s3.download_file(self.bucket, key, str(partial))
            os.replace(partial, destination)
        except ClientError as exc:
            if _code(exc) in _NOT_FOUND:
                raise FileNotFoundError(f"no object {key!r}") from exc
            raise
        finally:
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()

    async def read_bytes(self, key: str, limit: int) -> bytes:
        s3 = await self._s3()
        try:
            answer = await s3.get_object(Bucket=self.bucket, Key=key, Range=f"bytes=0-{limit}")
        except ClientError as exc:
            if _code(exc) in _NOT_FOUND:
                raise FileNotFoundError(f"no object {key!r}") from exc
            raise
        async with answer["Body"] as body:
            data = await body.read()
        if len(data) > limit:
            raise ValueError(f"object {key!r} is larger than {limit} bytes")
        return data

    async def upload_file(self, key: str, source: Path, content_type: str) -> None:
        s3 = await self._s3()
        await s3.upload_file(str(source), self.bucket, key, ExtraArgs={"ContentType": content_type})

    async def promote(self, source: str, destination: str, content_type: str) -> ObjectInfo:
        require_staging_key(source)
        if is_staging_key(destination):
            raise ValueError("a final key cannot be a staging key")
        stored = await self.head(source)
        if stored is None:
            raise FileNotFoundError(f"no object {source!r}")
        s3 = await self._s3()
        copy_source = {"Bucket": self.bucket, "Key": source}
        if stored.size <= COPY_OBJECT_LIMIT:
            await s3.copy_object(Bucket=self.bucket, Key=destination, CopySource=copy_source,
                                 ContentType=content_type, MetadataDirective="REPLACE")
        else:
            await self._copy_in_parts(copy_source, destination, content_type, stored.size)
        await s3.delete_object(Bucket=self.bucket, Key=source)
        return ObjectInfo(size=stored.size, content_type=content_type)

    async def _copy_in_parts(self, copy_source: dict[str, str], destination: str, content_type: str,
                             size: int) -> None:
        s3 = await self._s3()
        upload_id = (await s3.create_multipart_upload(Bucket=self.bucket, Key=destination,
                                                      ContentType=content_type))["UploadId"]
        try:
            parts = []
            for number, start in enumerate(range(0, size, COPY_PART_SIZE), start=1):
                end = min(start + COPY_PART_SIZE, size) - 1
                response = await s3.upload_part_copy(Bucket=self.bucket, Key=destination, UploadId=upload_id,
                                                     PartNumber=number, CopySource=copy_source,
                                                     CopySourceRange=f"bytes={start}-{end}")
                parts.append({"PartNumber": number, "ETag": response["CopyPartResult"]["ETag"]})
            await s3.complete_multipart_upload(Bucket=self.bucket, Key=destination, UploadId=upload_id,
                                               MultipartUpload={"Parts": parts})
        except BaseException:
            await self.abort_multipart(destination, upload_id)
            raise

    async def delete(self, key: str) -> None:
        s3 = await self._s3()
        await s3.delete_object(Bucket=self.bucket, Key=key)

    async def delete_prefix(self, prefix: str) -> int:
        if not prefix.endswith("/") or prefix == "/":
            raise ValueError("a prefix is a folder ending in '/'")
        s3 = await self._s3()
        deleted = 0
        paginator = s3.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:  # at most 1,000 per page, the most one DeleteObjects takes
                response = await s3.delete_objects(Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True})
                if response.get("Errors"):
                    raise RuntimeError(f"S3 refused to delete {len(response['Errors'])} objects under {prefix!r}")
                deleted += len(keys)
        return deleted

    async def sweep_abandoned(self, started_before: datetime) -> int:
        """Abort multipart uploads started before ``started_before`` and delete staging objects (under
        ``uploads/``) uploaded before it and never promoted."""
        s3 = await self._s3()
        removed = 0
        paginator = s3.get_paginator("list_multipart_uploads")
        async for page in paginator.paginate(Bucket=self.bucket):
            for upload in page.get("Uploads", []):
                if upload["Initiated"] < started_before:
                    await self.abort_multipart(upload["Key"], upload["UploadId"])
                    removed += 1
        objects = s3.get_paginator("list_objects_v2")
        async for page in objects.paginate(Bucket=self.bucket, Prefix=STAGING_PREFIX):
            stale = [{"Key": item["Key"]} for item in page.get("Contents", []) if item["LastModified"] < started_before]
            if stale:
                await s3.delete_objects(Bucket=self.bucket, Delete={"Objects": stale, "Quiet": True})
                removed += len(stale)
        return removed
