"""A process killed (SIGKILL) at each point of a call to the payment provider, and the repair.

A real child process builds the app on the test's database and Redis, pointed at the Stripe stand-in (real
HTTP), and runs one mutation; its payment provider kills the process right before the provider call (after
what the request committed first, e.g. a refund's reservation) or right after the provider answered (before
the outcome is recorded). Then the repair runs as in production: the refund reconciliation
(``commerce/reconcile.py``), the Stripe webhook, or the client's retry with the same idempotency key. Each
ends with exactly one refund or purchase, and never a charge or refund without its record."""

from __future__ import annotations

import asyncio
import signal
import uuid
from datetime import timedelta
from typing import Any

import orjson

from codex_graphql.commerce import reconcile
from tests.commerce.test_partial_refunds import REFUND, bought, refund
from tests.support.commerce import START, Shop
from tests.support.faults import PYTHON, ROOT

CHILD = r"""
import asyncio, os, signal, sys
import httpx, orjson
from codex_graphql.app import create_app
from codex_graphql.settings import Settings

settings = Settings.model_validate_json(sys.argv[1])
point, operation = sys.argv[2], sys.argv[3]
query, variables, token = sys.argv[4], orjson.loads(sys.argv[5]), sys.argv[6]

def die():
    os.kill(os.getpid(), signal.SIGKILL)

async def main():
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        provider = app.state.runtime["services"].payments
        original = getattr(provider, operation)

        async def crashing(*args, **kwargs):
            if point == "before":
                die()
            result = await original(*args, **kwargs)
            die()
            return result

        setattr(provider, operation, crashing)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            response = await http.post("/graphql", json={"query": query, "variables": variables},
                                       headers={"authorization": f"Bearer {token}"})
            print("NOT KILLED", response.text)

asyncio.run(main())
"""


async def run_killed(shop: Shop, point: str, operation: str, query: str, variables: dict[str, Any], token: str) -> None:
    """Run the mutation in a child process that is SIGKILLed at ``point`` around ``provider.<operation>``."""
    settings = shop.app.state.settings
    child = await asyncio.create_subprocess_exec(
        PYTHON, "-c", CHILD, settings.model_dump_json(), point, operation, query, orjson.dumps(variables).decode(),
        token, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await asyncio.wait_for(child.communicate(), timeout=120)
    assert child.returncode == -signal.SIGKILL, (child.returncode, output.decode(errors="replace")[-3000:])


async def rows(admin_db: Any) -> dict[str, Any]:
    return {
        "refunds": [tuple(r) for r in await admin_db.fetch(
            "select amount_cents, status, provider_refund_id is not null from purchase_refund order by created_at")],
        "purchase": tuple(await admin_db.fetchrow("select status, refunded_amount_cents from purchase")),
    }


async def reconcile_now(shop: Shop) -> dict[str, int]:
    services = shop.app.state.runtime["services"]
    return await reconcile.reconcile_refunds(services.db, services.payments, stale_after=timedelta(0))


async def test_refund_killed_before_the_provider_call_is_released_by_the_reconciliation(shop: Shop, admin_db):
    _, purchase, charge = await bought(shop)
    variables = {"input": {"purchaseId": purchase, "amountCents": 500, "idempotencyKey": "crash-before"}}
    await run_killed(shop, "before", "refund", REFUND, variables, shop.owner.token)
    # The reservation committed before the call; nothing reached the provider.
    assert await rows(admin_db) == {"refunds": [(500, "PENDING", False)], "purchase": ("COMPLETED", 0)}
    assert shop.stripe.refunds == {}
    # A fresh reservation is not touched by the reconciliation (it may still be in flight).
    assert await reconcile.reconcile_refunds(shop.app.state.runtime["services"].db,
                                             shop.app.state.runtime["services"].payments) == {"recorded": 0, "released": 0}
    assert await reconcile_now(shop) == {"recorded": 0, "released": 1}
    assert await rows(admin_db) == {"refunds": [(500, "FAILED", False)], "purchase": ("COMPLETED", 0)}
    assert await reconcile_now(shop) == {"recorded": 0, "released": 0}
    assert shop.stripe.refunds == {} and charge["amount_refunded"] == 0
    # The amount is refundable again.
    whole = await refund(shop, purchase)
    assert whole["errors"] == [] and whole["purchase"]["status"] == "REFUNDED"
    assert sorted(r["amount"] for r in shop.stripe.refunds.values()) == [1999]


async def test_refund_killed_after_the_provider_call_is_recorded_once(shop: Shop, admin_db):
    customer, purchase, charge = await bought(shop)
    variables = {"input": {"purchaseId": purchase, "amountCents": 500, "idempotencyKey": "crash-after"}}
    await run_killed(shop, "after", "refund", REFUND, variables, shop.owner.token)
    # Refunded at the provider, not recorded: the amount stays reserved, so no other refund can exceed the charge.
    assert [r["amount"] for r in shop.stripe.refunds.values()] == [500]
    assert await rows(admin_db) == {"refunds": [(500, "PENDING", False)], "purchase": ("COMPLETED", 0)}
    over = await refund(shop, purchase, 1600)
    assert [e["code"] for e in over["errors"]] == ["REFUND_EXCEEDS_REMAINING"]
    assert await reconcile_now(shop) == {"recorded": 1, "released": 0}
    assert await rows(admin_db) == {"refunds": [(500, "SUCCEEDED", True)], "purchase": ("PARTIALLY_REFUNDED", 500)}
    # Then the webhook (charge.refunded) and a second pass: nothing counted twice.
    assert (await shop.deliver(shop.stripe.event("charge.refunded", charge))).status_code == 200
    assert await reconcile_now(shop) == {"recorded": 0, "released": 0}
    # The client's retry with the same key replays the result.
    again = await refund(shop, purchase, 500, key="crash-after")
    assert again["errors"] == [] and again["purchase"]["refundedAmountCents"] == 500
    assert await rows(admin_db) == {"refunds": [(500, "SUCCEEDED", True)], "purchase": ("PARTIALLY_REFUNDED", 500)}
    assert [r["amount"] for r in shop.stripe.refunds.values()] == [500] and charge["amount_refunded"] == 500
    assert await shop.has_access(customer) is True
    jobs = await admin_db.fetchval("select count(*) from outbox_message where topic = 'purchase.partially_refunded'")
    assert jobs == 1


async def test_refund_killed_after_the_call_then_retried_with_its_key_refunds_once(shop: Shop, admin_db):
    _, purchase, charge = await bought(shop)
    variables = {"input": {"purchaseId": purchase, "amountCents": None, "idempotencyKey": "crash-retry"}}
    await run_killed(shop, "after", "refund", REFUND, variables, shop.owner.token)
    retried = await refund(shop, purchase, key="crash-retry")  # same key and input: the provider replays
    assert retried["errors"] == [] and retried["purchase"]["status"] == "REFUNDED"
    assert [r["amount"] for r in shop.stripe.refunds.values()] == [1999] and charge["amount_refunded"] == 1999
    assert await reconcile_now(shop) == {"recorded": 0, "released": 0}
    assert await rows(admin_db) == {"refunds": [(1999, "SUCCEEDED", True)], "purchase": ("REFUNDED", 1999)}


def checkout_variables(shop: Shop, key: str) -> dict[str, Any]:
    return {"input": {"contentId": shop.paid, "successUrl": "http://testserver/thanks",
                      "cancelUrl": "http://testserver/cancel", "idempotencyKey": key}}


def session_posts(shop: Shop) -> list[tuple[dict[str, Any], str | None]]:
    return [(params, key) for method, path, params, key in shop.stripe.requests
            if (method, path) == ("POST", "/v1/checkout/sessions")]


async def test_checkout_killed_after_the_provider_call_gets_the_same_session_on_retry(shop: Shop, admin_db):
    customer = await shop.factory.user(name="Crash Buyer")
    key = f"k-{uuid.uuid4().hex[:8]}"
    await run_killed(shop, "after", "create_checkout", START, checkout_variables(shop, key), customer.token)
    assert len(shop.stripe.sessions) == 1  # created at the provider; its URL reached nobody
    assert await admin_db.fetchval("select count(*) from checkout_session") == 0
    retried = await shop.checkout(customer, key=key)
    assert retried["errors"] == [], retried
    # The retry sent the very same parameters with the same key (Stripe refuses a key reused with others), and
    # got the same session back, which is now recorded.
    [(first, first_key), (second, second_key)] = session_posts(shop)
    assert first == second and first_key == second_key
    [session_id] = shop.stripe.sessions
    assert retried["checkoutUrl"].endswith(session_id)
    assert await admin_db.fetchval("select provider_session_id from checkout_session") == session_id
    assert (await shop.deliver(shop.stripe.pay(session_id))).status_code == 200
    assert await admin_db.fetchval("select count(*) from purchase where status = 'COMPLETED'") == 1
    assert await shop.has_access(customer) is True


async def test_checkout_killed_before_the_provider_call_leaves_nothing(shop: Shop, admin_db):
    customer = await shop.factory.user(name="Early Crash")
    key = f"k-{uuid.uuid4().hex[:8]}"
    await run_killed(shop, "before", "create_checkout", START, checkout_variables(shop, key), customer.token)
    assert shop.stripe.sessions == {}
    assert await admin_db.fetchval("select count(*) from checkout_session") == 0
    assert await admin_db.fetchval("select count(*) from idempotency_record") == 0
    retried = await shop.checkout(customer, key=key)
    assert retried["errors"] == [] and len(shop.stripe.sessions) == 1

