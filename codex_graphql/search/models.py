"""The search vectors of content items (migration 0032), kept by the database's triggers, never by the app.

One row per live item, in the table its visibility picks: ``content_search_public`` for what anyone's search
may list (published, listed, not deleted; readable by everyone, so the planner answers ``@@`` and the trigram
fallback from their indexes, which a table with a tenant policy never lets it do: the operators are not
LEAKPROOF), ``content_search_staff`` for every other live item (the organization's alone). The API role only
reads them; ``codex_search_refresh`` (SECURITY DEFINER) writes them when an item, its article body, its
creator's name or its organization's search language changes. Which rows a viewer finally gets is decided on
``content`` by the listing rule (``content.access``), as for ``Organization.contents``.
"""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, Index, Text
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from codex_graphql.db import Base


class _SearchRow:
    content_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("content.id", ondelete="CASCADE"), primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), index=True)
    creator_id: Mapped[uuid.UUID] = mapped_column(index=True)
    # Title (weight A), tags and creator's name (B), description (C), article text (D), in the organization's
    # text search configuration (``codex_search_config``).
    document: Mapped[str] = mapped_column(TSVECTOR)
    # Title, tags and creator's name: what the typo fallback compares the words with (pg_trgm).
    words: Mapped[str] = mapped_column(Text)


class ContentSearchPublic(_SearchRow, Base):
    """Vectors of the items everyone's search may list: published, listed, not deleted."""

    __tablename__ = "content_search_public"

    __table_args__ = (
        Index("ix_content_search_public_document", "document", postgresql_using="gin"),
        Index("ix_content_search_public_words_trgm", "words", postgresql_using="gin",
              postgresql_ops={"words": "gin_trgm_ops"}),
    )


class ContentSearchStaff(_SearchRow, Base):
    """Vectors of the organization's other live items (drafts, uploads, unlisted ones): its staff's alone."""

    __tablename__ = "content_search_staff"
