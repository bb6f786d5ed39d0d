"""Earnings actors: a creator's monthly statement file and its mail (earnings/statements.py)."""

from __future__ import annotations

import logging
import tempfile
import uuid
from pathlib import Path
from typing import Any

import dramatiq
from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.db import TenantScope
from codex_graphql.earnings import statements
from codex_graphql.earnings.payout_models import StatementStatus
from codex_graphql.mail import Mail
from workers.mail_jobs import send_then_record
from workers.runtime import runtime

log = logging.getLogger(__name__)


@dramatiq.actor(actor_name=statements.STATEMENT_ACTOR, max_retries=6, min_backoff=2_000, max_backoff=300_000,
                time_limit=15 * 60_000, on_retry_exhausted=statements.STATEMENT_FAILED_ACTOR)
async def write_creator_statement(job_id: str, statement_id: str, statement_organization_id: str) -> None:
    """Ids in; safe to run twice: the file is written and the row marked READY once per job (its id claimed with
    the READY mark), then the creator is mailed once (the mail's own claim, ``send_then_record``)."""
    rt = runtime()
    organization_id, row_id = uuid.UUID(statement_organization_id), uuid.UUID(statement_id)
    with tempfile.TemporaryDirectory(prefix="codex-statement-") as folder:
        row = await statements.write_file(rt.db, rt.storage, job_id, organization_id, row_id, Path(folder))
    if row is None or row.status is not StatementStatus.READY:
        return

    async def build(session: AsyncSession) -> Mail | None:
        return await statements.statement_mail(session, rt.storage, organization_id, row_id)

    await send_then_record(rt, TenantScope(organization_id=organization_id), statements.STATEMENT_MAIL_CONSUMER,
                           job_id, build)


@dramatiq.actor(actor_name=statements.STATEMENT_FAILED_ACTOR, max_retries=8, min_backoff=1_000,
                max_backoff=300_000, time_limit=60_000)
async def creator_statement_failed(message: dict[str, Any], retry_info: dict[str, Any]) -> None:
    """Sent by Dramatiq when ``write_creator_statement`` ran out of retries: the statement becomes FAILED."""
    kwargs = message.get("kwargs") or {}
    try:
        organization_id = uuid.UUID(kwargs["statement_organization_id"])
        statement_id = uuid.UUID(kwargs["statement_id"])
    except (KeyError, TypeError, ValueError):
        log.error("statement failure without its ids", extra={"message_id": message.get("message_id")})
        return
    error = str((message.get("options") or {}).get("traceback") or "the statement job failed")
    await statements.mark_failed(runtime().db, organization_id, statement_id, error.strip().splitlines()[-1])
    log.warning("creator statement failed", extra={"statement_id": str(statement_id),
                                                   "retries": retry_info.get("retries")})
