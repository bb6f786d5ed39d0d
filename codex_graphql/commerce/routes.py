"""HTTP routes of commerce: the payment webhook, the local demo checkout, signed receipt pages."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from html import escape
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from codex_graphql.commerce import repository, webhooks
from codex_graphql.db import TenantScope
from codex_graphql.payments import WebhookError
from codex_graphql.payments.local import LocalProvider
from codex_graphql.services import Services
from codex_graphql.settings import Settings

MAX_WEBHOOK_BYTES = 512 * 1024


def receipt_signature(secret_key: str, purchase_id: uuid.UUID, organization_id: uuid.UUID) -> str:
    key = hashlib.sha256(b"codex-receipt:" + secret_key.encode()).digest()
    return hmac.new(key, f"{purchase_id}:{organization_id}".encode(), hashlib.sha256).hexdigest()


def receipt_link_for(settings: Settings, purchase_id: uuid.UUID, organization_id: uuid.UUID) -> str:
    sig = receipt_signature(settings.secret_key, purchase_id, organization_id)
    return f"{settings.public_base_url.rstrip('/')}/receipts/{purchase_id}?o={organization_id}&sig={sig}"


async def deliver(services: Services, payload: bytes, signature: str | None) -> Response:
    """Verify, store and handle (webhooks.ingest); handling that fails is retried by a queued job."""
    try:
        ingested = await webhooks.ingest(services.db, services.payments, payload, signature)
    except WebhookError as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    if ingested.wrote_outbox:
        services.relay.notify()
    return JSONResponse({"received": True, "id": ingested.event_id})


def commerce_routes(get_services: Any) -> list[Route]:
    async def stripe_webhook(request: Request) -> Response:
        services: Services = get_services()
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_WEBHOOK_BYTES:
            return JSONResponse({"error": "payload too large"}, status_code=413)
        payload = await request.body()
        if len(payload) > MAX_WEBHOOK_BYTES:
            return JSONResponse({"error": "payload too large"}, status_code=413)
        return await deliver(services, payload, request.headers.get("stripe-signature"))

    async def local_checkout(request: Request) -> Response:
        services: Services = get_services()
        provider = services.payments
        if not isinstance(provider, LocalProvider):
            return JSONResponse({"error": "not found"}, status_code=404)
        checkout = provider.open_token(request.query_params.get("token", ""))
        if checkout is None or checkout["id"] != request.path_params["session_id"]:
            return HTMLResponse("<h1>This checkout link is not valid.</h1>", status_code=404)
        if request.method == "POST":
            for payload in provider.completion_events(checkout):  # a subscription checkout sends several
                response = await deliver(services, payload, provider.signature(payload))
                if response.status_code != 200:
                    return HTMLResponse("<h1>The payment could not be recorded.</h1>", status_code=500)
            return RedirectResponse(checkout["success_url"], status_code=303)
        price = f"{checkout['amount'] / 100:.2f} {escape(checkout['currency'])}"
        return HTMLResponse(f"""<!doctype html><html><head><meta charset="utf-8"><title>Checkout</title></head>
<body><h1>Demo checkout</h1><p>No real money moves: this is the local payment provider.</p>
<p><strong>{escape(checkout['title'])}</strong> — {price}</p><p>Receipt to {escape(checkout['email'])}</p>
<form method="post"><button id="pay" type="submit">Pay {price}</button></form>
<p><a href="{escape(checkout['cancel_url'], quote=True)}">Cancel</a></p></body></html>""")

    async def receipt(request: Request) -> Response:
        services: Services = get_services()
        try:
            purchase_id = uuid.UUID(request.path_params["purchase_id"])
            organization_id = uuid.UUID(request.query_params.get("o", ""))
        except ValueError:
            return HTMLResponse("<h1>Receipt not found.</h1>", status_code=404)
        expected = receipt_signature(services.settings.secret_key, purchase_id, organization_id)
        if not hmac.compare_digest(expected, request.query_params.get("sig", "")):
            return HTMLResponse("<h1>Receipt not found.</h1>", status_code=404)
        async with services.db.transaction(TenantScope(organization_id=organization_id)) as session:
            details = await repository.receipt_details(session, organization_id, purchase_id)
        if details is None:
            return HTMLResponse("<h1>Receipt not found.</h1>", status_code=404)
        purchase, title, organization_name = details
        def money(cents: int) -> str:
            return f"{cents / 100:.2f} {escape(purchase.currency)}"

        amount = money(purchase.amount_cents)
        refunded = f"<p>Refunded on {purchase.refunded_at:%Y-%m-%d}.</p>" if purchase.refunded_at else ""
        if purchase.refunded_amount_cents:  # what was refunded and what the buyer paid in the end
            amount += (f"</td></tr><tr><th>Refunded</th><td>{money(purchase.refunded_amount_cents)}</td></tr>"
                       f"<tr><th>Net paid</th><td>{money(purchase.amount_cents - purchase.refunded_amount_cents)}")
        return HTMLResponse(f"""<!doctype html><html><head><meta charset="utf-8"><title>Receipt</title></head>
<body><h1>Receipt</h1><p>{escape(organization_name)}</p><table>
<tr><th>Item</th><td>{escape(title)}</td></tr><tr><th>Amount</th><td>{amount}</td></tr>
<tr><th>Tax</th><td>{purchase.tax_cents / 100:.2f} {escape(purchase.currency)}</td></tr>
<tr><th>Date</th><td>{purchase.created_at:%Y-%m-%d %H:%M} UTC</td></tr>
<tr><th>Reference</th><td>{purchase.id}</td></tr></table>{refunded}</body></html>""")

    return [
        Route("/webhooks/stripe", stripe_webhook, methods=["POST"]),
        Route("/checkout/local/{session_id}", local_checkout, methods=["GET", "POST"]),
        Route("/receipts/{purchase_id}", receipt, methods=["GET"]),
    ]
