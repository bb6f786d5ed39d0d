"""Validation rules for content input: formats, sizes, text limits, tags."""

from __future__ import annotations

import re
from dataclasses import dataclass

from codex_graphql.content.models import ContentKind
from codex_graphql.errors import DomainError, ErrorCode

GB = 1024**3
MB = 1024**2


@dataclass(frozen=True, slots=True)
class MediaFormat:
    extensions: tuple[str, ...]
    mime_types: tuple[str, ...]


FORMATS: dict[ContentKind, tuple[MediaFormat, ...]] = {
    ContentKind.VIDEO: (
        MediaFormat(("mp4", "m4v"), ("video/mp4",)),
        MediaFormat(("mov",), ("video/quicktime",)),
    ),
    ContentKind.AUDIO: (
        MediaFormat(("mp3",), ("audio/mpeg", "audio/mp3")),
        MediaFormat(("wav",), ("audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave")),
        MediaFormat(("aac",), ("audio/aac", "audio/x-aac")),
        MediaFormat(("m4a",), ("audio/mp4", "audio/x-m4a", "audio/m4a")),
    ),
}
MAX_SIZE = {ContentKind.VIDEO: 5 * GB, ContentKind.AUDIO: 500 * MB}

MAX_TITLE = 200
MAX_DESCRIPTION = 10_000
MAX_PRICE_CENTS = 100_000_00
MAX_TAGS = 20
MAX_TAG_LENGTH = 40
_TAG_SPACES = re.compile(r"[\s_]+")
_TAG_ALLOWED = re.compile(r"^[\w-]+$", re.UNICODE)


def check_file(kind: ContentKind, filename: str, mime_type: str, size_bytes: int) -> str:
    """Validate the declared file; returns its normalized extension."""
    if kind not in FORMATS:
        raise DomainError(ErrorCode.INVALID_INPUT, f"{kind.value} items have no file: create them with createArticle.",
                          "kind")
    name = filename.strip()
    if not name or len(name) > 255 or "/" in name or "\\" in name or "\x00" in name:
        raise DomainError(ErrorCode.INVALID_INPUT, "Give the file's name, without folders.", "filename")
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    mime = mime_type.strip().lower()
    allowed = FORMATS[kind]
    match = next((f for f in allowed if extension in f.extensions), None)
    if match is None:
        names = ", ".join(e.upper() for f in allowed for e in f.extensions)
        raise DomainError(ErrorCode.INVALID_INPUT, f"{kind.value} files must be one of: {names}.", "filename")
    if mime not in match.mime_types:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"The MIME type for .{extension} files must be {match.mime_types[0]}.", "mimeType"
        )
    if size_bytes <= 0:
        raise DomainError(ErrorCode.INVALID_INPUT, "The file size must be positive.", "sizeBytes")
    if size_bytes > MAX_SIZE[kind]:
        limit = MAX_SIZE[kind]
        shown = f"{limit // GB} GB" if limit >= GB else f"{limit // MB} MB"
        raise DomainError(ErrorCode.INVALID_INPUT, f"{kind.value} files may be at most {shown}.", "sizeBytes")
    return extension


def check_title(title: str) -> str:
    title = title.strip()
    if not 1 <= len(title) <= MAX_TITLE:
        raise DomainError(ErrorCode.INVALID_INPUT, f"The title must have 1 to {MAX_TITLE} characters.", "title")
    return title


def check_description(description: str) -> str:
    if len(description) > MAX_DESCRIPTION:
        raise DomainError(ErrorCode.INVALID_INPUT, f"Descriptions are at most {MAX_DESCRIPTION} characters.", "description")
    return description.strip()


def check_price(price_cents: int) -> int:
    if price_cents < 0:
        raise DomainError(ErrorCode.INVALID_INPUT, "The price cannot be negative.", "priceCents")
    if price_cents > MAX_PRICE_CENTS:
        raise DomainError(ErrorCode.INVALID_INPUT, "The price is above the platform maximum.", "priceCents")
    return price_cents


def normalize_tags(tags: list[str]) -> list[str]:
    """Lower-case, trimmed, inner spaces to hyphens, de-duplicated in order."""
    seen: list[str] = []
    for raw in tags:
        tag = _TAG_SPACES.sub("-", raw.strip().lower()).strip("-")
        if not tag:
            continue
        if len(tag) > MAX_TAG_LENGTH or not _TAG_ALLOWED.match(tag):
            raise DomainError(
                ErrorCode.INVALID_INPUT, f"Tags use letters, digits and hyphens, at most {MAX_TAG_LENGTH} characters.",
                "tags",
            )
        if tag not in seen:
            seen.append(tag)
    if len(seen) > MAX_TAGS:
        raise DomainError(ErrorCode.INVALID_INPUT, f"At most {MAX_TAGS} tags.", "tags")
    return seen
