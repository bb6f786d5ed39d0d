"""Protected HLS streaming (docs/media.md, "Protected streaming"): the playback token and the playlist routes.

``Content.playback.hls`` issues a token where ``Content.playback`` issues its signed URL (the same access
rule, decided there and nowhere else). The token is an HMAC-SHA256 (key derived from ``SECRET_KEY``)
statement of the item, its organization, the viewer (``-`` when anonymous), the item's ladder prefix and an
expiry. ``GET /media/hls/{content}/{token}/master.m3u8`` serves the stored master playlist with each variant
rewritten to ``/media/hls/{content}/{token}/{rendition}/index.m3u8``, which serves the rendition's media
playlist with each segment rewritten to a storage URL signed for ``SEGMENT_URL_TTL_SECONDS``. Every request
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
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
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
from codex_graphql.media import keys
from codex_graphql.media import repository as progress

log = logging.getLogger(__name__)

SEGMENT_URL_TTL_SECONDS = 90  # a leaked media playlist stops working this soon
PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
SEGMENT_TYPE = "video/mp2t"
_CONTEXT = b"codex-hls-playback-token:v1"
_RENDITION = re.compile(r"^[0-9a-z]+$")
_ANONYMOUS = "-"
_KEY_URI = re.compile(r'URI="[^"]*"')
_HEADERS = {"cache-control": "private, no-store", "x-content-type-options": "nosniff"}


class TokenRefused(Exception):
    """A token that is malformed, tampered with or expired."""


@dataclass(frozen=True, slots=True)
class PlaybackClaim:
    content_id: uuid.UUID
    organization_id: uuid.UUID
    user_id: uuid.UUID | None
    prefix: str
    expires_at: int  # unix seconds


def _key(secret_key: str) -> bytes:
    return hmac.new(secret_key.encode(), _CONTEXT, hashlib.sha256).digest()


def sign(secret_key: str, claim: PlaybackClaim) -> str:
    body = base64.urlsafe_b64encode(orjson.dumps({
        "c": str(claim.content_id), "o": str(claim.organization_id),
        "u": str(claim.user_id) if claim.user_id else _ANONYMOUS, "p": claim.prefix, "e": claim.expires_at,
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
            expires_at=int(data["e"]))
    except (ValueError, KeyError, TypeError) as exc:  # signed by us, so only a changed format lands here
        raise TokenRefused("malformed token") from exc
    if claim.expires_at <= (time.time() if now is None else now):
        raise TokenRefused("expired")
    return claim


def master_url(base_url: str, content_id: uuid.UUID, token: str) -> str:
    return f"{base_url.rstrip('/')}/media/hls/{content_id}/{token}/master.m3u8"


def issue(secret_key: str, base_url: str, content: Content, user_id: uuid.UUID | None,
          ttl_seconds: int) -> tuple[str, datetime] | None:
    """The master playlist URL and its expiry for a viewer the caller found may play ``content``; None
    when the item has no ladder."""
    if not content.hls_prefix or not content.hls_renditions:
        return None
    expires = int(time.time()) + ttl_seconds
    token = sign(secret_key, PlaybackClaim(content.id, content.organization_id, user_id, content.hls_prefix, expires))
    return master_url(base_url, content.id, token), datetime.fromtimestamp(expires, UTC)


# --- routes ---------------------------------------------------------------------------------------------


def _refuse(status: int, error: str) -> Response:
    return JSONResponse({"error": error}, status_code=status, headers=_HEADERS)


def _playlist(text: str) -> Response:
    return Response(text, media_type=PLAYLIST_TYPE, headers=_HEADERS)


async def _read_text(storage: Any, key: str) -> str | None:
    with tempfile.TemporaryDirectory(prefix="codex-hls-") as folder:
        target = Path(folder) / "playlist.m3u8"
        try:
            await storage.download(key, target)
        except Exception:  # a missing object, or storage unreachable: the player retries or gives up
            log.warning("HLS playlist %s could not be read", key, exc_info=True)
            return None
        return target.read_text(errors="replace")


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

    async def media(request: Request) -> Response:
        rendition = request.path_params["rendition"]
        if not _RENDITION.fullmatch(rendition):
            return _refuse(403, "no such rendition")
        found = await authorize(request)
        if isinstance(found, Response):
            return found
        claim, content = found
        if rendition not in {r["name"] for r in content.hls_renditions or []}:
            return _refuse(404, "no such rendition")
        storage = get_services().storage
        folder = f"{claim.prefix}{rendition}/"
        text = await _read_text(storage, f"{folder}index.m3u8")
        if text is None:
            return _refuse(404, "not found")
        key_uri = f'URI="{get_services().settings.public_base_url.rstrip("/")}/media/hls/{content.id}/' \
                  f'{request.path_params["token"]}/key"'
        lines = []
        for line in text.splitlines():
            segment = line.strip()
            if segment.startswith("#EXT-X-KEY:"):
                line = _KEY_URI.sub(key_uri, segment)  # only ever our key route, whatever the stored URI
            elif segment and not segment.startswith("#"):
                if "/" in segment or segment.startswith("."):
                    continue  # the ladder writes bare segment names only
                line = (await storage.presign_get(f"{folder}{segment}", SEGMENT_URL_TTL_SECONDS,
                                                  content_type=SEGMENT_TYPE)).url
            lines.append(line)
        return _playlist("\n".join(lines) + "\n")

    async def may_still_play(claim: PlaybackClaim, content: Content) -> bool:
        """``Content.playback``'s rule, for the token's viewer as they stand now, in their own scope."""
        if claim.user_id is None:
            return content_service.can_play(ANONYMOUS, content, False)
        async with get_services().db.transaction(TenantScope(user_id=claim.user_id)) as session:
            if await accounts.user_by_id(session, claim.user_id) is None:
                return False
            viewer = await viewer_now(session, ANONYMOUS, user_id=claim.user_id, active=claim.organization_id)
            entitled = bool(await content_repository.entitled_content_ids(session, claim.user_id, [content.id]))
        return content_service.can_play(viewer, content, entitled)

    async def key(request: Request) -> Response:
        found = await authorize(request)
        if isinstance(found, Response):
            return found
        claim, content = found
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
        Route("/media/hls/{content}/{token}/key", key, methods=["GET"]),
        Route("/media/hls/{content}/{token}/master.m3u8", master, methods=["GET"]),
        Route("/media/hls/{content}/{token}/{rendition}/index.m3u8", media, methods=["GET"]),
    ]


__all__ = ["SEGMENT_URL_TTL_SECONDS", "PlaybackClaim", "TokenRefused", "issue", "sign", "streaming_routes", "verify"]
