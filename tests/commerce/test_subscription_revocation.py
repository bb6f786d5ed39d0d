"""Subscriptions do not outlive the session or the permission (issue 21, item 2).

Two real API processes (`codex-graphql serve`) share PostgreSQL and Redis: the subscriber's WebSocket is on
instance A, the revocation goes through instance B, so the invalidation reaches A only over Redis. A
still-authorized staff member subscribed on A is the control: it proves each purchase event was published
and delivered, so a missing event on the revoked socket means something.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import websockets

from codex_graphql.accounts import repository as accounts
from codex_graphql.accounts import service as account_service
from codex_graphql.authz import OrgRole
from codex_graphql.relay import to_global_id
from tests.support import Factory, GraphQLClient, Person
from tests.support.client_examples import serve
from tests.support.commerce import insert_content
from tests.support.live_server import free_port
from tests.support.team import REMOVE, TRANSFER, UPDATE_ROLE, member_id

SUBSCRIBE = """subscription($org: ID!) { purchaseEvents(organizationId: $org) {
  type purchase { amountCents customerEmail } } }"""
CHECKOUT = """mutation($c: ID!, $s: String!, $k: String!) { startCheckout(input: {contentId: $c, successUrl: $s,
  cancelUrl: $s, idempotencyKey: $k}) { checkoutUrl errors { code message } } }"""
LOGOUT = "mutation($i: LogoutInput) { logout(input: $i) { errors { code message } } }"
CONTENT_EVENTS = "subscription { contentStatusChanged { status } }"
UNPUBLISH = "mutation($id: ID!) { unpublishContent(input: {contentId: $id}) { errors { code message } } }"
RESET = "mutation($i: ResetPasswordInput!) { resetPassword(input: $i) { errors { code message } } }"


@dataclass
class Cluster:
    a: str  # where the subscribers are
    b: str  # where the revocations go
    http_b: httpx.AsyncClient
    gql_b: GraphQLClient
    factory: Factory
    owner: Person
    org: uuid.UUID
    content: str

    @property
    def org_gid(self) -> str:
        return to_global_id("Organization", self.org)

    async def staff(self, role: OrgRole) -> Person:
        person = await self.factory.user()
        await self.factory.member(self.org, person, role)
        return person

    async def buy(self) -> str:
        """A new customer buys the content through B (local payments); returns the buyer's email."""
        customer = await self.factory.user()
        started = await self.gql_b.ok(CHECKOUT, {"c": self.content, "s": f"{self.b}/thanks",
                                                 "k": uuid.uuid4().hex}, customer.token)
        paid = await self.http_b.post(started["startCheckout"]["checkoutUrl"], follow_redirects=False)
        assert paid.status_code == 303, paid.text
        return customer.email


@asynccontextmanager
async def cluster(settings: Any, db: Any, **env: str) -> AsyncIterator[Cluster]:
    with ExitStack() as stack:
        a = stack.enter_context(serve(settings, free_port(), **env))
        b = stack.enter_context(serve(settings, free_port(), **env))
        async with httpx.AsyncClient(base_url=b, timeout=30) as http_b:
            gql_b = GraphQLClient(http_b)
            factory = Factory(db, gql_b)
            owner = await factory.user()
            org = await factory.organization(owner, slug=f"live-{uuid.uuid4().hex[:6]}")
            content = await insert_content(db, org, owner.user_id, "Revocable film", 1200)
            yield Cluster(a, b, http_b, gql_b, factory, owner, org, content)


async def subscribe(base: str, token: str, organization: str, *, named: str | None = None):
    ws = await websockets.connect(base.replace("http", "ws") + "/graphql", subprotocols=["graphql-transport-ws"],
                                  open_timeout=5)
    payload: dict[str, str] = {"authorization": f"Bearer {token}"}
    if named:
        payload["organization"] = named
    await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
    assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "connection_ack"
    await ws.send(json.dumps({"id": "p", "type": "subscribe",
                              "payload": {"query": SUBSCRIBE, "variables": {"org": organization}}}))
    return ws


async def next_message(ws, timeout: float) -> dict:
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if message["type"] not in ("ping", "pong"):
            return message


async def closed_with(ws, timeout: float) -> tuple[int | None, list[dict]]:
    """Read until the server closes the socket: (close code, the messages received before)."""
    messages: list[dict] = []
    try:
        while True:
            messages.append(await next_message(ws, timeout))
    except websockets.ConnectionClosed as closed:
        return (closed.rcvd.code if closed.rcvd else None), messages
    except TimeoutError:
        pytest.fail(f"the socket stayed open; received {messages}")


async def delivered(ws, email: str, timeout: float = 15) -> None:
    message = await next_message(ws, timeout)
    assert message["type"] == "next", message
    event = message["payload"]["data"]["purchaseEvents"]
    assert event == {"type": "COMPLETED", "purchase": {"amountCents": 1200, "customerEmail": email}}


async def still_open_and_silent(ws, seconds: float = 2.0) -> None:
    """Nothing delivered for ``seconds``; the connection itself is alive (answers a ping)."""
    with pytest.raises(TimeoutError):
        message = await next_message(ws, seconds)
        pytest.fail(f"delivered after the revocation: {message}")
    await ws.send(json.dumps({"type": "ping"}))
    assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "pong"


async def also_subscribe_to_content(ws) -> None:
    await ws.send(json.dumps({"id": "c", "type": "subscribe", "payload": {"query": CONTENT_EVENTS}}))


def forbidden_end(message: dict, operation: str = "p") -> None:
    assert message["type"] == "error" and message["id"] == operation, message
    assert message["payload"][0]["extensions"]["code"] == "FORBIDDEN", message


@pytest.mark.timeout(120)
async def test_logout_everywhere_on_another_instance_closes_the_socket_with_4401(settings, db):
    async with cluster(settings, db) as c:
        control = await c.staff(OrgRole.ADMIN)
        revoked = await subscribe(c.a, c.owner.token, c.org_gid)
        watching = await subscribe(c.a, control.token, c.org_gid)
        await asyncio.sleep(0.5)
        email = await c.buy()  # both receive while the session is valid
        await delivered(revoked, email)
        await delivered(watching, email)

        other_session = await c.factory.login(c.owner.email)
        await c.gql_b.ok(LOGOUT, {"i": {"everywhere": True}}, other_session)
        code, before_close = await closed_with(revoked, 10)
        assert code == 4401
        assert before_close == []

        email = await c.buy()
        await delivered(watching, email)
        await watching.close()


@pytest.mark.timeout(120)
async def test_password_reset_on_another_instance_closes_the_socket_with_4401(settings, db):
    async with cluster(settings, db) as c:
        control = await c.staff(OrgRole.ADMIN)
        revoked = await subscribe(c.a, c.owner.token, c.org_gid)
        watching = await subscribe(c.a, control.token, c.org_gid)
        await asyncio.sleep(0.5)
        async with db.transaction() as session:
            user = await accounts.user_by_id(session, c.owner.user_id)
            reset_token = await account_service.issue_email_token(session, user, account_service.RESET_PASSWORD, 600)
        await c.gql_b.ok(RESET, {"i": {"token": reset_token, "newPassword": "a brand new passphrase 42"}})

        code, before_close = await closed_with(revoked, 10)
        assert code == 4401
        assert before_close == []
        email = await c.buy()
        await delivered(watching, email)
        await watching.close()


@pytest.mark.timeout(120)
async def test_removed_or_demoted_members_stop_receiving_purchase_events(settings, db, admin_db):
    async with cluster(settings, db) as c:
        removed, demoted, control = [await c.staff(OrgRole.ADMIN) for _ in range(3)]
        removed_ws = await subscribe(c.a, removed.token, c.org_gid)
        await also_subscribe_to_content(removed_ws)
        # A connection that named the organization in connection_init loses it as it would at connection_init.
        org_slug = await admin_db.fetchval("select slug from organization where id = $1", c.org)
        removed_named_ws = await subscribe(c.a, removed.token, c.org_gid, named=org_slug)
        demoted_ws = await subscribe(c.a, demoted.token, c.org_gid)
        await also_subscribe_to_content(demoted_ws)  # MEMBER keeps CONTENT_READ: this one must go on
        watching = await subscribe(c.a, control.token, c.org_gid)
        await asyncio.sleep(0.5)
        email = await c.buy()
        for ws in (removed_ws, removed_named_ws, demoted_ws, watching):
            await delivered(ws, email)

        await c.gql_b.ok(REMOVE, {"m": await member_id(admin_db, c.org, removed.user_id)}, c.owner.token)
        ended = sorted([await next_message(removed_ws, 10), await next_message(removed_ws, 10)], key=lambda m: m["id"])
        forbidden_end(ended[0], "c")
        forbidden_end(ended[1], "p")
        code, before_close = await closed_with(removed_named_ws, 10)
        assert code == 4403 and before_close == []

        data = await c.gql_b.ok(UPDATE_ROLE, {"m": await member_id(admin_db, c.org, demoted.user_id), "r": "MEMBER"},
                                c.owner.token)
        assert data["updateOrganizationMemberRole"]["member"]["role"] == "MEMBER"
        forbidden_end(await next_message(demoted_ws, 10))

        email = await c.buy()
        await delivered(watching, email)
        await c.gql_b.ok(UNPUBLISH, {"id": c.content}, c.owner.token)
        kept = await next_message(demoted_ws, 15)  # the demoted member's other subscription still runs
        assert (kept["id"], kept["type"]) == ("c", "next"), kept
        assert kept["payload"]["data"] == {"contentStatusChanged": {"status": "READY"}}, kept
        await still_open_and_silent(removed_ws)
        await still_open_and_silent(demoted_ws)
        # Starting over on the same connection is refused too: it acts as the viewer is now.
        await demoted_ws.send(json.dumps({"id": "again", "type": "subscribe",
                                          "payload": {"query": SUBSCRIBE, "variables": {"org": c.org_gid}}}))
        again = await next_message(demoted_ws, 5)
        assert again["type"] == "error" and again["payload"][0]["extensions"]["code"] == "FORBIDDEN", again
        for ws in (removed_ws, demoted_ws, watching):
            await ws.close()


@pytest.mark.timeout(120)
async def test_still_authorized_subscribers_keep_receiving(settings, db, admin_db):
    async with cluster(settings, db) as c:
        successor = await c.staff(OrgRole.ADMIN)
        bystander = await c.staff(OrgRole.ADMIN)
        owner_ws = await subscribe(c.a, c.owner.token, c.org_gid)
        await asyncio.sleep(0.5)
        # Invalidations of the subscriber's own user that leave the permission in place: another of their
        # sessions ends, and they hand ownership over (OWNER -> ADMIN keeps PURCHASES_READ) ...
        other_session = await c.factory.login(c.owner.email)
        await c.gql_b.ok(LOGOUT, {"i": {"everywhere": False}}, other_session)
        transferred = await c.gql_b.ok(TRANSFER, {"m": await member_id(admin_db, c.org, successor.user_id)},
                                       c.owner.token)
        assert transferred["transferOrganizationOwnership"]["previousOwner"]["role"] == "ADMIN"
        # ... and someone else's demotion.
        await c.gql_b.ok(UPDATE_ROLE, {"m": await member_id(admin_db, c.org, bystander.user_id), "r": "MEMBER"},
                         successor.token)
        await asyncio.sleep(1.0)  # the invalidations have reached A and its re-checks are done

        email = await c.buy()
        await delivered(owner_ws, email)
        email = await c.buy()
        await delivered(owner_ws, email)
        await owner_ws.close()


@pytest.mark.timeout(120)
async def test_a_lost_broadcast_leaks_only_until_the_cached_viewer_expires(settings, db, admin_db):
    """A session revoked straight in the database (no invalidation broadcast at all): the next event after the
    in-memory cache entry expired (SESSION_LOCAL_CACHE_SECONDS) is not delivered and the socket closes."""
    async with cluster(settings, db, SESSION_LOCAL_CACHE_SECONDS="1") as c:
        control = await c.staff(OrgRole.ADMIN)
        revoked = await subscribe(c.a, c.owner.token, c.org_gid)
        watching = await subscribe(c.a, control.token, c.org_gid)
        await asyncio.sleep(0.5)
        email = await c.buy()
        await delivered(revoked, email)
        await delivered(watching, email)

        await admin_db.execute("update user_session set revoked_at = now() where user_id = $1", c.owner.user_id)
        await asyncio.sleep(1.5)
        email = await c.buy()
        await delivered(watching, email)
        code, before_close = await closed_with(revoked, 10)
        assert code == 4401
        assert before_close == []
        await watching.close()


@pytest.mark.timeout(120)
async def test_logout_everywhere_racing_purchases_closes_every_socket_on_both_instances(settings, db):
    """Real concurrency: the revocation and four purchases run at once through B while the owner has five
    sockets open (three sessions) on A and B. Every socket closes with 4401, none receives an event twice or
    after its close, and the still-authorized control receives each purchase exactly once."""
    async with cluster(settings, db) as c:
        control = await c.staff(OrgRole.ADMIN)
        tokens = [c.owner.token, await c.factory.login(c.owner.email), await c.factory.login(c.owner.email)]
        sockets = [await subscribe(base, token, c.org_gid)
                   for base, token in ((c.a, tokens[0]), (c.a, tokens[1]), (c.a, tokens[2]), (c.b, tokens[0]),
                                       (c.b, tokens[1]))]
        watching = await subscribe(c.a, control.token, c.org_gid)
        await asyncio.sleep(0.5)

        async def logout() -> None:
            await c.gql_b.ok(LOGOUT, {"i": {"everywhere": True}}, tokens[2])

        results = await asyncio.gather(logout(), *(c.buy() for _ in range(4)))
        emails = set(results[1:])
        for ws in sockets:
            code, before_close = await closed_with(ws, 15)
            assert code == 4401
            seen = [m["payload"]["data"]["purchaseEvents"]["purchase"]["customerEmail"] for m in before_close]
            assert all(m["type"] == "next" for m in before_close), before_close
            assert len(seen) == len(set(seen)) and set(seen) <= emails, seen
        received = [(await next_message(watching, 15))["payload"]["data"]["purchaseEvents"]["purchase"]["customerEmail"]
                    for _ in emails]
        assert sorted(received) == sorted(emails)
        with pytest.raises(TimeoutError):
            await next_message(watching, 1.5)
        await watching.close()
