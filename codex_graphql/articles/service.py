"""Articles: creating one, saving its body, its image uploads, and serving the body. Services never commit.

An article is a ``content`` row of kind ARTICLE (READY at once: there is no file to process) plus its
``article_body`` row. It is published, sold, granted, subscribed to and counted through the same paths as a
media item: the only article-specific rule is what ``Content.body`` serves, decided by the one access rule.
"""

from __future__ import annotations

import re
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.accounts.viewer import Viewer
from codex_graphql.articles import document, repository
from codex_graphql.articles.models import ArticleBody
from codex_graphql.content import rules
from codex_graphql.content.models import Content, ContentKind, ContentStatus
from codex_graphql.content.service import URL_TTL_SECONDS
from codex_graphql.errors import DomainError, ErrorCode
from codex_graphql.org_settings import service as org_settings
from codex_graphql.storage import SignedRequest, Storage, staging_key

IMAGE_TYPES = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}
EXTENSION_TYPES = {extension: mime for mime, extension in IMAGE_TYPES.items()}
MAX_IMAGE_BYTES = 10 * 1024 * 1024
IMAGE_UPLOAD_TTL = 15 * 60
MAX_IMAGES = 200


@dataclass(frozen=True, slots=True)
class NewArticle:
    title: str
    body: object
    description: str = ""
    price_cents: int = 0
    tags: list[str] | None = None


def image_prefix(content: Content) -> str:
    return f"orgs/{content.organization_id}/content/{content.id}/images/"


async def create(session: AsyncSession, viewer: Viewer, organization_id: uuid.UUID, new: NewArticle) -> Content:
    """A new article, READY to publish, with its body (INVALID_INPUT on ``body`` when the document is refused)."""
    assert viewer.user_id is not None
    defaults = await org_settings.content_defaults(session, organization_id)
    content = Content(
        id=uuid.uuid4(), organization_id=organization_id, creator_id=viewer.user_id, kind=ContentKind.ARTICLE,
        status=ContentStatus.READY, title=rules.check_title(new.title),
        description=rules.check_description(new.description), price_cents=rules.check_price(new.price_cents),
        currency="USD", tags=rules.normalize_tags(new.tags or []), storage_key="", mime_type="text/html",
        original_filename="", size_bytes=0, listed=defaults.listed, allow_downloads=False,
        reviews_enabled=defaults.reviews_enabled,
    )
    rendered = _render(content, new.body)
    session.add(content)
    await session.flush()
    await _save(session, content, rendered)
    return content


def _render(content: Content, body: object) -> document.Rendered:
    try:
        rendered = document.render(body, image_prefix(content))
    except document.DocumentError as error:
        raise DomainError(ErrorCode.INVALID_INPUT, str(error), "body") from error
    if len(rendered.image_keys) > MAX_IMAGES:
        raise DomainError(ErrorCode.INVALID_INPUT, f"An article has at most {MAX_IMAGES} images.", "body")
    return rendered


async def _save(session: AsyncSession, content: Content, rendered: document.Rendered) -> None:
    await repository.save(session, content.organization_id, content.id, {
        "document": rendered.document, "html": rendered.html, "excerpt_html": rendered.excerpt_html,
        "plain_text": rendered.text, "word_count": rendered.word_count, "reading_minutes": rendered.reading_minutes,
        "image_keys": rendered.image_keys})
    content.size_bytes = len(rendered.html.encode())
    await session.flush()


async def set_body(session: AsyncSession, content: Content, body: object) -> None:
    """Replace the body of ``content`` (locked by ``content.service.managed``)."""
    if content.kind is not ContentKind.ARTICLE:
        raise DomainError(ErrorCode.INVALID_STATE, "Only articles have a body.", "body")
    await _save(session, content, _render(content, body))


def _image_key(content: Content, key: str) -> tuple[str, str]:
    """(staging key, MIME type) of one of the article's image keys; NOT_FOUND for anything else."""
    match = re.fullmatch(re.escape(image_prefix(content)) + r"([0-9a-f]{32})\.(png|jpg|webp|gif)", key.strip())
    if match is None:
        raise DomainError(ErrorCode.NOT_FOUND, "This is not an image upload of this article.", "key")
    return staging_key(content.organization_id, f"article-{content.id}-{match.group(1)}.{match.group(2)}"), \
        EXTENSION_TYPES[match.group(2)]


async def image_upload(storage: Storage, content: Content, content_type: str,
                       size_bytes: int) -> tuple[SignedRequest, str]:
    """A signed one-use PUT of one image of the article (to a staging key), and the key the image will have once
    ``complete_image`` checked it: what its body's ``image`` node names."""
    if content.kind is not ContentKind.ARTICLE:
        raise DomainError(ErrorCode.INVALID_STATE, "Images are uploaded for articles only.", "contentId")
    mime = content_type.strip().lower()
    if mime not in IMAGE_TYPES:
        raise DomainError(ErrorCode.INVALID_INPUT, "Images are PNG, JPEG, WebP or GIF.", "contentType")
    if not 0 < size_bytes <= MAX_IMAGE_BYTES:
        raise DomainError(ErrorCode.INVALID_INPUT, f"An image is 1 byte to {MAX_IMAGE_BYTES // (1024 * 1024)} MB.",
                          "sizeBytes")
    key = f"{image_prefix(content)}{uuid.uuid4().hex}.{IMAGE_TYPES[mime]}"
    staging, _ = _image_key(content, key)
    return await storage.presign_put(staging, mime, size_bytes, IMAGE_UPLOAD_TTL), key


def _is_image(head: bytes, mime: str) -> bool:
    if mime == "image/png":
        return head.startswith(b"\x89PNG\r\n\x1a\n")
    if mime == "image/jpeg":
        return head.startswith(b"\xff\xd8\xff")
    if mime == "image/webp":
        return head[:4] == b"RIFF" and head[8:12] == b"WEBP"
    return head[:6] in (b"GIF87a", b"GIF89a")


async def complete_image(storage: Storage, content: Content, key: str) -> str:
    """Check an uploaded image (its bytes are the type it was declared as) and move it to its key; storage calls
    only (no transaction open). Safe to repeat: an image already at its key was checked when it got there."""
    if content.kind is not ContentKind.ARTICLE:
        raise DomainError(ErrorCode.INVALID_STATE, "Images are uploaded for articles only.", "contentId")
    staging, mime = _image_key(content, key)
    key = key.strip()
    if await storage.head(key) is not None:
        return key
    stored = await storage.head(staging)
    if stored is None:
        raise DomainError(ErrorCode.INVALID_STATE, "No file was uploaded for this image yet (or the upload "
                          "expired); upload it first.", "key")
    if not 0 < stored.size <= MAX_IMAGE_BYTES:
        raise DomainError(ErrorCode.INVALID_INPUT, "The uploaded image is empty or too large.", "key")
    with tempfile.TemporaryDirectory(prefix="codex-article-image-") as folder:
        path = Path(folder) / "image"
        try:
            await storage.download(staging, path)
        except FileNotFoundError:  # a concurrent completion moved it first
            if await storage.head(key) is not None:
                return key
            raise DomainError(ErrorCode.INVALID_STATE, "This image upload has expired; upload it again.",
                              "key") from None
        with path.open("rb") as file:
            head = file.read(16)
    if not _is_image(head, mime):
        await storage.delete(staging)
        raise DomainError(ErrorCode.INVALID_INPUT, f"The uploaded file is not a real {IMAGE_TYPES[mime].upper()} "
                          "image.", "key")
    try:
        await storage.promote(staging, key, mime)
    except FileNotFoundError:
        if await storage.head(key) is None:
            raise DomainError(ErrorCode.INVALID_STATE, "This image upload has expired; upload it again.",
                              "key") from None
    return key


async def html_for_reader(storage: Storage, body: ArticleBody, fragment: str) -> str:
    """``fragment`` (the body's or excerpt's stored HTML) with its images signed for this reader."""
    keys = document.image_keys_in(fragment)
    if not keys:
        return fragment
    urls = {key: (await storage.presign_get(key, URL_TTL_SECONDS)).url for key in keys if key in body.image_keys}
    return document.with_image_urls(fragment, urls)
