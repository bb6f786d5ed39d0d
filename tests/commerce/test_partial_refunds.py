"""Partial refunds and disputes, through the API and reported by Stripe (the stand-in, real HTTP, signed
webhooks): amounts, statuses, access, dedupe of provider refunds, concurrency, net analytics and
receipts, audit entries, and who may refund or see refunded amounts."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from tests.commerce.test_commerce_authz import without
from tests.commerce.test_commerce_emails import purchase_emails, receipt_of  # noqa: F401  (fixture)
from tests.support import Actors, assert_authz_matrix
from tests.support.analytics import summaries
from tests.support.commerce import Shop

REFUND = """mutation($input: RefundPurchaseInput!) { refundPurchase(input: $input) {
  errors { code field message } purchase { id status amountCents refundedAmountCents refundedAt } } }"""
STAFF_VIEW = """query($id: ID!) { node(id: $id) { ... on Purchase { status refundedAmountCents creatorShareCents
  creatorRefundedCents disputedAt disputeStatus } } }"""
ORG_PURCHASES = """query($s: String!) { organization(slug: $s) { purchases(first: 10) {
  nodes { id status amountCents refundedAmountCents creatorRefundedCents disputeStatus } } } }"""
MY_PURCHASES = "{ viewer { purchases(first: 10) { nodes { id status amountCents refundedAmountCents } } } }"
FIGURES = """query($s: String!, $id: ID!) {
  organization(slug: $s) { analytics { totalRevenueCents refundCount topContent(limit: 5) { revenueCents } }
    creatorEarnings { purchases grossCents shareCents } }
  content(id: $id) { revenueCents stats { purchases revenueCents refunds } } }"""


async def bought(shop: Shop, name: str | None = None, tax: int = 0) -> tuple[Any, str, dict[str, Any]]:
    """A customer who paid for the shop's paid item: (person, purchase global id, Stripe charge)."""
    customer = await shop.factory.user(name=name or "Buyer")
    started = await shop.checkout(customer)
    session_id = started["checkoutUrl"].rsplit("/", 1)[-1]
    assert (await shop.deliver(shop.stripe.pay(session_id, tax=tax))).status_code == 200
    return customer, await _purchase_of(shop, customer), shop.stripe.charge_for(session_id)


async def _purchase_of(shop: Shop, customer: Any) -> str:
    nodes = (await shop.gql.ok("{ viewer { purchases(first: 1) { nodes { id } } } }", token=customer.token))
    return nodes["viewer"]["purchases"]["nodes"][0]["id"]


async def refund(shop: Shop, purchase: str, amount: int | None = None, key: str | None = None,
                 token: str | None = None, reason: str = "") -> dict[str, Any]:
    variables: dict[str, Any] = {"purchaseId": purchase, "idempotencyKey": key or uuid.uuid4().hex, "reason": reason}
    if amount is not None:
        variables["amountCents"] = amount
    body = await shop.gql(REFUND, {"input": variables}, token or shop.owner.token)
    assert "errors" not in body, body
    return body["data"]["refundPurchase"]


def state(admin_db: Any, shop: Shop) -> Any:
    """Everything a refund could change."""
    async def snapshot() -> dict[str, Any]:
        return {
            "purchases": [tuple(r) for r in await admin_db.fetch(
                "select id, status, refunded_amount_cents, refunded_net_cents, creator_refunded_cents, refunded_at, "
                "refund_requested_at, refund_reason, dispute_status from purchase order by id")],
            "refunds": [tuple(r) for r in await admin_db.fetch(
                "select id, status, amount_cents from purchase_refund order by id")],
            "entitlements": [tuple(r) for r in await admin_db.fetch(
                "select user_id, content_id, revoked_at from content_entitlement order by id")],
            "outbox": await admin_db.fetchval("select count(*) from outbox_message"),
            "audit": await admin_db.fetchval("select count(*) from audit_log_entry"),
            "summaries": await summaries(admin_db, shop.org),
            "provider_refunds": sorted((r["amount"], r["payment_intent"]) for r in shop.stripe.refunds.values()),
        }

    return snapshot


async def outbox_topics(admin_db: Any, kind: str) -> list[str]:
    return [r["topic"] if kind == "event" else json.loads(r["payload"])["kind"] for r in await admin_db.fetch(
        "select topic, payload from outbox_message where kind = $1 order by created_at, id", kind)]


async def audit_entries(admin_db: Any, *actions: str) -> list[dict[str, Any]]:
    rows = await admin_db.fetch("select * from audit_log_entry where action = any($1::text[]) order by created_at, id",
                                list(actions))
    return [{**dict(r), "after": json.loads(r["after"]) if r["after"] else None} for r in rows]


async def test_partial_refund_then_the_remainder_by_default(shop, admin_db):
    customer, purchase, charge = await bought(shop)
    first = await refund(shop, purchase, 500, reason="scratched audio")
    assert first["errors"] == []
    assert first["purchase"] == {"id": purchase, "status": "PARTIALLY_REFUNDED", "amountCents": 1999,
                                 "refundedAmountCents": 500, "refundedAt": None}
    assert await shop.has_access(customer) is True  # access ends only at a full refund
    assert charge["amount_refunded"] == 500 and charge["refunded"] is False
    # No amount: all that remains.
    rest = await refund(shop, purchase)
    assert rest["errors"] == [] and rest["purchase"]["status"] == "REFUNDED"
    assert rest["purchase"]["refundedAmountCents"] == 1999 and rest["purchase"]["refundedAt"] is not None
    assert await shop.has_access(customer) is False
    assert sorted(r["amount"] for r in shop.stripe.refunds.values()) == [500, 1499]
    # Stripe got each amount with a deterministic idempotency key, outside any transaction of ours.
    sent = [(p.get("amount"), key) for m, path, p, key in shop.stripe.requests if path == "/v1/refunds"]
    assert [a for a, _ in sent] == ["500", "1499"] and all(k and k.startswith("refund:") for _, k in sent)
    assert await outbox_topics(admin_db, "event") == [
        "purchase.completed", "purchase.partially_refunded", "purchase.refunded"]
    assert await outbox_topics(admin_db, "job") == ["confirmation", "partial_refund", "refund"]
    entries = await audit_entries(admin_db, "PURCHASE_REFUNDED")
    assert [(e["actor_user_id"], e["actor_service"], e["after"]["amountCents"], e["after"]["status"]) for e in entries] == [
        (shop.owner.user_id, None, 500, "PARTIALLY_REFUNDED"), (shop.owner.user_id, None, 1499, "REFUNDED")]
    # Nothing remains: another refund is refused.
    again = await refund(shop, purchase, 1)
    assert [e["code"] for e in again["errors"]] == ["INVALID_STATE"]


async def test_bad_refunds_are_typed_errors_and_change_nothing(shop, admin_db):
    _, purchase, _ = await bought(shop)
    assert (await refund(shop, purchase, 1500))["errors"] == []
    snapshot = state(admin_db, shop)
    before = await snapshot()
    cases = [(0, "INVALID_INPUT", "amountCents"), (-5, "INVALID_INPUT", "amountCents"),
             (500, "REFUND_EXCEEDS_REMAINING", "amountCents"), (10**6, "REFUND_EXCEEDS_REMAINING", "amountCents")]
    for amount, code, field in cases:
        refused = await refund(shop, purchase, amount)
        assert [(e["code"], e["field"]) for e in refused["errors"]] == [(code, ["input", field])], (amount, refused)
        assert refused["purchase"] is None
    assert await snapshot() == before
    # Another organization's staff, refunding this purchase from their own organization: not found there.
    rival = await shop.factory.user()
    await shop.factory.organization(rival, slug="rival-shop")
    other = await refund(shop, purchase, 100, token=rival.token)
    assert [e["code"] for e in other["errors"]] == ["NOT_FOUND"]
    assert await snapshot() == before
    # The same key with another amount is refused too.
    key = "k-reused"
    assert (await refund(shop, purchase, 100, key=key))["errors"] == []
    after_one = await snapshot()
    reused = await refund(shop, purchase, 200, key=key)
    assert [e["code"] for e in reused["errors"]] == ["IDEMPOTENCY_KEY_REUSED"]
    assert await snapshot() == after_one
    assert [amount for amount, _ in before["provider_refunds"]] == [1500]


async def test_concurrent_partial_refunds_never_exceed_the_purchase(shop, admin_db):
    customer, purchase, charge = await bought(shop)
    results = await asyncio.gather(*(refund(shop, purchase, 600) for _ in range(5)))
    codes = sorted(tuple(e["code"] for e in r["errors"]) for r in results)
    assert codes == [(), (), (), ("REFUND_EXCEEDS_REMAINING",), ("REFUND_EXCEEDS_REMAINING",)]
    assert sum(r["amount"] for r in shop.stripe.refunds.values()) == 1800 == charge["amount_refunded"]
    row = await admin_db.fetchrow("select status, refunded_amount_cents from purchase")
    assert tuple(row) == ("PARTIALLY_REFUNDED", 1800)
    # Concurrent retries of one request (same key) refund once.
    retries = await asyncio.gather(*(refund(shop, purchase, key="same-key") for _ in range(4)))
    assert all(r["errors"] == [] and r["purchase"]["status"] == "REFUNDED" for r in retries), retries
    assert sum(r["amount"] for r in shop.stripe.refunds.values()) == 1999 and len(shop.stripe.refunds) == 4
    assert await admin_db.fetchval("select count(*) from purchase_refund where status = 'SUCCEEDED'") == 4
    assert await shop.has_access(customer) is False


async def test_webhooks_for_our_refunds_and_replays_count_once(shop, admin_db):
    customer, purchase, charge = await bought(shop)
    assert (await refund(shop, purchase, 700))["errors"] == []
    snapshot = state(admin_db, shop)
    before = await snapshot()
    event = shop.stripe.event("charge.refunded", charge)
    assert (await shop.deliver(event)).status_code == 200
    assert (await shop.deliver(event)).status_code == 200  # a replay of the same event
    # Stripe may send another event for the same charge state: still counted once (by refund id).
    assert (await shop.deliver(shop.stripe.event("charge.refunded", charge))).status_code == 200
    outcomes = [r["outcome"] for r in await admin_db.fetch(
        "select outcome from stripe_event where type = 'charge.refunded' order by created_at")]
    assert outcomes == ["already_recorded", "already_recorded"]
    after = await snapshot()
    assert {k: v for k, v in after.items() if k != "outbox"} == {k: v for k, v in before.items() if k != "outbox"}
    assert await shop.has_access(customer) is True


async def test_refund_confirmed_by_the_webhook_before_the_api_records_it(shop, admin_db, db):
    """The crash window: Stripe refunded, our second transaction did not run. The webhook finds our
    reserved row through the refund's metadata and counts it once; recording afterwards changes nothing."""
    from codex_graphql import audit
    from codex_graphql.authz import Membership, OrgRole, Viewer
    from codex_graphql.commerce import refunds
    from codex_graphql.payments import RefundResult
    from codex_graphql.relay import decode_id

    customer, purchase, charge = await bought(shop)
    viewer = Viewer(user_id=shop.owner.user_id, memberships=(Membership(shop.org, OrgRole.OWNER),),
                    active_organization_id=shop.org)
    async with db.transaction(viewer.scope) as session:
        audit.attach(session, audit.AuditContext(shop.owner.user_id))
        reservation = await refunds.reserve(session, viewer, decode_id(purchase, "Purchase"), 900, "", "crash")
    made = shop.stripe.refund_charge(charge, 900, metadata={"purchase_refund_id": str(reservation.refund_id)})
    assert (await shop.deliver(shop.stripe.event("charge.refunded", charge))).status_code == 200
    assert await admin_db.fetchval("select outcome from stripe_event where type = 'charge.refunded'") == \
        "partial_refund_recorded"
    async with db.transaction(viewer.scope) as session:
        status = await refunds.record(session, reservation, RefundResult(made["id"], "succeeded", 900), None)
    assert status.value == "SUCCEEDED"
    row = await admin_db.fetchrow("select status, refunded_amount_cents from purchase")
    assert tuple(row) == ("PARTIALLY_REFUNDED", 900)
    [entry] = await audit_entries(admin_db, "PURCHASE_REFUNDED")
    assert entry["actor_user_id"] == shop.owner.user_id and entry["after"]["providerRefundId"] == made["id"]
    assert await admin_db.fetchval("select count(*) from purchase_refund") == 1


async def test_dashboard_refunds_arrive_by_webhook_with_actor_stripe(shop, admin_db):
    customer, purchase, charge = await bought(shop, name="Dana")
    shop.stripe.refund_charge(charge, 400)  # made in Stripe's dashboard
    assert (await shop.deliver(shop.stripe.event("charge.refunded", charge))).status_code == 200
    view = (await shop.gql.ok(STAFF_VIEW, {"id": purchase}, shop.owner.token))["node"]
    assert (view["status"], view["refundedAmountCents"]) == ("PARTIALLY_REFUNDED", 400)
    assert view["creatorRefundedCents"] == 400 * view["creatorShareCents"] // 1999
    assert await shop.has_access(customer) is True
    # Then the rest, in the dashboard too: access ends.
    shop.stripe.refund_charge(charge, 1599)
    assert (await shop.deliver(shop.stripe.event("charge.refunded", charge))).status_code == 200
    assert await shop.has_access(customer) is False
    entries = await audit_entries(admin_db, "PURCHASE_REFUNDED")
    assert [(e["actor_user_id"], e["actor_service"], e["after"]["amountCents"], e["after"]["source"])
            for e in entries] == [(None, "stripe", 400, "STRIPE"), (None, "stripe", 1599, "STRIPE")]
    # The audit log shows the actor to staff.
    log = await shop.gql.ok("""query { organization(slug: "shop") { auditLog(first: 5, filter: {action: PURCHASE_REFUNDED})
      { nodes { actorService actorId } } } }""", token=shop.owner.token)
    assert log["organization"]["auditLog"]["nodes"] == [{"actorService": "stripe", "actorId": None}] * 2
    assert await outbox_topics(admin_db, "job") == ["confirmation", "partial_refund", "refund"]


async def test_dispute_created_then_lost_ends_access(shop, admin_db):
    customer, purchase, charge = await bought(shop)
    dispute = shop.stripe.dispute(charge)
    assert (await shop.deliver(shop.stripe.event("charge.dispute.created", dispute))).status_code == 200
    view = (await shop.gql.ok(STAFF_VIEW, {"id": purchase}, shop.owner.token))["node"]
    assert view["disputeStatus"] == "OPEN" and view["disputedAt"] is not None and view["status"] == "COMPLETED"
    assert await shop.has_access(customer) is True
    lost = {**dispute, "status": "lost"}
    closed = shop.stripe.event("charge.dispute.closed", lost)
    assert (await shop.deliver(closed)).status_code == 200
    assert (await shop.deliver(shop.stripe.event("charge.dispute.closed", lost))).status_code == 200  # resent
    view = (await shop.gql.ok(STAFF_VIEW, {"id": purchase}, shop.owner.token))["node"]
    assert (view["status"], view["refundedAmountCents"], view["disputeStatus"]) == ("REFUNDED", 1999, "LOST")
    assert await shop.has_access(customer) is False
    entries = await audit_entries(admin_db, "PURCHASE_DISPUTED", "DISPUTE_CLOSED", "PURCHASE_REFUNDED")
    assert [(e["action"], e["actor_service"]) for e in entries] == [
        ("PURCHASE_DISPUTED", "stripe"), ("PURCHASE_REFUNDED", "stripe"), ("DISPUTE_CLOSED", "stripe")]
    assert entries[1]["after"]["source"] == "DISPUTE"
    assert await admin_db.fetchval("select count(*) from purchase_refund") == 1
    assert (await outbox_topics(admin_db, "event")).count("purchase.refunded") == 1


async def test_dispute_won_clears_it(shop, admin_db):
    customer, purchase, charge = await bought(shop)
    dispute = shop.stripe.dispute(charge)
    assert (await shop.deliver(shop.stripe.event("charge.dispute.created", dispute))).status_code == 200
    assert (await shop.deliver(shop.stripe.event("charge.dispute.closed", {**dispute, "status": "won"}))).status_code == 200
    view = (await shop.gql.ok(STAFF_VIEW, {"id": purchase}, shop.owner.token))["node"]
    assert view == {"status": "COMPLETED", "refundedAmountCents": 0, "creatorShareCents": 1999,
                    "creatorRefundedCents": 0, "disputedAt": None, "disputeStatus": "WON"}
    assert await shop.has_access(customer) is True
    assert await admin_db.fetchval("select count(*) from purchase_refund") == 0


async def test_analytics_earnings_and_receipts_are_net_of_refunds(shop, admin_db, mailbox, purchase_emails):  # noqa: F811
    await admin_db.execute("update organization set creator_share_percent = 70 where id = $1", shop.org)
    _, taxed, _ = await bought(shop, tax=200)  # 2199 paid, 1999 net of tax, creator share 1399
    customer, plain, _ = await bought(shop, name="Rae")  # 1999, creator share 1399
    assert (await refund(shop, taxed, 1100))["errors"] == []  # half, tax included
    assert (await refund(shop, plain, 999))["errors"] == []
    # Independently: a refunded piece's net of tax and creator part are proportional, rounded down.
    taxed_net, taxed_creator = 1100 * 1999 // 2199, 1100 * 1399 // 2199
    plain_net, plain_creator = 999, 999 * 1399 // 1999
    kept = 1999 - taxed_net + 1999 - plain_net
    figures = await shop.gql.ok(FIGURES, {"s": "shop", "id": shop.paid}, shop.owner.token)
    assert figures["organization"]["analytics"]["totalRevenueCents"] == kept
    assert figures["organization"]["analytics"]["refundCount"] == 0  # none fully refunded
    assert figures["organization"]["analytics"]["topContent"] == [{"revenueCents": kept}]
    assert figures["organization"]["creatorEarnings"] == [
        {"purchases": 2, "grossCents": kept, "shareCents": 2 * 1399 - taxed_creator - plain_creator}]
    assert figures["content"] == {"revenueCents": kept, "stats": {"purchases": 2, "revenueCents": kept, "refunds": 0}}
    # The incrementally maintained summaries equal a rebuild from the purchase and refund rows.
    incremental = await summaries(admin_db, shop.org)
    await admin_db.execute("select set_config('codex.organization_id', $1, false)", str(shop.org))
    await admin_db.execute("select analytics_rebuild($1)", shop.org)
    assert await summaries(admin_db, shop.org) == incremental
    # The partial-refund mail and the receipt show what was paid net of the refund.
    jobs = [job for job in await purchase_emails.jobs() if job[1]["kind"] == "partial_refund"]
    assert len(jobs) == 2
    for job in jobs:
        await purchase_emails.run(*job)
    notice = next(m for m in mailbox.received if customer.email in m.envelope_to)
    assert notice.subject == "Partial refund: Paid film"
    assert "9.99 USD of 19.99 USD" in notice.text and "You paid 10.00 USD in the end" in notice.text
    receipt = await shop.http.get(receipt_of(notice))
    assert receipt.status_code == 200 and "Refunded" in receipt.text and "Net paid" in receipt.text
    assert "10.00 USD" in receipt.text and "Refunded on" not in receipt.text


async def test_refund_purchase_matrix_with_an_amount(shop, admin_db):
    customer, purchase, _ = await bought(shop, name="Matrix Buyer")
    member = await shop.factory.user()
    from codex_graphql.authz import OrgRole

    await shop.factory.member(shop.org, member, OrgRole.MEMBER)
    rival = await shop.factory.user()
    rival_org = await shop.factory.organization(rival, slug="rival-matrix")
    actors = Actors(org=shop.org, org_slug="shop", other_org=rival_org, customer=customer, other_staff=rival,
                    staff_without=member, staff_with=shop.owner)
    variables = {"input": {"purchaseId": purchase, "amountCents": 300, "idempotencyKey": "matrix"}}
    snapshot = state(admin_db, shop)
    before = await snapshot()
    # Staff of another organization hold PURCHASES_REFUND in their own (active) organization, where this
    # purchase does not exist: a NOT_FOUND payload error, nothing changed.
    other = await shop.gql(REFUND, variables, rival.token)
    assert [e["code"] for e in other["data"]["refundPurchase"]["errors"]] == ["NOT_FOUND"]
    assert other["data"]["refundPurchase"]["purchase"] is None and await snapshot() == before
    results = await assert_authz_matrix(shop.gql, without(actors, "other_org_staff"), REFUND, variables,
                                        path=["refundPurchase", "purchase"], allowed={"staff_with_permission"},
                                        snapshot=snapshot)
    done = results["staff_with_permission"]["data"]["refundPurchase"]
    assert done["errors"] == [] and done["purchase"]["refundedAmountCents"] == 300
    assert len(shop.stripe.refunds) == 1


async def test_refunded_amount_visibility(shop, admin_db):
    buyer, purchase, _ = await bought(shop, name="Vis Buyer")
    assert (await refund(shop, purchase, 250))["errors"] == []
    member = await shop.factory.user()
    from codex_graphql.authz import OrgRole

    await shop.factory.member(shop.org, member, OrgRole.MEMBER)
    rival = await shop.factory.user()
    rival_org = await shop.factory.organization(rival, slug="rival-vis")
    other_customer = await shop.factory.user()
    actors = Actors(org=shop.org, org_slug="shop", other_org=rival_org, customer=other_customer, other_staff=rival,
                    staff_without=member, staff_with=shop.owner)
    listed = await assert_authz_matrix(shop.gql, actors, ORG_PURCHASES, {"s": "shop"}, path=["organization", "purchases"],
                                       allowed={"staff_with_permission"}, snapshot=state(admin_db, shop))
    nodes = listed["staff_with_permission"]["data"]["organization"]["purchases"]["nodes"]
    assert nodes == [{"id": purchase, "status": "PARTIALLY_REFUNDED", "amountCents": 1999, "refundedAmountCents": 250,
                      "creatorRefundedCents": 250, "disputeStatus": None}]
    # The buyer sees their own refunded amount; another customer does not see the purchase at all.
    mine = (await shop.gql.ok(MY_PURCHASES, token=buyer.token))["viewer"]["purchases"]["nodes"]
    assert mine == [{"id": purchase, "status": "PARTIALLY_REFUNDED", "amountCents": 1999, "refundedAmountCents": 250}]
    node = "query($id: ID!) { node(id: $id) { ... on Purchase { refundedAmountCents } } }"
    assert (await shop.gql.ok(node, {"id": purchase}, other_customer.token))["node"] is None
    # Restricted refund details stay hidden from the buyer.
    refused = await shop.gql(STAFF_VIEW, {"id": purchase}, buyer.token)
    assert {e["extensions"]["code"] for e in refused["errors"]} == {"FORBIDDEN"}
    assert refused["data"]["node"]["creatorRefundedCents"] is None and refused["data"]["node"]["refundedAmountCents"] == 250


async def test_provider_outage_keeps_the_reservation_and_a_retry_refunds_once(shop, admin_db):
    customer, purchase, charge = await bought(shop)
    shop.stripe.fail_status = 500
    failed = await refund(shop, purchase, 800, key="outage")
    assert [e["code"] for e in failed["errors"]] == ["PAYMENT_PROVIDER_ERROR"]
    assert tuple(await admin_db.fetchrow("select status, refunded_amount_cents from purchase")) == ("COMPLETED", 0)
    assert await admin_db.fetchval("select status from purchase_refund") == "PENDING"
    # The reserved amount may have been refunded: it is not offered twice.
    shop.stripe.fail_status = None
    over = await refund(shop, purchase, 1999 - 800 + 1)
    assert [e["code"] for e in over["errors"]] == ["REFUND_EXCEEDS_REMAINING"]
    retried = await refund(shop, purchase, 800, key="outage")
    assert retried["errors"] == [] and retried["purchase"]["refundedAmountCents"] == 800
    assert [r["amount"] for r in shop.stripe.refunds.values()] == [800] == [charge["amount_refunded"]]
    # A refusal (4xx) releases the reservation.
    shop.stripe.fail_status = 400
    declined = await refund(shop, purchase, 100, key="declined")
    assert [e["code"] for e in declined["errors"]] == ["PAYMENT_PROVIDER_ERROR"]
    shop.stripe.fail_status = None
    assert await admin_db.fetchval("select status from purchase_refund where amount_cents = 100") == "FAILED"
    rest = await refund(shop, purchase)
    assert rest["errors"] == [] and rest["purchase"]["refundedAmountCents"] == 1999
    assert await shop.has_access(customer) is False


async def test_a_refund_pending_at_stripe_counts_when_it_settles(shop, admin_db):
    customer, purchase, charge = await bought(shop)
    shop.stripe.refund_status = "pending"
    first = await refund(shop, purchase, 600)
    assert first["errors"] == [] and first["purchase"]["refundedAmountCents"] == 0
    second = await refund(shop, purchase, 400)
    assert second["errors"] == []
    pending = list(shop.stripe.refunds.values())
    event = shop.stripe.event("charge.refund.updated", shop.stripe.settle_refund(pending[0]["id"], "succeeded"))
    assert (await shop.deliver(event)).status_code == 200
    assert (await shop.deliver(shop.stripe.event("charge.refund.updated", pending[0]))).status_code == 200  # resent
    failed = shop.stripe.event("charge.refund.updated", shop.stripe.settle_refund(pending[1]["id"], "failed"))
    assert (await shop.deliver(failed)).status_code == 200
    outcomes = [r["outcome"] for r in await admin_db.fetch("select outcome from stripe_event "
                                                            "where type = 'charge.refund.updated' order by created_at")]
    assert outcomes == ["refund_recorded", "already_recorded", "refund_failed"]
    row = await admin_db.fetchrow("select status, refunded_amount_cents from purchase")
    assert tuple(row) == ("PARTIALLY_REFUNDED", 600) and charge["amount_refunded"] == 600
    assert sorted(r["status"] for r in await admin_db.fetch("select status from purchase_refund")) == ["FAILED", "SUCCEEDED"]
    assert await shop.has_access(customer) is True
