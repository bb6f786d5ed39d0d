"""Logo uploads: where they go, and checking what was really uploaded before it is used.

A logo's key is ``orgs/{org}/branding/logo-{hex}.{ext}`` (the extension records the declared type), but
no URL can write it: createOrganizationLogoUpload signs a one-use PUT for the staging key
``uploads/{org}/logo-{hex}.{ext}``. ``prepare`` (called by updateOrganizationSettings before its
transaction) checks the staged bytes and only then writes the final key: at most ``MAX_LOGO_BYTES``, PNG,
JPEG and WebP by their magic numbers (a PNG renamed ``.jpg`` or a text file declared ``image/png`` is
refused, and the checked bytes are copied server side), SVG rewritten by the allow-list sanitizer in
``svg.py`` (the stored file is exactly its output). A final key that exists was checked when written.

Nothing is left behind in storage: each upload's staging and final keys are queued for deletion 24 h after
it is planned and the final key is taken off the queue when it becomes the logo (``adopt``, refused once the
clean-up has claimed it); a replaced or removed logo is queued (``retire``) with a grace period as long as
its signed URLs live. The storage hygiene job deletes what is due (``codex_graphql.storage.hygiene``).
"""

from __future__ import annotations

import re
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.db import utcnow
from codex_graphql.errors import DomainError, ErrorCode
from codex_graphql.org_settings import svg
from codex_graphql.storage import SignedRequest, Storage, staging_key
from codex_graphql.storage import repository as cleanup
from codex_graphql.storage.models import CleanupReason

MAX_LOGO_BYTES = 2 * 1024 * 1024
UPLOAD_TTL_SECONDS = 3600
UNUSED_UPLOAD_TTL = timedelta(hours=24)  # an upload not made the logo by then is deleted
REPLACED_GRACE = timedelta(hours=1)  # signed logo URLs are valid one hour
# Declared MIME type -> stored extension, and the file name extensions accepted for it.
TYPES = {
    "image/png": ("png", {"png"}),
    "image/jpeg": ("jpg", {"jpg", "jpeg"}),
    "image/webp": ("webp", {"webp"}),
    "image/svg+xml": ("svg", {"svg"}),
}
EXTENSION_TYPES = {extension: mime for mime, (extension, _) in TYPES.items()}


def key_pattern(organization_id: uuid.UUID) -> re.Pattern[str]:
    extensions = "|".join(EXTENSION_TYPES)
    return re.compile(rf"^orgs/{organization_id}/branding/logo-[0-9a-f]{{32}}\.({extensions})$")


def plan_upload(organization_id: uuid.UUID, filename: str, mime_type: str, size_bytes: int) -> tuple[str, str]:
    """Check the declared file; returns (key, normalized MIME type)."""
    mime = mime_type.strip().lower()
    if mime not in TYPES:
        raise DomainError(ErrorCode.INVALID_INPUT, "Logos must be PNG, JPEG, WebP or SVG images.", "mimeType")
    extension, accepted = TYPES[mime]
    name_extension = filename.strip().rsplit(".", 1)[-1].lower() if "." in filename else ""
    if name_extension not in accepted:
        raise DomainError(ErrorCode.INVALID_INPUT,
                          f"The file name must end in .{' or .'.join(sorted(accepted))} for {mime}.", "filename")
    if not 0 < size_bytes <= MAX_LOGO_BYTES:
        raise DomainError(ErrorCode.INVALID_INPUT,
                          f"Logos must be between 1 byte and {MAX_LOGO_BYTES // (1024 * 1024)} MB.", "sizeBytes")
    return f"orgs/{organization_id}/branding/logo-{uuid.uuid4().hex}.{extension}", mime


async def presign(storage: Storage, key: str, mime: str, size_bytes: int) -> SignedRequest:
    """A one-use PUT for the logo's staging key (never for ``key`` itself)."""
    return await storage.presign_put(staging_for(key), mime, size_bytes, UPLOAD_TTL_SECONDS)


def reserve(session: AsyncSession, organization_id: uuid.UUID, key: str) -> None:
    """A planned upload: its staging object is deleted after ``UNUSED_UPLOAD_TTL``, and its final object
    too unless it becomes the logo first."""
    due = utcnow() + UNUSED_UPLOAD_TTL
    cleanup.schedule(session, organization_id, staging_for(key), CleanupReason.LOGO_UPLOAD, due)
    cleanup.schedule(session, organization_id, key, CleanupReason.LOGO_UPLOAD, due)


async def adopt(session: AsyncSession, organization_id: uuid.UUID, key: str) -> None:
    """``key`` is about to become the logo: take it off the clean-up queue (before checking the file, so a
    clean-up pass cannot delete it in between). Refused when the clean-up already took it."""
    if key_pattern(organization_id).match(key) and not await cleanup.take_back(session, organization_id, key):
        raise DomainError(ErrorCode.INVALID_STATE, "This logo upload has expired; upload the file again.", "logoKey")


def retire(session: AsyncSession, organization_id: uuid.UUID, old_key: str | None, new_key: str | None) -> None:
    """The logo ``old_key`` was replaced or removed: delete its file once its signed URLs have expired."""
    if old_key and old_key != new_key and key_pattern(organization_id).match(old_key):
        cleanup.schedule(session, organization_id, old_key, CleanupReason.LOGO_REPLACED, utcnow() + REPLACED_GRACE)


def _refuse(message: str) -> DomainError:
    return DomainError(ErrorCode.INVALID_INPUT, message, "logoKey")


def check_svg(data: bytes) -> bytes:
    """The sanitized SVG (see ``svg.py``); refused only when it is not an SVG document."""
    if len(data) > MAX_LOGO_BYTES:
        raise _refuse(f"The logo is larger than {MAX_LOGO_BYTES // (1024 * 1024)} MB.")
    try:
        return svg.sanitize(data)
    except svg.UnsafeSvg as problem:
        raise _refuse(str(problem)) from None


def sniff(data: bytes, declared: str) -> bytes:
    """Refuse bytes that are not what ``declared`` (a MIME type) says; returns the bytes to store."""
    if declared == "image/png":
        ok = data.startswith(b"\x89PNG\r\n\x1a\n")
    elif declared == "image/jpeg":
        ok = data.startswith(b"\xff\xd8\xff")
    elif declared == "image/webp":
        ok = data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    else:
        return check_svg(data)
    if not ok:
        raise _refuse(f"The uploaded file is not a real {declared.split('/')[1].upper()} image.")
    return data


def staging_for(key: str) -> str:
    """The one-use upload target of the logo key ``orgs/{org}/branding/logo-{hex}.{ext}``."""
    _, organization_id, _, name = key.split("/")
    return staging_key(organization_id, name)


async def prepare(storage: Storage, organization_id: uuid.UUID, key: str) -> str:
    """Check an uploaded logo and write it to its final key (no transaction open: storage calls only);
    returns the key to store. Safe to repeat: a final key that exists was checked when it was written."""
    key = key.strip()
    match = key_pattern(organization_id).match(key)
    if match is None:
        raise DomainError(ErrorCode.NOT_FOUND, "This is not a logo upload of your organization.", "logoKey")
    if await storage.head(key) is not None:
        return key
    staging = staging_for(key)
    stored = await storage.head(staging)
    if stored is None:
        raise DomainError(ErrorCode.INVALID_STATE, "No file was uploaded for this logo yet; upload it first.", "logoKey")
    if stored.size > MAX_LOGO_BYTES:
        raise _refuse(f"The logo is larger than {MAX_LOGO_BYTES // (1024 * 1024)} MB.")
    if stored.size == 0:
        raise _refuse("The uploaded logo is empty.")
    declared = EXTENSION_TYPES[match.group(1)]
    with tempfile.TemporaryDirectory(prefix="codex-logo-") as folder:
        path = Path(folder) / "logo"
        try:
            await storage.download(staging, path)
        except FileNotFoundError:  # a concurrent update with the same key checked and moved it first
            if await storage.head(key) is not None:
                return key
            raise DomainError(ErrorCode.INVALID_STATE, "This logo upload has expired; upload the file again.",
                              "logoKey") from None
        data = path.read_bytes()
        if len(data) > MAX_LOGO_BYTES:
            raise _refuse(f"The logo is larger than {MAX_LOGO_BYTES // (1024 * 1024)} MB.")
        checked = sniff(data, declared)
        path.write_bytes(checked)
        # The checked bytes from this download, never the staging object again (a copy could race a write).
        await storage.upload_file(key, path, declared)
    await storage.delete(staging)
    return key
