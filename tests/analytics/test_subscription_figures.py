"""The dashboard's subscription figures (issue 15 item 6, migration 0027): MRR, subscribers by tier, new and
churned subscriptions, trials and conversions, one-time and recurring revenue. Driven through the Stripe
stand-in's whole lifecycle, checked at every step against figures recomputed from the rows (and the
provider's paid invoices), against the resolvers (the compiled path answers the same), and against a rebuild
of the summaries from the rows (the triggers' incremental figures equal a full recount)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest

from codex_graphql.app import create_app
from tests.fastpath.test_fastpath_equivalence import fast_path
from tests.subscriptions.conftest import stripe_shop  # noqa: F401 (fixture)
from tests.subscriptions.support import StripeShop, created, start, subscribed, wire_webhooks
from tests.support import GraphQLClient, assert_authz_matrix, statements
from tests.support.commerce import WEBHOOK_SECRET

FIGURES = """query($slug: String!, $range: DateRange) { organization(slug: $slug) { analytics(range: $range) {
  totalRevenueCents oneTimeRevenueCents recurringRevenueCents revenueThisMonthCents
  newSubscriptions churnedSubscriptions trialsStarted trialConversions mrrCents activeSubscribers
  revenueByDay { day revenueCents oneTimeRevenueCents recurringRevenueCents }
  subscribersByTier { tier { id name } trialing active pastDue mrrCents } } } }"""
# The same figures without the per-tier list: every field compiled, one statement.
COMPILED = """query($slug: String!) { organization(slug: $slug) { analytics {
  totalRevenueCents oneTimeRevenueCents recurringRevenueCents revenueThisMonthCents newSubscriptions
  churnedSubscriptions trialsStarted trialConversions mrrCents activeSubscribers
  revenueByDay { day revenueCents oneTimeRevenueCents recurringRevenueCents } } } }"""
SUMMARIES = ("purchase_daily_stats", "subscription_tier_summary", "subscriber_summary", "analytics_totals")


@pytest.fixture
async def reference(stripe_shop: StripeShop, settings: Any) -> AsyncIterator[GraphQLClient]:  # noqa: F811
    """The same server with compiled execution off: the resolvers' answers."""
    configured = settings.model_copy(update={
        "payments_provider": "stripe", "stripe_secret_key": "sk_test_codex", "stripe_webhook_secret": WEBHOOK_SECRET,
        "stripe_api_base": stripe_shop.stripe.base_url, "fast_path_enabled": False})
    app = create_app(configured)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("198.51.100.10", 5555))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield GraphQLClient(http)


async def _from_rows(admin_db: Any, org: Any, today: date) -> dict[str, Any]:
    """The figures recomputed from subscription, invoice and purchase rows (as the owner: no row security)."""
    tz = await admin_db.fetchval("select timezone from organization where id = $1", org)
    day = f"(({{}} at time zone '{tz}')::date = $2)"

    async def count(column: str) -> int:
        return await admin_db.fetchval(
            f"select count(*) from subscription where organization_id = $1 and {day.format(column)}", org, today)

    recurring = await admin_db.fetchval(
        "select coalesce(sum(amount_paid_cents - tax_cents), 0) from subscription_invoice "
        f"where organization_id = $1 and {day.format('paid_at')}", org, today)
    one_time = await admin_db.fetchval(
        "select coalesce(sum(amount_cents - tax_cents), 0) from purchase "
        f"where organization_id = $1 and {day.format('created_at')}", org, today)
    mrr = await admin_db.fetchval(
        "select coalesce(sum(case p.interval when 'YEAR' then round(p.amount_cents / 12.0) else p.amount_cents end), 0) "
        "from subscription s join subscription_tier_price p on p.stripe_price_id = s.stripe_price_id "
        "where s.organization_id = $1 and s.status in ('ACTIVE', 'PAST_DUE')", org)
    subscribers = await admin_db.fetchval(
        "select count(distinct user_id) from subscription where organization_id = $1 "
        "and status in ('TRIALING', 'ACTIVE', 'PAST_DUE')", org)
    tiers = await admin_db.fetch(
        "select t.id, t.name, count(*) filter (where s.status = 'TRIALING') as trialing, "
        "count(*) filter (where s.status = 'ACTIVE') as active, count(*) filter (where s.status = 'PAST_DUE') as past_due "
        "from subscription_tier t left join subscription s on s.tier_id = t.id where t.organization_id = $1 "
        "group by t.id, t.name, t.position order by t.position, t.name, t.id", org)
    return {"recurringRevenueCents": recurring, "oneTimeRevenueCents": one_time, "totalRevenueCents": recurring + one_time,
            "newSubscriptions": await count("started_at"), "churnedSubscriptions": await count("churned_at"),
            "trialsStarted": await count("trial_started_at"), "trialConversions": await count("converted_at"),
            "mrrCents": int(mrr), "activeSubscribers": subscribers,
            "tiers": [(r["name"], r["trialing"], r["active"], r["past_due"]) for r in tiers]}


async def _summaries(admin_db: Any, org: Any) -> dict[str, list[tuple[Any, ...]]]:
    """The organization's summary rows, but for rows of zeros (a row that counted something once and no
    longer does is the same figure as no row)."""
    found = {}
    for table in SUMMARIES:
        rows = await admin_db.fetch(f"select * from {table} where organization_id = $1 order by 2", org)
        found[table] = [tuple(r) for r in rows if any(v != 0 for v in list(r.values())[2:] if isinstance(v, int))]
    return found


async def _rebuilt(admin_db: Any, org: Any) -> dict[str, list[tuple[Any, ...]]]:
    """The summaries after a rebuild from the rows, in the organization's scope (then the scope is dropped)."""
    async with admin_db.transaction():
        await admin_db.execute("select set_config('codex.organization_id', $1, true)", str(org))
        await admin_db.execute("select analytics_rebuild($1)", org)
    return await _summaries(admin_db, org)


class Dashboard:
    def __init__(self, shop: StripeShop, reference: GraphQLClient, admin_db: Any) -> None:
        self.shop, self.reference, self.admin_db = shop, reference, admin_db
        self.org, self.slug = shop.actors.org, shop.actors.org_slug

    async def check(self, **expected: Any) -> dict[str, Any]:
        """The figures: equal to ``expected``, to the rows' recount, in both execution paths, and unchanged by
        a rebuild of the summaries."""
        shop, token = self.shop, self.shop.token
        today = datetime.now(UTC).date()
        variables = {"slug": self.slug, "range": {"from": today.isoformat(), "to": today.isoformat()}}
        fast = (await shop.gql.ok(FIGURES, variables, token))["organization"]["analytics"]
        slow = (await self.reference.ok(FIGURES, variables, token))["organization"]["analytics"]
        assert fast == slow
        assert (await shop.gql.ok(COMPILED, {"slug": self.slug}, token)) == (
            await self.reference.ok(COMPILED, {"slug": self.slug}, token))
        rows = await _from_rows(self.admin_db, self.org, today)
        for name, value in rows.items():
            if name != "tiers":
                assert fast[name] == value, (name, fast[name], value)
        assert fast["revenueThisMonthCents"] == fast["totalRevenueCents"]  # everything happened today
        [day] = fast["revenueByDay"]
        assert (day["revenueCents"], day["oneTimeRevenueCents"], day["recurringRevenueCents"]) == (
            fast["totalRevenueCents"], fast["oneTimeRevenueCents"], fast["recurringRevenueCents"])
        listed = [(t["tier"]["name"], t["trialing"], t["active"], t["pastDue"]) for t in fast["subscribersByTier"]]
        assert listed == rows["tiers"]
        assert sum(t["mrrCents"] for t in fast["subscribersByTier"]) == fast["mrrCents"]
        paid = sum(i["amount_paid"] for i in shop.stripe.invoices.values() if i["status"] == "paid")
        assert fast["recurringRevenueCents"] == paid  # no tax in these invoices
        before = await _summaries(self.admin_db, self.org)
        assert await _rebuilt(self.admin_db, self.org) == before
        for name, value in expected.items():
            assert fast[name] == value, (name, fast[name], value)
        return fast


async def _stripe_id(admin_db: Any, tier_name: str) -> str:
    return await admin_db.fetchval("select s.stripe_subscription_id from subscription s join subscription_tier t "
                                   "on t.id = s.tier_id where t.name = $1", tier_name)


async def test_a_whole_lifecycle_moves_every_figure_once(stripe_shop: StripeShop, reference, admin_db):  # noqa: F811
    shop = stripe_shop
    wire_webhooks(shop)
    board = Dashboard(shop, reference, admin_db)
    yoga = await created(shop.gql, shop.token, published=True)  # 1500 a month, 15000 a year, 7 days' trial
    pilates = await created(shop.gql, shop.token, published=True, name="Pilates", trialDays=0,
                            monthlyPriceCents=1000, annualPriceCents=12000)
    await board.check(mrrCents=0, activeSubscribers=0, newSubscriptions=0, recurringRevenueCents=0)

    await subscribed(shop, yoga["id"])  # the trial: started, nothing paid
    await board.check(newSubscriptions=1, trialsStarted=1, trialConversions=0, mrrCents=0, activeSubscribers=1,
                      recurringRevenueCents=0)
    yoga_sub = await _stripe_id(admin_db, "Yoga")
    for response in await shop.stripe.send(shop.stripe.renew(yoga_sub) * 2):  # the trial converts; replayed
        assert response.status_code == 200
    await board.check(trialConversions=1, mrrCents=1500, recurringRevenueCents=1500, newSubscriptions=1)

    await subscribed(shop, pilates["id"], key="sub-2")  # a second tier, no trial: one subscriber still
    figures = await board.check(newSubscriptions=2, trialsStarted=1, mrrCents=2500, activeSubscribers=1,
                                recurringRevenueCents=2500)
    assert [(t["tier"]["name"], t["mrrCents"]) for t in figures["subscribersByTier"]] == [
        ("Pilates", 1000), ("Yoga", 1500)]

    pilates_sub = await _stripe_id(admin_db, "Pilates")
    await shop.stripe.send(shop.stripe.renew(pilates_sub, paid=False))  # past due: still counted, unpaid
    figures = await board.check(mrrCents=2500, recurringRevenueCents=2500, churnedSubscriptions=0)
    assert [(t["tier"]["name"], t["pastDue"]) for t in figures["subscribersByTier"]] == [("Pilates", 1), ("Yoga", 0)]

    await shop.stripe.send(shop.stripe.end(pilates_sub) * 2)  # the retries gave up: churned once
    await board.check(churnedSubscriptions=1, mrrCents=1500, activeSubscribers=1)
    await shop.stripe.send(shop.stripe.end(yoga_sub))
    figures = await board.check(churnedSubscriptions=2, mrrCents=0, activeSubscribers=0, newSubscriptions=2,
                                recurringRevenueCents=2500, trialConversions=1)
    assert [(t["tier"]["name"], t["trialing"] + t["active"] + t["pastDue"]) for t in figures["subscribersByTier"]] == [
        ("Pilates", 0), ("Yoga", 0)]


async def test_annual_prices_count_a_twelfth_and_an_unfinished_checkout_nothing(stripe_shop: StripeShop,  # noqa: F811
                                                                                reference, admin_db):
    shop = stripe_shop
    wire_webhooks(shop)
    board = Dashboard(shop, reference, admin_db)
    tier = await created(shop.gql, shop.token, published=True, trialDays=0, annualPriceCents=10000)
    started = await start(shop.gql, shop.actors.customer.token, tier["id"], interval="YEAR", key="year")
    assert started["errors"] == []
    await board.check(newSubscriptions=0, mrrCents=0)  # INCOMPLETE: not started
    session_id = started["checkoutUrl"].rsplit("/", 1)[1]
    await shop.stripe.send(shop.stripe.complete_subscription(session_id))
    await board.check(newSubscriptions=1, trialsStarted=0, mrrCents=833, recurringRevenueCents=10000)


async def test_the_compiled_dashboard_reads_the_subscription_figures_in_its_one_statement(
        stripe_shop: StripeShop, admin_db):  # noqa: F811
    shop = stripe_shop
    wire_webhooks(shop)
    tier = await created(shop.gql, shop.token, published=True, trialDays=0)
    await subscribed(shop, tier["id"])
    assert fast_path(shop.app).plan(COMPILED, None) is not None
    await shop.gql.ok(COMPILED, {"slug": shop.actors.org_slug}, shop.token)  # the connection takes the scope
    async with statements(shop.app) as seen:
        body = await shop.gql.ok(COMPILED, {"slug": shop.actors.org_slug}, shop.token)
    assert len(seen) == 1, seen
    assert body["organization"]["analytics"]["mrrCents"] == 1500


async def test_concurrent_changes_of_one_customers_subscriptions_count_them_once(
        stripe_shop: StripeShop, reference, admin_db):  # noqa: F811
    """Two subscriptions of one customer start and end at the same time, in separate transactions: the
    subscriber count moves 0 -> 1 -> 0 exactly (the customer's summary row serializes them)."""
    shop = stripe_shop
    wire_webhooks(shop)
    board = Dashboard(shop, reference, admin_db)
    tiers = [await created(shop.gql, shop.token, published=True, trialDays=0, name=name) for name in ("A", "B")]
    sessions = []
    for number, tier in enumerate(tiers):
        started = await start(shop.gql, shop.actors.customer.token, tier["id"], key=f"k{number}")
        sessions.append(started["checkoutUrl"].rsplit("/", 1)[1])
    batches = [shop.stripe.complete_subscription(session) for session in sessions]
    await asyncio.gather(*(shop.stripe.send(batch) for batch in batches))
    await board.check(activeSubscribers=1, newSubscriptions=2, mrrCents=3000)
    ids = [await _stripe_id(admin_db, name) for name in ("A", "B")]
    await asyncio.gather(*(shop.stripe.send(shop.stripe.end(sub)) for sub in ids))
    await board.check(activeSubscribers=0, churnedSubscriptions=2, mrrCents=0)
    assert await admin_db.fetchval("select subscribers from analytics_totals where organization_id = $1",
                                   shop.actors.org) == 0


async def test_subscription_figures_matrix(stripe_shop: StripeShop, reference, admin_db):  # noqa: F811
    """Only staff with ANALYTICS_READ read them, in either execution path; nobody else learns a figure."""
    shop = stripe_shop
    wire_webhooks(shop)
    tier = await created(shop.gql, shop.token, published=True, trialDays=0)
    await subscribed(shop, tier["id"])
    snapshot = lambda: _summaries(admin_db, shop.actors.org)  # noqa: E731
    for client in (shop.gql, reference):
        results = await assert_authz_matrix(client, shop.actors, FIGURES, {"slug": shop.actors.org_slug},
                                            path=["organization", "analytics"], allowed={"staff_with_permission"},
                                            snapshot=snapshot)
        figures = results["staff_with_permission"]["data"]["organization"]["analytics"]
        assert (figures["mrrCents"], figures["activeSubscribers"]) == (1500, 1)
        assert [t["tier"]["id"] for t in figures["subscribersByTier"]] == [tier["id"]]
        for name, body in results.items():
            if name != "staff_with_permission":
                assert "1500" not in str(body["data"]), name
