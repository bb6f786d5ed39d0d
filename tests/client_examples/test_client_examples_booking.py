"""client-examples/python/booking.py (gql) against a live `codex-graphql serve` on loopback: browse, book by card
through the local checkout, confirmed by the payment, cancelled with the refund the policy gives."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import httpx
import pytest

from tests.offerings.support import add_session, create_offering, publish, raw_id, soon
from tests.support import Factory, GraphQLClient
from tests.support.client_examples import EXAMPLES, serve
from tests.support.live_server import free_port


@pytest.mark.timeout(90)
async def test_python_booking_example_books_pays_and_cancels(settings, db, admin_db):
    port = free_port()
    with serve(settings, port) as base:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            gql = GraphQLClient(http)
            owner = await Factory(db, gql).user()
            await Factory(db, gql).organization(owner, slug="gql-events", name="GQL Events")
            free = await create_offering(gql, owner.token, title="Open day", capacity=50, creditPrice=None)
            await add_session(gql, owner.token, free["id"], soon(2))
            await publish(gql, owner.token, free["id"])
            paid = await create_offering(gql, owner.token, title="Masterclass", capacity=8, priceCents=4500,
                                         currency="EUR", creditPrice=None)
            session = await add_session(gql, owner.token, paid["id"], soon(5))
            await publish(gql, owner.token, paid["id"])

        result = await asyncio.to_thread(subprocess.run, [
            sys.executable, str(EXAMPLES / "python" / "booking.py"), "--url", base, "--org", "gql-events",
            "--email", "gql-guest@example.com", "--cancel",
        ], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        summary = json.loads(result.stdout)
        assert summary["offering"] == {"id": paid["id"], "title": "Masterclass", "priceCents": 4500,
                                       "currency": "EUR"}
        assert summary["session"]["id"] == session["id"]
        assert summary["booking"]["heldWhilePaying"] == "PAYMENT_PENDING"
        assert summary["booking"]["status"] == "CANCELLED"

    booking = raw_id(summary["booking"]["id"], "Booking")
    row = await admin_db.fetchrow("select status, purchase_id from booking where id = $1", booking)
    assert row["status"] == "CANCELLED" and row["purchase_id"] is not None
    assert await admin_db.fetchval("select amount_cents from purchase where id = $1", row["purchase_id"]) == 4500
    # Cancelled five days ahead, inside the 24-hour policy: the refund job was requested with the cancellation.
    assert await admin_db.fetchval("select count(*) from outbox_message where topic = 'booking_refund' and "
                                   "payload->>'booking_id' = $1", str(booking)) == 1
