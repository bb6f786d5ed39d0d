"""S3Storage.presign_get remembers the URLs it signed within the current second, as LocalStorage does
(storage/memo.py): the same read asked again in that second gets the very URL a fresh SigV4 signature would
give, without signing again; the next second signs anew. The clock is moved for both the backend and
botocore's signer (which writes X-Amz-Date); moto serves the URLs on loopback."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import botocore.auth
import httpx
import pytest

from codex_graphql.storage import s3 as s3_module
from codex_graphql.storage.memo import SIGNED_GETS_KEPT, SignedGets
from codex_graphql.storage.s3 import S3Storage

KEY = "orgs/o/thumb.jpg"


def clock(monkeypatch: pytest.MonkeyPatch, at: float) -> None:
    monkeypatch.setattr(s3_module, "_now", lambda: at)
    naive = datetime.fromtimestamp(at, UTC).replace(tzinfo=None)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda remove_tzinfo=True: naive)


def new_storage(endpoint: str, bucket: str) -> S3Storage:
    return S3Storage(bucket=bucket, region="us-east-1", endpoint_url=endpoint, access_key="testing",
                     secret_key="testing")


@pytest.fixture
async def storage(moto_endpoint: str) -> AsyncIterator[S3Storage]:
    s3 = new_storage(moto_endpoint, f"codex-memo-{uuid.uuid4().hex[:10]}")
    await s3.ensure_bucket()
    yield s3
    await s3.close()


async def count_signatures(storage: S3Storage, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The operations botocore is asked to sign from now on."""
    client: Any = await storage._s3()  # noqa: SLF001
    signed: list[str] = []
    original = client.generate_presigned_url

    async def counting(operation: str, *args: Any, **kwargs: Any) -> str:
        signed.append(operation)
        return await original(operation, *args, **kwargs)

    monkeypatch.setattr(client, "generate_presigned_url", counting)
    return signed


async def test_same_second_same_url_without_signing_again(storage: S3Storage, moto_endpoint: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    signed = await count_signatures(storage, monkeypatch)
    clock(monkeypatch, 1_800_000_000.2)
    first = await storage.presign_get(KEY, 300)
    clock(monkeypatch, 1_800_000_000.9)
    again = await storage.presign_get(KEY, 300)
    assert again is first and signed == ["get_object"]
    # The same URL a storage that remembers nothing signs in that second.
    other = new_storage(moto_endpoint, storage.bucket)
    try:
        assert (await other.presign_get(KEY, 300)).url == first.url
    finally:
        await other.close()
    query = parse_qs(urlsplit(first.url).query)
    assert query["X-Amz-Date"] == ["20270115T080000Z"] and query["X-Amz-Expires"] == ["300"]
    assert first.expires_at == datetime.fromtimestamp(1_800_000_300, UTC)
    # Other parameters are other URLs, never a remembered one.
    named = await storage.presign_get(KEY, 300, filename="a.jpg")
    typed = await storage.presign_get(KEY, 300, content_type="image/jpeg")
    longer = await storage.presign_get(KEY, 600)
    assert len({first.url, named.url, typed.url, longer.url}) == 4
    assert signed == ["get_object"] * 4


async def test_next_second_signs_again_and_the_urls_work(storage: S3Storage, monkeypatch: pytest.MonkeyPatch) -> None:
    client: Any = await storage._s3()  # noqa: SLF001
    await client.put_object(Bucket=storage.bucket, Key=KEY, Body=b"jpeg bytes", ContentType="image/jpeg")
    signed = await count_signatures(storage, monkeypatch)
    now = datetime.now(UTC).timestamp()  # a real time: moto checks nothing, but keep the URLs plausible
    clock(monkeypatch, int(now) + 0.5)
    first = await storage.presign_get(KEY, 300)
    clock(monkeypatch, int(now) + 1.0)
    later = await storage.presign_get(KEY, 300)
    assert later is not first and later.url != first.url and signed == ["get_object"] * 2
    assert later.expires_at is not None and first.expires_at is not None
    assert (later.expires_at - first.expires_at).total_seconds() == 1
    assert list(storage._gets) == [(KEY, 300, None, None)] and storage._gets.second == int(now) + 1  # noqa: SLF001
    monkeypatch.undo()
    async with httpx.AsyncClient(timeout=30) as outside:
        for url in (first.url, later.url):
            served = await outside.get(url)
            assert served.status_code == 200 and served.content == b"jpeg bytes"


async def test_refusals_are_never_remembered_and_the_memo_is_bounded(storage: S3Storage,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    clock(monkeypatch, 1_800_000_000.5)
    for _ in range(2):
        with pytest.raises(ValueError, match="staging"):
            await storage.presign_get("uploads/org/x.bin", 300)
        with pytest.raises(ValueError, match="file name"):
            await storage.presign_get(KEY, 300, filename="bad\nname")
    assert storage._gets == {}  # noqa: SLF001
    # The same bounded memo as the local backend's (a smaller bound here: every miss is a real signature).
    assert storage._gets.kept == SIGNED_GETS_KEPT  # noqa: SLF001
    storage._gets = SignedGets(kept=8)  # noqa: SLF001
    for i in range(20):
        await storage.presign_get(f"media/{i}/t.jpg", 300)
    assert 0 < len(storage._gets) <= 8  # noqa: SLF001
