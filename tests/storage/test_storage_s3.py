"""S3Storage through aioboto3 against moto running in server mode on loopback.

moto does not verify presigned-URL signatures or expiry, so those checks are covered by the local
backend's tests (tests/storage/test_storage_local.py); here we assert what the URLs sign and that the
requests they describe work end to end.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from codex_graphql.settings import Settings
from codex_graphql.storage import CompletedPart, ObjectInfo
from codex_graphql.storage.factory import build_storage
from codex_graphql.storage.local import LocalStorage
from codex_graphql.storage.s3 import S3Storage

MiB = 1024 * 1024


def payload(size: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(size)


def new_storage(endpoint: str, region: str = "us-east-1") -> S3Storage:
    return S3Storage(bucket=f"codex-test-{uuid.uuid4().hex[:12]}", region=region, endpoint_url=endpoint,
                     access_key="testing", secret_key="testing")


@pytest.fixture
async def storage(moto_endpoint: str) -> AsyncIterator[S3Storage]:  # noqa: F811
    s3 = new_storage(moto_endpoint)
    await s3.ensure_bucket()
    yield s3
    await s3.close()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


async def raw_client(storage: S3Storage):  # type: ignore[no-untyped-def]
    return await storage._s3()


@pytest.mark.parametrize("region", ["us-east-1", "eu-central-1"])
async def test_ensure_bucket_creates_a_private_bucket_once(moto_endpoint: str, region: str) -> None:  # noqa: F811
    storage = new_storage(moto_endpoint, region)
    try:
        s3 = await raw_client(storage)
        with pytest.raises(Exception):  # noqa: B017
            await s3.head_bucket(Bucket=storage.bucket)
        await storage.ensure_bucket()
        await storage.ensure_bucket()  # idempotent
        await s3.head_bucket(Bucket=storage.bucket)
        block = (await s3.get_public_access_block(Bucket=storage.bucket))["PublicAccessBlockConfiguration"]
        assert block == {"BlockPublicAcls": True, "IgnorePublicAcls": True,
                         "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
        if region != "us-east-1":
            location = await s3.get_bucket_location(Bucket=storage.bucket)
            assert location["LocationConstraint"] == region
    finally:
        await storage.close()


async def test_presigned_put_binds_type_and_size_and_uploads(storage: S3Storage, http: httpx.AsyncClient) -> None:
    data = payload(50_000)
    signed = await storage.presign_put("uploads/1/source.mp4", "video/mp4", len(data), expires_in=300)
    assert signed.method == "PUT"
    assert signed.headers == {"Content-Type": "video/mp4", "If-None-Match": "*"}
    url = urlsplit(signed.url)
    assert url.path == f"/{storage.bucket}/uploads/1/source.mp4"  # path-style on a custom endpoint
    query = parse_qs(url.query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Expires"] == ["300"]
    assert set(query["X-Amz-SignedHeaders"][0].split(";")) >= {"content-length", "content-type", "host",
                                                               "if-none-match"}

    response = await http.put(signed.url, content=data, headers=signed.headers)
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == f'"{hashlib.md5(data).hexdigest()}"'
    assert await storage.head("uploads/1/source.mp4") == ObjectInfo(size=len(data), content_type="video/mp4")


async def test_presigned_get_downloads_the_bytes(storage: S3Storage, http: httpx.AsyncClient) -> None:
    data = payload(30_000, 7)
    put = await storage.presign_put("uploads/a/track.mp3", "audio/mpeg", len(data), 60)
    assert (await http.put(put.url, content=data, headers=put.headers)).status_code == 200
    await storage.promote("uploads/a/track.mp3", "a/track.mp3", "audio/mpeg")

    get = await storage.presign_get("a/track.mp3", 60)
    assert get.method == "GET" and get.expires_at is not None
    response = await http.get(get.url)
    assert response.status_code == 200 and response.content == data
    ranged = await http.get(get.url, headers={"Range": "bytes=100-199"})
    assert ranged.status_code == 206 and ranged.content == data[100:200]

    named = await storage.presign_get("a/track.mp3", 60, filename="Track «1».mp3")
    disposition = parse_qs(urlsplit(named.url).query)["response-content-disposition"][0]
    assert disposition == "attachment; filename=\"Track _1_.mp3\"; filename*=UTF-8''Track%20%C2%AB1%C2%BB.mp3"
    downloaded = await http.get(named.url)
    assert downloaded.content == data
    assert downloaded.headers["content-disposition"] == disposition


async def test_multipart_upload_through_presigned_part_urls(storage: S3Storage, http: httpx.AsyncClient) -> None:
    key = "uploads/1/big.mp4"
    chunks = [payload(5 * MiB, 1), payload(1 * MiB + 123, 2)]
    upload_id = await storage.create_multipart(key, "video/mp4")
    parts = []
    for number, data in enumerate(chunks, start=1):
        signed = await storage.presign_part(key, upload_id, number, 300)
        assert parse_qs(urlsplit(signed.url).query)["partNumber"] == [str(number)]
        response = await http.put(signed.url, content=data, headers=signed.headers)
        assert response.status_code == 200, response.text
        parts.append(CompletedPart(number, response.headers["etag"]))
    assert await storage.head(key) is None

    await storage.complete_multipart(key, upload_id, list(reversed(parts)))
    assert await storage.head(key) == ObjectInfo(size=6 * MiB + 123, content_type="video/mp4")
    await storage.promote(key, "org/1/big.mp4", "video/mp4")
    body = (await http.get((await storage.presign_get("org/1/big.mp4", 60)).url)).content
    assert hashlib.sha256(body).digest() == hashlib.sha256(b"".join(chunks)).digest()


async def test_complete_with_a_wrong_etag_is_refused(storage: S3Storage, http: httpx.AsyncClient) -> None:
    key = "uploads/1/bad.mp4"
    upload_id = await storage.create_multipart(key, "video/mp4")
    signed = await storage.presign_part(key, upload_id, 1, 60)
    assert (await http.put(signed.url, content=b"only part")).status_code == 200
    with pytest.raises(ValueError):
        await storage.complete_multipart(key, upload_id, [CompletedPart(1, '"' + "0" * 32 + '"')])
    assert await storage.head(key) is None
    await storage.abort_multipart(key, upload_id)


async def test_abort_multipart(storage: S3Storage, http: httpx.AsyncClient) -> None:
    key = "uploads/1/aborted.mp4"
    upload_id = await storage.create_multipart(key, "video/mp4")
    signed = await storage.presign_part(key, upload_id, 1, 60)
    etag = (await http.put(signed.url, content=b"abc")).headers["etag"]
    s3 = await raw_client(storage)
    listed = await s3.list_multipart_uploads(Bucket=storage.bucket)
    assert [u["UploadId"] for u in listed.get("Uploads", [])] == [upload_id]

    await storage.abort_multipart(key, upload_id)
    listed = await s3.list_multipart_uploads(Bucket=storage.bucket)
    assert listed.get("Uploads", []) == []
    await storage.abort_multipart(key, upload_id)  # already gone: fine
    # (Completing an aborted upload is S3's NoSuchUpload, mapped to ValueError; moto answers it with a
    # 500 from an internal KeyError, so that path is only exercised by the local backend's tests.)
    assert await storage.head(key) is None
    assert etag


async def test_head_missing_and_delete(storage: S3Storage, tmp_path: Path) -> None:
    assert await storage.head("nothing/here") is None
    await storage.delete("nothing/here")  # missing: fine
    source = tmp_path / "note.txt"
    source.write_bytes(b"hello")
    await storage.upload_file("d/note.txt", source, "text/plain")
    assert await storage.head("d/note.txt") == ObjectInfo(size=5, content_type="text/plain")
    await storage.delete("d/note.txt")
    assert await storage.head("d/note.txt") is None


async def test_upload_file_and_download_roundtrip(storage: S3Storage, tmp_path: Path) -> None:
    data = payload(9 * MiB, 3)  # over aioboto3's multipart threshold, so the managed transfer splits it
    source = tmp_path / "in.wav"
    source.write_bytes(data)
    await storage.upload_file("r/in.wav", source, "audio/wav")
    assert await storage.head("r/in.wav") == ObjectInfo(size=len(data), content_type="audio/wav")

    await storage.download("r/in.wav", tmp_path / "out.wav")
    assert (tmp_path / "out.wav").read_bytes() == data
    with pytest.raises(FileNotFoundError):
        await storage.download("r/missing.wav", tmp_path / "missing.wav")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.wav", "out.wav"]  # noqa: ASYNC240


async def test_client_reopens_after_close(storage: S3Storage, tmp_path: Path) -> None:
    await storage.head("x")
    await storage.close()
    await storage.close()  # twice is fine
    assert await storage.head("x") is None


def test_factory_builds_the_configured_backend(tmp_path: Path) -> None:
    local = build_storage(Settings(storage_backend="local", data_dir=tmp_path, secret_key="k",
                                   public_base_url="https://api.example.com/"))
    assert isinstance(local, LocalStorage)
    assert local.root == tmp_path / "storage"
    assert local.base_url == "https://api.example.com"

    s3 = build_storage(Settings(storage_backend="s3", s3_bucket="media", s3_region="eu-west-1",
                                s3_endpoint_url="http://127.0.0.1:9000", aws_access_key_id="id",
                                aws_secret_access_key="secret"))
    assert isinstance(s3, S3Storage)
    assert (s3.bucket, s3.region, s3.endpoint_url) == ("media", "eu-west-1", "http://127.0.0.1:9000")
