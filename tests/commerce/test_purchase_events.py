"""purchaseEvents over WebSocket: fan-out through Redis between two real API processes, and tenant isolation."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
import websockets

from codex_graphql.relay import to_global_id
from tests.support import Factory, GraphQLClient
from tests.support.client_examples import serve
from tests.support.commerce import insert_content
from tests.support.live_server import free_port

ROOT = Path(__file__).resolve().parents[2]
SUBSCRIBE = """subscription($org: ID!) { purchaseEvents(organizationId: $org) {
  type purchase { amountCents contentTitle status customerEmail } } }"""


async def subscribe(base: str, token: str, organization: str):
    ws = await websockets.connect(base.replace("http", "ws") + "/graphql", subprotocols=["graphql-transport-ws"],
                                  open_timeout=5)
    await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
    assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "connection_ack"
    await ws.send(json.dumps({"id": "p", "type": "subscribe",
                              "payload": {"query": SUBSCRIBE, "variables": {"org": organization}}}))
    return ws


async def next_data(ws, timeout: float):
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if message["type"] in ("ping", "pong"):
            continue
        return message


@pytest.mark.timeout(120)
async def test_event_created_on_one_instance_reaches_a_subscriber_on_another(settings, db, template_db):
    port_a, port_b = free_port(), free_port()
    with serve(settings, port_a) as a, serve(settings, port_b) as b:
        async with httpx.AsyncClient(base_url=b, timeout=30) as http_b:
            gql_b = GraphQLClient(http_b)
            factory = Factory(db, gql_b)
            owner = await factory.user()
            org = await factory.organization(owner, slug="two-instances")
            other_owner = await factory.user()
            other_org = await factory.organization(other_owner, slug="elsewhere")
            content = await insert_content(db, org, owner.user_id, "Live event film", 1500)
            customer = await factory.user(email="live-buyer@example.com")

            staff_ws = await subscribe(a, owner.token, to_global_id("Organization", org))
            other_ws = await subscribe(a, other_owner.token, to_global_id("Organization", other_org))
            await asyncio.sleep(0.5)

            started = await gql_b.ok(
                """mutation($c: ID!, $s: String!, $x: String!) { startCheckout(input: {contentId: $c,
                successUrl: $s, cancelUrl: $x, idempotencyKey: "live-1"}) { checkoutUrl } }""",
                {"c": content, "s": f"{b}/thanks", "x": f"{b}/cancel"}, customer.token)
            paid = await http_b.post(started["startCheckout"]["checkoutUrl"], follow_redirects=False)
            assert paid.status_code == 303, paid.text

            message = await next_data(staff_ws, 15)
            assert message["type"] == "next", message
            event = message["payload"]["data"]["purchaseEvents"]
            assert event == {"type": "COMPLETED", "purchase": {"amountCents": 1500, "contentTitle": "Live event film",
                                                              "status": "COMPLETED",
                                                              "customerEmail": "live-buyer@example.com"}}
            with pytest.raises(TimeoutError):
                await next_data(other_ws, 1.5)
            await staff_ws.close()
            await other_ws.close()


async def test_purchase_events_require_purchases_read(app, factory, gql):
    from codex_graphql.authz import OrgRole
    from tests.support.live_server import live_server

    owner = await factory.user()
    org = await factory.organization(owner, slug="guarded")
    member = await factory.user()
    await factory.member(org, member, OrgRole.MEMBER)
    customer = await factory.user()
    org_id = to_global_id("Organization", org)
    async with live_server(app) as address:
        base = f"http://{address}"
        for token, code in ((member.token, "FORBIDDEN"), (customer.token, "FORBIDDEN")):
            ws = await subscribe(base, token, org_id)
            message = await next_data(ws, 5)
            assert message["type"] == "error" and message["payload"][0]["extensions"]["code"] == code, message
            await ws.close()
        # Staff of the organization, but asking for another organization's events.
        other = await factory.user()
        other_org = await factory.organization(other, slug="not-mine")
        ws = await subscribe(base, owner.token, to_global_id("Organization", other_org))
        message = await next_data(ws, 5)
        assert message["type"] in ("error", "next")
        errors = message["payload"][0] if message["type"] == "error" else message["payload"]["errors"][0]
        assert errors["extensions"]["code"] == "FORBIDDEN"
        await ws.close()


@pytest.mark.timeout(120)
async def test_partial_and_full_refunds_reach_subscribers_as_they_happen(settings, db, template_db):
    port = free_port()
    with serve(settings, port) as base:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            gql = GraphQLClient(http)
            factory = Factory(db, gql)
            owner = await factory.user()
            org = await factory.organization(owner, slug="refunds-live")
            content = await insert_content(db, org, owner.user_id, "Refunded film", 2000)
            customer = await factory.user()
            ws = await subscribe(base, owner.token, to_global_id("Organization", org))
            await asyncio.sleep(0.5)
            started = await gql.ok(
                """mutation($c: ID!, $s: String!) { startCheckout(input: {contentId: $c, successUrl: $s,
                cancelUrl: $s, idempotencyKey: "refund-live"}) { checkoutUrl } }""",
                {"c": content, "s": f"{base}/thanks"}, customer.token)
            assert (await http.post(started["startCheckout"]["checkoutUrl"], follow_redirects=False)).status_code == 303
            assert (await next_data(ws, 15))["payload"]["data"]["purchaseEvents"]["type"] == "COMPLETED"
            purchase = (await gql.ok("{ viewer { purchases(first: 1) { nodes { id } } } }",
                                     token=customer.token))["viewer"]["purchases"]["nodes"][0]["id"]

            refund = """mutation($i: RefundPurchaseInput!) { refundPurchase(input: $i) {
              errors { code message } purchase { status } } }"""
            for amount, key, expected in ((500, "r-1", "PARTIALLY_REFUNDED"), (None, "r-2", "REFUNDED")):
                done = await gql.ok(refund, {"i": {"purchaseId": purchase, "amountCents": amount,
                                                   "idempotencyKey": key}}, owner.token)
                assert done["refundPurchase"]["purchase"]["status"] == expected
                event = (await next_data(ws, 15))["payload"]["data"]["purchaseEvents"]
                assert event["type"] == expected and event["purchase"]["status"] == expected
            await ws.close()
