"""A booking walk-through with the `gql` client: sign up, browse offerings, book a seat and pay by card, see it
confirmed, cancel it (and get the refund the cancellation policy gives).

    pip install 'gql[httpx]'
    python booking.py --url http://127.0.0.1:8000 --org demo --email me@example.com --password '...' [--cancel]

It uses the named operations in ../operations/offerings.graphql (and Register / Login from storefront.graphql),
validated against schema.graphql in the tests, and the `local` payment provider: `bookOffering` answers a
`/checkout/local/...` URL and a POST to it pays (the demo checkout page's "Pay" button). With Stripe, the customer
opens `checkoutUrl` in a browser and the booking is confirmed by the webhook.

Prints one JSON object summarising what happened; exits 1 on any error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from gql import Client, GraphQLRequest
from gql.transport.httpx import HTTPXAsyncTransport

HERE = Path(__file__).resolve().parent.parent / "operations"
OPERATIONS = (HERE / "offerings.graphql").read_text() + "\n" + "\n".join(
    block for block in (HERE / "storefront.graphql").read_text().split("\n\n")
    if block.lstrip().startswith(("mutation Register", "mutation Login")))


class Customer:
    """One signed-in customer. Every call is a named operation."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.token: str | None = None

    async def run(self, operation: str, **variables: Any) -> dict[str, Any]:
        headers = {"authorization": f"Bearer {self.token}"} if self.token else {}
        transport = HTTPXAsyncTransport(url=f"{self.url}/graphql", headers=headers, timeout=30)
        request = GraphQLRequest(OPERATIONS, variable_values=variables, operation_name=operation)
        async with Client(transport=transport, fetch_schema_from_transport=False) as session:
            data = await session.execute(request)
        for value in data.values():  # expected failures come back as payload errors
            if isinstance(value, dict) and value.get("errors"):
                raise RuntimeError(f"{operation}: {value['errors']}")
        return data

    async def sign_up_or_in(self, email: str, password: str) -> None:
        self.token = (await self.run("Register", email=email, password=password, name="Example Guest"))[
            "register"]["token"]
        if self.token is None:  # the address has an account already
            self.token = (await self.run("Login", email=email, password=password))["login"]["token"]


async def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--org", default="demo", help="organization slug")
    parser.add_argument("--email", default=f"guest-{uuid.uuid4().hex[:8]}@example.com")
    parser.add_argument("--password", default="a long example passphrase")
    parser.add_argument("--cancel", action="store_true", help="cancel the booking at the end")
    args = parser.parse_args(argv)

    me = Customer(args.url)
    await me.sign_up_or_in(args.email, args.password)

    # Browse: the organization's events, then the first one sold by card with a session that has seats left.
    listed = (await me.run("Offerings", slug=args.org, filter={"type": "EVENT"}))["organization"]
    if listed is None:
        raise RuntimeError(f"no organization with slug {args.org!r}")
    now = datetime.now(UTC)
    window = {"from": now.isoformat(), "to": (now + timedelta(days=60)).isoformat()}
    chosen = None
    for offering in (o for o in listed["offerings"]["nodes"] if o["priceCents"] > 0):
        page = (await me.run("OfferingPage", id=offering["id"], **window))["node"]
        session = next((s for s in page["sessions"] if s["seatsLeft"] > 0), None)
        if session is not None:
            chosen = (page, session)
            break
    if chosen is None:
        raise RuntimeError("no event with a free seat is sold by card here")
    offering, session = chosen

    # Book: the seat is held (PAYMENT_PENDING) while paying; a retry with the same key answers the same booking.
    key = uuid.uuid4().hex
    booked = (await me.run("BookOffering", offeringId=offering["id"], sessionId=session["id"], payWith="PURCHASE",
                           idempotencyKey=key, successUrl=f"{args.url}/booked",
                           cancelUrl=f"{args.url}/offerings"))["bookOffering"]
    booking = booked["booking"]
    if booking["status"] == "WAITLISTED":
        raise RuntimeError("the session filled up meanwhile: on the waitlist")
    async with httpx.AsyncClient(timeout=30) as http:
        paid = await http.post(booked["checkoutUrl"], follow_redirects=False)
    if paid.status_code != 303:
        raise RuntimeError(f"payment failed: HTTP {paid.status_code}")

    # The payment confirms the booking (the webhook is handled before the checkout page redirects).
    for _ in range(50):
        mine = (await me.run("MyBookings"))["viewer"]["bookings"]["nodes"]
        status = next(b["status"] for b in mine if b["id"] == booking["id"])
        if status == "CONFIRMED":
            break
        await asyncio.sleep(0.1)
    else:
        raise RuntimeError(f"the payment did not confirm the booking ({status})")

    summary: dict[str, Any] = {
        "email": args.email,
        "offering": {"id": offering["id"], "title": offering["title"], "priceCents": offering["priceCents"],
                     "currency": offering["currency"]},
        "session": {"id": session["id"], "startsAt": session["startsAt"]},
        "booking": {"id": booking["id"], "heldWhilePaying": booking["status"], "status": "CONFIRMED"},
    }
    if args.cancel:
        cancelled = (await me.run("CancelBooking", bookingId=booking["id"]))["cancelBooking"]["booking"]
        summary["booking"]["status"] = cancelled["status"]
    return summary


if __name__ == "__main__":
    try:
        print(json.dumps(asyncio.run(main()), indent=2))
    except Exception as error:  # a command-line example: report and exit non-zero
        print(f"booking example failed: {error}", file=sys.stderr)
        sys.exit(1)
