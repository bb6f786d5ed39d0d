"""Creators' monthly statements: a CSV of every earning entry of one creator in one organization and month,
written by a job to storage and sent as a signed link.

**Who**: a creator asks for their own statement (``creatorStatement``) in an organization where they are a
CREATOR, ADMIN or OWNER member, or where they ever earned as a creator (a former member keeps their statements).
An unknown organization is NOT_FOUND; an organization where the viewer is none of these is FORBIDDEN. The row is
written in that organization (``acting_in`` when it is not the active one).

**Which entries**: the creator's ledger rows (earnings/models.py ``EarningEntry``) *recorded* in the month, UTC
(``created_at``): sales, refunds and disputes as they happened, and subscription pool parts on the day their
period closed (a month's pool appears in the next month's statement).

**One row per creator, organization and month** (a unique key), reused by later requests:
- none yet: created PENDING and a job is requested through the outbox, in the request's transaction;
- PENDING: returned as it is (its job is on its way; no second job);
- READY and written after its month ended: final, returned as it is (entries are recorded, never changed, so a
  month that is over no longer changes);
- READY but written while its month was still running (the current month), or FAILED: written again (PENDING,
  a new job).

**The job** (``STATEMENT_ACTOR``, ids in, retried): streams the entries into a CSV file (``CSV_COLUMNS``, then a
``total`` line per currency), uploads it under ``statement_key`` with no transaction open, then marks the row
READY with its row count, claiming the job id in that transaction, so a repeated job writes one READY row (and at
worst uploads the same file again). Then it mails the creator a signed link (``MAIL_URL_TTL_SECONDS``). When the
last retry fails, the row becomes FAILED. The API signs a short-lived URL (``URL_TTL_SECONDS``) on every read, for
the creator and for the organization's staff with PURCHASES_READ.
"""

from __future__ import annotations

import csv
import re
import uuid
from contextlib import AsyncExitStack
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql import events
from codex_graphql.accounts import repository as accounts
from codex_graphql.authz import OrgRole, Viewer
from codex_graphql.db import Database, TenantScope, acting_in, scope_of, utcnow
from codex_graphql.earnings import statement_repository as repository
from codex_graphql.earnings.payout_models import CreatorStatement, StatementStatus
from codex_graphql.earnings.pool import month_start, next_month
from codex_graphql.errors import DomainError, ErrorCode, Forbidden
from codex_graphql.mail import Mail, templates
from codex_graphql.organizations import repository as organizations
from codex_graphql.storage import SignedRequest, Storage

STATEMENT_ACTOR = "write_creator_statement"
STATEMENT_FAILED_ACTOR = "creator_statement_failed"
STATEMENT_MAIL_CONSUMER = "creator_statement_mail"
URL_TTL_SECONDS = 900
MAIL_URL_TTL_SECONDS = 7 * 24 * 3600  # the longest an S3 signature lasts
CSV_COLUMNS = ["created_at", "kind", "content_id", "content_title", "purchase_id", "refund_id", "basis_cents",
               "amount_cents", "currency"]
CREATOR_ROLES = frozenset({OrgRole.CREATOR, OrgRole.ADMIN, OrgRole.OWNER})
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def parse_month(raw: str, today: date) -> date:
    """``YYYY-MM`` as its 1st; INVALID_INPUT when malformed or in the future (the current month is allowed)."""
    found = _MONTH.match(raw.strip())
    try:
        first = date(int(found.group(1)), int(found.group(2)), 1) if found else None
    except ValueError:
        first = None
    if first is None:
        raise DomainError(ErrorCode.INVALID_INPUT, "Give the month as YYYY-MM, e.g. 2026-11.", "month")
    if first > month_start(today):
        raise DomainError(ErrorCode.INVALID_INPUT, "This month has not started yet.", "month")
    return first


def _instant(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def is_final(row: CreatorStatement) -> bool:
    """READY and written after its month ended: its entries can no longer change."""
    return row.status is StatementStatus.READY and row.ready_at is not None \
        and row.ready_at >= _instant(next_month(row.month))


async def _may_request(session: AsyncSession, viewer: Viewer, organization_id: uuid.UUID) -> None:
    if await organizations.by_id(session, organization_id) is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No organization has this id.", "organizationId")
    if viewer.role_in(organization_id) in CREATOR_ROLES:
        return
    assert viewer.user_id is not None
    if not await repository.has_creator_rows(session, organization_id, viewer.user_id):
        raise Forbidden("Only the organization's creators (and its owners and admins) get statements from it.")


async def request_statement(session: AsyncSession, viewer: Viewer, organization_id: uuid.UUID | None,
                            month_raw: str) -> CreatorStatement:
    """The viewer's statement of ``organization_id`` for the month (module docstring: who, and when it is written
    again); the job that writes it is requested in the caller's transaction."""
    if organization_id is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No organization has this id.", "organizationId")
    month = parse_month(month_raw, utcnow().date())
    await _may_request(session, viewer, organization_id)
    organization = await organizations.by_id(session, organization_id)
    if organization is not None and month < month_start(organization.created_at.astimezone(UTC).date()):
        raise DomainError(ErrorCode.INVALID_INPUT, "The organization did not exist yet in this month.", "month")
    user_id = viewer.user_id
    assert user_id is not None
    async with AsyncExitStack() as stack:
        if scope_of(session).organization_id != organization_id:
            await stack.enter_async_context(acting_in(session, organization_id))
        created = await repository.insert_pending(session, organization_id, user_id, month)
        row = await repository.lock(session, organization_id, user_id, month)
        assert row is not None  # inserted now, or by an earlier request (the unique key)
        if created is None:
            if row.status is StatementStatus.PENDING or is_final(row):
                return row
            await repository.restart(session, row)
        events.enqueue(session, STATEMENT_ACTOR, organization_id=organization_id, statement_id=str(row.id),
                       statement_organization_id=str(organization_id))
        return row


def statement_key(row: CreatorStatement) -> str:
    return f"statements/{row.organization_id}/{row.user_id}/{row.month:%Y-%m}-{row.id}.csv"


def filename(row: CreatorStatement) -> str:
    return f"statement-{row.month:%Y-%m}.csv"


async def sign(storage: Storage, row: CreatorStatement, seconds: int = URL_TTL_SECONDS) -> SignedRequest | None:
    """A signed download of a READY statement's file; None before it is written."""
    if row.status is not StatementStatus.READY or not row.storage_key:
        return None
    return await storage.presign_get(row.storage_key, seconds, filename=filename(row), content_type="text/csv")


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        # Free text (an item's title): a spreadsheet would run it as a formula; the quote makes it text (OWASP).
        return "'" + value
    return str(getattr(value, "value", value))


async def write_csv(session: AsyncSession, path: Path, row: CreatorStatement) -> int:
    """The statement's CSV at ``path``, streamed row by row from the ledger; returns how many entries it lists."""
    start, end = _instant(row.month), _instant(next_month(row.month))
    totals: dict[str, int] = {}
    count = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        async for entry in repository.entries(session, row.organization_id, row.user_id, start, end):
            writer.writerow([_cell(value) for value in entry])
            totals[entry.currency] = totals.get(entry.currency, 0) + entry.amount_cents
            count += 1
        for currency, cents in sorted(totals.items()):
            writer.writerow(["total", "", "", "", "", "", "", str(cents), currency])
    return count


async def write_file(db: Database, storage: Storage, job_id: str, organization_id: uuid.UUID,
                     statement_id: uuid.UUID, folder: Path) -> CreatorStatement | None:
    """The job's first part (module docstring): the file, then READY. None when the statement is gone; the row
    as it is when this job already wrote it."""
    scope = TenantScope(organization_id=organization_id)
    async with db.transaction(scope) as session:
        written = await events.claimed(session, STATEMENT_ACTOR, job_id)
        row = await repository.for_job(session, organization_id, statement_id)
    if row is None or written:
        return row
    key = statement_key(row)
    path = folder / "statement.csv"
    async with db.transaction(scope) as session:
        count = await write_csv(session, path, row)
    await storage.upload_file(key, path, "text/csv")
    async with db.transaction(scope) as session:
        if await events.claim_once(session, STATEMENT_ACTOR, job_id):
            await repository.mark_ready(session, organization_id, statement_id, key, count)
        return await repository.for_job(session, organization_id, statement_id)


async def statement_mail(session: AsyncSession, storage: Storage, organization_id: uuid.UUID,
                         statement_id: uuid.UUID) -> Mail | None:
    """The mail telling the creator their READY statement is there (None otherwise)."""
    row = await repository.for_job(session, organization_id, statement_id)
    if row is None or row.status is not StatementStatus.READY:
        return None
    user = await accounts.user_by_id(session, row.user_id)
    organization = await organizations.by_id(session, organization_id)
    signed = await sign(storage, row, MAIL_URL_TTL_SECONDS)
    if user is None or organization is None or signed is None:
        return None
    return templates.creator_statement_ready(user.email, user.name, organization.name, f"{row.month:%Y-%m}",
                                             row.rows or 0, signed.url, MAIL_URL_TTL_SECONDS // 86400)


async def mark_failed(db: Database, organization_id: uuid.UUID, statement_id: uuid.UUID, error: str) -> bool:
    """After the job's last retry: FAILED (when still PENDING), so the creator can ask again."""
    async with db.transaction(TenantScope(organization_id=organization_id)) as session:
        return await repository.mark_failed(session, organization_id, statement_id, error)


__all__ = ["CSV_COLUMNS", "MAIL_URL_TTL_SECONDS", "STATEMENT_ACTOR", "STATEMENT_FAILED_ACTOR",
           "STATEMENT_MAIL_CONSUMER", "URL_TTL_SECONDS", "filename", "is_final", "mark_failed", "parse_month",
           "request_statement", "sign", "statement_key", "statement_mail", "write_csv", "write_file"]
