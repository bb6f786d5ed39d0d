"""Arranging subscription tiers in tests: documents, a shop with categories, database snapshots."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from codex_graphql.app import create_app
from codex_graphql.authz import OrgRole
from codex_graphql.db import Database, TenantScope
from tests.support import Actors, Factory, GraphQLClient, make_actors
from tests.support.commerce import WEBHOOK_SECRET
from tests.support.stripe_standin import StripeStandIn, running_standin

PRICE = "id interval amountCents currency active createdAt deactivatedAt"
PUBLIC_FIELDS = (f"id name description status trialDays allContent offeringAccess monthlyCredits creditPolicy "
                 f"creditRolloverCap currency position publishedAt archivedAt billingReady "
                 f"monthlyPrice {{ {PRICE} }} annualPrice {{ {PRICE} }} categories {{ id name }}")
STAFF_FIELDS = f"{PUBLIC_FIELDS} stripeProductId priceHistory {{ {PRICE} }}"
PAYLOAD = f"errors {{ code field message }} tier {{ {STAFF_FIELDS} }}"
CREATE = f"mutation($input: CreateSubscriptionTierInput!) {{ createSubscriptionTier(input: $input) {{ {PAYLOAD} }} }}"
UPDATE = f"mutation($input: UpdateSubscriptionTierInput!) {{ updateSubscriptionTier(input: $input) {{ {PAYLOAD} }} }}"
ARCHIVE = f"mutation($input: ArchiveSubscriptionTierInput!) {{ archiveSubscriptionTier(input: $input) {{ {PAYLOAD} }} }}"
LIST = f"query($slug: String!) {{ organization(slug: $slug) {{ subscriptionTiers {{ {PUBLIC_FIELDS} }} }} }}"
STAFF_LIST = f"query($slug: String!) {{ organization(slug: $slug) {{ subscriptionTiers {{ {STAFF_FIELDS} }} }} }}"
NODE = "query($id: ID!) { node(id: $id) { ... on SubscriptionTier { id name status } } }"
CATEGORY = """mutation($input: CreateCategoryInput!) { createCategory(input: $input) {
  errors { code } category { id } } }"""

YOGA = {"name": "Yoga", "description": "All yoga.", "monthlyPriceCents": 1500, "annualPriceCents": 15000,
        "trialDays": 7, "offeringAccess": True, "monthlyCredits": 2, "creditPolicy": "EXPIRE_MONTHLY"}


async def create(gql: GraphQLClient, token: str | None, **fields: Any) -> dict[str, Any]:
    return (await gql(CREATE, {"input": fields}, token))["data"]["createSubscriptionTier"]


async def created(gql: GraphQLClient, token: str, **fields: Any) -> dict[str, Any]:
    result = await create(gql, token, **{**YOGA, **fields})
    assert result["errors"] == [], result
    return result["tier"]


async def update(gql: GraphQLClient, token: str | None, tier_id: str, **fields: Any) -> dict[str, Any]:
    return (await gql(UPDATE, {"input": {"tierId": tier_id, **fields}}, token))["data"]["updateSubscriptionTier"]


async def archive(gql: GraphQLClient, token: str | None, tier_id: str) -> dict[str, Any]:
    return (await gql(ARCHIVE, {"input": {"tierId": tier_id}}, token))["data"]["archiveSubscriptionTier"]


async def category(gql: GraphQLClient, token: str, name: str) -> str:
    result = (await gql.ok(CATEGORY, {"input": {"name": name}}, token))["createCategory"]
    assert result["errors"] == [], result
    return str(result["category"]["id"])


async def listed(gql: GraphQLClient, slug: str, token: str | None) -> list[dict[str, Any]]:
    return (await gql.ok(LIST, {"slug": slug}, token))["organization"]["subscriptionTiers"]


async def state(admin_db: Any) -> tuple[list[tuple[Any, ...]], ...]:
    """Every tier, link, price and tier audit entry in the database (as the owner: no row-level security)."""
    tiers = await admin_db.fetch("select * from subscription_tier order by id")
    links = await admin_db.fetch("select * from subscription_tier_category order by tier_id, category_id")
    prices = await admin_db.fetch("select * from subscription_tier_price order by id")
    audits = await admin_db.fetch("select action, target_id from audit_log_entry where target_type = "
                                  "'SubscriptionTier' order by created_at, id")
    return tuple([tuple(row) for row in rows] for rows in (tiers, links, prices, audits))


@dataclass
class StripeShop:
    """The app wired to the Stripe stand-in, with the matrix's actors (staff without the permission: CREATOR)."""

    app: Any
    gql: GraphQLClient
    stripe: StripeStandIn
    actors: Actors

    @property
    def token(self) -> str:
        return self.actors.staff_with.token


@pytest.fixture
async def stripe_shop(settings: Any, db: Database) -> AsyncIterator[StripeShop]:
    async with running_standin(WEBHOOK_SECRET) as stripe:
        configured = settings.model_copy(update={
            "payments_provider": "stripe", "stripe_secret_key": "sk_test_codex",
            "stripe_webhook_secret": WEBHOOK_SECRET, "stripe_api_base": stripe.base_url})
        app = create_app(configured)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=("198.51.100.9", 5555))
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
                gql = GraphQLClient(http)
                actors = await make_actors(Factory(db, gql), without_role=OrgRole.CREATOR)
                yield StripeShop(app=app, gql=gql, stripe=stripe, actors=actors)


async def local_actors(factory: Factory) -> Actors:
    return await make_actors(factory, without_role=OrgRole.CREATOR)


def scope(org: uuid.UUID) -> TenantScope:
    return TenantScope(organization_id=org)


# -- customers' subscriptions --------------------------------------------------------------------

SUBSCRIPTION_FIELDS = ("id status interval currentPeriodStart currentPeriodEnd cancelAtPeriodEnd trialEnd canceledAt "
                       "endedAt accessEndsAt hasAccess tier { id name }")
START = """mutation($input: StartSubscriptionCheckoutInput!) { startSubscriptionCheckout(input: $input) {
  errors { code field message } checkoutUrl subscriptionId } }"""
MINE = f"query {{ viewer {{ subscriptions {{ totalCount nodes {{ {SUBSCRIPTION_FIELDS} }} }} }} }}"
CHANGE_PAYLOAD = f"errors {{ code field message }} subscription {{ {SUBSCRIPTION_FIELDS} }}"
CANCEL = f"mutation($input: CancelSubscriptionInput!) {{ cancelSubscription(input: $input) {{ {CHANGE_PAYLOAD} }} }}"
RESUME = f"mutation($input: ResumeSubscriptionInput!) {{ resumeSubscription(input: $input) {{ {CHANGE_PAYLOAD} }} }}"
CHANGE = (f"mutation($input: ChangeSubscriptionTierInput!) {{ changeSubscriptionTier(input: $input) "
          f"{{ {CHANGE_PAYLOAD} }} }}")
PORTAL = """mutation($input: CreateBillingPortalSessionInput!) { createBillingPortalSession(input: $input) {
  errors { code field message } url } }"""
PLAY = "query($id: ID!) { content(id: $id) { viewerHasAccess playback { url } } }"
RETURN = "http://testserver/back"


async def subscriptions_of(gql: GraphQLClient, token: str) -> list[dict[str, Any]]:
    return (await gql.ok(MINE, {}, token))["viewer"]["subscriptions"]["nodes"]


async def start(gql: GraphQLClient, token: str | None, tier_id: str, interval: str = "MONTH",
                key: str = "sub-1") -> dict[str, Any]:
    variables = {"input": {"tierId": tier_id, "interval": interval, "successUrl": RETURN, "cancelUrl": RETURN,
                           "idempotencyKey": key}}
    return (await gql(START, variables, token))["data"]["startSubscriptionCheckout"]


async def subscribed(shop: StripeShop, tier_id: str, *, key: str = "sub-1", deliver: bool = True) -> list[dict[str, Any]]:
    """The customer subscribes to the tier through the stand-in's checkout; returns Stripe's events (delivered
    unless ``deliver`` is false)."""
    started = await start(shop.gql, shop.actors.customer.token, tier_id, key=key)
    assert started["errors"] == [], started
    session_id = started["checkoutUrl"].rsplit("/", 1)[1]
    events = shop.stripe.complete_subscription(session_id)
    if deliver:
        assert {r.status_code for r in await shop.stripe.send(events)} == {200}
    else:
        shop.stripe.undelivered.clear()
    return events


async def plays(gql: GraphQLClient, token: str, content_id: str) -> bool:
    body = await gql(PLAY, {"id": content_id}, token)
    found = body["data"]["content"]
    assert found["viewerHasAccess"] == (found["playback"] is not None), body
    refused = [e["extensions"]["code"] for e in body.get("errors", [])]
    assert refused == ([] if found["viewerHasAccess"] else ["FORBIDDEN"]), body  # playback: null-or-FORBIDDEN
    return bool(found["viewerHasAccess"])


def wire_webhooks(shop: StripeShop) -> None:
    shop.stripe.webhook_client = shop.gql.http
    shop.stripe.webhook_url = "http://testserver/webhooks/stripe"
