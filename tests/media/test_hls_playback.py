"""Protected HLS streaming: ``Content.playback.hls`` issued to exactly the viewers ``playback`` is issued to, the
master and media playlists served under the signed token (segments as short-lived storage URLs that download
real MPEG-TS once decrypted with the served key), and every refusal (tampered, expired, another item's, re-transcoded, path tricks) a 403/404.
The ladder is made by the processing job with real ffmpeg (tests/media/hls_support.py)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import m3u8
import pytest

from codex_graphql.content.models import ContentStatus
from codex_graphql.media import streaming
from codex_graphql.relay import decode_id
from tests.content.scheduling_support import gid, item
from tests.media.hls_support import decrypt, run_job, uploaded
from tests.support import Actors, assert_authz_matrix, make_actors
from tests.support.reviews import entitle

PLAY = "query($id: ID!) { content(id: $id) { id playback { url expiresAt hls { url expiresAt } } } }"
STAFF = {"staff_without_permission", "staff_with_permission"}  # every staff role holds CONTENT_READ
PLAYLIST = "application/vnd.apple.mpegurl"


@pytest.fixture
async def actors(factory: Any) -> Actors:
    return await make_actors(factory)


async def _published_ladder(app: Any, gql: Any, http: Any, admin_db: Any, actors: Actors, media: Any) -> str:
    content_id = await uploaded(gql, http, actors.staff_with.token, media["small"])
    assert await run_job(app, actors.org, content_id) == "READY"
    await admin_db.execute("update content set status = 'PUBLISHED', published_at = now() where id = $1",
                           decode_id(content_id, "Content"))
    return content_id


async def _hls_url(gql: Any, token: str, content_id: str) -> str:
    playback = (await gql.ok(PLAY, {"id": content_id}, token))["content"]["playback"]
    assert playback["hls"] is not None, playback
    return playback["hls"]["url"]


def _parts(url: str) -> tuple[str, str]:
    """(content id, token) of a master playlist URL."""
    _, _, _, content, token, name = urlsplit(url).path.split("/")
    assert name == "master.m3u8"
    return content, token


async def test_an_entitled_viewer_streams_the_ladder(app: Any, gql: Any, http: Any, admin_db: Any, factory: Any,
                                                     actors: Actors, hls_media: Any) -> None:
    content_id = await _published_ladder(app, gql, http, admin_db, actors, hls_media)
    viewer = await factory.user()
    await entitle(app.state.runtime["services"].db, actors.org, decode_id(content_id, "Content"), viewer)
    playback = (await gql.ok(PLAY, {"id": content_id}, viewer.token))["content"]["playback"]
    assert playback["url"].startswith("http://testserver/storage/")  # the original file, unchanged
    hls = playback["hls"]
    raw_id = decode_id(content_id, "Content")
    assert hls["url"].startswith(f"http://testserver/media/hls/{raw_id}/") and hls["url"].endswith("/master.m3u8")
    expires = datetime.fromisoformat(hls["expiresAt"])
    assert 3500 < (expires - datetime.now(UTC)).total_seconds() <= 3600

    master = await http.get(hls["url"])
    assert master.status_code == 200, master.text
    assert master.headers["content-type"].startswith(PLAYLIST)
    assert master.headers["cache-control"] == "private, no-store"
    parsed = m3u8.loads(master.text)
    assert parsed.is_variant and len(parsed.playlists) == 1
    token = _parts(hls["url"])[1]
    variant = parsed.playlists[0].uri
    assert variant == f"http://testserver/media/hls/{raw_id}/{token}/180p/index.m3u8"
    assert parsed.playlists[0].stream_info.bandwidth > 0

    media = await http.get(variant)
    assert media.status_code == 200, media.text
    assert media.headers["content-type"].startswith(PLAYLIST)
    assert media.headers["cache-control"] == "private, no-store"
    playlist = m3u8.loads(media.text)
    assert playlist.is_endlist and len(playlist.segments) == 2
    [key] = playlist.keys
    assert key.method == "AES-128" and key.uri.startswith(f"http://testserver/media/hls/{raw_id}/{token}/key/")
    secret = (await http.get(key.uri)).content
    for n, segment in enumerate(playlist.segments):
        # Each segment is an app URL under the token that redirects to a storage URL signed when it is fetched,
        # so a player that loaded the playlist long ago still gets a live one.
        assert segment.uri == f"http://testserver/media/hls/{raw_id}/{token}/180p/segment_{n:05d}.ts"
        redirect = await http.get(segment.uri)
        assert redirect.status_code == 302 and redirect.headers["cache-control"] == "private, no-store"
        location = redirect.headers["location"]
        assert location.startswith("http://testserver/storage/hls/")
        got = await http.get(location)
        plain = decrypt(got.content, secret, bytes.fromhex(key.iv.removeprefix("0x")))
        assert got.status_code == 200 and plain[:1] == b"\x47" and len(plain) % 188 == 0
        assert got.headers["content-type"] == "video/mp2t"
        assert got.headers["access-control-allow-origin"] == "*"
        expiry = int(dict(p.split("=", 1) for p in urlsplit(location).query.split("&"))["exp"])
        assert expiry - time.time() <= streaming.SEGMENT_URL_TTL_SECONDS + 1  # short-lived, unlike the token
    for bad in ("segment_00000.mp4", "..%2Fmaster.m3u8", "segment_0.ts", "index.m3u9"):
        assert (await http.get(f"http://testserver/media/hls/{raw_id}/{token}/180p/{bad}")).status_code in (403, 404)
    assert (await http.get(f"http://testserver/media/hls/{raw_id}/{token}/999p/segment_00000.ts")).status_code == 404
    assert media.headers["access-control-allow-origin"] == "*"


async def test_playback_hls_matrix(app: Any, gql: Any, http: Any, db: Any, admin_db: Any, factory: Any,
                                   actors: Actors, hls_media: Any) -> None:
    content_id = await _published_ladder(app, gql, http, admin_db, actors, hls_media)
    results = await assert_authz_matrix(gql, actors, PLAY, {"id": content_id}, path=["content", "playback"],
                                        allowed=STAFF)
    for name, body in results.items():
        hls = body["data"]["content"]["playback"] and body["data"]["content"]["playback"]["hls"]
        assert bool(hls) == (name in STAFF), name
    for name in STAFF:
        assert (await http.get(results[name]["data"]["content"]["playback"]["hls"]["url"])).status_code == 200
    # The matrix's customer once entitled, then revoked: exactly like `playback` itself.
    await entitle(db, actors.org, decode_id(content_id, "Content"), actors.customer)
    assert await _hls_url(gql, actors.customer.token, content_id)
    await admin_db.execute("update content_entitlement set revoked_at = now()")
    revoked = await gql(PLAY, {"id": content_id}, actors.customer.token)
    assert [e["extensions"]["code"] for e in revoked["errors"]] == ["FORBIDDEN"]
    assert revoked["data"]["content"]["playback"] is None
    # An item without a ladder keeps its playback URL and has no stream.
    plain = await item(db, actors.org, actors.staff_with.user_id, ContentStatus.PUBLISHED)
    body = (await gql.ok(PLAY, {"id": gid(plain)}, actors.staff_with.token))["content"]["playback"]
    assert body["url"] and body["hls"] is None


async def test_refused_tokens_and_paths_are_403_or_404(app: Any, gql: Any, http: Any, db: Any, admin_db: Any,
                                                       actors: Actors, hls_media: Any) -> None:
    content_id = await _published_ladder(app, gql, http, admin_db, actors, hls_media)
    url = await _hls_url(gql, actors.staff_with.token, content_id)
    raw_id, token = _parts(url)
    base = "http://testserver/media/hls"
    secret = app.state.runtime["services"].settings.secret_key
    claim = streaming.verify(secret, token)
    prefix = claim.prefix

    async def status(path: str) -> int:
        return (await http.get(path)).status_code

    assert await status(f"{base}/{raw_id}/{token}/180p/index.m3u8") == 200
    body, _, mac = token.partition(".")
    flipped = mac[:-1] + ("0" if mac[-1] != "0" else "1")
    forged = streaming.sign("another-secret", claim)
    tampered_body = ("A" if body[0] != "A" else "B") + body[1:] + "." + mac
    for bad in (f"{body}.{flipped}", tampered_body, forged, "garbage", body):
        assert await status(f"{base}/{raw_id}/{bad}/master.m3u8") == 403, bad
        assert await status(f"{base}/{raw_id}/{bad}/180p/index.m3u8") == 403, bad

    expired = streaming.sign(secret, streaming.PlaybackClaim(claim.content_id, claim.organization_id,
                                                             claim.user_id, prefix, int(time.time()) - 1))
    assert await status(f"{base}/{raw_id}/{expired}/master.m3u8") == 403
    assert await status(f"{base}/{raw_id}/{expired}/180p/index.m3u8") == 403

    # Item A's token on item B's path.
    other = await item(db, actors.org, actors.staff_with.user_id, ContentStatus.PUBLISHED)
    assert await status(f"{base}/{other}/{token}/master.m3u8") == 403
    assert await status(f"{base}/{other}/{token}/180p/index.m3u8") == 403
    # A validly signed token for an item that does not exist.
    missing = uuid.uuid4()
    ghost = streaming.sign(secret, streaming.PlaybackClaim(missing, claim.organization_id, None, prefix,
                                                           int(time.time()) + 60))
    assert await status(f"{base}/{missing}/{ghost}/master.m3u8") == 404
    assert await status(f"{base}/not-a-uuid/{token}/master.m3u8") == 404

    # Rendition names: only recorded ones, never a path.
    for rendition in ("..", "%2E%2E", "..%2F..%2Fmaster", "180P", "180p.", "../180p", "%2F"):
        code = await status(f"{base}/{raw_id}/{token}/{rendition}/index.m3u8")
        assert code in (403, 404), (rendition, code)
    assert await status(f"{base}/{raw_id}/{token}/720p/index.m3u8") == 404  # well formed, not recorded

    # Processed again (a new ladder version): the old token stops working, a new one plays.
    await admin_db.execute("update content set hls_prefix = $2 where id = $1", claim.content_id,
                           prefix.replace(prefix.rstrip("/").rsplit("/", 1)[1], "v-next"))
    assert await status(f"{base}/{raw_id}/{token}/master.m3u8") == 403
    assert await status(f"{base}/{raw_id}/{token}/180p/index.m3u8") == 403
    # Deleted: gone for every token.
    await admin_db.execute("update content set hls_prefix = $2, deleted_at = now() where id = $1",
                           claim.content_id, prefix)
    assert await status(f"{base}/{raw_id}/{token}/master.m3u8") == 404
