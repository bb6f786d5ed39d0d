"""createSubscriptionTier, updateSubscriptionTier (publishing too: ``published``), archiveSubscriptionTier and
migrateSubscriptionTierPrice (``price_migration``: queued, no provider call in the request), for staff with
SUBSCRIPTIONS_MANAGE (audited).

Each writes its rows in the request's transaction and commits them, then calls the payment provider with no
transaction open (``ctx.outside_transaction``) and records the provider's ids in a second short transaction
(``service`` module docstring). A provider failure answers PAYMENT_PROVIDER_ERROR with the rows kept; the
same mutation retried completes the provider work with the same idempotency keys."""

from __future__ import annotations

import uuid
from typing import Any

import strawberry

from codex_graphql import idempotency
from codex_graphql.authz import Permission
from codex_graphql.content.rules import MAX_PRICE_CENTS
from codex_graphql.context import Context
from codex_graphql.credits.models import CreditPolicy
from codex_graphql.errors import DomainError, ErrorCode
from codex_graphql.payloads import mutation_field
from codex_graphql.permissions import HasOrgPermission
from codex_graphql.relay import decode_id
from codex_graphql.subscriptions import price_migration, rules, service
from codex_graphql.subscriptions.models import BillingInterval
from codex_graphql.subscriptions.types import SubscriptionTier, tier_by_id

NAME = f"Display name, 1 to {rules.MAX_NAME} characters (inner runs of white space become one space)."
DESCRIPTION = f"Plain text, at most {rules.MAX_DESCRIPTION} characters."
PRICE = (f"{rules.MIN_PRICE_CENTS} to {MAX_PRICE_CENTS} minor units of the tier's currency; null: no {{}} price. "
         "A tier has at least one of the two prices.")
TRIAL = f"Days of free trial before the first payment, 0 to {rules.MAX_TRIAL_DAYS}."
CATEGORIES = (f"The categories (global ids, at most {rules.MAX_CATEGORIES_PER_TIER}) whose items the tier grants; "
              "each must be a category of the active organization (NOT_FOUND otherwise). Must be empty when "
              "`allContent` is true (INVALID_INPUT).")
ALL_CONTENT = "Grant every content item of the organization (then no categories)."
OFFERING = "Grant the organization's offerings that are open to subscribers."
CREDITS = f"Credits granted with every paid month, 0 to {rules.MAX_MONTHLY_CREDITS}."
POLICY = "What happens to unused credits at each period's end."
CAP = (f"ROLLOVER only (required then): the most credits carried into the next period, 0 to {rules.MAX_ROLLOVER_CAP}; "
       "null for the other policies.")
PUBLISHED = "True: on sale (PUBLISHED); false: a DRAFT only staff see."
POSITION = f"Sort key, 0 to {rules.MAX_POSITION}: lists show tiers by position, then name."


def _ids(values: list[strawberry.ID] | None) -> list[uuid.UUID | None] | None:
    return None if values is None else [decode_id(str(value), "Category") for value in values]


def _keep(value: Any) -> Any:
    return service.KEEP if value is strawberry.UNSET else value


@strawberry.input(description="A new subscription tier of the active organization.")
class CreateSubscriptionTierInput:
    name: str = strawberry.field(description=NAME)
    description: str = strawberry.field(default="", description=DESCRIPTION)
    monthly_price_cents: int | None = strawberry.field(default=None, description=PRICE.format("monthly"))
    annual_price_cents: int | None = strawberry.field(default=None, description=PRICE.format("annual"))
    currency: str | None = strawberry.field(default=None, description="ISO 4217 code of both prices (only `USD` for "
                                            "now); omitted: USD. Fixed once the tier exists.")
    trial_days: int = strawberry.field(default=0, description=TRIAL + " Default 0.")
    category_ids: list[strawberry.ID] = strawberry.field(default_factory=list, description=CATEGORIES)
    all_content: bool = strawberry.field(default=False, description=ALL_CONTENT + " Default false.")
    offering_access: bool = strawberry.field(default=False, description=OFFERING + " Default false.")
    monthly_credits: int = strawberry.field(default=0, description=CREDITS + " Default 0.")
    credit_policy: CreditPolicy = strawberry.field(default=CreditPolicy.EXPIRE_MONTHLY,
                                                   description=POLICY + " Default EXPIRE_MONTHLY.")
    credit_rollover_cap: int | None = strawberry.field(default=None, description=CAP)
    published: bool = strawberry.field(default=False, description=PUBLISHED + " Default false (DRAFT).")
    position: int = strawberry.field(default=0, description=POSITION + " Default 0.")
    idempotency_key: str | None = strawberry.field(
        default=None, description=f"Optional, 1 to {rules.MAX_KEY_LENGTH} characters, unique per tier: a retry with "
        "the same key returns the tier the first call made (whatever the other fields say) and completes its provider "
        "work, creating nothing twice. Without a key, a retry creates another tier.")


@strawberry.input(description="Changes to a subscription tier; omitted fields stay as they are.")
class UpdateSubscriptionTierInput:
    tier_id: strawberry.ID = strawberry.field(description="The tier, in the active organization.")
    name: str | None = strawberry.field(default=strawberry.UNSET, description=NAME)
    description: str | None = strawberry.field(default=strawberry.UNSET, description=DESCRIPTION)
    monthly_price_cents: int | None = strawberry.field(
        default=strawberry.UNSET, description=PRICE.format("monthly") + " A new amount creates a new provider price "
        "for new subscribers; existing subscribers keep theirs. Null removes the interval.")
    annual_price_cents: int | None = strawberry.field(
        default=strawberry.UNSET, description=PRICE.format("annual") + " A new amount creates a new provider price "
        "for new subscribers; existing subscribers keep theirs. Null removes the interval.")
    trial_days: int | None = strawberry.field(default=strawberry.UNSET, description=TRIAL)
    category_ids: list[strawberry.ID] | None = strawberry.field(default=strawberry.UNSET,
                                                                description=CATEGORIES + " Replaces the set.")
    all_content: bool | None = strawberry.field(default=strawberry.UNSET, description=ALL_CONTENT)
    offering_access: bool | None = strawberry.field(default=strawberry.UNSET, description=OFFERING)
    monthly_credits: int | None = strawberry.field(default=strawberry.UNSET, description=CREDITS)
    credit_policy: CreditPolicy | None = strawberry.field(default=strawberry.UNSET, description=POLICY)
    credit_rollover_cap: int | None = strawberry.field(
        default=strawberry.UNSET, description=CAP + " Omitted: kept while the policy stays ROLLOVER.")
    published: bool | None = strawberry.field(default=strawberry.UNSET, description=PUBLISHED + " Publishing needs no "
                                              "other mutation.")
    position: int | None = strawberry.field(default=strawberry.UNSET, description=POSITION)


@strawberry.input(description="The subscription tier to archive.")
class ArchiveSubscriptionTierInput:
    tier_id: strawberry.ID = strawberry.field(description="The tier, in the active organization.")


@strawberry.input(description="Move a tier's subscribers on older prices of one interval to its current price.")
class MigrateSubscriptionTierPriceInput:
    tier_id: strawberry.ID = strawberry.field(description="The tier, in the active organization (not archived).")
    interval: BillingInterval = strawberry.field(description="Whose subscriptions move: those billed every month, or "
                                                 "every year. The tier must have a current price for it.")
    idempotency_key: str | None = strawberry.field(
        default=None, description=f"Optional, 1 to {idempotency.MAX_KEY_LENGTH} characters: a retry with the same key "
        "(within a day, with the same tier and interval) answers what the first call did and queues nothing again; "
        "the same key with another input is IDEMPOTENCY_KEY_REUSED.")


def _not_null(value: Any, field: str) -> Any:
    """Update fields that only make sense with a value: null is refused like a bad value."""
    if value is None:
        raise DomainError(ErrorCode.INVALID_INPUT, "This field cannot be null: omit it to keep the value.", field)
    return value


async def _sync(ctx: Context, organization_id: uuid.UUID, tier_id: uuid.UUID, field: str | None) -> None:
    """The provider work the tier's rows call for: committed rows first, the call with no transaction open, the
    outcome recorded in the next transaction (kept even when the call failed and the payload says so)."""
    work = await service.pending_work(ctx.db, organization_id, tier_id)
    if work is None:
        return
    async with ctx.outside_transaction():
        outcome = await service.call_provider(ctx.services.payments, work)
    if outcome.error is not None:
        raise service.provider_failed(outcome, field)
    await service.record(ctx.db, outcome)


TIER = {"tier": (SubscriptionTier, "The tier after the change.")}
RULE = " NOT_FOUND for a tier id that is not the active organization's."
PROVIDER = (" PAYMENT_PROVIDER_ERROR when the payment provider fails: the change is saved, the tier is not on sale "
            "(`billingReady: false`) and the same mutation retried completes it.")


@strawberry.type
class SubscriptionMutations:
    @mutation_field(
        HasOrgPermission(Permission.SUBSCRIPTIONS_MANAGE),
        description="Create a subscription tier, its provider product and its monthly and/or annual provider price "
        "(audited: SUBSCRIPTION_TIER_CREATED). INVALID_INPUT for an out-of-range name, price, trial, credits or cap, "
        "no price at all, or categories with `allContent`; NOT_FOUND for a category that is not the organization's; "
        f"NOT_ALLOWED past {rules.MAX_TIERS} tiers that are not archived." + PROVIDER,
        input_description="The tier's name, prices, trial, what it grants, its credits and an optional idempotency key.",
        payload={"tier": (SubscriptionTier, "The new tier (the first one on a retry with the same idempotency key).")},
    )
    async def create_subscription_tier(ctx: Context, input: CreateSubscriptionTierInput) -> dict:
        changes = service.TierChanges(
            name=input.name, description=input.description, monthly_price_cents=input.monthly_price_cents,
            annual_price_cents=input.annual_price_cents, currency=input.currency, trial_days=input.trial_days,
            category_ids=_ids(input.category_ids), all_content=input.all_content,
            offering_access=input.offering_access, monthly_credits=input.monthly_credits,
            credit_policy=input.credit_policy, credit_rollover_cap=input.credit_rollover_cap,
            published=input.published, position=input.position)
        tier, _ = await service.create(ctx.db, ctx.viewer, changes, input.idempotency_key)
        tier_id, organization_id = tier.id, tier.organization_id
        await _sync(ctx, organization_id, tier_id, None)
        return {"tier": await tier_by_id(ctx, tier_id)}

    @mutation_field(
        HasOrgPermission(Permission.SUBSCRIPTIONS_MANAGE),
        description="Change a subscription tier, publish it (`published: true`) or take it back to DRAFT (audited: "
        "SUBSCRIPTION_TIER_CHANGED, changed values only). A new price amount deactivates the old price (kept, with "
        "its provider price, for existing subscribers) and creates a new provider price for new subscribers. Also "
        "completes provider work left by an earlier failure. INVALID_STATE for an archived tier; INVALID_INPUT and "
        "NOT_FOUND as for createSubscriptionTier (the currency is fixed at creation); INVALID_INPUT for null where "
        "a value is needed." + RULE + PROVIDER,
        input_description="The tier and the fields to change; omitted fields keep their value.",
        payload=TIER,
    )
    async def update_subscription_tier(ctx: Context, input: UpdateSubscriptionTierInput) -> dict:
        tier = await service.managed(ctx.db, ctx.viewer, decode_id(str(input.tier_id), "SubscriptionTier"))
        changes = service.TierChanges(
            name=_not_null(_keep(input.name), "name"), description=_not_null(_keep(input.description), "description"),
            monthly_price_cents=_keep(input.monthly_price_cents), annual_price_cents=_keep(input.annual_price_cents),
            trial_days=_not_null(_keep(input.trial_days), "trialDays"),
            category_ids=service.KEEP if input.category_ids is strawberry.UNSET else _ids(input.category_ids or []),
            all_content=_not_null(_keep(input.all_content), "allContent"),
            offering_access=_not_null(_keep(input.offering_access), "offeringAccess"),
            monthly_credits=_not_null(_keep(input.monthly_credits), "monthlyCredits"),
            credit_policy=_not_null(_keep(input.credit_policy), "creditPolicy"),
            credit_rollover_cap=_keep(input.credit_rollover_cap),
            published=_not_null(_keep(input.published), "published"),
            position=_not_null(_keep(input.position), "position"))
        tier = await service.edit(ctx.db, tier, changes)
        tier_id, organization_id = tier.id, tier.organization_id
        await _sync(ctx, organization_id, tier_id, "tierId")
        return {"tier": await tier_by_id(ctx, tier_id)}

    @mutation_field(
        HasOrgPermission(Permission.SUBSCRIPTIONS_MANAGE),
        description="Archive a subscription tier for good (audited: SUBSCRIPTION_TIER_ARCHIVED): no new subscribers "
        "(its prices are deactivated, and archived at the provider with its product); existing subscribers keep it "
        "and the price they pay. Archiving an archived tier changes nothing (and completes provider work left "
        "undone)." + RULE + PROVIDER,
        input_description="The tier to archive.",
        payload=TIER,
    )
    async def archive_subscription_tier(ctx: Context, input: ArchiveSubscriptionTierInput) -> dict:
        tier = await service.managed(ctx.db, ctx.viewer, decode_id(str(input.tier_id), "SubscriptionTier"))
        tier = await service.archive(ctx.db, tier)
        tier_id, organization_id = tier.id, tier.organization_id
        await _sync(ctx, organization_id, tier_id, "tierId")
        return {"tier": await tier_by_id(ctx, tier_id)}

    @mutation_field(
        HasOrgPermission(Permission.SUBSCRIPTIONS_MANAGE),
        description="Move every TRIALING, ACTIVE or PAST_DUE subscription of a tier and interval that still pays an "
        "older price to the tier's current price at the payment provider (audited: SUBSCRIPTION_TIER_PRICE_MIGRATED). "
        "The new amount applies from each subscription's next renewal, with no proration: nothing is charged or "
        "credited now. The move runs in the background (a job, safe to repeat); `queuedCount` says how many "
        "subscriptions it moves. Subscriptions that already pay the current price, those of the other interval "
        "and of other tiers are not touched. "
        "INVALID_STATE for an archived tier, or a current price the provider does not have yet; INVALID_INPUT for an "
        "interval the tier has no price for." + RULE,
        input_description="The tier, the interval and an optional idempotency key.",
        payload={"tier": (SubscriptionTier, "The tier."),
                 "queued_count": (int, "How many subscriptions were queued to move (0: none pays an older price; "
                                  "nothing queued).")},
    )
    async def migrate_subscription_tier_price(ctx: Context, input: MigrateSubscriptionTierPriceInput) -> dict:
        tier_id = decode_id(str(input.tier_id), "SubscriptionTier")

        async def run() -> dict[str, Any]:
            requested = await price_migration.request(ctx.db, ctx.viewer, tier_id, input.interval)
            return {"tierId": str(requested.tier.id), "queued": requested.queued}

        if input.idempotency_key is None:
            result = await run()
        else:
            result = await idempotency.once(ctx.db, ctx.require_user_id(), "migrateSubscriptionTierPrice",
                                            input.idempotency_key, {"tierId": str(input.tier_id),
                                                                    "interval": input.interval.value}, run)
        return {"tier": await tier_by_id(ctx, uuid.UUID(result["tierId"])), "queued_count": result["queued"]}


__all__ = ["SubscriptionMutations"]
