"""Fault tests with real processes on loopback: our own PostgreSQL and redis-server (never the shared ones),
the API (`codex-graphql serve`) and Dramatiq workers as subprocesses. Each test is bounded in time."""

from __future__ import annotations

import asyncio
import email
import hashlib
import json
import re
import signal
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from email.policy import default as default_policy
from typing import Any

import asyncpg
import httpx
import pytest
import websockets
from aiosmtpd.controller import Controller

from codex_graphql.accounts.security import hash_password
from codex_graphql.relay import to_global_id
from tests.support.faults import (
    Postgres,
    Process,
    RedisServer,
    app_env,
    eventually,
    running,
    start_api,
    start_worker,
)
from tests.support.live_server import free_port

pytestmark = pytest.mark.timeout(90)

SUBSCRIBE = """subscription($org: ID!) { purchaseEvents(organizationId: $org) {
  type purchase { amountCents contentTitle customerEmail } } }"""
START = """mutation($c: ID!, $s: String!, $k: String!) { startCheckout(input: {contentId: $c, successUrl: $s,
  cancelUrl: $s, idempotencyKey: $k}) { checkoutUrl errors { code message } } }"""
LOGIN = "mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { token errors { code } } }"
PASSWORD = "fault tolerance password"


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    server = Postgres()
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


@pytest.fixture
async def fault_db(postgres: Postgres) -> AsyncIterator[str]:
    name = f"fault_{uuid.uuid4().hex[:8]}"
    url = await asyncio.to_thread(postgres.migrated_database, name)
    yield url


async def seed_shop(url: str) -> dict[str, str]:
    """An owner, a customer and one published paid item, written as the superuser."""
    tag = uuid.uuid4().hex[:8]
    conn = await asyncpg.connect(url)
    try:
        password = await hash_password(PASSWORD)
        ids = {}
        for who in ("owner", "customer"):
            ids[who] = await conn.fetchval(
                "insert into user_account (id, email, name, password_hash, platform_role, email_verified_at) "
                "values (gen_random_uuid(), $1, $2, $3, 'CUSTOMER', now()) returning id", f"{who}-{tag}@example.com", who.title(), password)
        org = await conn.fetchval("insert into organization (id, slug, name) values "
                                  "(gen_random_uuid(), $1, 'Fault Org') returning id", f"fault-{tag}")
        await conn.execute("insert into organization_membership (id, organization_id, user_id, role) "
                           "values (gen_random_uuid(), $1, $2, 'OWNER')", org, ids["owner"])
        content = await conn.fetchval(
            "insert into content (id, organization_id, creator_id, kind, status, title, price_cents, storage_key, "
            "mime_type, original_filename, size_bytes, duration_seconds, published_at) values (gen_random_uuid(), "
            "$1, $2, 'VIDEO', 'PUBLISHED', 'Fault film', 1200, 'k', 'video/mp4', 'a.mp4', 100, 60, now()) "
            "returning id", org, ids["owner"])
    finally:
        await conn.close()
    return {"org": to_global_id("Organization", org), "content": to_global_id("Content", content),
            "owner": f"owner-{tag}@example.com", "customer": f"customer-{tag}@example.com", "org_id": str(org)}


async def gql(http: httpx.AsyncClient, query: str, variables: dict, token: str | None = None) -> dict:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = await http.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


async def login(http: httpx.AsyncClient, email: str) -> str:
    return (await gql(http, LOGIN, {"e": email, "p": PASSWORD}))["login"]["token"]


async def subscribe(base: str, token: str, org: str):  # type: ignore[no-untyped-def]
    ws = await websockets.connect(base.replace("http", "ws") + "/graphql", subprotocols=["graphql-transport-ws"],
                                  open_timeout=5)
    await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
    assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "connection_ack"
    await ws.send(json.dumps({"id": "p", "type": "subscribe", "payload": {"query": SUBSCRIBE,
                                                                          "variables": {"org": org}}}))
    return ws


async def next_message(ws, timeout: float) -> dict:  # type: ignore[no-untyped-def]
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if message["type"] not in ("ping", "pong"):
            return message


# --- (a) Redis down while a purchase completes --------------------------------------------------------


async def test_a_purchase_completed_while_redis_is_down_is_kept_and_announced_when_it_returns(fault_db, mailbox):
    redis = RedisServer()
    redis.start()
    # After Redis returns, the relay's next pass (within a second) publishes the stored event to the channel's
    # stream; the API's pub/sub reader, which reconnects on its own schedule, resumes from the last entry it read
    # and so receives it whichever of the two comes back first.
    env = app_env(fault_db, redis.url, SMTP_URL=mailbox.url, RELAY_POLL_SECONDS="1.0")
    shop = await seed_shop(fault_db)
    api, base = await asyncio.to_thread(start_api, env, free_port())
    worker = start_worker(env)
    with running(api, worker):
        try:
            async with httpx.AsyncClient(base_url=base, timeout=15) as http:
                owner = await login(http, shop["owner"])
                customer = await login(http, shop["customer"])
                ws = await subscribe(base, owner, shop["org"])
                started = await gql(http, START, {"c": shop["content"], "s": f"{base}/thanks", "k": "fault-a"},
                                    customer)
                await asyncio.sleep(0.5)  # the subscription is registered in Redis

                await asyncio.to_thread(redis.stop)
                paid = await http.post(started["startCheckout"]["checkoutUrl"], follow_redirects=False)
                assert paid.status_code == 303, paid.text
                conn = await asyncpg.connect(fault_db)
                try:
                    assert await conn.fetchval("select status from purchase") == "COMPLETED"
                    assert await conn.fetchval(
                        "select count(*) from outbox_message where published_at is null") >= 1
                    ready = await http.get("/readyz")
                    assert ready.status_code == 503 and "redis" in ready.json()["checks"], ready.text

                    await asyncio.to_thread(redis.start)
                    message = await next_message(ws, 20)
                    assert message["type"] == "next", message
                    assert message["payload"]["data"]["purchaseEvents"] == {
                        "type": "COMPLETED", "purchase": {"amountCents": 1200, "contentTitle": "Fault film",
                                                         "customerEmail": shop["customer"]}}
                    await mailbox.wait_for(shop["customer"], within=30)
                    await eventually(lambda: conn.fetchval(
                        "select count(*) = 0 from outbox_message where published_at is null"), 10, what="outbox drained")
                    await asyncio.sleep(1)
                    assert len(mailbox.to(shop["customer"])) == 1
                    await eventually(lambda: _status(http, "/readyz", 200), 10, what="/readyz green")
                finally:
                    await conn.close()
                await ws.close()
        except BaseException:
            print("--- api ---\n", api.output()[-4000:], "\n--- worker ---\n", worker.output()[-4000:])
            raise
        finally:
            await asyncio.to_thread(redis.stop)


# --- (b) a worker killed in the middle of a job -------------------------------------------------------------

REGISTER = """mutation($i: RegisterInput!) { register(input: $i) { token errors { code } } }"""
TOKEN_RE = re.compile(r"verify-email\?token=([A-Za-z0-9_\-]+)")


class StallingMailbox:
    """aiosmtpd handler: the first message stalls in DATA until ``release`` and is then refused (451, never
    counted), as a message whose sender died before the server could answer; later messages are accepted."""

    def __init__(self) -> None:
        self.stalled = threading.Event()
        self.release = threading.Event()
        self.received: list[Any] = []
        self.abandoned = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd hook)
        if not self.stalled.is_set():
            self.stalled.set()
            try:
                while not self.release.is_set():  # noqa: ASYNC110 (set from the test's thread)
                    await asyncio.sleep(0.05)
            finally:  # released, or cancelled by aiosmtpd when the client's connection drops
                self.abandoned += 1
            return "451 4.3.0 Sender went away"
        self.received.append(email.message_from_bytes(envelope.content, policy=default_policy))
        return "250 Message accepted for delivery"


def start_fast_recovery_worker(env: dict[str, str]) -> Process:
    """The production worker, configured to requeue a dead worker's messages within seconds: a short
    heartbeat timeout and the broker's maintenance pass on every command."""
    return start_worker({**env, "JOB_HEARTBEAT_TIMEOUT_MS": "5000", "JOB_MAINTENANCE_CHANCE": "1000000"})


async def test_b_a_worker_killed_mid_job_is_retried_and_the_mail_goes_out_once(fault_db):
    redis = RedisServer()
    redis.start()
    smtp = StallingMailbox()
    controller = Controller(smtp, hostname="127.0.0.1", port=free_port())
    controller.start()
    env = app_env(fault_db, redis.url, SMTP_URL=f"smtp://127.0.0.1:{controller.port}")
    api, base = await asyncio.to_thread(start_api, env, free_port())
    first = start_fast_recovery_worker(env)
    second: Process | None = None
    conn = await asyncpg.connect(fault_db)
    try:
        with running(api, first):
            address = f"killed-{uuid.uuid4().hex[:8]}@example.com"
            async with httpx.AsyncClient(base_url=base, timeout=15) as http:
                registered = await gql(http, REGISTER, {"i": {"email": address, "password": PASSWORD, "name": "K"}})
            assert registered["register"]["errors"] == [], registered
            job_id = str(await conn.fetchval("select id from outbox_message where topic = 'send_account_email'"))

            # The worker is inside send_account_email: claim and token written, mail half-sent.
            await eventually(smtp.stalled.is_set, 30, what="the worker's SMTP DATA")
            await asyncio.to_thread(first.kill_group)
            assert not first.alive()
            smtp.release.set()
            # Its transaction died with its connection: no claim, no token survives.
            await eventually(lambda: conn.fetchval(
                "select count(*) = 0 from pg_stat_activity where datname = current_database() "
                "and pid <> pg_backend_pid() and state like 'idle in transaction%'"), 10, what="rollback")
            assert await conn.fetchval("select count(*) from processed_message") == 0
            assert await conn.fetchval("select count(*) from email_token") == 0
            await eventually(lambda: smtp.abandoned == 1, 10, what="the stalled DATA abandoned")
            assert smtp.received == []

            # A new worker gets the unacked message once Redis maintenance sees the dead worker's heartbeat
            # expire (5 s here) and requeues it.
            second = start_fast_recovery_worker(env)
            with running(second):
                try:
                    await eventually(lambda: smtp.received, 45, interval=0.2, what="the redelivered mail")
                    await asyncio.sleep(3)  # nothing else is sent
                    assert len(smtp.received) == 1
                    [mail] = smtp.received
                    assert mail["To"] == address
                    token = TOKEN_RE.search(mail.get_body(("plain",)).get_content()).group(1)  # type: ignore[union-attr]
                    assert await conn.fetchval(
                        "select count(*) from processed_message where consumer = 'send_account_email' "
                        "and message_id = $1::uuid", job_id) == 1
                    assert await conn.fetchval("select count(*) from email_token") == 1
                    assert await conn.fetchval("select token_hash from email_token") == \
                        hashlib.sha256(token.encode()).hexdigest()
                except BaseException:
                    print("--- api ---\n", api.output()[-4000:], "\n--- first worker ---\n", first.output()[-4000:],
                          "\n--- second worker ---\n", second.output()[-8000:])
                    raise
    finally:
        smtp.release.set()
        await conn.close()
        controller.stop()
        await asyncio.to_thread(redis.stop)


# --- (c) PostgreSQL restarted under load ----------------------------------------------------------------


async def test_postgres_restart_under_load_fails_cleanly_and_recovers_without_restart(postgres, fault_db):
    redis = RedisServer()
    redis.start()
    env = app_env(fault_db, redis.url)
    shop = await seed_shop(fault_db)
    api, base = await asyncio.to_thread(start_api, env, free_port())
    with running(api):
        try:
            async with httpx.AsyncClient(base_url=base, timeout=10) as http:
                token = await login(http, shop["customer"])
                # One shape the compiled fast path serves (its own asyncpg pool), one only the resolvers
                # serve (SQLAlchemy's pool): both must fail cleanly and recover.
                queries = [
                    {"query": "query($c: ID!) { content(id: $c) { title priceCents } }",
                     "variables": {"c": shop["content"]}},
                    {"query": "query($c: ID!) { content(id: $c) { title } organization(slug: \"x\") { viewerRole } }",
                     "variables": {"c": shop["content"]}},
                ]
                outcomes: list[str] = []
                stop = asyncio.Event()

                async def client(n: int) -> None:
                    query = queries[n % 2]
                    while not stop.is_set():
                        try:
                            response = await http.post("/graphql", json=query,
                                                       headers={"authorization": f"Bearer {token}"})
                        except httpx.TimeoutException:
                            outcomes.append("timeout")
                            continue
                        if response.status_code == 200 and "errors" not in response.json():
                            outcomes.append(f"ok {n % 2}")
                        elif response.status_code in (200, 503):
                            codes = {e["extensions"]["code"] for e in response.json().get("errors", [])}
                            clean = codes <= {"INTERNAL_SERVER_ERROR", "SERVICE_UNAVAILABLE"}
                            outcomes.append("failed" if clean else f"unexpected {response.text}")
                        else:
                            outcomes.append(f"unexpected {response.status_code}: {response.text}")
                        await asyncio.sleep(0.01)

                clients = [asyncio.create_task(client(n)) for n in range(8)]
                try:
                    await eventually(lambda: outcomes.count("ok 0") > 10 and outcomes.count("ok 1") > 10, 10,
                                     what="load before the restart")
                    await asyncio.to_thread(postgres.stop)
                    await eventually(lambda: _status(http, "/readyz", 503), 10, what="/readyz red")
                    during = len(outcomes)
                    await asyncio.sleep(1.5)
                    assert len(outcomes) > during, f"requests hang while the database is down: {results_of(clients)}"
                    await asyncio.to_thread(postgres.start_again)
                    await eventually(lambda: _status(http, "/readyz", 200), 20, what="/readyz green")
                    mark = len(outcomes)
                    await eventually(lambda: outcomes[mark:].count("ok 0") > 10 and outcomes[mark:].count("ok 1") > 10,
                                     15, what="requests succeed again on both paths")
                finally:
                    stop.set()
                    results = await asyncio.gather(*clients, return_exceptions=True)
                for result in results:
                    if isinstance(result, BaseException):
                        raise result
                assert "failed" in outcomes, set(outcomes)
                assert set(outcomes) <= {"ok 0", "ok 1", "failed"}, set(outcomes)
                assert api.alive()
        except BaseException:
            print("--- api ---\n", api.output()[-30000:])
            raise
        finally:
            await asyncio.to_thread(redis.stop)


def results_of(tasks: list[asyncio.Task]) -> list[str]:
    return [repr(t.exception()) if t.done() and not t.cancelled() else "running" for t in tasks]


async def _status(http: httpx.AsyncClient, path: str, expected: int) -> bool:
    try:
        return (await http.get(path, timeout=5)).status_code == expected
    except httpx.HTTPError:
        return False


# --- (d) SIGTERM -------------------------------------------------------------------------------------------


async def test_sigterm_finishes_requests_closes_websockets_and_exits(fault_db):
    redis = RedisServer()
    redis.start()
    env = app_env(fault_db, redis.url)
    shop = await seed_shop(fault_db)
    api, base = await asyncio.to_thread(start_api, env, free_port())
    with running(api):
        try:
            async with httpx.AsyncClient(base_url=base, timeout=15) as http:
                owner = await login(http, shop["owner"])
                ws = await subscribe(base, owner, shop["org"])
                await asyncio.sleep(0.3)
                query = {"query": "{ viewer { email } }"}
                inflight = [asyncio.create_task(http.post("/graphql", json=query,
                                                          headers={"authorization": f"Bearer {owner}"}))
                            for _ in range(20)]
                await asyncio.sleep(0.01)
                api.signal(signal.SIGTERM)
                answered = 0
                for response in await asyncio.gather(*inflight, return_exceptions=True):
                    if isinstance(response, httpx.TransportError):
                        # Not yet read by the server when it stopped accepting (a keep-alive race inherent to
                        # HTTP/1.1): refused or closed, never a 5xx or a half-written answer.
                        continue
                    assert not isinstance(response, BaseException), repr(response)
                    assert response.status_code == 200 and response.json()["data"]["viewer"]["email"] == shop["owner"]
                    answered += 1
                assert answered > 0, "no request in flight was finished"
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await next_message(ws, 15)
                assert closed.value.rcvd is not None, "closed without a close frame"
                assert closed.value.rcvd.code in (1001, 1012), closed.value.rcvd
                # uvicorn finishes its graceful shutdown, then re-raises the captured SIGTERM (exit status -15).
                assert await asyncio.to_thread(api.wait, 20) in (0, -signal.SIGTERM), api.output()
                assert "Traceback" not in api.output(), api.output()
        except BaseException:
            print("--- api ---\n", api.output()[-30000:])
            raise
        finally:
            await asyncio.to_thread(redis.stop)
