"""Credits over a whole subscription lifecycle, through real webhooks from the Stripe stand-in (signed with the real
scheme): the trial's invoice, paid renewals, a failed renewal recovered later, the end. Every batch of events is
delivered twice in a shuffled order, and every paid invoice once more under a fresh event id (the invoice key, not
only the inbox, makes a grant happen once). Spends go through the internal service in a transaction of the
organization, as bookings will; the expiry job runs at each period end, twice at once. After every step the
customer's balance through GraphQL equals the expected number, the sum of their ledger rows and the maintained
balance row; each paid invoice granted once, each lot (or each period's cap) expired once."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from codex_graphql.credits import jobs, service
from codex_graphql.db import Database, TenantScope
from codex_graphql.errors import DomainError, ErrorCode
from codex_graphql.relay import to_global_id
from tests.credits.support import assert_ledger
from tests.subscriptions.support import StripeShop, created, subscribed, wire_webhooks

MONTHLY = 5
VIEWER = """query($org: ID!) { viewer { creditBalance(organizationId: $org)
  creditTransactions(organizationId: $org, first: 100) { totalCount pageInfo { hasNextPage }
    nodes { kind amount balanceAfter sourceType sourceId } } } }"""


@dataclass
class Expected:
    """What the ledger should hold, worked out from the rules independently of the service: lots of expiring
    credits (EXPIRE_MONTHLY) keyed by their invoice, credits that never expire, and every grant and expiry."""

    policy: str
    cap: int | None = None
    lots: dict[str, list[int]] = field(default_factory=dict)  # invoice id -> [expires at (epoch s), remaining]
    forever: int = 0
    granted: list[str] = field(default_factory=list)  # invoice ids
    expired: list[tuple[str, str, int]] = field(default_factory=list)  # (source type, invoice id, amount)

    @property
    def balance(self) -> int:
        return self.forever + sum(remaining for _, remaining in self.lots.values())

    def _take(self, credits: int) -> None:
        for lot in sorted(self.lots.values()):  # soonest expiry first
            part = min(lot[1], credits)
            lot[1] -= part
            credits -= part
        self.forever -= credits
        assert self.forever >= 0

    def paid(self, invoice_id: str, period_end: int) -> None:
        if self.policy == "ROLLOVER" and self.balance > (self.cap or 0):  # the previous period's excess lapses
            excess = self.balance - (self.cap or 0)
            self._take(excess)
            self.expired.append(("policy", invoice_id, -excess))
        if self.policy == "EXPIRE_MONTHLY":
            self.lots[invoice_id] = [period_end, MONTHLY]
        else:
            self.forever += MONTHLY
        self.granted.append(invoice_id)

    def spend(self, credits: int) -> None:
        self._take(credits)

    def expire(self, now: int) -> int:
        due = [(invoice, lot) for invoice, lot in self.lots.items() if lot[0] <= now and lot[1] > 0]
        for invoice, lot in due:
            self.expired.append(("credit_lot", invoice, -lot[1]))
            lot[1] = 0
        return len(due)


@dataclass
class Lifecycle:
    shop: StripeShop
    db: Database
    admin_db: Any
    expected: Expected
    rng: random.Random = field(default_factory=lambda: random.Random(15))
    delivered: list[dict[str, Any]] = field(default_factory=list)
    spends: int = 0

    @property
    def org(self) -> Any:
        return self.shop.actors.org

    @property
    def user(self) -> Any:
        return self.shop.actors.customer.user_id

    async def deliver(self, events: list[dict[str, Any]]) -> list[str]:
        """Every event twice, plus each invoice.paid again under a new event id, in a shuffled order. Returns the
        ids of the invoices paid in ``events``."""
        paid = [e for e in events if e["type"] == "invoice.paid"]
        batch = events * 2 + [self.shop.stripe.event("invoice.paid", e["data"]["object"]) for e in paid]
        self.rng.shuffle(batch)
        assert {r.status_code for r in await self.shop.stripe.send(batch)} == {200}
        failed = await self.admin_db.fetch("select id, type from stripe_event where processed_at is null")
        assert failed == [], failed  # every delivery handled inline, none left for the retry job
        self.delivered += batch
        return [e["data"]["object"]["id"] for e in paid]

    async def row(self) -> Any:
        return await self.admin_db.fetchrow("select * from subscription where user_id = $1", self.user)

    async def period_end(self) -> int:
        """The current period's end, from the subscription row (the stand-in agrees)."""
        row = await self.row()
        end = int(row["current_period_end"].timestamp())
        assert shop_period(self.shop, row["stripe_subscription_id"])[1] == end
        return end

    async def spend(self, credits: int) -> None:
        self.spends += 1
        key = f"booking-{self.spends}"
        async with self.db.transaction(TenantScope(user_id=self.user, organization_id=self.org)) as session:
            row = await service.spend(session, self.org, self.user, credits, key, service.Source("booking", key))
        self.expected.spend(credits)
        assert (row.amount, row.balance_after) == (-credits, self.expected.balance)
        async with self.db.transaction(TenantScope(user_id=self.user, organization_id=self.org)) as session:
            again = await service.spend(session, self.org, self.user, credits, key, service.Source("booking", key))
        assert again.id == row.id  # a booking's retry spends once
        await self.check()

    async def overspend_is_refused(self) -> None:
        too_much = self.expected.balance + 1
        try:
            async with self.db.transaction(TenantScope(user_id=self.user, organization_id=self.org)) as session:
                await service.spend(session, self.org, self.user, too_much, "too-much", service.Source("booking"))
        except DomainError as error:
            assert [e.code for e in error.errors] == [ErrorCode.INSUFFICIENT_CREDITS]
        else:
            raise AssertionError(f"spending {too_much} of {self.expected.balance} credits succeeded")
        await self.check()

    async def expire_at(self, period_end: int) -> None:
        """The expiry job at the period's end plus a second, twice at once, then once more."""
        moment = period_end + 1
        now = datetime.fromtimestamp(moment, UTC)
        due = self.expected.expire(moment)
        written = await asyncio.gather(jobs.expire_due_lots(self.db, now=now), jobs.expire_due_lots(self.db, now=now))
        assert sum(written) == due, (written, due)
        assert await jobs.expire_due_lots(self.db, now=now) == 0
        await self.check()

    async def check(self) -> None:
        expected = self.expected
        body = await self.shop.gql.ok(VIEWER, {"org": to_global_id("Organization", self.org)},
                                      self.shop.actors.customer.token)
        rows = await self.admin_db.fetch(
            "select id, kind, amount, balance_after, source_type, source_id, idempotency_key from credit_transaction "
            "where organization_id = $1 and user_id = $2 order by created_at desc, id desc", self.org, self.user)
        assert body["viewer"]["creditBalance"] == expected.balance, (body, expected)
        connection = body["viewer"]["creditTransactions"]
        assert connection["totalCount"] == len(rows) and connection["pageInfo"]["hasNextPage"] is False
        assert connection["nodes"] == [
            {"kind": r["kind"], "amount": r["amount"], "balanceAfter": r["balance_after"], "sourceType": r["source_type"],
             "sourceId": r["source_id"]} for r in rows]
        assert sum(node["amount"] for node in connection["nodes"]) == expected.balance
        await assert_ledger(self.admin_db, self.org, self.user, expected.balance)  # balance row == SUM(amount)

        grants = sorted((r["source_type"], r["source_id"], r["amount"]) for r in rows if r["kind"] == "GRANT")
        assert grants == sorted(("invoice", invoice, MONTHLY) for invoice in expected.granted)  # each paid invoice once
        invoice_of_lot = {str(r["id"]): r["source_id"] for r in rows if r["kind"] == "GRANT"}
        expiries = sorted(
            (r["source_type"], invoice_of_lot[r["source_id"]] if r["source_type"] == "credit_lot"
             else r["idempotency_key"].removeprefix("credits:rollover:"), r["amount"])
            for r in rows if r["kind"] == "EXPIRE")
        assert expiries == sorted(expected.expired)  # each lot, or each period's excess, once
        assert len({r["idempotency_key"] for r in rows}) == len(rows)


def shop_period(shop: StripeShop, subscription_id: str) -> tuple[int, int]:
    return shop.stripe.period(shop.stripe.subscriptions[subscription_id])


async def _subscribe(shop: StripeShop, db: Database, admin_db: Any, policy: str, cap: int | None) -> tuple[Lifecycle, str]:
    """A tier with MONTHLY credits under ``policy`` and a 7-day trial; the customer subscribes (the trial's
    invoice: 0 paid, its credits granted, lapsing at the trial's end under EXPIRE_MONTHLY)."""
    wire_webhooks(shop)
    tier = await created(shop.gql, shop.token, published=True, monthlyCredits=MONTHLY, creditPolicy=policy,
                         creditRolloverCap=cap, trialDays=7)
    life = Lifecycle(shop, db, admin_db, Expected(policy, cap))
    await life.check()  # nothing yet
    events = await subscribed(shop, tier["id"], deliver=False)
    [trial_invoice] = await life.deliver(events)
    row = await life.row()
    assert row["status"] == "TRIALING" and shop.stripe.invoices[trial_invoice]["amount_paid"] == 0
    life.expected.paid(trial_invoice, await life.period_end())
    await life.check()
    return life, row["stripe_subscription_id"]


@pytest.mark.parametrize(("policy", "cap"), [("EXPIRE_MONTHLY", None), ("ROLLOVER", 6)])
async def test_credits_over_a_whole_lifecycle(stripe_shop: StripeShop, db: Database, admin_db: Any, policy: str,
                                              cap: int | None):
    shop = stripe_shop
    life, sub = await _subscribe(shop, db, admin_db, policy, cap)
    expected = life.expected
    await life.spend(2)
    await life.overspend_is_refused()

    # Paid renewals: the trial converts, then a regular period. The job runs at the end of the period just
    # over, when the new period's credits are already there (only the due lot lapses).
    for spent in (1, 4):
        ended = await life.period_end()
        [invoice] = await life.deliver(shop.stripe.renew(sub))
        assert (await life.row())["status"] == "ACTIVE"
        expected.paid(invoice, await life.period_end())
        await life.check()
        await life.expire_at(ended)
        await life.spend(spent)

    # A declined renewal grants nothing (whatever arrives, however often) until the invoice is paid.
    ended = await life.period_end()
    declined = shop.stripe.renew(sub, paid=False)
    assert await life.deliver(declined) == []
    assert (await life.row())["status"] == "PAST_DUE"
    await life.check()
    await life.expire_at(ended)
    await life.overspend_is_refused()
    open_invoice = shop.stripe.subscriptions[sub]["latest_invoice"]
    assert await life.deliver(shop.stripe.pay_invoice(open_invoice, paid=False)) == []  # a retry declined too
    await life.check()
    assert await life.deliver(shop.stripe.pay_invoice(open_invoice)) == [open_invoice]  # a new card: paid
    assert (await life.row())["status"] == "ACTIVE"
    expected.paid(open_invoice, await life.period_end())
    await life.check()
    await life.spend(3)

    # One more paid period, then the subscription ends.
    ended = await life.period_end()
    [invoice] = await life.deliver(shop.stripe.renew(sub))
    expected.paid(invoice, await life.period_end())
    await life.check()
    await life.expire_at(ended)
    last_end = await life.period_end()
    await life.deliver(shop.stripe.end(sub))
    assert (await life.row())["status"] == "CANCELED"
    await life.check()

    # After the end no more grants: everything ever sent, again, changes nothing; the last period's credits
    # still lapse at its end under EXPIRE_MONTHLY.
    everything = list(life.delivered)
    life.rng.shuffle(everything)
    assert {r.status_code for r in await shop.stripe.send(everything)} == {200}
    await life.check()
    await life.expire_at(last_end)
    assert len(expected.granted) == 5  # trial, two renewals, the recovered one, the last
    if policy == "EXPIRE_MONTHLY":
        assert expected.balance == 0 and len(expected.expired) == 5
    else:
        assert [amount for _, _, amount in expected.expired] == [-1, -1, -2]  # the excess over the cap
        assert expected.balance == 11


async def test_accumulated_credits_never_expire(stripe_shop: StripeShop, db: Database, admin_db: Any):
    shop = stripe_shop
    life, sub = await _subscribe(shop, db, admin_db, "ACCUMULATE", None)
    await life.spend(2)
    for _ in range(2):
        ended = await life.period_end()
        [invoice] = await life.deliver(shop.stripe.renew(sub))
        life.expected.paid(invoice, await life.period_end())
        await life.check()
        await life.expire_at(ended)
    last_end = await life.period_end()
    await life.deliver(shop.stripe.end(sub))
    await life.expire_at(last_end + int(timedelta(days=400).total_seconds()))
    assert life.expected.balance == 3 * MONTHLY - 2 and life.expected.expired == []


async def test_an_invoice_paid_after_its_period_ended(stripe_shop: StripeShop, db: Database, admin_db: Any,
                                                     monkeypatch: pytest.MonkeyPatch):
    """EXPIRE_MONTHLY: a declined renewal's invoice paid only after its period ended (from the hosted invoice,
    say) is handled like any payment (revenue recorded, the subscription active again), but grants no credits:
    they would have lapsed unused at that period's end already."""
    shop = stripe_shop
    life, sub = await _subscribe(shop, db, admin_db, "EXPIRE_MONTHLY", None)
    ended = await life.period_end()
    assert await life.deliver(shop.stripe.renew(sub, paid=False)) == []
    await life.expire_at(ended)
    late_invoice = shop.stripe.subscriptions[sub]["latest_invoice"]
    period_end = await life.period_end()
    later = datetime.fromtimestamp(period_end, UTC) + timedelta(days=1)
    monkeypatch.setattr(service, "utcnow", lambda: later)  # the credits service's clock: a day after the period
    assert await life.deliver(shop.stripe.pay_invoice(late_invoice)) == [late_invoice]
    assert (await life.row())["status"] == "ACTIVE"
    assert await admin_db.fetchval("select amount_paid_cents from subscription_invoice where stripe_invoice_id = $1",
                                   late_invoice) == 1500
    await life.check()  # the trial's credits, expired; nothing for the late invoice
    assert life.expected.balance == 0 and life.expected.granted == [life.expected.granted[0]]
