"""bookingEvents for integrators (issue 19, item 6): BOOKING_CONFIRMED and BOOKING_CANCELLED delivered over a real
WebSocket through Redis, once per change, to staff with CUSTOMERS_READ in the organization and to no one else
(the authorization matrix); a waitlisted booking is not announced as confirmed."""

from __future__ import annotations

from typing import Any

import pytest

from codex_graphql.authz import OrgRole
from codex_graphql.relay import to_global_id
from tests.offerings.support import book, cancel_booking, grant, published_event
from tests.support import Actors, make_actors
from tests.support.live_server import live_server, next_message, subscribe

EVENTS = """subscription($org: ID!) { bookingEvents(organizationId: $org) {
  eventId type bookingId offeringId occurredAt booking { id status participant { email } } } }"""


@pytest.fixture
async def actors(factory: Any) -> Actors:
    # ADMIN holds CUSTOMERS_READ; MEMBER does not.
    return await make_actors(factory, with_role=OrgRole.ADMIN)


async def _subscribe(address: str, token: str | None, organization_id: str, *, acting_in: str | None = None) -> Any:
    return await subscribe(address, token, EVENTS, {"org": organization_id}, acting_in=acting_in)


_next = next_message


@pytest.mark.timeout(60)
async def test_confirmations_and_cancellations_arrive_once_each(app: Any, gql: Any, db: Any, factory: Any,
                                                              actors: Actors) -> None:
    offering, [session] = await published_event(gql, actors.staff_with.token, capacity=1, creditPrice=2)
    first, second = await factory.user(email="first@example.com"), await factory.user()
    for person in (first, second):
        await grant(db, actors.org, person.user_id, 5)
    async with live_server(app) as address:
        ws = await _subscribe(address, actors.staff_with.token, to_global_id("Organization", actors.org))
        with pytest.raises(TimeoutError):
            await _next(ws, 1.0)  # subscribed, nothing yet
        booked = await book(gql, first.token, offering["id"], session["id"])
        waiting = await book(gql, second.token, offering["id"], session["id"])
        assert waiting["booking"]["status"] == "WAITLISTED"
        await cancel_booking(gql, first.token, booked["booking"]["id"])

        seen = []
        for _ in range(2):
            message = await _next(ws, 15)
            assert message["type"] == "next" and "errors" not in message["payload"], message
            seen.append(message["payload"]["data"]["bookingEvents"])
        assert [(e["type"], e["bookingId"], e["offeringId"]) for e in seen] == [
            ("BOOKING_CONFIRMED", booked["booking"]["id"], offering["id"]),
            ("BOOKING_CANCELLED", booked["booking"]["id"], offering["id"])]
        assert seen[0]["booking"]["participant"]["email"] == "first@example.com"
        assert seen[1]["booking"]["status"] == "CANCELLED"
        assert len({e["eventId"] for e in seen}) == 2
        # The waitlisted person was promoted to a HELD seat: neither confirmed nor cancelled, so nothing more.
        with pytest.raises(TimeoutError):
            await _next(ws, 1.5)
        await ws.close()


@pytest.mark.timeout(60)
async def test_booking_events_by_every_caller(app: Any, actors: Actors) -> None:
    """The authorization matrix: CUSTOMERS_READ in the active organization, which must be the one watched."""
    organization = to_global_id("Organization", actors.org)
    async with live_server(app) as address:
        for caller, token in actors.tokens().items():
            acting_in = actors.org_slug if caller == "staff_without_permission" else None
            ws = await _subscribe(address, token, organization, acting_in=acting_in)
            if caller == "staff_with_permission":
                with pytest.raises(TimeoutError):
                    await _next(ws, 1.0)  # subscribed: no error, waiting for events
                await ws.close()
                continue
            message = await _next(ws, 5)
            assert message["type"] in ("error", "next"), (caller, message)
            errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
            if message["type"] == "next":
                assert message["payload"]["data"] is None, (caller, message)
            expected = "UNAUTHENTICATED" if token is None else "FORBIDDEN"
            assert [e["extensions"]["code"] for e in errors] == [expected], (caller, message)
            await ws.close()
