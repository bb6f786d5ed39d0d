"""Processing progress, recorded and announced together: the ``content_processing`` row and a
``media.processing_progress`` event in the same transaction (the ``contentProcessing`` subscription streams
them). Writers already limit how often they record (``transcode.PROGRESS_SECONDS``), so events stay few."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql import events
from codex_graphql.media import repository
from codex_graphql.media.models import ProcessingStage

PROGRESS_EVENT = "media.processing_progress"


async def record(session: AsyncSession, organization_id: uuid.UUID, content_id: uuid.UUID, stage: ProcessingStage,
                 percent: int, message: str | None = None) -> None:
    percent = max(0, min(100, percent))
    await repository.set_progress(session, organization_id, content_id, stage, percent, message)
    events.emit(session, PROGRESS_EVENT, {"contentId": str(content_id), "stage": stage.value, "percent": percent,
                                          "message": message}, organization_id)
