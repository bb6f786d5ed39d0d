"""Arranging dunning in tests: a shelf (a tier granting one category, an item in it), customers whose renewal
payment fails (PAST_DUE through the Stripe stand-in's signed webhooks), recovery, and the settings mutation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from codex_graphql.relay import decode_id
from tests.subscriptions.support import StripeShop, category, created, start, wire_webhooks
from tests.support import Person
from tests.support.commerce import insert_content

SETTINGS = "query($slug: String!) { organization(slug: $slug) { settings { subscriptionGraceDays } } }"
UPDATE = """mutation($input: UpdateOrganizationSettingsInput!) { updateOrganizationSettings(input: $input) {
  errors { code field message } settings { subscriptionGraceDays } } }"""


@dataclass
class Shelf:
    tier: dict[str, Any]
    item: str  # a Content id in the tier's category


async def shelf(shop: StripeShop, db: Any, admin_db: Any, name: str = "Yoga") -> Shelf:
    """A published tier (no trial) granting one category, with one item in it; webhooks wired to the app."""
    wire_webhooks(shop)
    group = await category(shop.gql, shop.token, name)
    tier = await created(shop.gql, shop.token, name=name, published=True, trialDays=0, categoryIds=[group])
    item = await insert_content(db, shop.actors.org, shop.actors.staff_with.user_id, f"{name} class", 900)
    await admin_db.execute("insert into content_category (content_id, category_id, organization_id) values ($1, $2, $3)",
                           decode_id(item, "Content"), decode_id(group, "Category"), shop.actors.org)
    return Shelf(tier=tier, item=item)


async def subscribe(shop: StripeShop, person: Person, tier_id: str, key: str = "sub-1") -> str:
    """``person`` subscribes through the stand-in's checkout (events delivered); returns the Stripe subscription id."""
    started = await start(shop.gql, person.token, tier_id, key=key)
    assert started["errors"] == [], started
    events = shop.stripe.complete_subscription(started["checkoutUrl"].rsplit("/", 1)[1])
    assert {r.status_code for r in await shop.stripe.send(events)} == {200}
    return next(e for e in events if e["type"] == "customer.subscription.created")["data"]["object"]["id"]


async def fail_renewal(shop: StripeShop, stripe_id: str) -> None:
    """The next renewal's payment is declined: PAST_DUE (and the dunning email queued)."""
    events = shop.stripe.renew(stripe_id, paid=False)
    assert {r.status_code for r in await shop.stripe.send(events)} == {200}


async def recover(shop: StripeShop, stripe_id: str) -> None:
    """The open invoice is paid after all (a new card in the portal): ACTIVE again."""
    events = shop.stripe.pay_invoice(shop.stripe.subscriptions[stripe_id]["latest_invoice"])
    assert {r.status_code for r in await shop.stripe.send(events)} == {200}


async def past_due(shop: StripeShop, person: Person, tier_id: str, key: str = "sub-1") -> str:
    stripe_id = await subscribe(shop, person, tier_id, key)
    await fail_renewal(shop, stripe_id)
    return stripe_id


async def set_grace(shop: StripeShop, days: Any, token: str | None = None) -> dict[str, Any]:
    body = await shop.gql(UPDATE, {"input": {"subscriptionGraceDays": days}}, token or shop.token)
    return body["data"]["updateOrganizationSettings"]


async def row(admin_db: Any, stripe_id: str) -> Any:
    return await admin_db.fetchrow("select * from subscription where stripe_subscription_id = $1", stripe_id)
