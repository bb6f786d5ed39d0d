"""A storefront walk-through with the `gql` client: sign up, browse, buy, play, save the position.

    pip install 'gql[httpx]'
    python storefront.py --url http://127.0.0.1:8000 --org demo --email me@example.com --password '...'

It uses the named operations in ../operations/storefront.graphql (validated against schema.graphql in
the tests) and the `local` payment provider: `startCheckout` returns a `/checkout/local/...` URL, and a
POST to that URL pays (what the "Pay" button of the demo checkout page does). With Stripe, the customer
would open `checkoutUrl` in a browser instead, and access follows the webhook.

Prints one JSON object summarising what happened; exits 1 on any error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
from gql import Client, GraphQLRequest
from gql.transport.httpx import HTTPXAsyncTransport

OPERATIONS = (Path(__file__).resolve().parent.parent / "operations" / "storefront.graphql").read_text()


class Storefront:
    """One signed-in customer. Every call is a named operation from storefront.graphql."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.token: str | None = None

    def _client(self) -> Client:
        headers = {"authorization": f"Bearer {self.token}"} if self.token else {}
        transport = HTTPXAsyncTransport(url=f"{self.url}/graphql", headers=headers, timeout=30)
        # The schema is not fetched: the server is the judge, operations are validated in CI.
        return Client(transport=transport, fetch_schema_from_transport=False)

    async def run(self, operation: str, **variables: Any) -> dict[str, Any]:
        request = GraphQLRequest(OPERATIONS, variable_values=variables, operation_name=operation)
        async with self._client() as session:
            data = await session.execute(request)
        # Mutations report expected failures (bad input, not allowed in this state) as payload errors.
        for value in data.values():
            if isinstance(value, dict) and value.get("errors"):
                raise RuntimeError(f"{operation}: {value['errors']}")
        return data

    async def sign_up_or_in(self, email: str, password: str, name: str) -> None:
        data = await self.run("Register", email=email, password=password, name=name)
        self.token = data["register"]["token"]
        if self.token is None:
            # The address already has an account: register answers without a session (and mails the
            # owner) so that nobody learns which addresses are taken. Sign in instead.
            data = await self.run("Login", email=email, password=password)
            self.token = data["login"]["token"]


async def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--org", default="demo", help="organization slug of the storefront")
    parser.add_argument("--email", default=f"buyer-{uuid.uuid4().hex[:8]}@example.com")
    parser.add_argument("--password", default="a long example passphrase")
    parser.add_argument("--position", type=float, default=12.5, help="playback position to save, in seconds")
    args = parser.parse_args(argv)

    shop = Storefront(args.url)
    await shop.sign_up_or_in(args.email, args.password, "Example Buyer")

    # Browse: the first page of the catalogue, then the detail of the first paid item not owned yet.
    catalogue = (await shop.run("Storefront", slug=args.org, first=24))["organization"]
    if catalogue is None:
        raise RuntimeError(f"no organization with slug {args.org!r}")
    items = catalogue["contents"]["nodes"]
    item = next((i for i in items if i["priceCents"] > 0 and not i["viewerHasAccess"]), None)
    if item is None:
        raise RuntimeError("nothing to buy in this storefront")
    detail = (await shop.run("ContentDetail", id=item["id"]))["content"]

    # Buy through the local provider: startCheckout, then POST the checkout URL (the "Pay" button).
    started = await shop.run("StartCheckout", contentId=item["id"], successUrl=f"{args.url}/thanks",
                             cancelUrl=f"{args.url}/cancel", idempotencyKey=uuid.uuid4().hex)
    checkout_url = started["startCheckout"]["checkoutUrl"]
    async with httpx.AsyncClient(timeout=30) as http:
        paid = await http.post(checkout_url, follow_redirects=False)
    if paid.status_code != 303:
        raise RuntimeError(f"payment failed: HTTP {paid.status_code}")

    # Access follows the (local) webhook; it is recorded before the checkout page redirects.
    for _ in range(50):
        if (await shop.run("ContentDetail", id=item["id"]))["content"]["viewerHasAccess"]:
            break
        await asyncio.sleep(0.1)
    else:
        raise RuntimeError("the purchase did not grant access")

    playback = (await shop.run("Playback", id=item["id"]))["content"]
    saved = await shop.run("SavePlaybackPosition", contentId=item["id"], positionSeconds=args.position)
    resumed = (await shop.run("Playback", id=item["id"]))["content"]["playbackPosition"]
    purchases = (await shop.run("MyPurchases"))["viewer"]["purchases"]["nodes"]
    return {
        "email": args.email,
        "organization": catalogue["name"],
        "catalogueSize": catalogue["contents"]["totalCount"],
        "bought": {"id": item["id"], "title": detail["title"], "priceCents": detail["priceCents"],
                   "currency": detail["currency"]},
        "playbackUrl": playback["playback"]["url"],
        "playbackExpiresAt": playback["playback"]["expiresAt"],
        "savedPosition": saved["savePlaybackPosition"]["positionSeconds"],
        "resumeFrom": resumed,
        "purchases": [{"title": p["contentTitle"], "status": p["status"], "amountCents": p["amountCents"]}
                      for p in purchases],
    }


if __name__ == "__main__":
    try:
        print(json.dumps(asyncio.run(main()), indent=2))
    except Exception as error:  # a command-line example: report and exit non-zero
        print(f"storefront example failed: {error}", file=sys.stderr)
        sys.exit(1)
