"""Paid bookings (issue 19, item 2): a priced offering booked by card through Stripe Checkout (the stand-in, the
official client, signed webhooks), exactly once: the seat held while the person pays, confirmed by the completion
in the webhook's transaction, released by an expired checkout or a lapsed hold (the checkout then closed at the
provider), a late payment re-seated or refunded, refunds on cancellation as the policy says (a job that refunds
once however often it runs), capacity exact under concurrent card bookings; and SUBSCRIPTION access from a tier
with offering access."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from codex_graphql.offerings import jobs, paid
from tests.offerings.support import (
    CANCEL_OFFERING,
    add_session,
    book,
    cancel_booking,
    codes,
    create_offering,
    publish,
    raw_id,
    seats,
    soon,
)
from tests.support.commerce import Shop

RETURN = {"successUrl": "http://testserver/booked", "cancelUrl": "http://testserver/offering"}
PENDING_FIELDS = "id status payWith holdExpiresAt checkoutUrl"
BOOK_CARD = f"""mutation($input: BookOfferingInput!) {{ bookOffering(input: $input) {{ errors {{ code field message }}
  checkoutUrl booking {{ {PENDING_FIELDS} }} }} }}"""
MY_BOOKING = f"query($id: ID!) {{ node(id: $id) {{ ... on Booking {{ {PENDING_FIELDS} }} }} }}"


async def priced(shop: Shop, *, capacity: int = 5, price: int = 2500, cancellation_hours: int = 24,
                 days: float = 3) -> tuple[str, str]:
    offering = await create_offering(shop.gql, shop.owner.token, capacity=capacity, priceCents=price, currency="EUR",
                                     creditPrice=None, cancellationHours=cancellation_hours)
    session = await add_session(shop.gql, shop.owner.token, offering["id"], soon(days))
    await publish(shop.gql, shop.owner.token, offering["id"])
    return offering["id"], session["id"]


async def book_card(shop: Shop, person: Any, offering: str, session: str, key: str | None = None,
                    **extra: Any) -> dict[str, Any]:
    values = {"offeringId": offering, "sessionId": session, "payWith": "PURCHASE",
              "idempotencyKey": key or uuid.uuid4().hex, **RETURN, **extra}
    body = await shop.gql(BOOK_CARD, {"input": values}, person.token)
    assert "errors" not in body, body
    return body["data"]["bookOffering"]


def checkout_session_id(answer: dict[str, Any]) -> str:
    return answer["checkoutUrl"].rsplit("/", 1)[-1]


def services(shop: Shop) -> Any:
    return shop.app.state.runtime["services"]


async def row(admin_db: Any, booking: str) -> Any:
    return await admin_db.fetchrow("select status, purchase_id, hold_expires_at, pay_with from booking where id = $1",
                                   raw_id(booking, "Booking"))


async def jobs_of(admin_db: Any, topic: str, booking: str) -> int:
    return int(await admin_db.fetchval("select count(*) from outbox_message where kind = 'job' and topic = $1 and "
                                       "payload->>'booking_id' = $2", topic, str(raw_id(booking, "Booking"))))


async def test_a_card_booking_holds_its_seat_until_paid_and_is_confirmed_exactly_once(shop: Shop, admin_db: Any) -> None:
    offering, session = await priced(shop)
    customer = await shop.factory.user()
    key = uuid.uuid4().hex

    first = await book_card(shop, customer, offering, session, key)
    assert first["errors"] == [] and first["booking"]["status"] == "PAYMENT_PENDING"
    assert first["booking"]["payWith"] == "PURCHASE" and first["booking"]["holdExpiresAt"] is not None
    assert first["checkoutUrl"] and first["booking"]["checkoutUrl"] == first["checkoutUrl"]
    assert await seats(admin_db, session) == 1
    created = [r for r in shop.stripe.requests if r[1] == "/v1/checkout/sessions"]
    assert len(created) == 1
    params = created[0][2]
    assert params["line_items"][0]["price_data"]["unit_amount"] == "2500"
    assert params["metadata"]["booking_id"] == str(raw_id(first["booking"]["id"], "Booking"))

    # A retry with the same key: the same booking and checkout, no second checkout at the provider.
    again = await book_card(shop, customer, offering, session, key)
    assert again["booking"]["id"] == first["booking"]["id"] and again["checkoutUrl"] == first["checkoutUrl"]
    assert len([r for r in shop.stripe.requests if r[1] == "/v1/checkout/sessions"]) == 1

    event = shop.stripe.pay(checkout_session_id(first))
    assert (await shop.deliver(event)).status_code == 200
    assert (await shop.deliver(event)).status_code == 200  # a replayed delivery changes nothing
    stored = await row(admin_db, first["booking"]["id"])
    assert stored["status"] == "CONFIRMED" and stored["hold_expires_at"] is None
    purchases = await admin_db.fetch("select p.id, p.amount_cents, p.status, c.kind from purchase p join content c on "
                                     "c.id = p.content_id where p.user_id = $1", customer.user_id)
    assert [(p["amount_cents"], p["status"], p["kind"]) for p in purchases] == [(2500, "COMPLETED", "OFFERING")]
    assert stored["purchase_id"] == purchases[0]["id"]
    assert await seats(admin_db, session) == 1
    confirmed = await admin_db.fetchval(
        "select count(*) from outbox_message where topic = 'booking_mail' and payload->>'kind' = 'booking.confirmed' "
        "and payload->>'booking_id' = $1", str(raw_id(first["booking"]["id"], "Booking")))
    assert confirmed == 1
    seen = (await shop.gql.ok(MY_BOOKING, {"id": first["booking"]["id"]}, customer.token))["node"]
    assert seen["status"] == "CONFIRMED" and seen["checkoutUrl"] is None


async def test_card_input_is_checked_and_the_offer_item_is_never_sold_on_its_own(shop: Shop, admin_db: Any) -> None:
    offering, session = await priced(shop)
    customer = await shop.factory.user()
    before = await admin_db.fetchval("select count(*) from booking")

    no_urls = await book(shop.gql, customer.token, offering, session, pay_with="PURCHASE")
    assert codes(no_urls) == ["INVALID_INPUT"] and no_urls["booking"] is None
    half = await book_card(shop, customer, offering, session, cancelUrl=None)
    assert codes(half) == ["INVALID_INPUT"] and half["errors"][0]["field"] == ["input", "cancelUrl"]
    foreign = await book_card(shop, customer, offering, session, successUrl="https://evil.example/x")
    assert codes(foreign) == ["INVALID_INPUT"]
    assert await admin_db.fetchval("select count(*) from booking") == before
    assert await seats(admin_db, session) == 0
    assert not [r for r in shop.stripe.requests if r[1] == "/v1/checkout/sessions"]

    offer = await admin_db.fetchval("select offer_content_id from offering where id = $1",
                                    raw_id(offering, "Offering"))
    from codex_graphql.relay import to_global_id
    started = await shop.checkout(customer, to_global_id("Content", offer))
    assert [e["code"] for e in started["errors"]] == ["NOT_FOUND"]


async def test_an_expired_checkout_gives_the_seat_to_the_first_person_waiting(shop: Shop, admin_db: Any) -> None:
    offering, session = await priced(shop, capacity=1)
    payer, waiting = await shop.factory.user(), await shop.factory.user()
    pending = await book_card(shop, payer, offering, session)
    queued = await book_card(shop, waiting, offering, session)
    assert queued["booking"]["status"] == "WAITLISTED" and queued["checkoutUrl"] is None

    assert (await shop.deliver(shop.stripe.expiry(checkout_session_id(pending)))).status_code == 200
    assert (await row(admin_db, pending["booking"]["id"]))["status"] == "EXPIRED"
    assert (await row(admin_db, queued["booking"]["id"]))["status"] == "HELD"
    assert await seats(admin_db, session) == 1
    assert await admin_db.fetchval("select status from checkout_session where provider_session_id = $1",
                                   checkout_session_id(pending)) == "EXPIRED"

    # The person promoted pays by card for the held seat: it stays theirs while they pay.
    confirm = await book_card(shop, waiting, offering, session)
    assert confirm["booking"]["id"] == queued["booking"]["id"] and confirm["booking"]["status"] == "PAYMENT_PENDING"
    assert (await shop.deliver(shop.stripe.pay(checkout_session_id(confirm)))).status_code == 200
    assert (await row(admin_db, queued["booking"]["id"]))["status"] == "CONFIRMED"
    assert await seats(admin_db, session) == 1


async def test_a_lapsed_hold_closes_the_checkout_and_a_late_payment_is_reseated_or_refunded(shop: Shop,
                                                                                            admin_db: Any) -> None:
    offering, session = await priced(shop, capacity=1)
    early, late = await shop.factory.user(), await shop.factory.user()
    db = services(shop).db

    # The hold lapses, but the payment made at the last second arrives after the expiry job: a seat is free, so
    # the booking is confirmed after all.
    first = await book_card(shop, early, offering, session)
    await admin_db.execute("update booking set hold_expires_at = now() - interval '1 second' where id = $1",
                           raw_id(first["booking"]["id"], "Booking"))
    paid_event = shop.stripe.pay(checkout_session_id(first))
    assert await jobs.expire_holds(db) == 1
    assert (await row(admin_db, first["booking"]["id"]))["status"] == "EXPIRED"
    assert await seats(admin_db, session) == 0
    assert await jobs_of(admin_db, paid.EXPIRE_CHECKOUT_ACTOR, first["booking"]["id"]) == 1
    assert (await shop.deliver(paid_event)).status_code == 200
    assert (await row(admin_db, first["booking"]["id"]))["status"] == "CONFIRMED"
    assert await seats(admin_db, session) == 1
    # The closing job finds the checkout paid: nothing to close.
    org = shop.org
    assert await paid.expire_checkout(db, services(shop).payments, org, raw_id(first["booking"]["id"], "Booking")) \
        == "not_open"

    # Full now: a payment that arrives after its hold lapsed and the seat went to someone else is refunded once.
    await cancel_booking(shop.gql, shop.owner.token, first["booking"]["id"])  # staff cancel: refunded
    second = await book_card(shop, late, offering, session)
    await admin_db.execute("update booking set hold_expires_at = now() - interval '1 second' where id = $1",
                           raw_id(second["booking"]["id"], "Booking"))
    late_event = shop.stripe.pay(checkout_session_id(second))
    assert await jobs.expire_holds(db) == 1
    taker = await shop.factory.user()
    taken = await book_card(shop, taker, offering, session)
    assert taken["booking"]["status"] == "PAYMENT_PENDING"
    assert (await shop.deliver(late_event)).status_code == 200
    stored = await row(admin_db, second["booking"]["id"])
    assert stored["status"] == "EXPIRED" and stored["purchase_id"] is not None
    assert await jobs_of(admin_db, paid.REFUND_ACTOR, second["booking"]["id"]) == 1
    booking_id = raw_id(second["booking"]["id"], "Booking")
    results = await asyncio.gather(*(paid.refund(db, services(shop).payments, org, booking_id, "late")
                                     for _ in range(2)), return_exceptions=True)
    assert results == ["refunded", "refunded"], results
    assert await paid.refund(db, services(shop).payments, org, booking_id, "late") == "refunded"  # the same refund
    refunds = [r for r in shop.stripe.refunds.values() if r["payment_intent"] == late_event["data"]["object"]
               ["payment_intent"]]
    assert len(refunds) == 1 and refunds[0]["amount"] == 2500
    assert await admin_db.fetchval("select status from purchase where id = $1", stored["purchase_id"]) == "REFUNDED"
    assert await seats(admin_db, session) == 1  # the taker's seat, untouched


async def test_cancelling_refunds_as_the_policy_says_and_closes_an_unpaid_checkout(shop: Shop, admin_db: Any) -> None:
    db, payments = services(shop).db, services(shop).payments
    offering, session = await priced(shop, capacity=3, cancellation_hours=24)
    strict, strict_session = await priced(shop, capacity=3, cancellation_hours=24 * 30)
    early, late, unpaid = await shop.factory.user(), await shop.factory.user(), await shop.factory.user()

    async def paid_booking(person: Any, on: str, at: str) -> str:
        answer = await book_card(shop, person, on, at)
        assert (await shop.deliver(shop.stripe.pay(checkout_session_id(answer)))).status_code == 200
        return answer["booking"]["id"]

    # Before the deadline: refunded in full, once, however often the job runs.
    refunded = await paid_booking(early, offering, session)
    assert (await cancel_booking(shop.gql, early.token, refunded))["booking"]["status"] == "CANCELLED"
    assert await jobs_of(admin_db, paid.REFUND_ACTOR, refunded) == 1
    for _ in range(2):
        await paid.refund(db, payments, shop.org, raw_id(refunded, "Booking"), "Booking cancelled")
    purchase = (await row(admin_db, refunded))["purchase_id"]
    assert await admin_db.fetchval("select status from purchase where id = $1", purchase) == "REFUNDED"
    assert await admin_db.fetchval("select count(*) from purchase_refund where purchase_id = $1", purchase) == 1
    assert len(shop.stripe.refunds) == 1

    # After the deadline (30 days before a session in 3): no refund.
    kept = await paid_booking(late, strict, strict_session)
    assert (await cancel_booking(shop.gql, late.token, kept))["booking"]["status"] == "CANCELLED"
    assert await jobs_of(admin_db, paid.REFUND_ACTOR, kept) == 0
    assert await seats(admin_db, strict_session) == 0

    # Cancelling while paying: the seat goes back and the provider's checkout is closed (once).
    pending = await book_card(shop, unpaid, offering, session)
    assert (await cancel_booking(shop.gql, unpaid.token, pending["booking"]["id"]))["booking"]["status"] == "CANCELLED"
    assert await jobs_of(admin_db, paid.EXPIRE_CHECKOUT_ACTOR, pending["booking"]["id"]) == 1
    pending_id = raw_id(pending["booking"]["id"], "Booking")
    assert await paid.expire_checkout(db, payments, shop.org, pending_id) == "expired"
    assert await paid.expire_checkout(db, payments, shop.org, pending_id) == "not_open"
    assert shop.stripe.expired == [checkout_session_id(pending)]
    assert await seats(admin_db, session) == 0


async def test_cancelling_the_offering_refunds_every_paid_booking(shop: Shop, admin_db: Any) -> None:
    offering, session = await priced(shop, capacity=3, cancellation_hours=24 * 30)
    people = [await shop.factory.user() for _ in range(2)]
    booked = []
    for person in people:
        answer = await book_card(shop, person, offering, session)
        assert (await shop.deliver(shop.stripe.pay(checkout_session_id(answer)))).status_code == 200
        booked.append(answer["booking"]["id"])
    cancelled = await shop.gql.ok(CANCEL_OFFERING, {"input": {"offeringId": offering}}, shop.owner.token)
    assert cancelled["cancelOffering"]["offering"]["status"] == "CANCELLED"
    for booking in booked:  # past the 30-day deadline, but the organization cancelled: refunded
        assert (await row(admin_db, booking))["status"] == "CANCELLED"
        assert await jobs_of(admin_db, paid.REFUND_ACTOR, booking) == 1


@pytest.mark.timeout(90)
async def test_concurrent_card_bookings_hold_exactly_the_seats_there_are(shop: Shop, admin_db: Any) -> None:
    offering, session = await priced(shop, capacity=3)
    people: list[Any] = []
    while len(people) < 20:
        people += await asyncio.gather(*(shop.factory.user() for _ in range(4)))
    answers = await asyncio.gather(*(book_card(shop, p, offering, session) for p in people))
    assert all(a["errors"] == [] for a in answers), [a for a in answers if a["errors"]][:2]
    statuses = [a["booking"]["status"] for a in answers]
    assert statuses.count("PAYMENT_PENDING") == 3 and statuses.count("WAITLISTED") == 17
    assert sum(1 for a in answers if a["checkoutUrl"]) == 3
    assert len([r for r in shop.stripe.requests if r[1] == "/v1/checkout/sessions"]) == 3
    assert await seats(admin_db, session) == 3


async def subscribe(admin_db: Any, org: uuid.UUID, user: uuid.UUID, *, offering_access: bool,
                    access: str = "now() + interval '20 days'") -> None:
    tier = uuid.uuid4()
    await admin_db.execute("insert into subscription_tier (id, organization_id, name, status, published_at, "
                           "offering_access) values ($1, $2, $3, 'PUBLISHED', now(), $4)", tier, org,
                           f"Tier {tier.hex[:6]}", offering_access)
    await admin_db.execute(
        "insert into subscription (id, organization_id, user_id, tier_id, interval, status, checkout_key, "
        f"current_period_start, current_period_end, access_until) values ($1, $2, $3, $4, 'MONTH', 'ACTIVE', $5, "
        f"now(), now() + interval '30 days', {access})", uuid.uuid4(), org, user, tier, uuid.uuid4().hex)


async def test_subscription_access_books_only_with_a_live_tier_that_includes_offerings(shop: Shop,
                                                                                       admin_db: Any) -> None:
    offering, session = await priced(shop, capacity=2)
    nobody, content_only, lapsed, member = [await shop.factory.user() for _ in range(4)]
    await subscribe(admin_db, shop.org, content_only.user_id, offering_access=False)
    await subscribe(admin_db, shop.org, lapsed.user_id, offering_access=True, access="now() - interval '1 day'")
    await subscribe(admin_db, shop.org, member.user_id, offering_access=True)
    for person in (nobody, content_only, lapsed):
        refused = await book(shop.gql, person.token, offering, session, pay_with="SUBSCRIPTION")
        assert codes(refused) == ["INVALID_STATE"] and refused["booking"] is None
    assert await seats(admin_db, session) == 0
    assert await admin_db.fetchval("select count(*) from booking") == 0

    booked = await book(shop.gql, member.token, offering, session, pay_with="SUBSCRIPTION")
    assert booked["errors"] == [] and booked["booking"]["status"] == "CONFIRMED"
    assert booked["booking"]["payWith"] == "SUBSCRIPTION"
    assert await seats(admin_db, session) == 1
    assert not [r for r in shop.stripe.requests if r[1] == "/v1/checkout/sessions"]
    assert (await cancel_booking(shop.gql, member.token, booked["booking"]["id"]))["booking"]["status"] == "CANCELLED"
    assert await jobs_of(admin_db, paid.REFUND_ACTOR, booked["booking"]["id"]) == 0


async def test_another_persons_pending_checkout_url_is_never_shown(shop: Shop) -> None:
    offering, session = await priced(shop)
    customer, other = await shop.factory.user(), await shop.factory.user()
    pending = await book_card(shop, customer, offering, session)
    staff_view = (await shop.gql.ok(MY_BOOKING, {"id": pending["booking"]["id"]}, shop.owner.token))["node"]
    assert staff_view["status"] == "PAYMENT_PENDING" and staff_view["checkoutUrl"] is None
    assert (await shop.gql.ok(MY_BOOKING, {"id": pending["booking"]["id"]}, other.token))["node"] is None


STATS = """query($id: ID!) { node(id: $id) { ... on Offering { stats { revenueCents purchases refunds creditsEarned
  confirmedBookings waitlisted seatsTaken seatCapacity fillRate checkedIn attendanceRate } } } }"""
CHECK = """mutation($input: BookingInput!) { checkInParticipant(input: $input) { errors { code } } }"""


async def test_offering_stats_count_revenue_fill_and_attendance(shop: Shop, admin_db: Any) -> None:
    db, payments = services(shop).db, services(shop).payments
    offering, session = await priced(shop, capacity=4, price=3000)
    people = [await shop.factory.user() for _ in range(3)]
    booked = []
    for person in people:
        answer = await book_card(shop, person, offering, session)
        assert (await shop.deliver(shop.stripe.pay(checkout_session_id(answer)))).status_code == 200
        booked.append(answer["booking"]["id"])
    waiting = await book_card(shop, await shop.factory.user(), offering, session)
    assert waiting["booking"]["status"] == "PAYMENT_PENDING"  # the fourth seat, held while paying
    await cancel_booking(shop.gql, people[2].token, booked[2])
    await paid.refund(db, payments, shop.org, raw_id(booked[2], "Booking"), "Booking cancelled")

    stats = (await shop.gql.ok(STATS, {"id": offering}, shop.owner.token))["node"]["stats"]
    assert stats == {"revenueCents": 6000, "purchases": 3, "refunds": 1, "creditsEarned": 0, "confirmedBookings": 2,
                     "waitlisted": 0, "seatsTaken": 3, "seatCapacity": 4, "fillRate": 0.75, "checkedIn": 0,
                     "attendanceRate": None}

    # The session starts; one of the two confirmed participants is checked in.
    await admin_db.execute("update offering_session set starts_at = now() - interval '5 minutes', ends_at = now() + "
                           "interval '1 hour' where id = $1", raw_id(session, "OfferingSession"))
    done = await shop.gql.ok(CHECK, {"input": {"bookingId": booked[0]}}, shop.owner.token)
    assert done["checkInParticipant"]["errors"] == []
    stats = (await shop.gql.ok(STATS, {"id": offering}, shop.owner.token))["node"]["stats"]
    assert stats["checkedIn"] == 1 and stats["attendanceRate"] == 0.5


REFUND = """mutation($input: RefundPurchaseInput!) { refundPurchase(input: $input) { errors { code } } }"""
MANAGE_OFFER = """mutation($input: ContentIdInput!) { publishContent(input: $input) { errors { code } } }"""


async def test_a_seat_held_and_abandoned_pauses_the_person_before_holding_it_again(shop: Shop, admin_db: Any) -> None:
    offering, session = await priced(shop, capacity=1)
    blocker, other = await shop.factory.user(), await shop.factory.user()
    held = await book_card(shop, blocker, offering, session)
    await admin_db.execute("update booking set hold_expires_at = now() - interval '1 second' where id = $1",
                           raw_id(held["booking"]["id"], "Booking"))
    assert await jobs.expire_holds(services(shop).db) == 1
    again = await book_card(shop, blocker, offering, session)
    assert codes(again) == ["INVALID_STATE"] and again["booking"] is None
    assert await seats(admin_db, session) == 0
    # Somebody else may take the seat meanwhile; after the pause the first person may try again.
    assert (await book_card(shop, other, offering, session))["booking"]["status"] == "PAYMENT_PENDING"
    await cancel_booking(shop.gql, other.token, (await row_of_user(admin_db, other.user_id)))
    await admin_db.execute("update booking set updated_at = now() - interval '11 minutes' where id = $1",
                           raw_id(held["booking"]["id"], "Booking"))
    assert (await book_card(shop, blocker, offering, session))["booking"]["status"] == "PAYMENT_PENDING"


async def row_of_user(admin_db: Any, user_id: Any) -> str:
    from codex_graphql.relay import to_global_id
    return to_global_id("Booking", await admin_db.fetchval("select id from booking where user_id = $1", user_id))


async def test_a_full_refund_outside_a_cancellation_ends_the_booking(shop: Shop, admin_db: Any) -> None:
    offering, session = await priced(shop, capacity=2, cancellation_hours=24 * 30)
    customer = await shop.factory.user()
    answer = await book_card(shop, customer, offering, session)
    assert (await shop.deliver(shop.stripe.pay(checkout_session_id(answer)))).status_code == 200
    stored = await row(admin_db, answer["booking"]["id"])
    assert stored["status"] == "CONFIRMED" and await seats(admin_db, session) == 1
    from codex_graphql.relay import to_global_id
    refunded = await shop.gql.ok(REFUND, {"input": {"purchaseId": to_global_id("Purchase", stored["purchase_id"]),
                                                    "idempotencyKey": "r1", "reason": "goodwill"}}, shop.owner.token)
    assert refunded["refundPurchase"]["errors"] == []
    assert (await row(admin_db, answer["booking"]["id"]))["status"] == "CANCELLED"
    assert await seats(admin_db, session) == 0
    assert await jobs_of(admin_db, paid.REFUND_ACTOR, answer["booking"]["id"]) == 0  # refunded once, by staff
    assert len(shop.stripe.refunds) == 1


async def test_staff_booking_for_themselves_follow_the_policy_and_the_offer_item_is_not_managed_alone(
        shop: Shop, admin_db: Any) -> None:
    offering, session = await priced(shop, capacity=2, cancellation_hours=24 * 30)
    answer = await book_card(shop, shop.owner, offering, session)
    assert (await shop.deliver(shop.stripe.pay(checkout_session_id(answer)))).status_code == 200
    cancelled = await cancel_booking(shop.gql, shop.owner.token, answer["booking"]["id"])
    assert cancelled["booking"]["status"] == "CANCELLED"
    assert await jobs_of(admin_db, paid.REFUND_ACTOR, answer["booking"]["id"]) == 0  # past the deadline: kept

    offer = await admin_db.fetchval("select offer_content_id from offering where id = $1", raw_id(offering, "Offering"))
    from codex_graphql.relay import to_global_id
    refused = await shop.gql(MANAGE_OFFER, {"input": {"contentId": to_global_id("Content", offer)}},
                             shop.owner.token)
    assert [e["code"] for e in refused["data"]["publishContent"]["errors"]] == ["INVALID_STATE"]
    assert await admin_db.fetchval("select status from content where id = $1", offer) == "READY"
