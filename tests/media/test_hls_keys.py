"""AES-128 segment encryption (docs/media.md, "Segment encryption"): stored segments are ciphertext that the key
served by the key route decrypts, the served media playlist points its ``#EXT-X-KEY`` at that route, the route
refuses every token the playlist routes refuse (403/404, never 500), the key is kept wrapped in the database and
never in storage, a wrapped key does not unwrap for another item, ladder version or SECRET_KEY, and the key
route asks the access rule again on every request: a revoked entitlement gets no key from an unexpired token."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import m3u8
import pytest

from codex_graphql.content.models import ContentStatus
from codex_graphql.media import hls, keys, streaming
from codex_graphql.relay import decode_id, to_global_id
from tests.content.scheduling_support import item
from tests.media.hls_support import decrypt, item_prefix, ladder_key, objects_under, run_job, uploaded
from tests.media.test_hls_playback import _hls_url, _parts, _published_ladder
from tests.support import Actors, make_actors

BASE = "http://testserver/media/hls"


def key_url(app: Any, raw_id: Any, token: str) -> str:
    """The key URL a served media playlist gives for ``token`` (its key stamp fresh for minutes)."""
    stamp = streaming.key_stamp(app.state.runtime["services"].settings.secret_key, token)
    return f"{BASE}/{raw_id}/{token}/key/{stamp}"


@pytest.fixture
async def actors(factory: Any) -> Actors:
    return await make_actors(factory)


async def _streamed(app: Any, gql: Any, http: Any, admin_db: Any, actors: Actors, media: Any) -> dict[str, Any]:
    content_id = await _published_ladder(app, gql, http, admin_db, actors, media)
    url = await _hls_url(gql, actors.staff_with.token, content_id)
    raw_id, token = _parts(url)
    return {"content_id": content_id, "raw_id": raw_id, "token": token}


async def test_segments_are_encrypted_and_decrypt_with_the_served_key(app: Any, gql: Any, http: Any,
                                                                      admin_db: Any, actors: Actors,
                                                                      hls_media: Any) -> None:
    s = await _streamed(app, gql, http, admin_db, actors, hls_media)
    served = await http.get(f"{BASE}/{s['raw_id']}/{s['token']}/180p/index.m3u8")
    assert served.status_code == 200
    assert keys.KEY_URI_PLACEHOLDER not in served.text
    playlist = m3u8.loads(served.text)
    [key_line] = [line for line in served.text.splitlines() if line.startswith("#EXT-X-KEY")]
    iv = keys.iv_for(await ladder_key(app, actors.org, s["content_id"]))
    prefix = f'#EXT-X-KEY:METHOD=AES-128,URI="{BASE}/{s["raw_id"]}/{s["token"]}/key/'
    assert key_line.startswith(prefix) and key_line.endswith(f'",IV=0x{iv.hex()}'), key_line
    stamp = key_line.removeprefix(prefix).split('"')[0]
    secret = app.state.runtime["services"].settings.secret_key
    streaming.check_key_stamp(secret, s["token"], stamp)  # valid now
    expiry = int(stamp.split(".")[0])
    assert time.time() + streaming.KEY_URL_TTL_SECONDS - 5 <= expiry <= time.time() + streaming.KEY_URL_TTL_SECONDS

    got = await http.get(playlist.keys[0].uri)
    assert got.status_code == 200
    assert got.headers["content-type"] == "application/octet-stream"
    assert got.headers["cache-control"] == "private, no-store"
    assert len(got.content) == 16
    assert got.content == await ladder_key(app, actors.org, s["content_id"])

    raw = (await http.get(playlist.segments[0].uri, follow_redirects=True)).content
    # MPEG-TS has a 0x47 sync byte every 188 bytes; the stored bytes do not (ciphertext, a multiple of 16).
    assert set(raw[::188]) != {0x47} and len(raw) % 16 == 0
    assert decrypt(raw, got.content, bytes.fromhex(playlist.keys[0].iv[2:]))[:1] == b"\x47"
    for segment in playlist.segments:
        plain = decrypt((await http.get(segment.uri, follow_redirects=True)).content, got.content, iv)
        assert set(plain[::188]) == {0x47}, segment.uri
    assert urlsplit(playlist.segments[0].uri).path.endswith("/180p/segment_00000.ts")


async def test_the_key_never_lands_in_storage(app: Any, gql: Any, http: Any, admin_db: Any, actors: Actors,
                                              hls_media: Any) -> None:
    s = await _streamed(app, gql, http, admin_db, actors, hls_media)
    key = (await http.get(key_url(app, s['raw_id'], s['token']))).content
    stored = objects_under(app, item_prefix(actors.org, s["content_id"]))
    assert stored and all(k.endswith((".m3u8", ".ts", "/download.mp4")) for k in stored), stored
    root = app.state.runtime["services"].storage.root / "objects"
    for name in stored:
        data = (root / name).read_bytes()
        assert len(data) != 16 and key not in data, name
    row = await admin_db.fetchrow("select hls_key from content_processing where content_id = $1",
                                  decode_id(s["content_id"], "Content"))
    assert row["hls_key"] and key not in row["hls_key"]  # wrapped at rest


async def test_the_key_route_refuses_what_the_playlist_routes_refuse(app: Any, gql: Any, http: Any, db: Any,
                                                                     admin_db: Any, actors: Actors,
                                                                     hls_media: Any) -> None:
    s = await _streamed(app, gql, http, admin_db, actors, hls_media)
    raw_id, token = s["raw_id"], s["token"]
    secret = app.state.runtime["services"].settings.secret_key
    claim = streaming.verify(secret, token)

    async def status(path: str) -> int:
        return (await http.get(path)).status_code

    assert await status(key_url(app, raw_id, token)) == 200
    body, _, mac = token.partition(".")
    flipped = mac[:-1] + ("0" if mac[-1] != "0" else "1")
    for bad in (f"{body}.{flipped}", streaming.sign("another-secret", claim), "garbage", body):
        assert await status(key_url(app, raw_id, bad)) == 403, bad
    expired = streaming.sign(secret, streaming.PlaybackClaim(claim.content_id, claim.organization_id,
                                                             claim.user_id, claim.prefix, int(time.time()) - 1))
    assert await status(key_url(app, raw_id, expired)) == 403
    # Another item's token, on this item's path and on its own (an item with no ladder has no key).
    other = await item(db, actors.org, actors.staff_with.user_id, ContentStatus.PUBLISHED)
    assert await status(key_url(app, other, token)) == 403
    other_token = streaming.sign(secret, streaming.PlaybackClaim(uuid.UUID(str(other)), claim.organization_id,
                                                                 None, claim.prefix, int(time.time()) + 60))
    assert await status(key_url(app, raw_id, other_token)) == 403
    assert await status(key_url(app, other, other_token)) == 403  # its prefix is not the token's
    # The same item signed as another organization's.
    foreign = streaming.sign(secret, streaming.PlaybackClaim(claim.content_id, uuid.uuid4(), None, claim.prefix,
                                                             int(time.time()) + 60))
    assert await status(key_url(app, raw_id, foreign)) == 404
    assert await status(f"{BASE}/not-a-uuid/{token}/key") == 404

    # The key URL's stamp: expired, made for another token, tampered with or malformed: 403.
    now = time.time()
    stale = streaming.key_stamp(secret, token, now=now - streaming.KEY_URL_TTL_SECONDS - 1)
    other_stamp = streaming.key_stamp(secret, other_token)
    fresh = streaming.key_stamp(secret, token)
    tampered = fresh[:-1] + ("0" if fresh[-1] != "0" else "1")
    for stamp in (stale, other_stamp, tampered, "garbage", "9" * 40 + ".00", f"{int(now) + 10**6}.{fresh.split('.')[1]}"):
        assert await status(f"{BASE}/{raw_id}/{token}/key/{stamp}") == 403, stamp
    assert await status(f"{BASE}/{raw_id}/{token}/key") == 404  # the unstamped route does not exist

    # A ladder version made before encryption (no key kept): no key, not a 500.
    await admin_db.execute("update content_processing set hls_key = null where content_id = $1", claim.content_id)
    assert await status(key_url(app, raw_id, token)) == 404
    # A damaged wrapped key: no key, not a 500.
    await admin_db.execute("update content_processing set hls_key = $2 where content_id = $1", claim.content_id,
                           b"\x00" * 44)
    assert await status(key_url(app, raw_id, token)) == 404

    # Processed again: the older ladder's token gets no key.
    next_prefix = claim.prefix.replace(claim.prefix.rstrip("/").rsplit("/", 1)[1], "v-next")
    await admin_db.execute("update content set hls_prefix = $2 where id = $1", claim.content_id, next_prefix)
    await admin_db.execute("update content_processing set hls_prefix = $2, hls_key = $3 where content_id = $1",
                           claim.content_id, next_prefix,
                           keys.wrap(secret, keys.new_key(), claim.content_id, next_prefix))
    assert await status(key_url(app, raw_id, token)) == 403
    newer = streaming.sign(secret, streaming.PlaybackClaim(claim.content_id, claim.organization_id, claim.user_id,
                                                           next_prefix, int(time.time()) + 60))
    assert await status(key_url(app, raw_id, newer)) == 200
    # Deleted: gone for every token.
    await admin_db.execute("update content set deleted_at = now() where id = $1", claim.content_id)
    assert await status(key_url(app, raw_id, newer)) == 404


GRANT = """mutation($i: GrantContentAccessInput!) { grantContentAccess(input: $i) {
  errors { code field message } purchase { id } } }"""
REVOKE = """mutation($i: RevokeContentAccessInput!) { revokeContentAccess(input: $i) {
  errors { code field message } purchase { id status } } }"""


async def test_a_revoked_entitlement_gets_no_key_from_an_unexpired_token(app: Any, gql: Any, http: Any,
                                                                        admin_db: Any, actors: Actors,
                                                                        hls_media: Any) -> None:
    content_id = await _published_ladder(app, gql, http, admin_db, actors, hls_media)
    staff = actors.staff_with.token
    granted = (await gql.ok(GRANT, {"i": {"contentId": content_id, "userId": actors.customer.global_id}},
                            staff))["grantContentAccess"]
    assert granted["errors"] == [], granted
    raw_id, token = _parts(await _hls_url(gql, actors.customer.token, content_id))
    _, staff_token = _parts(await _hls_url(gql, staff, content_id))
    expected = await ladder_key(app, actors.org, content_id)
    got = await http.get(key_url(app, raw_id, token))
    assert got.status_code == 200 and got.content == expected

    revoked = (await gql.ok(REVOKE, {"i": {"purchaseId": granted["purchase"]["id"]}}, staff))["revokeContentAccess"]
    assert revoked["errors"] == [] and revoked["purchase"]["status"] == "REFUNDED", revoked
    claim = streaming.verify(app.state.runtime["services"].settings.secret_key, token)  # still unexpired
    assert claim.user_id == actors.customer.user_id and claim.expires_at > time.time() + 3000
    refused = await http.get(key_url(app, raw_id, token))
    assert refused.status_code == 403
    assert expected not in refused.content and refused.headers["cache-control"] == "private, no-store"
    # Staff play through their membership, not an entitlement: their token keeps working.
    staff_key = await http.get(key_url(app, raw_id, staff_token))
    assert staff_key.status_code == 200 and staff_key.content == expected
    # Losing the membership ends that too, on the same unexpired token.
    await admin_db.execute("delete from organization_membership where organization_id = $1 and user_id = $2",
                           actors.org, actors.staff_with.user_id)
    assert (await http.get(key_url(app, raw_id, staff_token))).status_code == 403


PLAY_ON = "query($id: ID!, $d: String) { content(id: $id) { playback(deviceId: $d) { hls { url } } } }"
REMOVE_DEVICE = "mutation($id: ID!) { removeDevice(input: {deviceId: $id}) { errors { code } device { removedAt } } }"


async def test_a_removed_device_gets_no_key_from_an_unexpired_token(app: Any, gql: Any, http: Any, admin_db: Any,
                                                                    actors: Actors, hls_media: Any) -> None:
    content_id = await _published_ladder(app, gql, http, admin_db, actors, hls_media)
    granted = (await gql.ok(GRANT, {"i": {"contentId": content_id, "userId": actors.customer.global_id}},
                            actors.staff_with.token))["grantContentAccess"]
    assert granted["errors"] == []
    tokens = {}
    for device in ("laptop-0001", "phone-0001"):
        url = (await gql.ok(PLAY_ON, {"id": content_id, "d": device}, actors.customer.token))["content"]
        tokens[device] = _parts(url["playback"]["hls"]["url"])
    expected = await ladder_key(app, actors.org, content_id)
    for raw_id, token in tokens.values():
        got = await http.get(key_url(app, raw_id, token))
        assert got.status_code == 200 and got.content == expected
    laptop = await admin_db.fetchval("select id from playback_device where user_id = $1 order by first_seen_at limit 1",
                                     actors.customer.user_id)
    claim = streaming.verify(app.state.runtime["services"].settings.secret_key, tokens["laptop-0001"][1])
    assert claim.device_id == laptop  # the stream is bound to the registered device
    removed = (await gql.ok(REMOVE_DEVICE, {"id": to_global_id("PlaybackDevice", laptop)},
                            actors.customer.token))["removeDevice"]
    assert removed["device"]["removedAt"]
    refused = await http.get(key_url(app, *tokens["laptop-0001"]))
    assert refused.status_code == 403 and expected not in refused.content
    kept = await http.get(key_url(app, *tokens["phone-0001"]))
    assert kept.status_code == 200 and kept.content == expected


async def test_the_key_file_exists_only_while_ffmpeg_runs(app: Any, gql: Any, http: Any, actors: Actors,
                                                          hls_media: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    real = hls.run
    seen: list[tuple[Path, Path, bytes]] = []

    async def recording(args: list[str], on_seconds: Any, limit_seconds: float = hls.TRANSCODE_TIMEOUT) -> None:
        info = Path(args[args.index("-hls_key_info_file") + 1])
        uri, key_path, iv = info.read_text().splitlines()
        assert uri == keys.KEY_URI_PLACEHOLDER
        seen.append((info, Path(key_path), Path(key_path).read_bytes()))
        if len(seen) == 1:
            raise RuntimeError("worker killed")  # the file goes even when the run does not end well
        await real(args, on_seconds, limit_seconds)

    monkeypatch.setattr(hls, "run", recording)
    content_id = await uploaded(gql, http, actors.staff_with.token, hls_media["rotated"])
    with pytest.raises(RuntimeError, match="worker killed"):
        await run_job(app, actors.org, content_id)
    assert await run_job(app, actors.org, content_id) == "READY"
    key = await ladder_key(app, actors.org, content_id)
    assert len(seen) == 3 and all(secret == key for _, _, secret in seen)  # one key, crash and resume alike
    for info, key_file, _ in seen:
        assert not info.exists() and not key_file.exists() and not key_file.parent.exists()


def test_a_wrapped_key_unwraps_only_for_its_item_ladder_and_secret() -> None:
    item_id, prefix = uuid.uuid4(), "hls/o/c/v1/"
    key = keys.new_key()
    wrapped = keys.wrap("secret", key, item_id, prefix)
    assert len(key) == 16 and key not in wrapped
    assert keys.unwrap("secret", wrapped, item_id, prefix) == key
    assert keys.wrap("secret", key, item_id, prefix) != wrapped  # a fresh nonce each time
    for args in (("other", wrapped, item_id, prefix), ("secret", wrapped, uuid.uuid4(), prefix),
                 ("secret", wrapped, item_id, "hls/o/c/v2/"), ("secret", wrapped[:-1], item_id, prefix),
                 ("secret", b"", item_id, prefix)):
        with pytest.raises(keys.KeyUnavailable):
            keys.unwrap(*args)
    with pytest.raises(ValueError, match="SECRET_KEY"):
        keys.wrap("", key, item_id, prefix)
    info = keys.key_info(keys.KEY_URI_PLACEHOLDER, "/tmp/x/ladder.key", keys.iv_for(key))
    assert info.splitlines() == ["codex-key", "/tmp/x/ladder.key", keys.iv_for(key).hex()]
    assert len(keys.iv_for(key)) == 16 and keys.iv_for(key) != keys.iv_for(keys.new_key())
