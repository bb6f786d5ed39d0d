"""Protected HLS streaming (docs/media.md, "Protected streaming"): the playback token and the playlist routes.

``Content.playback.hls`` issues a token where ``Content.playback`` issues its signed URL (the same access
rule, decided there and nowhere else). The token is an HMAC-SHA256 (key derived from ``SECRET_KEY``)
statement of the item, its organization, the viewer (``-`` when anonymous), the item's ladder prefix and an
expiry. ``GET /media/hls/{content}/{token}/master.m3u8`` serves the stored master playlist with each variant
rewritten to ``/media/hls/{content}/{token}/{rendition}/index.m3u8``, which serves the rendition's media
playlist with each segment rewritten to ``/media/hls/{content}/{token}/{rendition}/{segment}``: a redirect to
a storage URL signed when the segment is fetched, for ``SEGMENT_URL_TTL_SECONDS``. Every request
checks the signature, the expiry, that the token names the path's item, that its prefix is still the item's
ladder (a re-transcoded item refuses older tokens) and that the rendition is one the item recorded.
Segments are AES-128 encrypted (``keys.py``): the media playlist's ``#EXT-X-KEY`` URI is rewritten to
``/media/hls/{content}/{token}/key``, which, after the same checks, asks the access rule again
(``content.service.can_play``, for the token's viewer as they stand now: memberships and entitlements read
afresh) and returns the ladder's 16 key bytes only while it still admits them; a revoked entitlement or a lost
staff role gets a 403 on the next key request, however long the token still lives.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from codex_graphql.accounts import repository as accounts
from codex_graphql.accounts.current import viewer_now
from codex_graphql.authz import ANONYMOUS
from codex_graphql.content import repository as content_repository
from codex_graphql.content import service as content_service
from codex_graphql.content.models import Content
from codex_graphql.db import TenantScope
from codex_graphql.devices import service as devices
from codex_graphql.media import keys
from codex_graphql.media import repository as progress

log = logging.getLogger(__name__)

SEGMENT_URL_TTL_SECONDS = 90  # a leaked media playlist stops working this soon
KEY_URL_TTL_SECONDS = 300  # the key URL in a served media playlist, bound to the playback session
PLAYLIST_BYTES_LIMIT = 4 * 1024 * 1024  # a 10-hour item at 1-second segments is well under 1 MB
PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
SEGMENT_TYPE = "video/mp2t"
_CONTEXT = b"codex-hls-playback-token:v1"
_RENDITION = re.compile(r"^[0-9a-z]+$")
_SEGMENT = re.compile(r"^segment_[0-9]{5,9}\.ts$")
_ANONYMOUS = "-"
_KEY_URI = re.compile(r'URI="[^"]*"')
# The token in the path is the credential (no cookie is read), so a player on any origin may fetch these.
_HEADERS = {"cache-control": "private, no-store", "x-content-type-options": "nosniff",
            "access-control-allow-origin": "*"}


class TokenRefused(Exception):
    """A token that is malformed, tampered with or expired."""


@dataclass(frozen=True, slots=True)
class PlaybackClaim:
    content_id: uuid.UUID
    organization_id: uuid.UUID
    user_id: uuid.UUID | None
    prefix: str
    expires_at: int  # unix seconds
    device_id: uuid.UUID | None = None  # the registered device the playback is bound to (devices/service.py)
    session: str = field(default_factory=lambda: secrets.token_hex(8))  # one playback session


def _key(secret_key: str) -> bytes:
    return hmac.new(secret_key.encode(), _CONTEXT, hashlib.sha256).digest()


def sign(secret_key: str, claim: PlaybackClaim) -> str:
    body = base64.urlsafe_b64encode(orjson.dumps({
        "c": str(claim.content_id), "o": str(claim.organization_id),
        "u": str(claim.user_id) if claim.user_id else _ANONYMOUS, "p": claim.prefix, "e": claim.expires_at,
        "d": str(claim.device_id) if claim.device_id else _ANONYMOUS, "s": claim.session,
    })).decode().rstrip("=")
    return f"{body}.{hmac.new(_key(secret_key), body.encode(), hashlib.sha256).hexdigest()}"


def verify(secret_key: str, token: str, now: float | None = None) -> PlaybackClaim:
    body, _, mac = token.partition(".")
    expected = hmac.new(_key(secret_key), body.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), mac.encode()):
        raise TokenRefused("bad signature")
    try:
        data = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        claim = PlaybackClaim(
            content_id=uuid.UUID(data["c"]), organization_id=uuid.UUID(data["o"]),
            user_id=None if data["u"] == _ANONYMOUS else uuid.UUID(data["u"]), prefix=str(data["p"]),
            expires_at=int(data["e"]), device_id=None if data["d"] == _ANONYMOUS else uuid.UUID(data["d"]),
            session=str(data["s"]))
    except (ValueError, KeyError, TypeError) as exc:  # signed by us, so only a changed format lands here
        raise TokenRefused("malformed token") from exc
    if claim.expires_at <= (time.time() if now is None else now):
        raise TokenRefused("expired")
    return claim


def master_url(base_url: str, content_id: uuid.UUID, token: str) -> str:
    return f"{base_url.rstrip('/')}/media/hls/{content_id}/{token}/master.m3u8"


def issue(secret_key: str, base_url: str, content: Content, user_id: uuid.UUID | None,
          ttl_seconds: int, *, device_id: uuid.UUID | None = None) -> tuple[str, datetime] | None:
    """The master playlist URL and its expiry for a viewer the caller found may play ``content`` (on the
    registered ``device_id``, when there is one); None when the item has no ladder."""
    if not content.hls_prefix or not content.hls_renditions:
        return None
    expires = int(time.time()) + ttl_seconds
    token = sign(secret_key, PlaybackClaim(content.id, content.organization_id, user_id, content.hls_prefix, expires,
                                           device_id=device_id))
    return master_url(base_url, content.id, token), datetime.fromtimestamp(expires, UTC)


def _key_stamp_mac(secret_key: str, token: str, expires_at: int) -> str:
    return hmac.new(_key(secret_key), f"key|{token}|{expires_at}".encode(), hashlib.sha256).hexdigest()[:32]


def key_stamp(secret_key: str, token: str, now: float | None = None) -> str:
    """The part of a key URL that makes it valid for ``KEY_URL_TTL_SECONDS``, for this playback token only."""
    expires = int(time.time() if now is None else now) + KEY_URL_TTL_SECONDS
    return f"{expires}.{_key_stamp_mac(secret_key, token, expires)}"


def check_key_stamp(secret_key: str, token: str, stamp: str, now: float | None = None) -> None:
    raw_expiry, _, mac = stamp.partition(".")
    if not raw_expiry.isdigit() or len(raw_expiry) > 12:
        raise TokenRefused("malformed key URL")
    expires = int(raw_expiry)
    if not hmac.compare_digest(_key_stamp_mac(secret_key, token, expires).encode(), mac.encode()):
        raise TokenRefused("bad key URL signature")
    if expires <= (time.time() if now is None else now):
        raise TokenRefused("key URL expired")


# --- routes ---------------------------------------------------------------------------------------------


def _refuse(status: int, error: str) -> Response:
    return JSONResponse({"error": error}, status_code=status, headers=_HEADERS)


def _playlist(text: str) -> Response:
    return Response(text, media_type=PLAYLIST_TYPE, headers=_HEADERS)


async def _read_text(storage: Any, key: str) -> str | None:
    try:
        return (await storage.read_bytes(key, PLAYLIST_BYTES_LIMIT)).decode(errors="replace")
    except Exception:  # a missing object, or storage unreachable: the player retries or gives up
        log.warning("HLS playlist %s could not be read", key, exc_info=True)
        return None


def streaming_routes(get_services: Any) -> list[Route]:
    async def authorize(request: Request) -> tuple[PlaybackClaim, Content] | Response:
        services = get_services()
        try:
            path_id = uuid.UUID(request.path_params["content"])
        except ValueError:
            return _refuse(404, "not found")
        try:
            claim = verify(services.settings.secret_key, request.path_params["token"])
        except TokenRefused as exc:
            return _refuse(403, str(exc))
        if claim.content_id != path_id:
            return _refuse(403, "the token is for another item")
        async with services.db.transaction(TenantScope(organization_id=claim.organization_id)) as session:
            content = await content_repository.readable_by_id(session, claim.content_id)
        if content is None or content.deleted_at is not None or content.organization_id != claim.organization_id:
            return _refuse(404, "not found")
        if content.hls_prefix != claim.prefix:
            return _refuse(403, "the item was processed again; ask for a new playback URL")
        return claim, content

    async def master(request: Request) -> Response:
        found = await authorize(request)
        if isinstance(found, Response):
            return found
        claim, content = found
        text = await _read_text(get_services().storage, f"{claim.prefix}master.m3u8")
        if text is None:
            return _refuse(404, "not found")
        base = get_services().settings.public_base_url.rstrip("/")
        token = request.path_params["token"]
        names = {r["name"] for r in content.hls_renditions or []}
        lines = []
        for line in text.splitlines():
            name, _, rest = line.strip().partition("/")
            if line and not line.startswith("#"):
                if rest != "index.m3u8" or name not in names:
                    continue  # never point a player at something the item did not record
                line = f"{base}/media/hls/{content.id}/{token}/{name}/index.m3u8"
            lines.append(line)
        return _playlist("\n".join(lines) + "\n")

    async def authorize_rendition(request: Request) -> tuple[PlaybackClaim, Content] | Response:
        """``authorize``, and the path's rendition is one the item recorded."""
        rendition = request.path_params["rendition"]
        if not _RENDITION.fullmatch(rendition):
            return _refuse(403, "no such rendition")
        found = await authorize(request)
        if isinstance(found, Response):
            return found
        if rendition not in {r["name"] for r in found[1].hls_renditions or []}:
            return _refuse(404, "no such rendition")
        return found

    async def media(request: Request) -> Response:
        rendition = request.path_params["rendition"]
        found = await authorize_rendition(request)
        if isinstance(found, Response):
            return found
        claim, content = found
        storage = get_services().storage
        folder = f"{claim.prefix}{rendition}/"
        text = await _read_text(storage, f"{folder}index.m3u8")
        if text is None:
            return _refuse(404, "not found")
        settings, token = get_services().settings, request.path_params["token"]
        key_uri = f'URI="{settings.public_base_url.rstrip("/")}/media/hls/{content.id}/{token}/key/' \
                  f'{key_stamp(settings.secret_key, token)}"'
        base = f"{settings.public_base_url.rstrip('/')}/media/hls/{content.id}/{token}/{rendition}/"
        lines = []
        for line in text.splitlines():
            segment = line.strip()
            if segment.startswith("#EXT-X-KEY:"):
                line = _KEY_URI.sub(key_uri, segment)  # only ever our key route, whatever the stored URI
            elif segment and not segment.startswith("#"):
                if not _SEGMENT.fullmatch(segment):
                    continue  # the ladder writes bare segment names only
                line = f"{base}{segment}"
            lines.append(line)
        return _playlist("\n".join(lines) + "\n")

    async def segment(request: Request) -> Response:
        """A redirect to the segment's storage URL, signed now for ``SEGMENT_URL_TTL_SECONDS``: a player that
        loaded the media playlist an hour ago (a VOD playlist is loaded once) still gets a fresh URL."""
        rendition, name = request.path_params["rendition"], request.path_params["segment"]
        if not _SEGMENT.fullmatch(name):
            return _refuse(403, "no such segment")
        found = await authorize_rendition(request)
        if isinstance(found, Response):
            return found
        claim, _ = found
        signed = await get_services().storage.presign_get(f"{claim.prefix}{rendition}/{name}",
                                                          SEGMENT_URL_TTL_SECONDS, content_type=SEGMENT_TYPE)
        return Response(status_code=302, headers={**_HEADERS, "location": signed.url})

    async def may_still_play(claim: PlaybackClaim, content: Content) -> bool:
        """``Content.playback``'s rule, for the token's viewer as they stand now, in their own scope, on a device
        still registered to them when the playback was bound to one."""
        if claim.user_id is None:
            return content_service.can_play(ANONYMOUS, content, False)
        async with get_services().db.transaction(TenantScope(user_id=claim.user_id)) as session:
            if await accounts.user_by_id(session, claim.user_id) is None:
                return False
            if claim.device_id is not None and not await devices.is_registered(session, claim.device_id,
                                                                               claim.user_id):
                return False
            viewer = await viewer_now(session, ANONYMOUS, user_id=claim.user_id, active=claim.organization_id)
            entitled = bool(await content_repository.entitled_content_ids(session, claim.user_id, [content.id]))
        return content_service.can_play(viewer, content, entitled)

    async def key(request: Request) -> Response:
        found = await authorize(request)
        if isinstance(found, Response):
            return found
        claim, content = found
        try:
            check_key_stamp(get_services().settings.secret_key, request.path_params["token"],
                            request.path_params["stamp"])
        except TokenRefused as exc:
            return _refuse(403, str(exc))
        if not await may_still_play(claim, content):
            return _refuse(403, "no access to this item any more")
        services = get_services()
        async with services.db.transaction(TenantScope(organization_id=claim.organization_id)) as session:
            row = await progress.get(session, claim.organization_id, content.id)
        if row is None or row.hls_key is None or row.hls_prefix != claim.prefix:
            return _refuse(404, "no key")  # an unencrypted ladder, or another version being made
        try:
            secret = keys.unwrap(services.settings.secret_key, row.hls_key, content.id, claim.prefix)
        except keys.KeyUnavailable:
            log.warning("HLS key of %s does not unwrap", content.id)
            return _refuse(404, "no key")
        return Response(secret, media_type="application/octet-stream", headers=_HEADERS)

    return [
        Route("/media/hls/{content}/{token}/key/{stamp}", key, methods=["GET"]),
        Route("/media/hls/{content}/{token}/master.m3u8", master, methods=["GET"]),
        Route("/media/hls/{content}/{token}/{rendition}/index.m3u8", media, methods=["GET"]),
        Route("/media/hls/{content}/{token}/{rendition}/{segment}", segment, methods=["GET"]),
    ]


__all__ = ["SEGMENT_URL_TTL_SECONDS", "PlaybackClaim", "TokenRefused", "issue", "sign", "streaming_routes", "verify"]
