"""Validation rules for category input: name, slug, description and position limits, and the caps."""

from __future__ import annotations

import re
import unicodedata

from codex_graphql.errors import DomainError, ErrorCode

MAX_NAME = 80
MAX_SLUG = 80
MAX_DESCRIPTION = 2_000
MAX_POSITION = 10_000
MAX_CATEGORIES = 100  # per organization: `Organization.categories` is one list, read whole
MAX_CATEGORIES_PER_ITEM = 20
_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def check_name(name: str) -> str:
    name = " ".join(name.split())
    if not 1 <= len(name) <= MAX_NAME:
        raise DomainError(ErrorCode.INVALID_INPUT, f"The name must have 1 to {MAX_NAME} characters.", "name")
    return name


def slug_from(name: str) -> str:
    """A slug for a name: accents dropped, lower case, runs of other characters as one hyphen."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    slug = _NOT_SLUG.sub("-", ascii_name).strip("-")[:MAX_SLUG].strip("-")
    if not slug:
        raise DomainError(ErrorCode.INVALID_INPUT, "This name gives no slug: give one (letters, digits, hyphens).",
                          "slug")
    return slug


def check_slug(slug: str) -> str:
    slug = slug.strip().lower()
    if not 1 <= len(slug) <= MAX_SLUG or not _SLUG.match(slug):
        raise DomainError(ErrorCode.INVALID_INPUT, f"A slug is 1 to {MAX_SLUG} lower-case letters, digits and single "
                          "hyphens, e.g. `yoga-basics`.", "slug")
    return slug


def check_description(description: str) -> str:
    if len(description) > MAX_DESCRIPTION:
        raise DomainError(ErrorCode.INVALID_INPUT, f"Descriptions are at most {MAX_DESCRIPTION} characters.",
                          "description")
    return description.strip()


def check_position(position: int) -> int:
    if not 0 <= position <= MAX_POSITION:
        raise DomainError(ErrorCode.INVALID_INPUT, f"The position is a whole number from 0 to {MAX_POSITION}.",
                          "position")
    return position
