"""Logo uploads: where they go, and checking what was really uploaded before it is used.

A logo is uploaded with a signed PUT to ``orgs/{org}/branding/logo-{uuid}.{ext}``; the extension
records the declared type. Before ``updateOrganizationSettings`` stores the key, the object must
exist, be at most ``MAX_LOGO_BYTES``, and its bytes must be what the extension says: PNG, JPEG and
WebP by their magic numbers (a PNG renamed ``.jpg`` or a text file declared ``image/png`` is refused);
SVG by parsing it with defusedxml (no DTDs or entities) and refusing scripts, ``foreignObject``,
event-handler attributes (``on*``), and references to anything outside the document (``href`` or
``xlink:href`` not starting with ``#``, ``url(...)`` not pointing at ``#id``, ``@import``).

Nothing is left behind in storage: each upload is queued for deletion 24 h after it is planned and taken
off the queue when it becomes the logo (``adopt``, refused once the clean-up has claimed it); a replaced
or removed logo is queued (``retire``) with a grace period as long as its signed URLs live. The storage
hygiene job deletes what is due (``codex_graphql.storage.hygiene``).
"""

from __future__ import annotations

import re
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.db import utcnow
from codex_graphql.errors import DomainError, ErrorCode
from codex_graphql.storage import SignedRequest, Storage
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
FORBIDDEN_SVG_ELEMENTS = {"script", "foreignobject", "iframe", "embed", "object", "handler", "listener"}
_URL_REF = re.compile(r"url\(\s*(['\"]?)\s*([^'\")]*)\1\s*\)", re.IGNORECASE)


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
    return await storage.presign_put(key, mime, size_bytes, UPLOAD_TTL_SECONDS)


def reserve(session: AsyncSession, organization_id: uuid.UUID, key: str) -> None:
    """A planned upload: deleted after ``UNUSED_UPLOAD_TTL`` unless it becomes the logo first."""
    cleanup.schedule(session, organization_id, key, CleanupReason.LOGO_UPLOAD, utcnow() + UNUSED_UPLOAD_TTL)


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


def _local(name: str) -> str:
    return name.rsplit("}", 1)[-1].lower()


def _check_css(text: str) -> None:
    if "@import" in text.lower():
        raise _refuse("The SVG imports an external style sheet.")
    for match in _URL_REF.finditer(text):
        if not match.group(2).strip().startswith("#"):
            raise _refuse("The SVG refers to an external resource.")


def check_svg(data: bytes) -> None:
    if b"<?xml-stylesheet" in data:
        raise _refuse("The SVG refers to an external style sheet.")
    try:
        root: Element = fromstring(data, forbid_dtd=True)
    except (ParseError, DefusedXmlException, ValueError):
        raise _refuse("The file is not a well-formed SVG image (DTDs and entities are not allowed).") from None
    if _local(root.tag) != "svg":
        raise _refuse("The file is not an SVG image.")
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        name = _local(element.tag)
        if name in FORBIDDEN_SVG_ELEMENTS:
            raise _refuse(f"SVG logos may not contain <{name}> elements.")
        for attribute, value in element.attrib.items():
            local = _local(attribute)
            if local.startswith("on"):
                raise _refuse(f"SVG logos may not contain event handlers ({local}).")
            if local == "href" and not value.strip().startswith("#"):
                raise _refuse("The SVG refers to an external resource.")
            _check_css(value)
        if name == "style":
            _check_css("".join(element.itertext()))


def sniff(data: bytes, declared: str) -> None:
    """Refuse bytes that are not what ``declared`` (a MIME type) says."""
    if declared == "image/png":
        ok = data.startswith(b"\x89PNG\r\n\x1a\n")
    elif declared == "image/jpeg":
        ok = data.startswith(b"\xff\xd8\xff")
    elif declared == "image/webp":
        ok = data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    else:
        check_svg(data)
        return
    if not ok:
        raise _refuse(f"The uploaded file is not a real {declared.split('/')[1].upper()} image.")


async def verify(storage: Storage, organization_id: uuid.UUID, key: str) -> str:
    """Check an uploaded logo; returns the key to store."""
    key = key.strip()
    match = key_pattern(organization_id).match(key)
    if match is None:
        raise DomainError(ErrorCode.NOT_FOUND, "This is not a logo upload of your organization.", "logoKey")
    stored = await storage.head(key)
    if stored is None:
        raise DomainError(ErrorCode.INVALID_STATE, "No file was uploaded for this logo yet; upload it first.", "logoKey")
    if stored.size > MAX_LOGO_BYTES:
        raise _refuse(f"The logo is larger than {MAX_LOGO_BYTES // (1024 * 1024)} MB.")
    if stored.size == 0:
        raise _refuse("The uploaded logo is empty.")
    with tempfile.TemporaryDirectory(prefix="codex-logo-") as folder:
        path = Path(folder) / "logo"
        await storage.download(key, path)
        data = path.read_bytes()
    if len(data) > MAX_LOGO_BYTES:
        raise _refuse(f"The logo is larger than {MAX_LOGO_BYTES // (1024 * 1024)} MB.")
    sniff(data, EXTENSION_TYPES[match.group(1)])
    return key
