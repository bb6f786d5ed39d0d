"""Subscription tier rules with the database: create, change, publish and archive tiers; the provider (Stripe)
work each change leaves, done outside any transaction and recorded after. Services never commit.

The provider steps follow the house rule "reserve and commit, call with an idempotency key, record in a
second short transaction" (commerce's ``startCheckout``): the mutation (``mutations.py``) writes the tier and
its price rows, commits, calls ``call_provider(pending_work(...))`` with no transaction open and records the
ids with ``record``. Idempotency keys follow from the row ids (``codex-tier-product:<tier id>``,
``codex-tier-price:<price id>``), so a retry after a crash or a provider failure reuses the same provider
objects. Whatever is left undone (a null provider id, a deactivated price not yet archived at the provider)
is ``pending_work`` that the next change of the tier (or a retried create with the same idempotency key, or
archive) completes.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from codex_graphql import audit
from codex_graphql.authz import Permission, Viewer
from codex_graphql.categories import repository as categories
from codex_graphql.credits.models import CreditPolicy
from codex_graphql.db import utcnow
from codex_graphql.errors import DomainError, ErrorCode
from codex_graphql.payments import PaymentProvider
from codex_graphql.savepoints import add_unique
from codex_graphql.subscriptions import repository, rules
from codex_graphql.subscriptions.models import (
    BillingInterval,
    SubscriptionTier,
    SubscriptionTierPrice,
    SubscriptionTierStatus,
)

log = logging.getLogger("codex_graphql.subscriptions")


class _Keep:
    """Leave the value as it is (an omitted update field)."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP: Any = _Keep()


@dataclass(frozen=True, slots=True)
class TierChanges:
    """What to set. On creation every field is used (KEEP means the default); on update KEEP leaves a value
    as it is. ``monthly_price_cents`` / ``annual_price_cents``: None removes the interval's price."""

    name: Any = KEEP
    description: Any = KEEP
    monthly_price_cents: Any = KEEP
    annual_price_cents: Any = KEEP
    currency: Any = KEEP
    trial_days: Any = KEEP
    category_ids: Any = KEEP  # list of uuid.UUID | None (None: an id that did not decode)
    all_content: Any = KEEP
    offering_access: Any = KEEP
    monthly_credits: Any = KEEP
    credit_policy: Any = KEEP
    credit_rollover_cap: Any = KEEP
    published: Any = KEEP
    position: Any = KEEP


def _given(value: Any, current: Any) -> Any:
    return current if value is KEEP else value


def _active(viewer: Viewer) -> uuid.UUID:
    organization_id = viewer.active_organization_id
    assert organization_id is not None  # the mutations' guard (HasOrgPermission) needs one
    return organization_id


def sees_every_tier(viewer: Viewer, organization_id: uuid.UUID) -> bool:
    """Staff with SUBSCRIPTIONS_MANAGE see every tier (drafts, archived); everyone else the ones on sale."""
    return viewer.can(Permission.SUBSCRIPTIONS_MANAGE, organization_id)


def on_sale(tier: SubscriptionTier, prices: Sequence[SubscriptionTierPrice]) -> bool:
    """PUBLISHED with its provider product and at least one active price, every active price at the provider
    (``repository.billing_ready_clause`` in Python, for rows already loaded)."""
    return tier.status is SubscriptionTierStatus.PUBLISHED and billing_ready(tier, prices)


def billing_ready(tier: SubscriptionTier, prices: Sequence[SubscriptionTierPrice]) -> bool:
    active = [price for price in prices if price.active]
    return tier.stripe_product_id is not None and bool(active) and all(p.stripe_price_id for p in active)


async def _check_categories(session: Any, organization_id: uuid.UUID, ids: Sequence[uuid.UUID | None]) -> list[uuid.UUID]:
    wanted = list(dict.fromkeys(ids))
    known = await categories.ids_in_organization(
        session, organization_id, [i for i in wanted if i is not None]) if wanted else set()
    if any(category_id is None or category_id not in known for category_id in wanted):
        raise DomainError(ErrorCode.NOT_FOUND, "No category of this organization has one of these ids.", "categoryIds")
    return [i for i in wanted if i is not None]


async def snapshot(session: Any, tier: SubscriptionTier) -> dict[str, Any]:
    """The tier's settings as the audit log records them."""
    prices = (await repository.prices_of(session, tier.organization_id, [tier.id]))[tier.id]
    active = {price.interval: price.amount_cents for price in prices if price.active}
    return {
        "name": tier.name, "description": tier.description, "status": tier.status.value, "trialDays": tier.trial_days,
        "allContent": tier.all_content, "offeringAccess": tier.offering_access,
        "monthlyCredits": tier.monthly_credits, "creditPolicy": tier.credit_policy.value,
        "creditRolloverCap": tier.credit_rollover_cap, "position": tier.position, "currency": tier.currency,
        "monthlyPriceCents": active.get(BillingInterval.MONTH), "annualPriceCents": active.get(BillingInterval.YEAR),
        "categoryIds": [str(i) for i in await repository.category_ids_of(session, tier.organization_id, tier.id)],
    }


async def create(session: Any, viewer: Viewer, changes: TierChanges, key: str | None) -> tuple[SubscriptionTier, bool]:
    """A new tier of the active organization with its prices and categories (audited), or, for an
    idempotency key used before, the tier that call made (``True`` as the second value) and nothing else."""
    organization_id = _active(viewer)
    if key is not None:
        existing = await repository.by_creation_key(session, organization_id, rules.check_key(key))
        if existing is not None:
            return existing, True
    name = rules.check_name(_given(changes.name, ""))
    description = rules.check_description(_given(changes.description, ""))
    monthly = rules.check_price(_given(changes.monthly_price_cents, None), "monthlyPriceCents")
    annual = rules.check_price(_given(changes.annual_price_cents, None), "annualPriceCents")
    rules.check_prices(monthly, annual)
    currency = rules.check_currency(_given(changes.currency, None) or "USD")
    trial_days = rules.check_trial_days(_given(changes.trial_days, 0))
    monthly_credits = rules.check_monthly_credits(_given(changes.monthly_credits, 0))
    policy = _given(changes.credit_policy, CreditPolicy.EXPIRE_MONTHLY)
    cap = rules.check_credit_policy(policy, _given(changes.credit_rollover_cap, None))
    position = rules.check_position(_given(changes.position, 0))
    all_content = bool(_given(changes.all_content, False))
    category_ids = list(_given(changes.category_ids, []) or [])
    rules.check_grant(all_content, len(set(category_ids)))
    category_ids = await _check_categories(session, organization_id, category_ids)
    if await repository.count_unarchived(session, organization_id) >= rules.MAX_TIERS:
        raise DomainError(ErrorCode.NOT_ALLOWED, f"An organization has at most {rules.MAX_TIERS} tiers that are not "
                          "archived: archive one first.")
    published = bool(_given(changes.published, False))
    now = utcnow()
    tier = SubscriptionTier(
        id=uuid.uuid4(), organization_id=organization_id, name=name, description=description,
        status=SubscriptionTierStatus.PUBLISHED if published else SubscriptionTierStatus.DRAFT, trial_days=trial_days,
        all_content=all_content, offering_access=bool(_given(changes.offering_access, False)),
        monthly_credits=monthly_credits, credit_policy=policy, credit_rollover_cap=cap, currency=currency,
        position=position, creation_key=key, published_at=now if published else None,
    )
    await add_unique(session, tier, DomainError(  # a concurrent call with the same key committed first
        ErrorCode.CONFLICT, "A request with this idempotency key is running: retry it.", "idempotencyKey"))
    for interval, amount in ((BillingInterval.MONTH, monthly), (BillingInterval.YEAR, annual)):
        if amount is not None:
            await repository.add(session, SubscriptionTierPrice(
                organization_id=organization_id, tier_id=tier.id, interval=interval, amount_cents=amount,
                currency=currency))
    await repository.replace_categories(session, organization_id, tier.id, category_ids)
    await audit.record(session, audit.AuditAction.SUBSCRIPTION_TIER_CREATED, organization_id=organization_id,
                       target_type="SubscriptionTier", target_id=tier.id, after=await snapshot(session, tier))
    return tier, False


async def managed(session: Any, viewer: Viewer, tier_id: uuid.UUID | None) -> SubscriptionTier:
    """Lock one of the active organization's tiers; NOT_FOUND for any other id."""
    organization_id = _active(viewer)
    tier = await repository.for_update(session, organization_id, tier_id) if tier_id else None
    if tier is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No subscription tier has this id in your organization.", "tierId")
    return tier


async def edit(session: Any, tier: SubscriptionTier, changes: TierChanges) -> SubscriptionTier:
    """Change a tier that is not archived (audited: the changed values). A new amount for an interval
    deactivates its price row (kept for its subscribers) and adds a new one; null removes the interval
    (at least one stays). Publishing and unpublishing (back to DRAFT) go through ``published``."""
    if tier.status is SubscriptionTierStatus.ARCHIVED:
        raise DomainError(ErrorCode.INVALID_STATE, "This tier is archived and can no longer be changed.", "tierId")
    if changes.currency is not KEEP:
        raise DomainError(ErrorCode.INVALID_INPUT, "A tier's currency is set when it is created.", "currency")
    before = await snapshot(session, tier)
    name = rules.check_name(changes.name) if changes.name is not KEEP else tier.name
    description = rules.check_description(changes.description) if changes.description is not KEEP else tier.description
    prices = [p for p in (await repository.prices_of(session, tier.organization_id, [tier.id]))[tier.id] if p.active]
    current = {price.interval: price for price in prices}
    amounts = {interval: (current[interval].amount_cents if interval in current else None) for interval in BillingInterval}
    for interval, value, field_name in ((BillingInterval.MONTH, changes.monthly_price_cents, "monthlyPriceCents"),
                                        (BillingInterval.YEAR, changes.annual_price_cents, "annualPriceCents")):
        if value is not KEEP:
            amounts[interval] = rules.check_price(value, field_name)
    rules.check_prices(amounts[BillingInterval.MONTH], amounts[BillingInterval.YEAR])
    trial_days = rules.check_trial_days(changes.trial_days) if changes.trial_days is not KEEP else tier.trial_days
    monthly_credits = (rules.check_monthly_credits(changes.monthly_credits) if changes.monthly_credits is not KEEP
                       else tier.monthly_credits)
    policy = _given(changes.credit_policy, tier.credit_policy)
    cap = changes.credit_rollover_cap
    if cap is KEEP:  # the cap goes with ROLLOVER: kept while the policy stays, dropped when it changes
        cap = tier.credit_rollover_cap if policy is CreditPolicy.ROLLOVER else None
    cap = rules.check_credit_policy(policy, cap)
    position = rules.check_position(changes.position) if changes.position is not KEEP else tier.position
    all_content = bool(_given(changes.all_content, tier.all_content))
    if changes.category_ids is not KEEP:
        category_ids = list(changes.category_ids or [])
        rules.check_grant(all_content, len(set(category_ids)))
        category_ids = await _check_categories(session, tier.organization_id, category_ids)
    else:
        category_ids = [uuid.UUID(i) for i in before["categoryIds"]]
        rules.check_grant(all_content, len(category_ids))

    now = utcnow()
    for interval, amount in amounts.items():
        old = current.get(interval)
        if old is not None and old.amount_cents == amount:
            continue
        if old is not None:
            await repository.deactivate_price(session, old, now)
        if amount is not None:
            await repository.add(session, SubscriptionTierPrice(
                organization_id=tier.organization_id, tier_id=tier.id, interval=interval, amount_cents=amount,
                currency=tier.currency))
    if changes.category_ids is not KEEP:
        await repository.replace_categories(session, tier.organization_id, tier.id, category_ids)
    tier.name, tier.description, tier.trial_days = name, description, trial_days
    tier.monthly_credits, tier.credit_policy, tier.credit_rollover_cap = monthly_credits, policy, cap
    tier.position, tier.all_content = position, all_content
    tier.offering_access = bool(_given(changes.offering_access, tier.offering_access))
    if changes.published is not KEEP:
        status = SubscriptionTierStatus.PUBLISHED if changes.published else SubscriptionTierStatus.DRAFT
        if status is SubscriptionTierStatus.PUBLISHED and tier.status is not SubscriptionTierStatus.PUBLISHED:
            tier.published_at = now
        tier.status = status
    after = await snapshot(session, tier)
    if after != before:
        tier.updated_at = now
        await session.flush()
        old_values, new_values = audit.changed(before, after)
        await audit.record(session, audit.AuditAction.SUBSCRIPTION_TIER_CHANGED, organization_id=tier.organization_id,
                           target_type="SubscriptionTier", target_id=tier.id, before=old_values, after=new_values)
    return tier


async def archive(session: Any, tier: SubscriptionTier) -> SubscriptionTier:
    """No new subscribers: ARCHIVED (final) and every price deactivated (rows kept: existing subscribers keep
    what they pay). Archiving an archived tier changes nothing (a retry finishes the provider work)."""
    if tier.status is SubscriptionTierStatus.ARCHIVED:
        return tier
    now = utcnow()
    before = tier.status.value
    for price in (await repository.prices_of(session, tier.organization_id, [tier.id]))[tier.id]:
        if price.active:
            await repository.deactivate_price(session, price, now)
    tier.status, tier.archived_at, tier.updated_at = SubscriptionTierStatus.ARCHIVED, now, now
    await session.flush()
    await audit.record(session, audit.AuditAction.SUBSCRIPTION_TIER_ARCHIVED, organization_id=tier.organization_id,
                       target_type="SubscriptionTier", target_id=tier.id, before={"status": before},
                       after={"status": SubscriptionTierStatus.ARCHIVED.value})
    return tier


# -- the provider's side -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PriceToCreate:
    price_id: uuid.UUID
    interval: BillingInterval
    amount_cents: int
    currency: str


@dataclass(frozen=True, slots=True)
class ProviderWork:
    """What the provider still has to do for one tier, read in a transaction, done with none open."""

    organization_id: uuid.UUID
    tier_id: uuid.UUID
    name: str
    description: str
    product_id: str | None  # None: create it
    create_prices: tuple[PriceToCreate, ...]
    archive_prices: tuple[tuple[uuid.UUID, str], ...]  # (row id, provider price id)
    archive_product: bool


@dataclass(slots=True)
class ProviderOutcome:
    """What the provider did (recorded by ``record``), and the failure that stopped it, if any."""

    work: ProviderWork
    product_id: str | None = None
    price_ids: dict[uuid.UUID, str] = field(default_factory=dict)
    archived_prices: list[uuid.UUID] = field(default_factory=list)
    archived_product: bool = False
    error: str | None = None


def product_key(tier_id: uuid.UUID) -> str:
    return f"codex-tier-product:{tier_id}"


def price_key(price_id: uuid.UUID) -> str:
    return f"codex-tier-price:{price_id}"


async def pending_work(session: Any, organization_id: uuid.UUID, tier_id: uuid.UUID) -> ProviderWork | None:
    """The provider work the tier's rows still call for (None: nothing). Deactivated prices that never reached
    the provider need nothing: nobody can have subscribed to them."""
    tier = await repository.in_organization_by_id(session, organization_id, tier_id)
    if tier is None:
        return None
    prices = (await repository.prices_of(session, organization_id, [tier_id]))[tier_id]
    create = tuple(PriceToCreate(p.id, p.interval, p.amount_cents, p.currency)
                   for p in reversed(prices) if p.active and p.stripe_price_id is None)
    archive_prices = tuple((p.id, p.stripe_price_id) for p in prices
                           if not p.active and p.stripe_price_id is not None and p.provider_archived_at is None)
    archive_product = (tier.status is SubscriptionTierStatus.ARCHIVED and tier.stripe_product_id is not None
                       and tier.provider_archived_at is None)
    if tier.stripe_product_id is not None and not create and not archive_prices and not archive_product:
        return None
    if tier.stripe_product_id is None and tier.status is SubscriptionTierStatus.ARCHIVED:
        return None  # archived before it ever reached the provider: nothing to sell, nothing to make
    return ProviderWork(organization_id=organization_id, tier_id=tier_id, name=tier.name,
                        description=tier.description, product_id=tier.stripe_product_id, create_prices=create,
                        archive_prices=archive_prices, archive_product=archive_product)


async def call_provider(provider: PaymentProvider, work: ProviderWork) -> ProviderOutcome:
    """Do ``work`` at the provider (no database: call with no transaction open). Never raises: a failure
    stops the work and is in ``error``; what was done before it is in the outcome, to be recorded."""
    outcome = ProviderOutcome(work=work)
    metadata = {"organization_id": str(work.organization_id), "tier_id": str(work.tier_id)}
    try:
        product_id = work.product_id
        if product_id is None:
            product_id = await provider.create_product(work.name, work.description or None, metadata,
                                                       product_key(work.tier_id))
            outcome.product_id = product_id
        for price in work.create_prices:
            outcome.price_ids[price.price_id] = await provider.create_price(
                product_id, price.amount_cents, price.currency.lower(), "month" if price.interval is
                BillingInterval.MONTH else "year", price_key(price.price_id), {**metadata, "price_id": str(price.price_id)})
        for row_id, provider_price in work.archive_prices:
            await provider.archive_price(provider_price)
            outcome.archived_prices.append(row_id)
        if work.archive_product:
            await provider.archive_product(product_id)
            outcome.archived_product = True
    except Exception as error:  # noqa: BLE001 (network or refusal: recorded, reported, retried later)
        log.warning("subscription tier %s: provider call failed: %s", work.tier_id, error)
        outcome.error = str(error) or error.__class__.__name__
    return outcome


async def record(session: Any, outcome: ProviderOutcome) -> None:
    """Write what the provider did (each id once: a recorded id is never replaced)."""
    work, now = outcome.work, utcnow()
    if outcome.product_id is not None:
        await repository.set_product_id(session, work.organization_id, work.tier_id, outcome.product_id)
    for price_id, provider_id in outcome.price_ids.items():
        await repository.set_price_id(session, work.organization_id, price_id, provider_id)
    for price_id in outcome.archived_prices:
        await repository.mark_price_archived_at_provider(session, work.organization_id, price_id, now)
    if outcome.archived_product:
        await repository.mark_product_archived_at_provider(session, work.organization_id, work.tier_id, now)


def provider_failed(outcome: ProviderOutcome, field: str | None) -> DomainError:
    """The payload error for a provider failure; what the provider did before it is recorded all the same."""
    error = DomainError(ErrorCode.PAYMENT_PROVIDER_ERROR, "The tier is saved, but the payment provider could not be "
                        "updated; it is not on sale until it is. Retry the same mutation (a create with the same "
                        "idempotency key): the provider work is completed, never done twice.", field)

    async def keep(session: Any) -> None:
        await record(session, outcome)

    error.after_rollback = (keep,)
    return error
