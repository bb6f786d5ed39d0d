"""Creator payouts: onboarding to a Stripe Connect (Express) account, ``account.updated`` webhooks and the payout
periods. The payout job itself is ``payout_jobs.py``. Services never commit.

Onboarding is three steps with no transaction open around the provider (``payout_mutations.py`` commits between
them): ``plan_onboarding`` checks the URLs and reads the person's account (one per person, for every organization
that pays them); ``onboard_at_provider`` creates the account when there is none (idempotency key from the person, so
parallel calls from any of their organizations get one account) and an onboarding link; ``record_onboarding`` stores the
account unless a parallel call stored one first (the row keyed by the person decides).
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.accounts import repository as accounts
from codex_graphql.authz import Viewer
from codex_graphql.commerce import service as commerce
from codex_graphql.earnings import payout_repository as repository
from codex_graphql.earnings.payout_models import CreatorPayoutAccount
from codex_graphql.errors import DomainError, ErrorCode
from codex_graphql.org_settings.models import PayoutSchedule
from codex_graphql.payments import AccountLink, ConnectedAccount, ConnectRefused, PaymentProvider
from codex_graphql.payments.objects import connected_account
from codex_graphql.settings import Settings

log = logging.getLogger(__name__)

ACCOUNT_UPDATED = "account.updated"
UNREADABLE = "platform.unreadable"  # disabled_reason of an account the provider no longer lets us read
MAX_URL_LENGTH = 2048


def period_start(schedule: PayoutSchedule, now: datetime) -> date:
    """The first day of the payout period ``now`` falls in (UTC): the week's Monday, or the month's 1st."""
    today = now.astimezone(UTC).date()
    if schedule is PayoutSchedule.WEEKLY:
        return today - timedelta(days=today.weekday())
    return today.replace(day=1)


def apply_state(account: CreatorPayoutAccount, state: ConnectedAccount) -> bool:
    """Copy the provider's state onto the row; True when something changed."""
    values: dict[str, Any] = {"details_submitted": state.details_submitted, "payouts_enabled": state.payouts_enabled,
                              "transfers_active": state.transfers_active, "requirements": list(state.requirements_due),
                              "disabled_reason": state.disabled_reason}
    changed = {name: value for name, value in values.items() if getattr(account, name) != value}
    for name, value in changed.items():
        setattr(account, name, value)
    return bool(changed)


# -- onboarding ----------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PlannedOnboarding:
    """What the provider calls need, read and checked in the request's first transaction."""

    user_id: uuid.UUID
    organization_id: uuid.UUID
    email: str | None
    return_url: str
    refresh_url: str
    existing_account_id: str | None  # the person's account, when they have one


def _check_url(url: str, settings: Settings, field: str) -> str:
    if len(url) > MAX_URL_LENGTH:
        raise DomainError(ErrorCode.INVALID_INPUT, f"URLs are at most {MAX_URL_LENGTH} characters.", field)
    return commerce.check_redirect(url, settings, field)


async def plan_onboarding(session: AsyncSession, settings: Settings, viewer: Viewer, organization_id: uuid.UUID | None,
                          return_url: str, refresh_url: str) -> PlannedOnboarding:
    """Check the input (the mutation's rule already checked that the viewer may create content in the
    organization) and read the person's account."""
    assert viewer.user_id is not None
    if organization_id is None or viewer.role_in(organization_id) is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No organization you create for has this id.", "organizationId")
    return_url = _check_url(return_url, settings, "returnUrl")
    refresh_url = _check_url(refresh_url, settings, "refreshUrl")
    user = await accounts.user_by_id(session, viewer.user_id)
    existing = await repository.account_of(session, viewer.user_id)
    return PlannedOnboarding(user_id=viewer.user_id, organization_id=organization_id, email=user.email if user else None,
                             return_url=return_url, refresh_url=refresh_url,
                             existing_account_id=existing.account_id if existing else None)


def account_key(user_id: uuid.UUID) -> str:
    """The account creation's idempotency key: one per person, so parallel onboardings from any of their
    organizations get one account (its parameters name only the person: Stripe refuses a key reused with
    other parameters)."""
    return f"creator-payout-account:{user_id}"


async def onboard_at_provider(provider: PaymentProvider, planned: PlannedOnboarding,
                              account_id: str | None = None) -> tuple[ConnectedAccount | None, AccountLink]:
    """With no transaction open: the account (created unless ``account_id`` or the person's own is given; None
    when it was not created here) and an onboarding link for it."""
    created: ConnectedAccount | None = None
    account_id = account_id or planned.existing_account_id
    try:
        if account_id is None:
            created = await provider.create_connected_account(
                email=planned.email, country=None,
                metadata={"user_id": str(planned.user_id)}, idempotency_key=account_key(planned.user_id))
            account_id = created.account_id
        link = await provider.create_account_link(account_id, return_url=planned.return_url,
                                                  refresh_url=planned.refresh_url)
    except Exception as exc:
        log.warning("payout onboarding failed at the provider", extra={"user_id": str(planned.user_id)}, exc_info=True)
        raise DomainError(ErrorCode.PAYMENT_PROVIDER_ERROR,
                          "The payment provider could not start the payout setup; try again.") from exc
    return created, link


async def record_onboarding(session: AsyncSession, provider_name: str, planned: PlannedOnboarding,
                            created: ConnectedAccount | None) -> CreatorPayoutAccount:
    """Store a created account unless the person has one already; the person's account."""
    if created is not None:
        await repository.add_account(session, planned.user_id, provider_name, created)
    account = await repository.account_of(session, planned.user_id)
    assert account is not None  # created here or before (the row is never deleted but with the person)
    if created is not None and account.account_id != created.account_id:
        log.info("a parallel onboarding stored another account first; this one stays unused",
                 extra={"user_id": str(planned.user_id), "unused_account": created.account_id})
    return account


# -- account.updated -----------------------------------------------------------------------------------------
async def current_state(provider: PaymentProvider, obj: dict[str, Any]) -> ConnectedAccount | None:
    """The account's state read from the provider now (no transaction open): a replayed or late event must
    not bring back an older state. None when the provider refuses (an account it no longer lets us read, e.g.
    one disconnected from the platform): the account is then recorded as unable to receive transfers. Network
    errors propagate (the event is handled later)."""
    account_id = obj.get("id")
    if not isinstance(account_id, str) or not account_id:
        return None
    try:
        return await provider.retrieve_connected_account(account_id)
    except ConnectRefused:
        log.info("the provider refused to read a connected account; using the event's copy",
                 extra={"account": account_id})
        return None


async def account_updated(session: AsyncSession, obj: dict[str, Any], fresh: ConnectedAccount | None) -> str:
    """Keep the person's account as the provider says it is (under the platform scope). An account no person
    here has is ignored (logged): it is not ours, or its record never committed."""
    if not isinstance(obj.get("id"), str):
        return "ignored"
    if fresh is not None and fresh.account_id == obj["id"]:
        state = fresh
    else:  # refused by the provider: never trust the event's (possibly old) copy to turn transfers on
        copy = connected_account(obj)
        state = dataclasses.replace(copy, payouts_enabled=False, transfers_active=False,
                                    disabled_reason=UNREADABLE)
    account = await repository.account_by_provider_id_for_update(session, state.account_id)
    if account is None:
        log.info("account.updated for an account no creator has; ignored", extra={"account": state.account_id})
        return "ignored"
    if apply_state(account, state):
        await session.flush()
    return "payout_account_updated"


__all__ = ["ACCOUNT_UPDATED", "PlannedOnboarding", "account_key", "account_updated", "apply_state", "current_state",
           "onboard_at_provider", "period_start", "plan_onboarding", "record_onboarding"]
