"""SQL for subscription tiers, their category links and their prices. Statements on the three tenant tables
are scoped with ``in_organization``; ``by_id`` and the batch reads by tier id rely on row-level security
(migration 0023: the active organization's rows, and PUBLISHED tiers with their links and prices for
everyone) and the caller's visibility rule (``service.sees_every_tier``)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.authz import in_organization
from codex_graphql.categories.models import Category
from codex_graphql.subscriptions.models import (
    Subscription,
    SubscriptionTier,
    SubscriptionTierCategory,
    SubscriptionTierPrice,
    SubscriptionTierStatus,
)

ORDER = (SubscriptionTier.position, SubscriptionTier.name, SubscriptionTier.id)
CATEGORY_ORDER = (Category.position, Category.name, Category.id)


def billing_ready_clause() -> object:
    """The tier has its provider product, at least one active price, and every active price has its provider
    price: what a checkout needs (``service`` completes the rest after a crash or a provider failure)."""
    active = (SubscriptionTierPrice.tier_id == SubscriptionTier.id) & SubscriptionTierPrice.active
    return (SubscriptionTier.stripe_product_id.is_not(None)
            & exists(select(SubscriptionTierPrice.id).where(active))
            & ~exists(select(SubscriptionTierPrice.id).where(active & SubscriptionTierPrice.stripe_price_id.is_(None))))


async def of_organization(session: AsyncSession, organization_id: uuid.UUID, *, staff: bool) -> list[SubscriptionTier]:
    """The organization's tiers by position, then name: all of them for staff (drafts and archived included);
    for everyone else the PUBLISHED tiers that are ready to sell (``billing_ready_clause``)."""
    statement = in_organization(select(SubscriptionTier), SubscriptionTier, organization_id)
    if not staff:
        statement = statement.where(SubscriptionTier.status == SubscriptionTierStatus.PUBLISHED, billing_ready_clause())
    return list((await session.scalars(statement.order_by(*ORDER))).all())


async def with_pending_work(session: AsyncSession, changed_before: datetime, limit: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(organization id, tier id) of tiers, unchanged since ``changed_before``, whose provider work is not done
    (``service.pending_work`` decides what exactly). Platform scope only: the reconciliation job's work list."""
    price = SubscriptionTierPrice
    pending_price = exists(select(price.id).where(
        price.tier_id == SubscriptionTier.id,
        (price.active & price.stripe_price_id.is_(None))
        | (~price.active & price.stripe_price_id.is_not(None) & price.provider_archived_at.is_(None))))
    archived = SubscriptionTier.status == SubscriptionTierStatus.ARCHIVED
    statement = (select(SubscriptionTier.organization_id, SubscriptionTier.id).where(
        SubscriptionTier.updated_at <= changed_before,
        (~archived & SubscriptionTier.stripe_product_id.is_(None))
        | (archived & SubscriptionTier.stripe_product_id.is_not(None) & SubscriptionTier.provider_archived_at.is_(None))
        | (SubscriptionTier.stripe_product_id.is_not(None) & pending_price))
        .order_by(SubscriptionTier.updated_at, SubscriptionTier.id).limit(limit))
    return [(row[0], row[1]) for row in (await session.execute(statement)).all()]


async def count_unarchived(session: AsyncSession, organization_id: uuid.UUID) -> int:
    statement = in_organization(select(func.count()).select_from(SubscriptionTier), SubscriptionTier, organization_id)
    return int(await session.scalar(statement.where(SubscriptionTier.status != SubscriptionTierStatus.ARCHIVED)) or 0)


async def for_update(session: AsyncSession, organization_id: uuid.UUID, tier_id: uuid.UUID) -> SubscriptionTier | None:
    statement = in_organization(select(SubscriptionTier), SubscriptionTier, organization_id)
    return await session.scalar(statement.where(SubscriptionTier.id == tier_id).with_for_update())


async def by_creation_key(session: AsyncSession, organization_id: uuid.UUID, key: str) -> SubscriptionTier | None:
    statement = in_organization(select(SubscriptionTier), SubscriptionTier, organization_id)
    return await session.scalar(statement.where(SubscriptionTier.creation_key == key))


async def by_id(session: AsyncSession, tier_id: uuid.UUID) -> SubscriptionTier | None:
    """A tier row-level security lets this transaction see (the active organization's, or a PUBLISHED one);
    the caller applies the visibility rule."""
    return await session.scalar(select(SubscriptionTier).where(SubscriptionTier.id == tier_id))


async def in_organization_by_id(session: AsyncSession, organization_id: uuid.UUID,
                                tier_id: uuid.UUID) -> SubscriptionTier | None:
    statement = in_organization(select(SubscriptionTier), SubscriptionTier, organization_id)
    return await session.scalar(statement.where(SubscriptionTier.id == tier_id))


async def prices_of(session: AsyncSession, organization_id: uuid.UUID,
                    tier_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[SubscriptionTierPrice]]:
    """Every price of each tier (active and old), newest first, in one statement."""
    statement = (in_organization(select(SubscriptionTierPrice), SubscriptionTierPrice, organization_id)
                 .where(SubscriptionTierPrice.tier_id.in_(tier_ids))
                 .order_by(SubscriptionTierPrice.tier_id, SubscriptionTierPrice.created_at.desc(),
                           SubscriptionTierPrice.id))
    found: dict[uuid.UUID, list[SubscriptionTierPrice]] = {tier_id: [] for tier_id in tier_ids}
    for price in (await session.scalars(statement)).all():
        found[price.tier_id].append(price)
    return found


async def categories_of(session: AsyncSession, organization_id: uuid.UUID,
                        tier_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Category]]:
    """Each tier's categories in their order, in one statement (only those categories row-level security
    lets the reader see: a category holding no published item stays the organization's)."""
    statement = (in_organization(select(SubscriptionTierCategory.tier_id, Category), SubscriptionTierCategory,
                                 organization_id)
                 .join(Category, Category.id == SubscriptionTierCategory.category_id)
                 .where(SubscriptionTierCategory.tier_id.in_(tier_ids))
                 .order_by(SubscriptionTierCategory.tier_id, *CATEGORY_ORDER))
    found: dict[uuid.UUID, list[Category]] = {tier_id: [] for tier_id in tier_ids}
    for tier_id, category in (await session.execute(statement)).all():
        found[tier_id].append(category)
    return found


async def category_ids_of(session: AsyncSession, organization_id: uuid.UUID, tier_id: uuid.UUID) -> list[uuid.UUID]:
    statement = (in_organization(select(SubscriptionTierCategory.category_id), SubscriptionTierCategory,
                                 organization_id).where(SubscriptionTierCategory.tier_id == tier_id))
    return sorted((await session.scalars(statement)).all())


async def add(session: AsyncSession, row: SubscriptionTier | SubscriptionTierPrice) -> None:
    session.add(row)
    await session.flush()


async def deactivate_price(session: AsyncSession, price: SubscriptionTierPrice, now: datetime) -> None:
    """No new checkouts with this price; the row stays for the subscribers who pay it."""
    price.active = False
    price.deactivated_at = now
    await session.flush()


async def replace_categories(session: AsyncSession, organization_id: uuid.UUID, tier_id: uuid.UUID,
                             category_ids: Sequence[uuid.UUID]) -> None:
    """Make the tier's categories exactly ``category_ids`` (checked by the caller to be the organization's)."""
    wanted = list(dict.fromkeys(category_ids))
    statement = delete(SubscriptionTierCategory).where(SubscriptionTierCategory.organization_id == organization_id,
                                                       SubscriptionTierCategory.tier_id == tier_id)
    if wanted:
        statement = statement.where(SubscriptionTierCategory.category_id.not_in(wanted))
    await session.execute(statement)
    if wanted:
        await session.execute(insert(SubscriptionTierCategory).values([
            {"tier_id": tier_id, "category_id": category_id, "organization_id": organization_id}
            for category_id in wanted
        ]).on_conflict_do_nothing(index_elements=[SubscriptionTierCategory.tier_id, SubscriptionTierCategory.category_id]))


async def set_product_id(session: AsyncSession, organization_id: uuid.UUID, tier_id: uuid.UUID, product_id: str) -> None:
    """Record the provider product (once: a recorded id is never replaced)."""
    await session.execute(update(SubscriptionTier).where(
        SubscriptionTier.organization_id == organization_id, SubscriptionTier.id == tier_id,
        SubscriptionTier.stripe_product_id.is_(None)).values(stripe_product_id=product_id))


async def set_price_id(session: AsyncSession, organization_id: uuid.UUID, price_id: uuid.UUID, provider_id: str) -> None:
    """Record the provider price (once: a recorded id is never replaced)."""
    await session.execute(update(SubscriptionTierPrice).where(
        SubscriptionTierPrice.organization_id == organization_id, SubscriptionTierPrice.id == price_id,
        SubscriptionTierPrice.stripe_price_id.is_(None)).values(stripe_price_id=provider_id))


async def mark_price_archived_at_provider(session: AsyncSession, organization_id: uuid.UUID, price_id: uuid.UUID,
                                          now: datetime) -> None:
    await session.execute(update(SubscriptionTierPrice).where(
        SubscriptionTierPrice.organization_id == organization_id, SubscriptionTierPrice.id == price_id,
        SubscriptionTierPrice.provider_archived_at.is_(None)).values(provider_archived_at=now))


async def mark_product_archived_at_provider(session: AsyncSession, organization_id: uuid.UUID, tier_id: uuid.UUID,
                                            now: datetime) -> None:
    await session.execute(update(SubscriptionTier).where(
        SubscriptionTier.organization_id == organization_id, SubscriptionTier.id == tier_id,
        SubscriptionTier.provider_archived_at.is_(None)).values(provider_archived_at=now))


async def includes_offerings(session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID,
                             now: datetime) -> bool:
    """The person holds a subscription of the organization with access still ahead, to a tier with
    ``offering_access`` (bookOffering paid with SUBSCRIPTION; in the organization's scope)."""
    statement = select(exists().where(
        Subscription.organization_id == organization_id, Subscription.user_id == user_id,
        Subscription.access_until > now, SubscriptionTier.id == Subscription.tier_id,
        SubscriptionTier.organization_id == organization_id, SubscriptionTier.offering_access.is_(True)))
    return bool(await session.scalar(statement))
