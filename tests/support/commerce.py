"""Fixtures for commerce tests: the app wired to the Stripe stand-in, a shop with published items."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from codex_graphql.app import create_app
from codex_graphql.authz import OrgRole
from codex_graphql.db import TenantScope
from codex_graphql.relay import to_global_id
from tests.support import Factory, GraphQLClient, Person
from tests.support.stripe_standin import StripeStandIn, running_standin

WEBHOOK_SECRET = "whsec_test_standin_secret"

START = """mutation($input: StartCheckoutInput!) { startCheckout(input: $input) {
  errors { code field message } checkoutUrl checkout { id status amountCents currency } } }"""
REFUND = """mutation($input: RefundPurchaseInput!) { refundPurchase(input: $input) {
  errors { code field message } purchase { id status refundedAt } } }"""
ACCESS = "query($id: ID!) { content(id: $id) { viewerHasAccess } }"


@dataclass
class Shop:
    app: Any
    http: httpx.AsyncClient
    gql: GraphQLClient
    factory: Factory
    stripe: StripeStandIn
    org: uuid.UUID
    owner: Person
    creator: Person
    paid: str  # global id of a published item priced 1999
    free: str  # global id of a published free item

    async def deliver(self, event: dict[str, Any], **kwargs: Any) -> httpx.Response:
        payload, signature = self.stripe.signed(event, **kwargs)
        return await self.http.post("/webhooks/stripe", content=payload,
                                    headers={"stripe-signature": signature, "content-type": "application/json"})

    async def checkout(self, customer: Person, content: str | None = None, key: str | None = None) -> dict[str, Any]:
        body = await self.gql(START, {"input": {
            "contentId": content or self.paid, "successUrl": "http://testserver/thanks",
            "cancelUrl": "http://testserver/cancel", "idempotencyKey": key or uuid.uuid4().hex,
        }}, customer.token)
        return body["data"]["startCheckout"]

    async def buy(self, customer: Person, content: str | None = None) -> dict[str, Any]:
        """Checkout, pay at the stand-in and deliver the signed completion event. Returns the event."""
        started = await self.checkout(customer, content)
        assert started["errors"] == [], started
        session_id = started["checkoutUrl"].rsplit("/", 1)[-1]
        event = self.stripe.pay(session_id)
        response = await self.deliver(event)
        assert response.status_code == 200, response.text
        return event

    async def has_access(self, customer: Person, content: str | None = None) -> bool:
        return (await self.gql.ok(ACCESS, {"id": content or self.paid}, customer.token))["content"]["viewerHasAccess"]


async def insert_content(db: Any, org: uuid.UUID, creator: uuid.UUID, title: str, price: int) -> str:
    content_id = uuid.uuid4()
    async with db.transaction(TenantScope(organization_id=org)) as session:
        await session.execute(text(
            "insert into content (id, organization_id, creator_id, kind, status, title, price_cents, storage_key, "
            "mime_type, original_filename, size_bytes, duration_seconds, published_at) values (:id, :org, :creator, "
            "'VIDEO', 'PUBLISHED', :title, :price, :key, 'video/mp4', 'a.mp4', 100, 60, now())"),
            {"id": content_id, "org": org, "creator": creator, "title": title, "price": price,
             "key": f"orgs/{org}/content/{content_id}/original.mp4"})
    return to_global_id("Content", content_id)


@pytest.fixture
async def shop(settings, db) -> AsyncIterator[Shop]:
    async with running_standin(WEBHOOK_SECRET) as stripe:
        configured = settings.model_copy(update={
            "payments_provider": "stripe", "stripe_secret_key": "sk_test_codex", "stripe_webhook_secret": WEBHOOK_SECRET,
            "stripe_api_base": stripe.base_url,
        })
        app = create_app(configured)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=("198.51.100.9", 5555))
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
                gql = GraphQLClient(http)
                factory = Factory(db, gql)
                owner = await factory.user()
                org = await factory.organization(owner, slug="shop")
                creator = await factory.user(name="Cleo Creator")
                await factory.member(org, creator, OrgRole.CREATOR)
                paid = await insert_content(db, org, creator.user_id, "Paid film", 1999)
                free = await insert_content(db, org, creator.user_id, "Free short", 0)
                yield Shop(app=app, http=http, gql=gql, factory=factory, stripe=stripe, org=org, owner=owner,
                           creator=creator, paid=paid, free=free)
