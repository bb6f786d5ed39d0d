"""The stand-in's billing lifecycle helpers (renew, failed payment, recovery, end) emit Stripe-shaped
events, signed with Stripe's scheme so that ``payments.signing`` verifies them, delivered to a webhook
URL in any order and as often as a test wants; older API versions get the older field placements."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from codex_graphql.payments import WebhookError, signing
from codex_graphql.payments.objects import invoice_info, invoice_subscription_id, subscription_state
from codex_graphql.payments.stripe import StripeProvider
from tests.payments.helpers import subscribe
from tests.support.live_server import live_server
from tests.support.stripe_standin import StripeStandIn, running_standin

SECRET = "whsec_standin_billing_test"


@pytest.fixture
async def standin() -> AsyncIterator[StripeStandIn]:
    async with running_standin(SECRET) as running:
        yield running


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """A webhook endpoint that verifies like the app (payments.signing) and records what it accepted."""
    received: list[dict[str, Any]] = []

    async def hook(request: Request) -> JSONResponse:
        try:
            event = signing.verify_event(await request.body(), request.headers.get("stripe-signature"), SECRET)
        except WebhookError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        received.append(event)
        return JSONResponse({"received": True})

    async with live_server(Starlette(routes=[Route("/webhooks/stripe", hook, methods=["POST"])])) as address:
        yield f"http://{address}/webhooks/stripe", received


def _types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


async def test_trial_renewals_failure_recovery_and_end_are_signed_events(standin, receiver):
    url, received = receiver
    standin.webhook_url = url
    provider = StripeProvider("sk_test_codex", SECRET, standin.base_url)
    sub_id = await subscribe(provider, standin, trial_days=7)
    started = subscription_state(standin.subscriptions[sub_id])
    responses = await standin.send()  # everything so far, in order
    assert {r.status_code for r in responses} == {200} and standin.undelivered == []
    assert _types(received)[1:3] == ["customer.subscription.created", "invoice.created"]

    converted = standin.renew(sub_id)  # the trial ends with a paid invoice
    assert _types(converted) == ["customer.subscription.updated", "invoice.created", "invoice.finalized",
                                 "invoice.paid", "invoice.payment_succeeded"]
    update = converted[0]["data"]
    assert update["object"]["status"] == "active" and update["previous_attributes"]["status"] == "trialing"
    state = subscription_state(update["object"])
    assert state.current_period_start == started.current_period_end
    assert state.current_period_end - state.current_period_start == timedelta(days=30)
    paid = invoice_info(converted[3]["data"]["object"])
    assert (paid.amount_paid, paid.billing_reason, paid.subscription_id) == (1200, "subscription_cycle", sub_id)
    assert (paid.period_start, paid.period_end) == (state.current_period_start, state.current_period_end)

    failed = standin.renew(sub_id, paid=False)
    assert _types(failed)[-1] == "invoice.payment_failed"
    declined = failed[-1]["data"]["object"]
    assert (declined["status"], declined["amount_paid"], declined["attempt_count"]) == ("open", 0, 1)
    assert declined["next_payment_attempt"] is not None
    assert standin.subscriptions[sub_id]["status"] == "past_due" == failed[0]["data"]["object"]["status"]

    recovered = standin.pay_invoice(declined["id"])
    assert _types(recovered) == ["invoice.paid", "invoice.payment_succeeded", "customer.subscription.updated"]
    assert recovered[0]["data"]["object"]["amount_paid"] == 1200
    assert recovered[-1]["data"]["object"]["status"] == "active"

    ended = standin.end(sub_id)
    assert _types(ended) == ["customer.subscription.deleted"]
    assert ended[0]["data"]["object"]["status"] == "canceled" and ended[0]["data"]["object"]["ended_at"]
    with pytest.raises(AssertionError):
        standin.renew(sub_id)

    # Reordered and replayed: the endpoint gets exactly what the test sends, each correctly signed.
    received.clear()
    later = converted + failed + recovered + ended
    await standin.send(list(reversed(later)))
    await standin.send(ended)
    assert [e["id"] for e in received] == [e["id"] for e in reversed(later)] + [ended[0]["id"]]
    assert standin.undelivered == []
    # Every event ever emitted is kept, with a unique id.
    assert len({e["id"] for e in standin.events}) == len(standin.events)


async def test_signatures_are_stripes_scheme(standin):
    provider = StripeProvider("sk_test_codex", SECRET, standin.base_url)
    sub_id = await subscribe(provider, standin)
    event = standin.renew(sub_id)[-1]
    payload, header = standin.signed(event)
    assert signing.verify_event(payload, header, SECRET) == orjson.loads(payload)
    assert provider.verify_webhook(payload, header)["id"] == event["id"]
    with pytest.raises(WebhookError):
        signing.verify_event(payload, header, "whsec_other")
    with pytest.raises(WebhookError):
        signing.verify_event(payload + b" ", header, SECRET)
    stale, old_header = standin.signed(event, timestamp=1_000_000)
    with pytest.raises(WebhookError, match="older"):
        signing.verify_event(stale, old_header, SECRET)


async def test_events_follow_the_api_version(standin):
    provider = StripeProvider("sk_test_codex", SECRET, standin.base_url)
    sub_id = await subscribe(provider, standin)
    modern = standin.subscriptions[sub_id]
    assert "current_period_end" not in modern and modern["items"]["data"][0]["current_period_end"]
    invoice = standin.invoices[modern["latest_invoice"]]
    assert "subscription" not in invoice and invoice_subscription_id(invoice) == sub_id
    assert standin.events[-1]["api_version"] == standin.api_version

    standin.api_version = "2025-01-27.acacia"
    old_id = await subscribe(provider, standin, key="old")
    legacy = standin.subscriptions[old_id]
    assert legacy["current_period_end"] == legacy["items"]["data"][0]["current_period_end"]
    old_invoice = standin.invoices[legacy["latest_invoice"]]
    assert old_invoice["subscription"] == old_id
    assert old_invoice["lines"]["data"][0]["price"]["id"] == legacy["items"]["data"][0]["price"]["id"]
    # The readers give the same answer from either shape.
    without_items_period = {**legacy, "items": {"data": [{k: v for k, v in legacy["items"]["data"][0].items()
                                                          if not k.startswith("current_period")}]}}
    assert subscription_state(without_items_period).current_period_end == subscription_state(legacy).current_period_end
    old_lines = {**old_invoice, "parent": None,
                 "lines": {"data": [{k: v for k, v in line.items() if k not in ("pricing", "parent")}
                                    for line in old_invoice["lines"]["data"]]}}
    assert invoice_info(old_lines).subscription_id == old_id
    assert invoice_info(old_lines).lines == invoice_info(old_invoice).lines


async def test_idempotency_keys_replay_the_first_answer(standin):
    provider = StripeProvider("sk_test_codex", SECRET, standin.base_url)
    sub_id = await subscribe(provider, standin)
    first = await provider.cancel_subscription(sub_id, at_period_end=True, idempotency_key="same")
    await provider.resume_subscription(sub_id)
    replayed = await provider.cancel_subscription(sub_id, at_period_end=True, idempotency_key="same")
    assert replayed == first  # the stored first answer, not a second cancellation
    assert standin.subscriptions[sub_id]["cancel_at_period_end"] is False
    updates = [e for e in standin.events if e["type"] == "customer.subscription.updated"]
    assert len(updates) == 2
