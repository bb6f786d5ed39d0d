"""The local demo provider's onboarding page (``/local/connect/onboard/{account_id}``), standing in for
Stripe's hosted Express onboarding: the account link leads here; "Complete onboarding" enables the
account, makes the app deliver itself the signed ``account.updated`` event through the webhook path
(``commerce.routes.deliver``: verified, stored once, handled) and sends the user to the link's
``return_url``. An expired link goes to its ``refresh_url``, as Stripe's do. Answers 404 unless the
app's provider is the local one.
"""

from __future__ import annotations

from html import escape
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from codex_graphql.commerce.routes import deliver
from codex_graphql.payments import ConnectRefused
from codex_graphql.payments.local import LocalProvider
from codex_graphql.payments.local_connect import ONBOARD_PATH
from codex_graphql.services import Services


def local_connect_routes(get_services: Any) -> list[Route]:
    """The onboarding page's route; ``get_services`` returns the process's ``Services`` (as for
    ``commerce_routes``)."""

    async def onboarding(request: Request) -> Response:
        services: Services = get_services()
        provider = services.payments
        if not isinstance(provider, LocalProvider):
            return JSONResponse({"error": "not found"}, status_code=404)
        account_id = request.path_params["account_id"]
        link = provider.open_account_link(account_id, request.query_params)
        if link is None:
            return HTMLResponse("<h1>This onboarding link is not valid.</h1>", status_code=404)
        if link.expired:
            return RedirectResponse(link.refresh_url, status_code=303)
        try:
            account = await provider.retrieve_connected_account(account_id)
        except ConnectRefused:
            return HTMLResponse("<h1>This account does not exist.</h1>", status_code=404)
        if request.method == "POST":
            payload = provider.complete_onboarding(account_id)
            response = await deliver(services, payload, provider.signature(payload))
            if response.status_code != 200:
                return HTMLResponse("<h1>The onboarding could not be recorded.</h1>", status_code=500)
            return RedirectResponse(link.return_url, status_code=303)
        state = "Payouts are enabled." if account.payouts_enabled else "Payouts are not enabled yet."
        return HTMLResponse(f"""<!doctype html><html><head><meta charset="utf-8"><title>Payout setup</title></head>
<body><h1>Demo payout onboarding</h1><p>No real money moves: this is the local payment provider.</p>
<p>Account <code>{escape(account_id)}</code>. {state}</p>
<form method="post"><button id="complete" type="submit">Complete onboarding</button></form>
<p><a href="{escape(link.return_url, quote=True)}">Back</a></p></body></html>""")

    return [Route(ONBOARD_PATH + "{account_id}", onboarding, methods=["GET", "POST"])]
