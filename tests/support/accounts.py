"""Shared helpers for the account, session and email-job tests (no tests of its own).

- GraphQL documents and small helpers for the account mutations.
- ``mailbox``: a real SMTP server (aiosmtpd) on a free loopback port, collecting what it receives.
- ``email_jobs``: runs the ``send_account_email`` actor the way a Dramatiq worker does (its
  synchronous ``fn`` on the global event-loop thread), pointed at ``mailbox``.

Its fixtures are registered as a pytest plugin in tests/conftest.py.
"""

from __future__ import annotations

import asyncio
import email
import hashlib
import json
import logging
import re
import time
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

import asyncpg
import pytest
from aiosmtpd.controller import Controller

from codex_graphql.settings import Settings
from tests.support.live_server import free_port

LINK_RE = re.compile(r"http://testserver/account/(verify-email|reset-password)\?token=([A-Za-z0-9_\-]+)")
STRONG_PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a brand new passphrase 42"

VIEWER = "{ viewer { id email name emailVerified platformRole } }"
REGISTER = """
mutation Register($i: RegisterInput!) {
  register(input: $i) {
    token expiresAt
    errors { code field message }
    viewer { id email name emailVerified platformRole }
  }
}"""
LOGIN = """
mutation Login($i: LoginInput!) {
  login(input: $i) { token expiresAt errors { code field message } viewer { email } }
}"""
LOGOUT = "mutation Logout($i: LogoutInput) { logout(input: $i) { errors { code field message } } }"
REQUEST_RESET = """
mutation RequestReset($i: RequestPasswordResetInput!) { requestPasswordReset(input: $i) { errors { code field message } } }"""
RESET = """
mutation Reset($i: ResetPasswordInput!) {
  resetPassword(input: $i) { errors { code field message } viewer { email emailVerified } }
}"""
VERIFY = """
mutation Verify($i: VerifyEmailInput!) {
  verifyEmail(input: $i) { errors { code field message } viewer { email emailVerified } }
}"""


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}@example.com"


async def register(gql: Any, email_address: str, password: str = STRONG_PASSWORD, name: str = "") -> dict[str, Any]:
    """Register and return the payload, asserting success."""
    data = await gql.ok(REGISTER, {"i": {"email": email_address, "password": password, "name": name}})
    payload = data["register"]
    assert payload["token"], payload
    return payload


async def login(gql: Any, email_address: str, password: str = STRONG_PASSWORD) -> dict[str, Any]:
    return (await gql(LOGIN, {"i": {"email": email_address, "password": password}}))["data"]["login"]


async def viewer(gql: Any, token: str | None) -> dict[str, Any] | None:
    body = await gql(VIEWER, token=token)
    assert "errors" not in body, body
    return body["data"]["viewer"]


async def counts(admin_db: asyncpg.Connection) -> dict[str, int]:
    """Row counts of every table the account flows write."""
    tables = ("user_account", "user_session", "email_token", "outbox_message", "processed_message")
    return {t: await admin_db.fetchval(f"select count(*) from {t}") for t in tables}  # noqa: S608


async def user_row(admin_db: asyncpg.Connection, email_address: str) -> asyncpg.Record | None:
    return await admin_db.fetchrow("select * from user_account where email = $1", email_address)


async def account_jobs(admin_db: asyncpg.Connection) -> list[tuple[str, dict[str, Any]]]:
    """Outbox job rows for the account email actor, oldest first, as (id, payload)."""
    rows = await admin_db.fetch(
        "select id, payload from outbox_message where kind = 'job' and topic = 'send_account_email' "
        "order by created_at, id"
    )
    return [(str(r["id"]), json.loads(r["payload"])) for r in rows]


async def redis_keys(redis_client: Any, namespace: str, pattern: str) -> list[str]:
    return sorted([k.decode() async for k in redis_client.scan_iter(match=f"{namespace}:{pattern}")])


# --- a real SMTP server -------------------------------------------------------------------------


@dataclass
class ReceivedMail:
    envelope_to: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        assert part is not None
        return part.get_content()

    @property
    def html(self) -> str:
        part = self.message.get_body(preferencelist=("html",))
        assert part is not None
        return part.get_content()

    @property
    def link(self) -> str:
        found = LINK_RE.search(self.text)
        assert found, self.text
        return found.group(0)

    @property
    def token(self) -> str:
        found = LINK_RE.search(self.text)
        assert found, self.text
        return found.group(2)


class Mailbox:
    """aiosmtpd handler that keeps every delivered message."""

    def __init__(self) -> None:
        self.received: list[ReceivedMail] = []
        self.port = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd hook)
        message = email.message_from_bytes(envelope.content, policy=default_policy)
        self.received.append(ReceivedMail(list(envelope.rcpt_tos), message))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def to(self, address: str) -> list[ReceivedMail]:
        return [m for m in self.received if address in m.envelope_to]

    async def wait_for(self, address: str, count: int = 1, within: float = 10.0) -> list[ReceivedMail]:
        deadline = time.monotonic() + within
        while len(self.to(address)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} mail(s) to {address} within {within}s; got {self.received}")
            await asyncio.sleep(0.05)
        return self.to(address)


@pytest.fixture(name="mailbox")
def fixture_mailbox() -> Any:
    box = Mailbox()
    box.port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


@pytest.fixture(name="mail_settings")
def fixture_mail_settings(settings: Settings, mailbox: Mailbox) -> Settings:
    return settings.model_copy(update={"smtp_url": mailbox.url})


# --- running the email actor the way a worker does ------------------------------------------------


class EmailJobs:
    def __init__(self, admin_db: asyncpg.Connection, mailbox: Mailbox, settings: Settings) -> None:
        self.admin_db = admin_db
        self.mailbox = mailbox
        self.settings = settings

    async def configure(self, settings: Settings) -> None:
        """Point the worker runtime at other settings (e.g. an SMTP server that is down)."""
        from workers import runtime

        await asyncio.to_thread(self._shutdown_runtime)
        runtime.configure(settings)

    async def run(self, job_id: str, payload: dict[str, Any]) -> None:
        """What a Dramatiq worker thread does with the message: call the actor's sync ``fn``."""
        from workers import actors

        await asyncio.to_thread(actors.send_account_email.fn, job_id=job_id, **payload)

    async def run_all(self) -> int:
        """Run every account email job recorded in the outbox (each may already have run)."""
        jobs = await account_jobs(self.admin_db)
        for job_id, payload in jobs:
            await self.run(job_id, payload)
        return len(jobs)

    async def mail_for(self, address: str, kind: str) -> ReceivedMail:
        """Run the newest outbox job of ``kind`` and return the one new mail it sent to ``address``."""
        jobs = [(i, p) for i, p in await account_jobs(self.admin_db) if p["kind"] == kind]
        assert jobs, f"no {kind} job in the outbox"
        before = len(self.mailbox.to(address))
        await self.run(*jobs[-1])
        received = await self.mailbox.wait_for(address, before + 1)
        assert len(received) == before + 1
        return received[-1]

    def _shutdown_runtime(self) -> None:
        from dramatiq.asyncio import get_event_loop_thread

        from workers import runtime

        thread = get_event_loop_thread()
        if thread is not None:
            thread.run_coroutine(runtime.shutdown())


@pytest.fixture(name="email_jobs")
async def fixture_email_jobs(admin_db: asyncpg.Connection, mailbox: Mailbox, mail_settings: Settings) -> Any:
    from dramatiq.asyncio import EventLoopThread, get_event_loop_thread, set_event_loop_thread

    from workers.broker import setup_broker

    setup_broker(mail_settings)  # actors bind to the global broker when workers.actors is first imported
    from workers import runtime

    assert get_event_loop_thread() is None, "another event-loop thread is still running"
    thread = EventLoopThread(logging.getLogger("tests.email_jobs"))
    thread.start(timeout=5)
    set_event_loop_thread(thread)
    runtime.configure(mail_settings)
    jobs = EmailJobs(admin_db, mailbox, mail_settings)
    try:
        yield jobs
    finally:
        await asyncio.to_thread(jobs._shutdown_runtime)
        set_event_loop_thread(None)
        await asyncio.to_thread(thread.stop)


@pytest.fixture(name="redis_client")
async def fixture_redis_client(settings: Settings) -> Any:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(settings.redis_url or "")
    try:
        yield client
    finally:
        await client.aclose()
