"""Processing progress of a content item's HLS ladder (``content_processing``, migration 0039)."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

import strawberry
from sqlalchemy import Enum, ForeignKey, Integer, LargeBinary, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from codex_graphql.db import Base, utcnow
from codex_graphql.enum_docs import describe_values


@strawberry.enum(description="Where an item's processing job is.")
class ProcessingStage(enum.StrEnum):
    PROBING = "PROBING"
    TRANSCODING = "TRANSCODING"
    PACKAGING = "PACKAGING"
    DONE = "DONE"
    FAILED = "FAILED"


describe_values(ProcessingStage, {
    "PROBING": "Reading the uploaded file and making its thumbnails.",
    "TRANSCODING": "Transcoding the HLS renditions (`percent` counts them all; a long video is transcoded in "
                   "chunks by several jobs, and `percent` moves as each chunk is done).",
    "PACKAGING": "Writing the master playlist; the item becomes READY right after.",
    "DONE": "Every rendition is stored and the item is READY.",
    "FAILED": "Processing failed; `message` and the item's `failureReason` say why. Nothing was kept.",
})


class ContentProcessing(Base):
    """One row per item whose file went through the HLS ladder: the stage and percent staff see, and what a
    retried job resumes from: the versioned storage prefix (``hls_prefix``) and the renditions stored
    completely so far (``done``, each recorded after its media playlist was uploaded), and the ladder's AES-128
    key, wrapped (``hls_key``, ``keys.wrap``; migration 0040)."""

    __tablename__ = "content_processing"

    content_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("content.id", ondelete="CASCADE"), primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), index=True)
    stage: Mapped[ProcessingStage] = mapped_column(
        Enum(ProcessingStage, name="processing_stage", native_enum=False, length=16))
    percent: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    message: Mapped[str | None] = mapped_column(Text)
    hls_prefix: Mapped[str] = mapped_column(String(400))
    done: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list, server_default=text("'[]'::jsonb"))
    hls_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    # A ladder made in chunks (chunks.py, migration 0042): what every chunk job and the assembly need.
    chunk_plan: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, server_default=text("now()"))


class ChunkStatus(enum.StrEnum):
    PENDING = "PENDING"
    DONE = "DONE"


class ContentProcessingChunk(Base):
    """One chunk of a long video's ladder (``chunks.py``, migration 0042), transcoded by its own job: where it
    sits in the source (seconds, multiples of the segment length; ``length_seconds`` null: to the end), the
    number of its first segment, and once DONE its stored segments per rendition (``segments``: rendition
    name -> ``[[file name, seconds, bytes], ...]``). ``hls_prefix`` names the ladder version it belongs to."""

    __tablename__ = "content_processing_chunk"

    content_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("content.id", ondelete="CASCADE"), primary_key=True)
    chunk_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), index=True)
    hls_prefix: Mapped[str] = mapped_column(String(400))
    start_seconds: Mapped[int] = mapped_column(Integer)
    length_seconds: Mapped[int | None] = mapped_column(Integer)
    first_segment: Mapped[int] = mapped_column(Integer)
    status: Mapped[ChunkStatus] = mapped_column(
        Enum(ChunkStatus, name="chunk_status", native_enum=False, length=16))
    segments: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default=text("'{}'::jsonb"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, server_default=text("now()"))
