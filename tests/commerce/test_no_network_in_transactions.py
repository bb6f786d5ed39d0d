"""No network call while a transaction of the app is open (ARCHITECTURE.md): while the payment provider (the
Stripe stand-in, real HTTP) or the storage handles a call, PostgreSQL shows no backend of the app's database
``idle in transaction``. Also: what the request did before the call is committed (``Context.outside_transaction``)
and what it does after runs in a fresh transaction; and concurrent refunds still refund once / at most the
purchase."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import asyncpg
from aiosmtpd.controller import Controller
from sqlalchemy import text

from codex_graphql.authz import ANONYMOUS
from codex_graphql.context import Context
from codex_graphql.db import TenantScope
from tests.commerce.test_commerce_emails import purchase_emails  # noqa: F401  (fixture)
from tests.commerce.test_partial_refunds import bought, refund
from tests.org_settings.test_settings import put_logo, update
from tests.org_settings.test_settings_units import PNG
from tests.support.commerce import Shop
from tests.support.content import COMPLETE, create, upload
from tests.support.live_server import free_port

IDLE_IN_TRANSACTION = """select pid, state, query from pg_stat_activity
  where datname = current_database() and pid <> pg_backend_pid() and state like 'idle in transaction%'"""


async def quiet(app: Any) -> None:
    """Stop the app's outbox relay: woken by each commit, it runs its own transactions beside the request, and
    the check looks at every backend of the database. (Jobs stay in the outbox; these tests read them there.)"""
    await app.state.runtime["services"].relay.stop()


class Watch:
    """Looks at pg_stat_activity each time a network call is handled; ``seen`` lists (call, open backends)."""

    def __init__(self, admin_db: Any) -> None:
        self.admin_db = admin_db
        self.seen: list[tuple[str, list[str]]] = []

    async def __call__(self, method: str, path: str) -> None:
        rows = await self.admin_db.fetch(IDLE_IN_TRANSACTION)
        self.seen.append((f"{method} {path}", [f"{r['state']}: {r['query'][:200]}" for r in rows]))

    def calls(self, name: str) -> list[list[str]]:
        return [open_ for call, open_ in self.seen if call == name]


async def test_checkout_and_refund_call_the_provider_with_no_transaction_open(shop: Shop, admin_db):
    await quiet(shop.app)
    watch = Watch(admin_db)
    shop.stripe.during_request = watch
    customer, purchase, _ = await bought(shop)
    done = await refund(shop, purchase, 300)
    assert done["errors"] == [] and done["purchase"]["status"] == "PARTIALLY_REFUNDED"
    checkouts = watch.calls("POST /v1/checkout/sessions")
    refunds = watch.calls("POST /v1/refunds")
    assert len(checkouts) == 1 and len(refunds) == 1, watch.seen
    assert checkouts == [[]] and refunds == [[]], watch.seen
    # The watch can fail: a transaction of the app held open across a call shows up.
    async with shop.app.state.runtime["services"].db.transaction(TenantScope()) as session:
        await session.execute(text("select 1"))
        await watch("CHECK", "open")
    assert watch.calls("CHECK open") == [["idle in transaction: select 1"]], watch.seen


async def test_concurrent_refunds_same_key_once_different_keys_at_most_the_amount(shop: Shop, admin_db):
    # (Other requests' own short transactions overlap one request's provider call here, so no watch.)
    _, purchase, charge = await bought(shop)
    same = await asyncio.gather(*(refund(shop, purchase, 700, key="one-key") for _ in range(3)))
    assert all(r["errors"] == [] for r in same), same
    assert sorted(r["amount"] for r in shop.stripe.refunds.values()) == [700]
    results = await asyncio.gather(*(refund(shop, purchase, 800) for _ in range(3)))  # 1299 remain: one fits
    assert sorted(bool(r["errors"]) for r in results) == [False, True, True], results
    assert sorted(r["amount"] for r in shop.stripe.refunds.values()) == [700, 800]
    assert charge["amount_refunded"] == 1500
    row = await admin_db.fetchrow("select refunded_amount_cents, status from purchase")
    assert tuple(row) == (1500, "PARTIALLY_REFUNDED")


def watch_storage(app: Any, watch: Watch, names: tuple[str, ...]) -> None:
    """Wrap the app's storage calls so each one looks at pg_stat_activity first."""
    storage = app.state.runtime["services"].storage
    for name in names:
        original = getattr(storage, name)

        async def wrapped(*args: Any, _original: Any = original, _name: str = name, **kwargs: Any) -> Any:
            await watch("STORAGE", _name)
            return await _original(*args, **kwargs)

        setattr(storage, name, wrapped)


async def test_uploads_and_logos_call_the_storage_with_no_transaction_open(app, gql, http, factory, admin_db,
                                                                            tmp_path: Path):
    await quiet(app)
    watch = Watch(admin_db)
    watch_storage(app, watch, ("create_multipart", "head", "complete_multipart", "promote", "download",
                               "upload_file", "delete"))
    owner = await factory.user()
    await factory.organization(owner, slug=f"o-{uuid.uuid4().hex[:8]}")
    media = tmp_path / "clip.mp4"
    media.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 4000)
    created = await create(gql, owner.token, media)
    assert created["errors"] == [], created
    await upload(http, created["upload"], media)
    completed = (await gql(COMPLETE, {"id": created["content"]["id"]}, owner.token))["data"]["completeContentUpload"]
    assert completed["errors"] == [] and completed["content"]["status"] == "PROCESSING", completed
    big = await create(gql, owner.token, media, size=200 * 1024 * 1024)  # multipart: started at the storage
    assert big["errors"] == [] and big["upload"]["parts"], big
    key = await put_logo(gql, http, owner.token, "logo.png", "image/png", PNG + b"\x00" * 64)
    assert (await update(gql, owner.token, logoKey=key))["errors"] == []
    calls = {call for call, _ in watch.seen}
    assert calls >= {"STORAGE create_multipart", "STORAGE head", "STORAGE promote", "STORAGE download",
                     "STORAGE upload_file", "STORAGE delete"}, watch.seen
    assert all(open_ == [] for _, open_ in watch.seen), [s for s in watch.seen if s[1]]


async def test_outside_transaction_commits_first_and_opens_a_fresh_one_after(app, admin_db):
    services = app.state.runtime["services"]
    ctx = Context(services=services, viewer=ANONYMOUS, request_id="r")
    marker = f"outside-{uuid.uuid4().hex[:8]}"
    await ctx.begin_mutation()
    await ctx.db.execute(text(
        "insert into organization (id, slug, name) values (:id, :slug, 'x')"), {"id": uuid.uuid4(), "slug": marker})
    first = ctx.db
    async with ctx.outside_transaction():
        # Committed before the block, and no session of the request exists during it.
        assert await admin_db.fetchval("select count(*) from organization where slug = $1", marker) == 1
        assert ctx._db is None  # noqa: SLF001
        try:
            ctx.db  # noqa: B018
        except RuntimeError:
            pass
        else:
            raise AssertionError("ctx.db must refuse inside outside_transaction()")
    assert ctx.db is not first
    # A failure after the block rolls back only what came after it.
    await ctx.db.execute(text(
        "insert into organization (id, slug, name) values (:id, :slug, 'y')"), {"id": uuid.uuid4(), "slug": marker + "-b"})
    await ctx.end_mutation().rollback()
    await ctx.finish(success=True)
    assert await admin_db.fetchval("select count(*) from organization where slug like $1", marker + "%") == 1


class WatchingSmtp:
    """An SMTP server that, while it receives a mail, looks at pg_stat_activity over its own connection."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.seen: list[list[str]] = []
        self.received: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd hook)
        conn = await asyncpg.connect(self.database_url)
        try:
            self.seen.append([f"{r['state']}: {r['query'][:200]}" for r in await conn.fetch(IDLE_IN_TRANSACTION)])
        finally:
            await conn.close()
        self.received.append(envelope.content)
        return "250 Message accepted for delivery"


async def test_purchase_mail_job_asks_stripe_and_sends_with_no_transaction_open(shop: Shop, admin_db, database_url,
                                                                                 purchase_emails, mail_settings):  # noqa: F811
    await quiet(shop.app)
    watch = Watch(admin_db)
    shop.stripe.during_request = watch
    smtp = WatchingSmtp(database_url)
    controller = Controller(smtp, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        stripe_settings = shop.app.state.settings
        await purchase_emails.configure(mail_settings.model_copy(update={
            "smtp_url": f"smtp://127.0.0.1:{controller.port}", "payments_provider": "stripe",
            "stripe_secret_key": stripe_settings.stripe_secret_key,
            "stripe_webhook_secret": stripe_settings.stripe_webhook_secret,
            "stripe_api_base": stripe_settings.stripe_api_base,
        }))
        customer = await shop.factory.user(email="watched@example.com")
        await shop.buy(customer)
        [job] = await purchase_emails.jobs()
        await purchase_emails.run(*job)
        await purchase_emails.run(*job)  # claimed after the send: a second run sends nothing
    finally:
        controller.stop()
    receipt_lookups = [open_ for call, open_ in watch.seen if call.startswith("GET /v1/")]
    assert len(receipt_lookups) == 2 and receipt_lookups == [[], []], watch.seen  # payment intent, then charge
    assert len(smtp.received) == 1 and smtp.seen == [[]], smtp.seen
    charge = next(iter(shop.stripe.charges.values()))
    assert charge["receipt_url"].encode() in smtp.received[0]
    assert await admin_db.fetchval("select receipt_url from purchase") == charge["receipt_url"]
    assert await admin_db.fetchval("select count(*) from processed_message where consumer = 'send_purchase_email'") == 1
