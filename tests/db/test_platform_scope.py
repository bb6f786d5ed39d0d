"""The platform scope: outbox_message, stripe_event and idempotency_record are tenant tables under forced
row-level security like every other; one organization's rows are invisible to another organization's
transaction, and only the platform scope (``TenantScope.platform_wide()``, asked for by name by the relay,
the webhook inbox and the clean-ups) sees every organization's rows. A request never gets it."""

from __future__ import annotations

import ast
import asyncio
import json
import re
import uuid
from pathlib import Path

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError

from codex_graphql.authz import PlatformRole
from codex_graphql.db import TenantScope, acting_in
from codex_graphql.events import OutboxRelay
from tests.support import log_driver_queries, statements

ROOT = Path(__file__).resolve().parents[2]

# table -> the column that tells the test's rows apart
TABLES = {"outbox_message": "topic", "stripe_event": "id", "idempotency_record": "key"}


async def _user(admin_db) -> uuid.UUID:
    user_id = uuid.uuid4()
    await admin_db.execute("insert into user_account (id, email, password_hash, platform_role) values ($1, $2, 'x', 'CUSTOMER')",
                           user_id, f"{user_id.hex[:12]}@example.com")
    return user_id


async def _org(admin_db) -> uuid.UUID:
    org_id = uuid.uuid4()
    await admin_db.execute("insert into organization (id, slug, name) values ($1, $2, 'Org')", org_id, f"o-{org_id.hex[:10]}")
    return org_id


async def _rows(admin_db, label: str, org: uuid.UUID | None, user: uuid.UUID) -> None:
    """One row of each table for ``org`` (None: a row of no organization), told apart by ``label``."""
    await admin_db.execute("insert into outbox_message (id, kind, topic, payload, organization_id) "
                           "values ($1, 'job', $2, '{}', $3)", uuid.uuid4(), label, org)
    await admin_db.execute("insert into stripe_event (id, type, payload, organization_id) values ($1, 'x', '{}', $2)",
                           label, org)
    await admin_db.execute(
        "insert into idempotency_record (user_id, organization_id, operation, key, request_hash, response, expires_at) "
        "values ($1, $2, 'op', $3, 'h', '{}', now() + interval '1 day')", user, org, label)


@pytest.fixture
async def tenants(admin_db):
    alice, bob, carol = await _user(admin_db), await _user(admin_db), await _user(admin_db)
    a, b = await _org(admin_db), await _org(admin_db)
    await _rows(admin_db, "row-a", a, alice)
    await _rows(admin_db, "row-b", b, bob)
    await _rows(admin_db, "row-none", None, carol)
    return {"a": a, "b": b, "alice": alice, "bob": bob, "carol": carol}


async def _visible(db, scope: TenantScope) -> dict[str, set[str]]:
    async with db.transaction(scope) as session:
        # Deliberately no organization filter: row-level security alone scopes these statements.
        return {table: set((await session.execute(text(f"select {column} from {table}"))).scalars().all())
                for table, column in TABLES.items()}


async def test_each_organization_sees_only_its_own_rows(db, admin_db, tenants):
    # The rows are really there.
    for table, column in TABLES.items():
        assert {r[0] for r in await admin_db.fetch(f"select {column} from {table}")} == {"row-a", "row-b", "row-none"}
    assert await _visible(db, TenantScope(organization_id=tenants["a"])) == dict.fromkeys(TABLES, {"row-a"})
    assert await _visible(db, TenantScope(organization_id=tenants["b"])) == dict.fromkeys(TABLES, {"row-b"})
    assert await _visible(db, TenantScope()) == dict.fromkeys(TABLES, set())
    # Bob, staff of B, sees nothing of A's; only the idempotency records are also their user's own.
    assert await _visible(db, TenantScope(user_id=tenants["bob"], organization_id=tenants["a"])) == {
        "outbox_message": {"row-a"}, "stripe_event": {"row-a"}, "idempotency_record": {"row-a", "row-b"}}
    assert await _visible(db, TenantScope(user_id=tenants["carol"])) == {
        "outbox_message": set(), "stripe_event": set(), "idempotency_record": {"row-none"}}


async def test_the_platform_scope_sees_every_organizations_rows(db, tenants):
    everything = {"row-a", "row-b", "row-none"}
    assert await _visible(db, TenantScope.platform_wide()) == dict.fromkeys(TABLES, everything)
    # Still the unprivileged role: the policies admit the rows, not a bypass.
    async with db.transaction(TenantScope.platform_wide()) as session:
        row = (await session.execute(text("select current_user, current_setting('codex.platform', true)"))).one()
    assert tuple(row) == ("codex_app", "on")


@pytest.mark.parametrize("table", list(TABLES))
async def test_another_organization_cannot_change_or_add_rows(db, admin_db, tenants, table):
    column = TABLES[table]
    before = [dict(r) for r in await admin_db.fetch(f"select * from {table} order by {column}")]
    scope = TenantScope(user_id=tenants["alice"], organization_id=tenants["a"])
    async with db.transaction(scope) as session:
        for statement in (f"update {table} set organization_id = :a where organization_id = :b or organization_id is null",
                          f"delete from {table} where organization_id = :b or organization_id is null"):
            assert (await session.execute(text(statement), {"a": tenants["a"], "b": tenants["b"]})).rowcount == 0
    inserts = {
        "outbox_message": "insert into outbox_message (id, kind, topic, payload, organization_id) "
                          "values (gen_random_uuid(), 'job', 'forged', '{}', :b)",
        "stripe_event": "insert into stripe_event (id, type, payload, organization_id) values ('forged', 'x', '{}', :b)",
        "idempotency_record": "insert into idempotency_record (user_id, organization_id, operation, key, request_hash, "
                              "response, expires_at) values (:bob, :b, 'op', 'forged', 'h', '{}', now())",
    }
    with pytest.raises(DBAPIError, match="row-level security"):
        async with db.transaction(scope) as session:
            await session.execute(text(inserts[table]), {"b": tenants["b"], "bob": tenants["bob"]})
    assert [dict(r) for r in await admin_db.fetch(f"select * from {table} order by {column}")] == before


async def test_acting_in_an_organization_never_carries_the_platform_scope(db, tenants):
    async def setting(session) -> str:
        return (await session.execute(text("select current_setting('codex.platform', true)"))).scalar_one()

    async with db.transaction(TenantScope.platform_wide()) as session:
        assert await setting(session) == "on"
        async with acting_in(session, tenants["a"]):
            assert await setting(session) == ""
            assert set((await session.execute(text("select topic from outbox_message"))).scalars()) == {"row-a"}
        assert await setting(session) == "on"


async def test_the_relay_publishes_every_organizations_rows(db, admin_db, tenants):
    sent: list[tuple[str, str]] = []

    async def send_job(topic: str, job_id: str, payload: dict) -> None:
        sent.append((topic, job_id))

    relay = OutboxRelay(db, send_job, pubsub=None)  # type: ignore[arg-type]  (job rows only: no pub/sub)
    assert await relay.publish_pending() == 3
    assert sorted(topic for topic, _ in sent) == ["row-a", "row-b", "row-none"]
    assert await admin_db.fetchval("select count(*) from outbox_message where published_at is null") == 0


async def test_a_request_never_runs_in_the_platform_scope(app, gql, factory):
    """Every transaction a request opens sets codex.platform to '' (whoever asks, platform owners included);
    the settings statement is the one place the scope is set, so this is the whole request path."""
    owner = await factory.user(role=PlatformRole.PLATFORM_OWNER)
    slug = f"p-{uuid.uuid4().hex[:8]}"
    org = await factory.organization(owner, slug=slug)
    customer = await factory.user()
    seen: list[tuple] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        if "codex_set_scope" in statement:  # the scope statement (db.SET_TENANT_SQL)
            seen.append(tuple(parameters))

    def record_driver(query) -> None:  # the scope statement at BEGIN, straight on the driver (db._begin_scoped)
        if "codex_set_scope(" not in query.query:
            return
        written = re.search(r"set_config\('role', '([^']*)', true\), codex_set_scope\('([^']*)', '([^']*)', "
                            r"'([^']*)', '([^']*)'", query.query)
        seen.append(written.groups() if written else tuple(query.args))

    engine = app.state.runtime["services"].db.engine.sync_engine
    await app.state.runtime["services"].relay.stop()  # only the requests' transactions
    event.listen(engine, "before_cursor_execute", record)
    stop = log_driver_queries(engine, record_driver)
    try:
        for token in (None, customer.token, owner.token):
            await gql("{ viewer { id } }", {}, token)
            await gql("query($s: String!) { organization(slug: $s) { id name } }", {"s": slug}, token)
        for choice in (str(org), slug, "platform"):  # naming an organization (or trying a platform) per request
            await gql.raw("{ viewer { id } }", {}, owner.token, headers={"X-Codex-Organization": choice})
        await gql("mutation { logout(input: {}) { errors { code } } }", {}, customer.token)  # a write, too
        await asyncio.sleep(0)  # asyncpg hands query logs to the loop
    finally:
        stop()
        event.remove(engine, "before_cursor_execute", record)
    assert len(seen) >= 6
    assert all(params[3] == "" for params in seen), seen  # (role, user, organization, platform, proof)


ALLOWED = {  # the code that asks for the platform scope by name, and why
    "codex_graphql/db.py",  # defines it
    "codex_graphql/events.py",  # the outbox relay
    "codex_graphql/commerce/webhooks.py",  # the webhook inbox
    "codex_graphql/idempotency.py",  # the clean-up of expired records
    "codex_graphql/storage/hygiene.py",  # the storage clean-up queue
    "codex_graphql/credits/jobs.py",  # the list of due credit lots (ids; each expires in its organization's scope)
    "codex_graphql/subscriptions/jobs.py",  # tiers with provider work left undone, stale subscriptions (ids; each done in its org's scope)
    "codex_graphql/subscriptions/dunning.py",  # organizations with reminders due (ids; claimed in each org's scope)
    "codex_graphql/content/scheduling_jobs.py",  # organizations with publications due (ids; claimed in each org's scope)
    "codex_graphql/earnings/service.py",  # the platform fee (platform_settings: written under the platform scope only)
    "codex_graphql/earnings/payout_jobs.py",  # organizations' ids; each org's reservations read its creators' payout accounts
    "codex_graphql/offerings/jobs.py",  # bookings whose seat hold is over (ids; each expires in its org's scope)
    "codex_graphql/conferencing/webhooks.py",  # a Zoom webhook's meeting, by Zoom's id (then stored in its org's scope)
    "codex_graphql/offerings/reminders.py",  # organizations with reminders due (ids; claimed in each org's scope)
}


def test_only_named_platform_readers_ask_for_the_platform_scope():
    askers = set()
    for path in [*ROOT.glob("codex_graphql/**/*.py"), *ROOT.glob("workers/**/*.py")]:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            asks = (isinstance(node, ast.Attribute) and node.attr == "platform_wide") or (
                isinstance(node, ast.keyword) and node.arg == "platform"
                and not (isinstance(node.value, ast.Constant) and node.value.value is False))
            if asks:
                askers.add(str(path.relative_to(ROOT)))
    assert askers <= ALLOWED, askers - ALLOWED
    assert {"codex_graphql/events.py", "codex_graphql/commerce/webhooks.py"} <= askers


async def test_webhook_events_are_stamped_with_their_organization(shop, db, admin_db):
    customer = await shop.factory.user()
    paid = await shop.buy(customer)
    refund = shop.stripe.event("charge.refunded", {"id": "ch_unknown", "object": "charge", "refunded": True,
                                                   "payment_intent": "pi_nobody_knows", "amount_refunded": 100})
    assert (await shop.deliver(refund)).status_code == 200
    rows = {r["id"]: r["organization_id"] for r in await admin_db.fetch("select id, organization_id from stripe_event")}
    assert rows == {paid["id"]: shop.org, refund["id"]: None}
    other = await _org(admin_db)
    async with db.transaction(TenantScope(organization_id=shop.org)) as session:
        assert set((await session.execute(text("select id from stripe_event"))).scalars()) == {paid["id"]}
    async with db.transaction(TenantScope(organization_id=other)) as session:
        assert (await session.execute(text("select id from stripe_event"))).scalars().all() == []


async def test_idempotency_records_belong_to_the_request(shop, db, admin_db):
    customer = await shop.factory.user()
    first = await shop.checkout(customer, key="same-key")
    assert first["errors"] == [] and await shop.checkout(customer, key="same-key") == first  # replayed
    record = await admin_db.fetchrow("select user_id, organization_id from idempotency_record where key = 'same-key'")
    assert (record["user_id"], record["organization_id"]) == (customer.user_id, None)  # no active organization
    async with db.transaction(TenantScope(organization_id=shop.org)) as session:
        assert (await session.execute(text("select key from idempotency_record"))).scalars().all() == []
    async with db.transaction(TenantScope(user_id=customer.user_id)) as session:
        assert (await session.execute(text("select key from idempotency_record"))).scalars().all() == ["same-key"]


async def test_an_organizations_events_emitted_while_acting_in_it_are_written_in_its_scope(shop, admin_db):
    """A customer's free claim writes the shop's purchase event inside ``acting_in``; the row is written
    before the customer's own scope comes back (the policy admits it only from the shop's scope)."""
    customer = await shop.factory.user()
    claimed = await shop.gql("""mutation($input: ClaimFreeContentInput!) { claimFreeContent(input: $input) {
      errors { code message } } }""", {"input": {"contentId": shop.free, "idempotencyKey": "claim-1"}}, customer.token)
    assert claimed["data"]["claimFreeContent"]["errors"] == [], claimed
    rows = await admin_db.fetch("select topic, organization_id, payload from outbox_message where topic = 'purchase.completed'")
    assert [(r["topic"], r["organization_id"]) for r in rows] == [("purchase.completed", shop.org)]
    assert json.loads(rows[0]["payload"])["userId"] == str(customer.user_id)


async def test_the_webhook_hot_path_keeps_its_statement_count(shop):
    customer = await shop.factory.user()
    started = await shop.checkout(customer)
    event_ = shop.stripe.pay(started["checkoutUrl"].rsplit("/", 1)[-1])
    async with statements(shop.app) as seen:
        assert (await shop.deliver(event_)).status_code == 200
    settings = [s for s in seen if "set_config" in s]
    assert len(settings) == 1 and "codex_set_scope" in settings[0]  # one statement sets the whole scope
    assert len(seen) <= 6, "\n".join(seen)

