"""LocalStorage.presign_get remembers the URLs it signed within the current second (issue 22): the same
read asked again in that second gets the same URL a fresh signature would give, and nothing older."""

from __future__ import annotations

from pathlib import Path

import pytest

from codex_graphql.storage import local as local_module
from codex_graphql.storage.local import SIGNED_GETS_KEPT, LocalStorage

SECRET = "memo-test-secret-key-0123456789abcdef"


def clock(monkeypatch: pytest.MonkeyPatch, at: float) -> None:
    monkeypatch.setattr(local_module, "_now", lambda: at)


def fresh(tmp_path: Path, name: str) -> LocalStorage:
    return LocalStorage(root=tmp_path / name, base_url="http://files.example", secret_key=SECRET)


async def test_same_second_same_url_as_a_fresh_signature(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    storage = fresh(tmp_path, "a")
    clock(monkeypatch, 1_800_000_000.2)
    first = await storage.presign_get("media/x/thumb.jpg", 300)
    clock(monkeypatch, 1_800_000_000.9)
    again = await storage.presign_get("media/x/thumb.jpg", 300)
    unremembered = await fresh(tmp_path, "b").presign_get("media/x/thumb.jpg", 300)
    assert again is first
    assert again == unremembered  # same URL, method and expiry as signing anew
    assert "exp=1800000300&" in first.url
    # Other parameters are other URLs, never a remembered one.
    named = await storage.presign_get("media/x/thumb.jpg", 300, filename="a.jpg")
    assert named.url != first.url and "fn=a.jpg" in named.url
    assert (await storage.presign_get("media/x/thumb.jpg", 600)).url != first.url


async def test_next_second_signs_again_and_forgets_the_last(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    storage = fresh(tmp_path, "a")
    clock(monkeypatch, 1_800_000_000.5)
    first = await storage.presign_get("media/x/thumb.jpg", 300)
    clock(monkeypatch, 1_800_000_001.0)
    later = await storage.presign_get("media/x/thumb.jpg", 300)
    assert later is not first
    assert "exp=1800000301&" in later.url
    assert later.expires_at is not None and first.expires_at is not None
    assert (later.expires_at - first.expires_at).total_seconds() == 1
    assert list(storage._gets) == [("media/x/thumb.jpg", 1_800_000_301, None, None)]  # noqa: SLF001


async def test_refusals_are_never_remembered_and_the_memo_is_bounded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    storage = fresh(tmp_path, "a")
    clock(monkeypatch, 1_800_000_000.5)
    for _ in range(2):
        with pytest.raises(ValueError, match="staging"):
            await storage.presign_get("uploads/org/x.bin", 300)
        with pytest.raises(ValueError, match="invalid storage key"):
            await storage.presign_get("../etc/passwd", 300)
    assert storage._gets == {}  # noqa: SLF001
    for i in range(SIGNED_GETS_KEPT + 10):
        await storage.presign_get(f"media/{i}/t.jpg", 300)
    assert len(storage._gets) <= SIGNED_GETS_KEPT  # noqa: SLF001
