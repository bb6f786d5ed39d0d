"""Subscription tiers in the compiled read path: ``SubscriptionTier``, ``SubscriptionTierPrice``,
``Organization.subscriptionTiers`` and ``node(id:)`` for a tier.

The organization's tiers are read in its row (``fastpath.lists.records``), by position then name
(``repository.ORDER``), each with its active monthly and annual price, its categories (those row-level
security lets the reader see, as ``repository.categories_of`` reads them) and, for staff, its price history:
nested lists in the same record, so a storefront with its tiers stays one statement. The list and
``node(id:)`` apply ``service.sees_every_tier``: staff with SUBSCRIPTIONS_MANAGE see every tier, everyone else
the PUBLISHED tiers ready to sell (``ON_SALE``: ``service.on_sale``, with ``BILLING_READY`` in SQL as
``repository.billing_ready_clause`` states it). ``priceHistory``, ``stripeProductId`` and
``subscriberCount`` (the tier's summary row, ``SUBSCRIBERS``) keep their schema guard (SUBSCRIPTIONS_MANAGE),
bound by the registry: refused, the resolvers answer and phrase the error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from codex_graphql.categories import compiled as categories
from codex_graphql.fastpath.lists import records
from codex_graphql.fastpath.nodes import NodeTable, Source, declare_node
from codex_graphql.fastpath.registry import Scalar, declare
from codex_graphql.fastpath.shapes import Runtime, Shape, iso
from codex_graphql.subscriptions import service
from codex_graphql.subscriptions.models import BillingInterval, SubscriptionTierStatus

# The tier has its provider product, an active price, and every active price has its provider price.
BILLING_READY = (
    "({t}.stripe_product_id IS NOT NULL "
    "AND EXISTS (SELECT 1 FROM subscription_tier_price bp WHERE bp.tier_id = {t}.id AND bp.active) "
    "AND NOT EXISTS (SELECT 1 FROM subscription_tier_price bp WHERE bp.tier_id = {t}.id AND bp.active "
    "AND bp.stripe_price_id IS NULL))")
ON_SALE = f"({{t}}.status = '{SubscriptionTierStatus.PUBLISHED.value}' AND {BILLING_READY})"
ORDER = ("{a}.position", "{a}.name", "{a}.id")  # repository.ORDER
PRICES = "{a}.tier_id = {t}.id AND {a}.organization_id = {t}.organization_id"  # repository.prices_of
NEWEST_FIRST = ("{a}.created_at DESC", "{a}.id")
# billing_repository.subscriber_counts: the tier's TRIALING, ACTIVE and PAST_DUE subscriptions (its summary row).
SUBSCRIBERS = ("coalesce((SELECT sc.trialing + sc.active + sc.past_due FROM subscription_tier_summary sc "
               "WHERE sc.organization_id = {t}.organization_id AND sc.tier_id = {t}.id), 0)")


def visible(shape: Shape) -> Callable[[Any, Runtime], bool]:
    """What ``Organization.subscriptionTiers`` lists and ``node(id:)`` shows (``types.visible_tier``)."""
    organization = shape.column("organization_id")
    on_sale = shape.column("st_on_sale", ON_SALE.format(t=shape.table))
    return lambda row, rt: row[on_sale] or service.sees_every_tier(rt.viewer, row[organization])


def _active_price(interval: BillingInterval) -> Any:
    """The price offered for ``interval`` (at most one is active: a partial unique index)."""
    return records("SubscriptionTierPrice", "subscription_tier_price {a}",
                   f"{PRICES} AND {{a}}.active AND {{a}}.interval = '{interval.value}'", NEWEST_FIRST, single=True)


declare("SubscriptionTierPrice", {
    "interval": Scalar("interval"), "amountCents": Scalar("amount_cents"), "currency": Scalar("currency"),
    "active": Scalar("active"), "createdAt": Scalar("created_at", iso), "deactivatedAt": Scalar("deactivated_at", iso),
}, id_type="SubscriptionTierPrice", organization="organization_id")

declare("SubscriptionTier", {
    "name": Scalar("name"), "description": Scalar("description"), "status": Scalar("status"),
    "trialDays": Scalar("trial_days"), "allContent": Scalar("all_content"),
    "offeringAccess": Scalar("offering_access"), "monthlyCredits": Scalar("monthly_credits"),
    "creditPolicy": Scalar("credit_policy"), "creditRolloverCap": Scalar("credit_rollover_cap"),
    "currency": Scalar("currency"), "position": Scalar("position"), "createdAt": Scalar("created_at", iso),
    "updatedAt": Scalar("updated_at", iso), "publishedAt": Scalar("published_at", iso),
    "archivedAt": Scalar("archived_at", iso),
    "billingReady": Scalar("billing_ready", sql=BILLING_READY),
    "monthlyPrice": _active_price(BillingInterval.MONTH),
    "annualPrice": _active_price(BillingInterval.YEAR),
    "categories": records(
        "Category", "subscription_tier_category {a}_l JOIN category {a} ON {a}.id = {a}_l.category_id",
        "{a}_l.tier_id = {t}.id AND {a}_l.organization_id = {t}.organization_id", categories.ORDER),
    # Guarded by SUBSCRIPTIONS_MANAGE in the schema (the registry binds and checks it).
    "priceHistory": records("SubscriptionTierPrice", "subscription_tier_price {a}", PRICES, NEWEST_FIRST),
    "stripeProductId": Scalar("stripe_product_id"),
    "subscriberCount": Scalar("subscriber_count", sql=SUBSCRIBERS),
}, id_type="SubscriptionTier", organization="organization_id")

declare("Organization", {"subscriptionTiers": records(
    "SubscriptionTier", "subscription_tier {a}", "{a}.organization_id = {t}.id", ORDER, visible=visible)})

TIER_NODE = Source("SubscriptionTier", "subscription_tier", "st", visible)
declare_node("SubscriptionTier", lambda field, fragments, *, many: NodeTable(TIER_NODE, field, fragments, many=many))
