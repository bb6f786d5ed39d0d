"""SQL of creator payouts: connected accounts (``creator_payout_account``), the payout job's reservations and
records (``payout``), the balances they are taken from (``creator_earning_summary``) and the payout lists.

A creator's balance in an organization and currency is one summary row:
``earned - refunded + pool - pending_payout - paid_out`` (the last two kept by the trigger on ``payout``), so
a refund after a payout leaves it negative until new earnings cover it.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.authz import in_organization
from codex_graphql.earnings.models import CreatorEarningSummary
from codex_graphql.earnings.payout_models import CreatorPayoutAccount, Payout, PayoutStatus
from codex_graphql.organizations.models import Organization
from codex_graphql.pagination import keyset_page
from codex_graphql.payments import ConnectedAccount
from codex_graphql.relay import Page

# The balance of summary row ``s``: (s.earned_cents - s.refunded_cents + s.pool_cents - s.pending_payout_cents -
# s.paid_out_cents). What a payout may take is that balance less the creator's earnings still held: positive ledger
# rows recorded after ``:held_since`` (the organization's ``payoutHoldDays`` before the run), so refunds and
# disputes of recent sales (negative rows, counted at once) come out of the balance before it is paid.


# -- connected accounts ------------------------------------------------------------------------------------
async def account_of(session: AsyncSession, user_id: uuid.UUID) -> CreatorPayoutAccount | None:
    """A person's connected account (RLS: its owner, or the platform scope)."""
    return await session.scalar(select(CreatorPayoutAccount).where(CreatorPayoutAccount.user_id == user_id))


async def add_account(session: AsyncSession, user_id: uuid.UUID, provider: str, state: ConnectedAccount) -> None:
    """Record the person's account unless they have one already (the row keyed by the person decides which
    account is theirs when two onboarding calls race)."""
    await session.execute(text(
        "INSERT INTO creator_payout_account (user_id, provider, account_id, details_submitted, payouts_enabled, "
        "transfers_active, requirements, disabled_reason) VALUES (:user_id, :provider, :account_id, :details, "
        ":payouts, :transfers, cast(:requirements AS jsonb), :disabled) ON CONFLICT (user_id) DO NOTHING"
    ).bindparams(user_id=user_id, provider=provider, account_id=state.account_id, details=state.details_submitted,
                 payouts=state.payouts_enabled, transfers=state.transfers_active,
                 requirements=_json_list(state.requirements_due), disabled=state.disabled_reason))


async def account_by_provider_id_for_update(session: AsyncSession, account_id: str) -> CreatorPayoutAccount | None:
    """The account with the provider's id, locked (webhooks, under the platform scope)."""
    return await session.scalar(select(CreatorPayoutAccount).where(CreatorPayoutAccount.account_id == account_id)
                                .with_for_update())


def _json_list(values: tuple[str, ...]) -> str:
    return orjson.dumps(list(values)).decode()


# -- the payout job ----------------------------------------------------------------------------------------
async def organizations_to_pay(session: AsyncSession, slug: str | None) -> list[tuple[uuid.UUID, dict[str, Any] | None]]:
    """Every organization (or the one with ``slug``) and its settings document (the organization table is
    readable by everyone)."""
    statement = select(Organization.id, Organization.settings).order_by(Organization.id)
    if slug is not None:
        statement = statement.where(Organization.slug == slug.strip().lower())
    return [(row[0], row[1]) for row in (await session.execute(statement)).all()]


async def lock_payout_run(session: AsyncSession, organization_id: uuid.UUID) -> None:
    """Serialize the reservations of concurrent payout runs in one organization (until the transaction ends):
    the second run reads what the first reserved."""
    await session.execute(text("select pg_advisory_xact_lock(hashtextextended(:k, 0))")
                          .bindparams(k=f"payouts:{organization_id}"))


async def pending_payouts(session: AsyncSession, organization_id: uuid.UUID) -> list[Payout]:
    """Reserved payouts whose transfer was not recorded (a run in progress, or one that crashed)."""
    return list((await session.scalars(in_organization(
        select(Payout).where(Payout.status == PayoutStatus.PENDING), Payout, organization_id
    ).order_by(Payout.created_at, Payout.id))).all())


# What summary row ``s``'s creator may be paid now (a constant SQL expression, formatted into the statements).
_PAYABLE = ("(s.earned_cents - s.refunded_cents + s.pool_cents - s.pending_payout_cents - s.paid_out_cents"
            " - (SELECT coalesce(sum(e.amount_cents), 0) FROM earning_entry e WHERE e.user_id = s.user_id"
            " AND e.organization_id = s.organization_id AND e.currency = s.currency AND e.party = 'CREATOR'"
            " AND e.amount_cents > 0 AND e.created_at > :held_since))")

_RETRY = f"""
UPDATE payout p SET status = 'PENDING', attempt = p.attempt + 1, amount_cents = {_PAYABLE},
       account_id = a.account_id, failure_code = NULL, failure_reason = NULL, updated_at = now()
FROM creator_earning_summary s, creator_payout_account a
WHERE p.organization_id = :organization_id AND p.period_start = :period_start AND p.status = 'FAILED'
  AND s.organization_id = p.organization_id AND s.user_id = p.user_id AND s.currency = p.currency
  AND a.user_id = p.user_id AND a.provider = :provider AND a.transfers_active
  AND {_PAYABLE} >= :minimum
RETURNING p.*"""  # noqa: S608

_RESERVE = f"""
INSERT INTO payout (id, organization_id, user_id, currency, amount_cents, status, period_start, attempt, account_id)
SELECT gen_random_uuid(), s.organization_id, s.user_id, s.currency, {_PAYABLE}, 'PENDING', :period_start, 1,
       a.account_id
FROM creator_earning_summary s
JOIN creator_payout_account a ON a.user_id = s.user_id AND a.provider = :provider AND a.transfers_active
WHERE s.organization_id = :organization_id AND {_PAYABLE} >= :minimum
ORDER BY s.user_id, s.currency
ON CONFLICT (organization_id, user_id, currency, period_start) DO NOTHING
RETURNING *"""  # noqa: S608

_WAITING = f"""
SELECT s.user_id, s.currency, {_PAYABLE} AS balance, a.account_id IS NOT NULL AS has_account
FROM creator_earning_summary s
LEFT JOIN creator_payout_account a ON a.user_id = s.user_id AND a.provider = :provider
WHERE s.organization_id = :organization_id AND {_PAYABLE} >= :minimum AND NOT coalesce(a.transfers_active, false)
  AND NOT EXISTS (SELECT 1 FROM payout p WHERE p.organization_id = s.organization_id AND p.user_id = s.user_id
                  AND p.currency = s.currency AND p.period_start = :period_start)"""  # noqa: S608


def _job_params(organization_id: uuid.UUID, period_start: date, minimum: int, provider: str,
                held_since: datetime) -> dict[str, Any]:
    # A payout moves at least one cent (the table refuses 0), whatever the minimum.
    return {"organization_id": organization_id, "period_start": period_start, "minimum": max(1, minimum),
            "provider": provider, "held_since": held_since}


async def retry_failed(session: AsyncSession, organization_id: uuid.UUID, period_start: date, minimum: int,
                       provider: str, held_since: datetime) -> list[Payout]:
    """The period's FAILED payouts back to PENDING with the next attempt (a new idempotency key) and the
    current balance, where the account can now receive transfers and the balance still reaches the minimum."""
    statement = select(Payout).from_statement(
        text(_RETRY).bindparams(**_job_params(organization_id, period_start, minimum, provider, held_since)))
    return list((await session.execute(statement, execution_options={"populate_existing": True})).scalars().all())


async def reserve(session: AsyncSession, organization_id: uuid.UUID, period_start: date, minimum: int,
                  provider: str, held_since: datetime) -> list[Payout]:
    """A PENDING payout of the payable balance (its earnings held no longer) for every creator and currency of the organization whose balance
    reaches the minimum, whose account can receive transfers and who has no payout in this period yet."""
    statement = select(Payout).from_statement(
        text(_RESERVE).bindparams(**_job_params(organization_id, period_start, minimum, provider, held_since)))
    return list((await session.execute(statement)).scalars().all())


async def waiting_without_transfers(session: AsyncSession, organization_id: uuid.UUID, period_start: date,
                                    minimum: int, provider: str, held_since: datetime) -> list[Any]:
    """Creators with a balance worth paying this period whose account cannot receive transfers (or who have
    none): they are skipped and their balance stays (for the job's log)."""
    return list((await session.execute(text(_WAITING).bindparams(
        **_job_params(organization_id, period_start, minimum, provider, held_since)))).all())


async def record_outcome(session: AsyncSession, organization_id: uuid.UUID, payout_id: uuid.UUID, attempt: int, *,
                         transfer_id: str | None = None, paid_at: datetime | None = None,
                         failure_code: str | None = None, failure_reason: str | None = None) -> bool:
    """PAID (``transfer_id``, ``paid_at``) or FAILED (``failure_code``, ``failure_reason``) for the PENDING payout
    at ``attempt``; False when another run recorded it first."""
    status = "PAID" if transfer_id is not None else "FAILED"
    result = await session.execute(text(
        "UPDATE payout SET status = :status, transfer_id = :transfer_id, paid_at = :paid_at, "
        "failure_code = :failure_code, failure_reason = :failure_reason, updated_at = now() "
        "WHERE organization_id = :organization_id AND id = :id AND attempt = :attempt AND status = 'PENDING'"
    ).bindparams(status=status, transfer_id=transfer_id, paid_at=paid_at, failure_code=failure_code,
                 failure_reason=failure_reason, organization_id=organization_id, id=payout_id, attempt=attempt))
    return bool(getattr(result, "rowcount", 0))


# -- reading -----------------------------------------------------------------------------------------------
async def payout_by_id(session: AsyncSession, payout_id: uuid.UUID) -> Payout | None:
    """One payout (RLS: its organization's staff scope or its creator)."""
    return await session.get(Payout, payout_id)


async def user_payouts_page(session: AsyncSession, user_id: uuid.UUID, first: int, after: str | None) -> Page[Payout]:
    """A person's payouts in every organization, newest first."""
    return await keyset_page(session, select(Payout).where(Payout.user_id == user_id), created_col=Payout.created_at,
                             id_col=Payout.id, first=first, after=after)


async def user_payouts_count(session: AsyncSession, user_id: uuid.UUID) -> int:
    return int(await session.scalar(select(func.count()).select_from(Payout).where(Payout.user_id == user_id)) or 0)


async def organization_payouts_page(session: AsyncSession, organization_id: uuid.UUID, first: int,
                                    after: str | None) -> Page[Payout]:
    """The organization's payouts to every creator, newest first."""
    return await keyset_page(session, in_organization(select(Payout), Payout, organization_id),
                             created_col=Payout.created_at, id_col=Payout.id, first=first, after=after)


async def organization_payouts_count(session: AsyncSession, organization_id: uuid.UUID) -> int:
    return int(await session.scalar(in_organization(select(func.count()).select_from(Payout), Payout,
                                                    organization_id)) or 0)


async def user_balances(session: AsyncSession, user_id: uuid.UUID) -> list[CreatorEarningSummary]:
    """A person's summary rows in every organization (one per organization and currency)."""
    return list((await session.scalars(select(CreatorEarningSummary).where(CreatorEarningSummary.user_id == user_id)
                                       .order_by(CreatorEarningSummary.organization_id,
                                                 CreatorEarningSummary.currency))).all())


__all__ = [
    "account_by_provider_id_for_update", "account_of", "add_account", "lock_payout_run", "organization_payouts_count",
    "organization_payouts_page", "organizations_to_pay", "payout_by_id", "pending_payouts", "record_outcome",
    "reserve", "retry_failed", "user_balances", "user_payouts_count", "user_payouts_page",
    "waiting_without_transfers",
]
