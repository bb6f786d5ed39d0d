"""LocalStorage and its signed-URL routes, driven over HTTP through a small Starlette app."""

from __future__ import annotations

import hashlib
import random
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from starlette.applications import Starlette

from codex_graphql.storage import CompletedPart, ObjectInfo
from codex_graphql.storage import local as local_module
from codex_graphql.storage.local import LocalStorage
from codex_graphql.storage.routes import storage_routes

SECRET = "storage-test-secret"
MAX_BYTES = 64 * 1024


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "storage", "http://testserver", SECRET, max_object_bytes=MAX_BYTES)


@pytest.fixture
async def client(storage: LocalStorage) -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(routes=storage_routes(storage))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        yield c


def payload(size: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(size)


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


def leftovers(storage: LocalStorage) -> list[Path]:
    """Every file under the storage root that is not a finished object or its metadata."""
    return [p for p in (storage.root / "tmp").rglob("*") if p.is_file()]


async def chunked(data: bytes, size: int = 8 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


async def test_signed_put_then_signed_get_roundtrip(storage: LocalStorage, client: httpx.AsyncClient) -> None:
    data = payload(20_000)
    put = await storage.presign_put("uploads/1/video.mp4", "video/mp4", len(data), expires_in=60)
    assert put.method == "PUT" and put.headers == {"Content-Type": "video/mp4"}
    assert put.expires_at is not None

    response = await client.put(put.url, content=data, headers=put.headers)
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == f'"{hashlib.md5(data).hexdigest()}"'
    assert await storage.head("uploads/1/video.mp4") == ObjectInfo(size=len(data), content_type="video/mp4")

    promoted = await storage.promote("uploads/1/video.mp4", "org/1/video.mp4", "video/mp4")
    assert promoted == ObjectInfo(size=len(data), content_type="video/mp4")
    assert await storage.head("uploads/1/video.mp4") is None
    get = await storage.presign_get("org/1/video.mp4", expires_in=60)
    response = await client.get(get.url)
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["content-type"] == "video/mp4"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-disposition"] == "inline"
    assert response.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert leftovers(storage) == []


async def test_range_request_returns_the_slice(storage: LocalStorage, client: httpx.AsyncClient) -> None:
    data = payload(10_000)
    await client.put((await storage.presign_put("uploads/a/clip.mp3", "audio/mpeg", len(data), 60)).url,
                     content=data, headers={"Content-Type": "audio/mpeg"})
    await storage.promote("uploads/a/clip.mp3", "a/clip.mp3", "audio/mpeg")
    url = (await storage.presign_get("a/clip.mp3", 60)).url

    response = await client.get(url, headers={"Range": "bytes=1000-1999"})
    assert response.status_code == 206
    assert response.content == data[1000:2000]
    assert response.headers["content-range"] == f"bytes 1000-1999/{len(data)}"

    tail = await client.get(url, headers={"Range": "bytes=-100"})
    assert tail.status_code == 206 and tail.content == data[-100:]

    assert (await client.get(url, headers={"Range": "bytes=20000-"})).status_code == 416

    head = await client.head(url)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(data))
    assert head.headers["accept-ranges"] == "bytes"


async def test_get_with_filename_sets_content_disposition(storage: LocalStorage, client: httpx.AsyncClient) -> None:
    await storage.upload_file("k/receipt", _write(storage.root.parent / "r.pdf", b"%PDF-1"), "application/pdf")
    response = await client.get((await storage.presign_get("k/receipt", 60, filename="receipt.pdf")).url)
    assert response.status_code == 200 and response.content == b"%PDF-1"
    assert response.headers["content-disposition"] == 'attachment; filename="receipt.pdf"; filename*=UTF-8\'\'receipt.pdf'


@pytest.mark.parametrize(
    "tamper",
    [
        {"sig": "0" * 64},
        {"size": "11"},
        {"ct": "text/html"},
        {"exp": "9999999999"},
        {"op": "part"},
    ],
    ids=["sig", "size", "content-type", "expiry", "op"],
)
async def test_tampered_put_url_is_refused_and_nothing_stored(
    storage: LocalStorage, client: httpx.AsyncClient, tamper: dict[str, str]
) -> None:
    put = await storage.presign_put("uploads/t/file.bin", "application/octet-stream", 10, 60)
    headers = {"Content-Type": tamper.get("ct", "application/octet-stream")}
    response = await client.put(with_query(put.url, **tamper), content=b"x" * int(tamper.get("size", 10)),
                                headers=headers)
    assert response.status_code == 403
    assert response.json() == {"error": "invalid signature"}
    assert await storage.head("uploads/t/file.bin") is None


async def test_url_for_another_key_or_secret_is_refused(storage: LocalStorage, client: httpx.AsyncClient) -> None:
    await storage.upload_file("mine/a", _write(storage.root.parent / "a", b"secret"), "text/plain")
    await storage.upload_file("mine/b", _write(storage.root.parent / "b", b"other"), "text/plain")
    url = (await storage.presign_get("mine/a", 60)).url
    moved = url.replace("/storage/mine/a?", "/storage/mine/b?")
    assert moved != url
    response = await client.get(moved)
    assert response.status_code == 403 and response.json() == {"error": "invalid signature"}

    forger = LocalStorage(storage.root.parent / "forger", "http://testserver", "another-secret", MAX_BYTES)
    response = await client.get((await forger.presign_get("mine/a", 60)).url)
    assert response.status_code == 403 and response.json() == {"error": "invalid signature"}

    unsigned = url.split("?")[0] + "?op=get&exp=9999999999"
    assert (await client.get(unsigned)).status_code == 403


async def test_expired_put_is_refused_and_nothing_stored(storage: LocalStorage, client: httpx.AsyncClient) -> None:
    put = await storage.presign_put("uploads/e/x.bin", "application/octet-stream", 5, expires_in=-1)
    response = await client.put(put.url, content=b"12345", headers=put.headers)
    assert response.status_code == 403
    assert response.json() == {"error": "expired"}
    assert await storage.head("uploads/e/x.bin") is None
    assert leftovers(storage) == []


async def test_get_url_expires_when_the_clock_passes_it(
    storage: LocalStorage, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    await storage.upload_file("e/y.bin", _write(storage.root.parent / "y", b"hello"), "application/octet-stream")
    url = (await storage.presign_get("e/y.bin", expires_in=60)).url
    assert (await client.get(url)).status_code == 200
    real_now = local_module._now
    monkeypatch.setattr(local_module, "_now", lambda: real_now() + 61)
    response = await client.get(url)
    assert response.status_code == 403 and response.json() == {"error": "expired"}


async def test_urls_only_allow_their_operation(storage: LocalStorage, client: httpx.AsyncClient) -> None:
    await storage.upload_file("o/f", _write(storage.root.parent / "f", b"original"), "text/plain")
    get_url = (await storage.presign_get("o/f", 60)).url
    response = await client.put(get_url, content=b"replaced", headers={"Content-Type": "text/plain"})
    assert response.status_code == 403 and response.json() == {"error": "operation not allowed"}
    with pytest.raises(ValueError):  # a final key is never signed for writing
        await storage.presign_put("o/f", "text/plain", 8, 60)
    put_url = (await storage.presign_put("uploads/o/f", "text/plain", 8, 60)).url
    assert (await client.get(put_url)).status_code == 403
    assert (await client.get(get_url)).content == b"original"


@pytest.mark.parametrize(
    ("content_type", "body", "error"),
    [
        ("text/html", b"0123456789", "content type does not match the signed upload"),
        (None, b"0123456789", "content type does not match the signed upload"),
        ("video/mp4", b"012345678", "size does not match the signed upload"),
        ("video/mp4", b"0123456789A", "size does not match the signed upload"),
    ],
    ids=["other-type", "no-type", "short", "long"],
)
async def test_put_must_match_signed_size_and_type(
    storage: LocalStorage, client: httpx.AsyncClient, content_type: str | None, body: bytes, error: str
) -> None:
    put = await storage.presign_put("uploads/s/v.mp4", "video/mp4", 10, 60)
    headers = {"Content-Type": content_type} if content_type else {}
    response = await client.put(put.url, content=body, headers=headers)
    assert response.status_code == 400
    assert response.json() == {"error": error}
    assert await storage.head("uploads/s/v.mp4") is None
    assert not storage.object_path("uploads/s/v.mp4").exists()
    assert leftovers(storage) == []


async def test_streamed_body_shorter_than_signed_size_is_refused(
    storage: LocalStorage, client: httpx.AsyncClient
) -> None:
    put = await storage.presign_put("uploads/s/short", "application/octet-stream", 30_000, 60)
    response = await client.put(put.url, content=chunked(payload(20_000)), headers=put.headers)
    assert response.status_code == 400
    assert await storage.head("uploads/s/short") is None
    assert leftovers(storage) == []


async def test_streamed_put_past_signed_size_gets_413_and_leaves_nothing(
    storage: LocalStorage, client: httpx.AsyncClient
) -> None:
    put = await storage.presign_put("uploads/big/v.mp4", "video/mp4", 10_000, 60)
    response = await client.put(put.url, content=chunked(payload(40_000)), headers=put.headers)
    assert "content-length" not in response.request.headers  # streamed, so only the byte count can catch it
    assert response.status_code == 413
    assert response.json() == {"error": "too large"}
    assert await storage.head("uploads/big/v.mp4") is None
    assert leftovers(storage) == []


async def test_streamed_part_past_max_object_size_gets_413_and_leaves_nothing(
    storage: LocalStorage, client: httpx.AsyncClient
) -> None:
    upload_id = await storage.create_multipart("uploads/big/w.mp4", "video/mp4")
    part = await storage.presign_part("uploads/big/w.mp4", upload_id, 1, 60)
    response = await client.put(part.url, content=chunked(payload(MAX_BYTES + 20_000)))
    assert response.status_code == 413
    staging = storage.root / "multipart" / upload_id
    assert sorted(p.name for p in staging.iterdir()) == ["upload.json"]
    assert leftovers(storage) == []

    declared = await client.put(part.url, content=payload(MAX_BYTES + 1))
    assert declared.status_code == 413


async def test_presign_refuses_sizes_over_the_limit(storage: LocalStorage) -> None:
    with pytest.raises(ValueError):
        await storage.presign_put("uploads/x/y", "video/mp4", MAX_BYTES + 1, 60)
    with pytest.raises(ValueError):
        await storage.presign_put("uploads/x/y", "video/mp4", -1, 60)
    with pytest.raises(ValueError):
        await storage.presign_put("uploads/x/y", "video/mp4\r\nx-evil: 1", 10, 60)


async def _upload_parts(storage: LocalStorage, client: httpx.AsyncClient, key: str, upload_id: str,
                        chunks: list[bytes]) -> list[CompletedPart]:
    parts = []
    for number, data in enumerate(chunks, start=1):
        signed = await storage.presign_part(key, upload_id, number, 60)
        response = await client.put(signed.url, content=data)
        assert response.status_code == 200, response.text
        assert response.headers["etag"] == f'"{hashlib.md5(data).hexdigest()}"'
        parts.append(CompletedPart(part_number=number, etag=response.headers["etag"]))
    return parts


async def test_multipart_upload_of_three_parts(storage: LocalStorage, client: httpx.AsyncClient) -> None:
    key = "uploads/m/movie.mp4"
    chunks = [payload(20_000, 1), payload(20_000, 2), payload(7_000, 3)]
    upload_id = await storage.create_multipart(key, "video/mp4")
    parts = await _upload_parts(storage, client, key, upload_id, chunks)
    assert await storage.head(key) is None  # nothing visible before completion

    await storage.complete_multipart(key, upload_id, [parts[2], parts[0], parts[1]])  # any order
    assert await storage.head(key) == ObjectInfo(size=47_000, content_type="video/mp4")
    await storage.promote(key, "m/movie.mp4", "video/mp4")
    response = await client.get((await storage.presign_get("m/movie.mp4", 60)).url)
    assert response.content == b"".join(chunks)
    assert not (storage.root / "multipart" / upload_id).exists()
    assert leftovers(storage) == []


async def test_reuploaded_part_replaces_the_earlier_one(storage: LocalStorage, client: httpx.AsyncClient) -> None:
    key = "uploads/m/retry.bin"
    upload_id = await storage.create_multipart(key, "application/octet-stream")
    first = await _upload_parts(storage, client, key, upload_id, [b"first try"])
    second = await _upload_parts(storage, client, key, upload_id, [b"second try"])
    with pytest.raises(ValueError):
        await storage.complete_multipart(key, upload_id, first)
    await storage.complete_multipart(key, upload_id, second)
    assert storage.object_path(key).read_bytes() == b"second try"


@pytest.mark.parametrize("problem", ["wrong-etag", "missing-part", "other-key", "no-parts", "unknown-upload"])
async def test_complete_refuses_mismatched_parts(
    storage: LocalStorage, client: httpx.AsyncClient, problem: str
) -> None:
    key = "uploads/m/bad.mp4"
    upload_id = await storage.create_multipart(key, "video/mp4")
    parts = await _upload_parts(storage, client, key, upload_id, [payload(1000, 1), payload(1000, 2)])
    complete_key, complete_id = key, upload_id
    if problem == "wrong-etag":
        parts[1] = CompletedPart(2, '"' + "0" * 32 + '"')
    elif problem == "missing-part":
        parts.append(CompletedPart(3, parts[0].etag))
    elif problem == "other-key":
        complete_key = "uploads/m/other.mp4"
    elif problem == "no-parts":
        parts = []
    else:
        complete_id = "f" * 32
    with pytest.raises(ValueError):
        await storage.complete_multipart(complete_key, complete_id, parts)
    assert await storage.head(key) is None
    assert await storage.head("uploads/m/other.mp4") is None
    assert leftovers(storage) == []
    assert (storage.root / "multipart" / upload_id / "00001.part").exists()  # still completable after a fix


async def test_abort_removes_staging_and_later_parts_are_refused(
    storage: LocalStorage, client: httpx.AsyncClient
) -> None:
    key = "uploads/m/aborted.mp4"
    upload_id = await storage.create_multipart(key, "video/mp4")
    parts = await _upload_parts(storage, client, key, upload_id, [payload(1000)])
    staging = storage.root / "multipart" / upload_id
    assert staging.is_dir()

    await storage.abort_multipart("uploads/m/someone-else.mp4", upload_id)  # another key does not touch it
    assert staging.is_dir()
    await storage.abort_multipart(key, upload_id)
    assert not staging.exists()
    await storage.abort_multipart(key, upload_id)  # already gone: fine
    await storage.abort_multipart(key, "not-an-upload-id")

    late = await storage.presign_part(key, upload_id, 2, 60)
    response = await client.put(late.url, content=b"late")
    assert response.status_code == 404 and response.json() == {"error": "no such upload"}
    with pytest.raises(ValueError):
        await storage.complete_multipart(key, upload_id, parts)
    assert await storage.head(key) is None
    assert leftovers(storage) == []


BAD_KEYS = ["../escape", "a/../../escape", "/etc/passwd", "a\\b", "a\x00b", "", "a//b", "./a", "a/./b",
            ".hidden", "a/"]


@pytest.mark.parametrize("key", BAD_KEYS)
async def test_unsafe_keys_are_rejected(storage: LocalStorage, key: str) -> None:
    source = _write(storage.root.parent / "src", b"x")
    with pytest.raises(ValueError):
        await storage.presign_put(key, "text/plain", 1, 60)
    with pytest.raises(ValueError):
        await storage.presign_get(key, 60)
    with pytest.raises(ValueError):
        await storage.create_multipart(key, "text/plain")
    with pytest.raises(ValueError):
        await storage.head(key)
    with pytest.raises(ValueError):
        await storage.delete(key)
    with pytest.raises(ValueError):
        await storage.upload_file(key, source, "text/plain")
    assert not (storage.root.parent / "escape").exists()


async def test_traversal_over_http_is_refused_even_when_signed(
    storage: LocalStorage, client: httpx.AsyncClient
) -> None:
    """Starlette hands the route percent-decoded keys; a valid signature must not make them usable."""
    (storage.root / "meta" / "secret.json").write_text('{"content_type": "text/plain"}')
    (storage.root / "objects" / ".hidden").write_text("hidden")
    for raw, key in (("%2E%2E/meta/secret.json", "../meta/secret.json"),
                     ("..%2Fmeta/secret.json", "../meta/secret.json"),
                     ("a%5C..%5C..%5Cmeta%5Csecret.json", "a\\..\\..\\meta\\secret.json"),
                     (".hidden", ".hidden")):
        exp = 9_999_999_999
        query = f"?op=get&exp={exp}&sig={storage._signature('get', key, exp, {})}"
        response = await client.get(f"/storage/{raw}{query}")
        assert response.status_code == 404, raw
        assert response.json() == {"error": "not found"}
        put = await client.put(f"/storage/{raw}?op=put&size=1&ct=text%2Fplain&exp={exp}"
                               f"&sig={storage._signature('put', key, exp, {'size': '1', 'ct': 'text/plain'})}",
                               content=b"x", headers={"Content-Type": "text/plain"})
        assert put.status_code == 404, raw
    assert (storage.root / "meta" / "secret.json").read_text() == '{"content_type": "text/plain"}'


async def test_head_and_delete(storage: LocalStorage, client: httpx.AsyncClient) -> None:
    assert await storage.head("d/file.txt") is None
    await storage.delete("d/file.txt")  # missing: fine
    await storage.upload_file("d/file.txt", _write(storage.root.parent / "d", b"contents"), "text/plain")
    assert await storage.head("d/file.txt") == ObjectInfo(size=8, content_type="text/plain")
    assert await storage.head("d") is None  # a folder is not an object
    url = (await storage.presign_get("d/file.txt", 60)).url
    await storage.delete("d/file.txt")
    assert await storage.head("d/file.txt") is None
    response = await client.get(url)
    assert response.status_code == 404 and response.json() == {"error": "not found"}
    await storage.delete("d/file.txt")


async def test_upload_file_and_download_roundtrip(storage: LocalStorage, tmp_path: Path) -> None:
    data = payload(30_000)
    await storage.upload_file("r/source.wav", _write(tmp_path / "in.wav", data), "audio/wav")
    await storage.download("r/source.wav", tmp_path / "out.wav")
    assert (tmp_path / "out.wav").read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["in.wav", "out.wav"]  # noqa: ASYNC240
    with pytest.raises(FileNotFoundError):
        await storage.download("r/missing.wav", tmp_path / "missing.wav")
    assert not (tmp_path / "missing.wav").exists()


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
