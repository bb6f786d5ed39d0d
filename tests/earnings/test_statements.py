"""Creators' monthly statements (earnings/statements.py) through the app wired to the Stripe stand-in: a creator
asks (`creatorStatement`), the job runs as a worker runs it (twice: one file, one READY row, one mail to a real
SMTP server), the CSV lists exactly the ledger's rows of the month with a total per currency; requests reuse
the row by the documented rule, concurrent ones queue one job; bad input and strangers change nothing; a
statement is read by its creator and the organization's staff with PURCHASES_READ only."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import uuid
from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from codex_graphql.authz import OrgRole
from codex_graphql.earnings import statements
from codex_graphql.earnings.pool import next_month
from codex_graphql.mail import SmtpMailer
from codex_graphql.relay import to_global_id
from tests.support import Person
from tests.support.commerce import REFUND, Shop

STATEMENT = """mutation($input: CreatorStatementInput!) { creatorStatement(input: $input) {
  errors { code field message }
  statement { id month status rows url expiresAt requestedAt readyAt organization { slug } } } }"""
MINE = "{ viewer { creatorStatements(first: 10) { totalCount nodes { id month status rows url organization { slug } } } } }"
NODE = "query($id: ID!) { node(id: $id) { ... on CreatorStatement { id status rows url expiresAt } } }"
LINK = re.compile(r"http://testserver/storage/\S+")


def this_month() -> str:
    return f"{datetime.now(UTC):%Y-%m}"


@pytest.fixture
def statement_actors(settings: Any) -> Any:
    from workers.broker import setup_broker

    setup_broker(settings.model_copy(update={"redis_url": None}))  # before the actors module binds to a broker
    from workers import earnings_actors

    return earnings_actors


class Statements:
    """Requests statements and runs their jobs the way a worker does (the outbox payload as the arguments)."""

    def __init__(self, shop: Shop, admin_db: Any, actors: Any, mailbox: Any, monkeypatch: Any) -> None:
        self.shop, self.admin_db, self.actors, self.mailbox = shop, admin_db, actors, mailbox
        services = shop.app.state.runtime["services"]
        self.storage = services.storage
        self.runtime = SimpleNamespace(db=services.db, storage=services.storage, settings=services.settings,
                                       mailer=SmtpMailer(mailbox.url, "codex@example.com"))
        monkeypatch.setattr(actors, "runtime", lambda: self.runtime)

    async def request(self, person: Person | None, month: str | None = None, org: uuid.UUID | None = None,
                      organization_id: str | None = None) -> dict[str, Any]:
        variables = {"input": {"organizationId": organization_id or to_global_id("Organization", org or self.shop.org),
                               "month": this_month() if month is None else month}}
        return await self.shop.gql(STATEMENT, variables, person.token if person else None)

    async def jobs(self) -> list[tuple[str, dict[str, Any]]]:
        rows = await self.admin_db.fetch("select id, payload from outbox_message where kind = 'job' and topic = $1 "
                                         "order by created_at, id", statements.STATEMENT_ACTOR)
        return [(str(r["id"]), json.loads(r["payload"])) for r in rows]

    async def run(self, job: tuple[str, dict[str, Any]]) -> None:
        job_id, payload = job
        await self.actors.write_creator_statement.fn.__wrapped__(job_id=job_id, **payload)

    async def rows(self) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in await self.admin_db.fetch(
            "select organization_id, user_id, month, status, rows from creator_statement order by requested_at")]


@pytest.fixture
async def creators(shop, admin_db, statement_actors, mailbox, monkeypatch) -> Statements:
    return Statements(shop, admin_db, statement_actors, mailbox, monkeypatch)


async def sell_and_refund(shop: Shop) -> None:
    customer = await shop.factory.user()
    await shop.buy(customer)
    purchase = (await shop.gql.ok("{ viewer { purchases(first: 5) { nodes { id amountCents } } } }",
                                  token=customer.token))["viewer"]["purchases"]["nodes"]
    paid = next(p["id"] for p in purchase if p["amountCents"] == 1999)
    body = await shop.gql.ok(REFUND, {"input": {"purchaseId": paid, "idempotencyKey": uuid.uuid4().hex,
                                                "amountCents": 500}}, shop.owner.token)
    assert body["refundPurchase"]["errors"] == []


def month_bounds(month: str) -> tuple[datetime, datetime]:
    first = date.fromisoformat(f"{month}-01")
    after = next_month(first)
    return datetime(first.year, first.month, 1, tzinfo=UTC), datetime(after.year, after.month, 1, tzinfo=UTC)


async def ledger(admin_db: Any, org: uuid.UUID, user_id: uuid.UUID, month: str) -> list[list[str]]:
    start, end = month_bounds(month)
    rows = await admin_db.fetch(
        "select e.created_at, e.kind, e.content_id, c.title, e.purchase_id, e.refund_id, e.basis_cents, "
        "e.amount_cents, e.currency from earning_entry e left join content c on c.id = e.content_id "
        "where e.organization_id = $1 and e.user_id = $2 and e.created_at >= $3 and e.created_at < $4 "
        "order by e.created_at, e.id", org, user_id, start, end)
    return [[r[0].astimezone(UTC).isoformat(), *("" if v is None else str(v) for v in list(r)[1:])] for r in rows]


async def test_a_statement_is_written_once_and_lists_the_months_ledger(shop, creators, admin_db, mailbox):
    await sell_and_refund(shop)
    body = await creators.request(shop.creator)
    answer = body["data"]["creatorStatement"]
    assert answer["errors"] == [] and answer["statement"]["status"] == "PENDING"
    assert answer["statement"]["url"] is None and answer["statement"]["organization"] == {"slug": "shop"}
    [job] = await creators.jobs()
    await creators.run(job)
    await creators.run(job)  # a redelivery: nothing twice
    [(org, user, month, status, rows)] = await creators.rows()
    expected = await ledger(admin_db, shop.org, shop.creator.user_id, this_month())
    assert (org, user, status, rows) == (shop.org, shop.creator.user_id, "READY", len(expected))
    assert [r[1] for r in expected] == ["SALE", "REFUND"]  # the sale and its partial refund

    [mail] = mailbox.received
    assert mail.envelope_to == [shop.creator.email] and this_month() in mail.subject
    link = LINK.search(mail.text).group(0)
    listed = (await shop.gql.ok(MINE, token=shop.creator.token))["viewer"]["creatorStatements"]
    assert listed["totalCount"] == 1 and listed["nodes"][0]["status"] == "READY" and listed["nodes"][0]["rows"] == 2
    for url in (link, listed["nodes"][0]["url"]):
        response = await shop.http.get(url)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
        parsed = list(csv.reader(io.StringIO(response.text)))
        assert parsed[0] == statements.CSV_COLUMNS
        assert parsed[1:-1] == expected
        assert parsed[-1] == ["total", "", "", "", "", "", "", str(sum(int(r[7]) for r in expected)), "USD"]
    assert int(parsed[-1][7]) == 1999 - 500  # the creator's 100 % of the net, less the refunded 500
    claims = await admin_db.fetch("select consumer from processed_message where message_id = $1::uuid", job[0])
    assert sorted(r["consumer"] for r in claims) == [statements.STATEMENT_MAIL_CONSUMER, statements.STATEMENT_ACTOR]
    key = await admin_db.fetchval("select storage_key from creator_statement")
    assert key.startswith(f"statements/{shop.org}/{shop.creator.user_id}/{this_month()}-") and key.endswith(".csv")
    assert await creators.storage.head(key) is not None


async def test_requests_reuse_the_statement_by_the_documented_rule(shop, creators, admin_db):
    await sell_and_refund(shop)
    # The organization existed in January (a month before it existed is INVALID_INPUT).
    await admin_db.execute("update organization set created_at = timestamptz '2025-06-01' where id = $1", shop.org)
    # Concurrent requests: one row, one job.
    answers = await asyncio.gather(*(creators.request(shop.creator) for _ in range(4)))
    ids = {a["data"]["creatorStatement"]["statement"]["id"] for a in answers}
    assert len(ids) == 1 and len(await creators.jobs()) == 1
    pending = (await creators.request(shop.creator))["data"]["creatorStatement"]["statement"]
    assert pending["status"] == "PENDING" and pending["id"] in ids and len(await creators.jobs()) == 1  # reused
    await creators.run((await creators.jobs())[0])
    # READY, but written while its month is running: written again (a new job).
    again = (await creators.request(shop.creator))["data"]["creatorStatement"]["statement"]
    assert again["status"] == "PENDING" and again["id"] in ids and len(await creators.jobs()) == 2
    await creators.run((await creators.jobs())[1])
    # An earlier month, written after it ended: final.
    past = (await creators.request(shop.creator, "2026-01"))["data"]["creatorStatement"]["statement"]
    [*_, job] = await creators.jobs()
    await creators.run(job)
    final = (await creators.request(shop.creator, "2026-01"))["data"]["creatorStatement"]["statement"]
    assert (final["id"], final["status"], final["rows"]) == (past["id"], "READY", 0) and final["url"]
    assert len(await creators.jobs()) == 3
    # FAILED (the job's last retry failed): written again.
    await admin_db.execute("update creator_statement set status = 'FAILED' where month = date '2026-01-01'")
    retried = (await creators.request(shop.creator, "2026-01"))["data"]["creatorStatement"]["statement"]
    assert retried["status"] == "PENDING" and retried["id"] == past["id"] and len(await creators.jobs()) == 4


async def test_a_failing_job_leaves_the_row_pending_and_the_last_retry_marks_it_failed(shop, creators, admin_db,
                                                                                       monkeypatch, mailbox):
    await sell_and_refund(shop)
    await creators.request(shop.creator)
    [job] = await creators.jobs()

    async def broken(*args: Any) -> None:
        raise OSError("storage unreachable")

    monkeypatch.setattr(creators.storage, "upload_file", broken)
    with pytest.raises(OSError):
        await creators.run(job)
    assert [r[3] for r in await creators.rows()] == ["PENDING"] and mailbox.received == []
    assert creators.actors.write_creator_statement.options["on_retry_exhausted"] == statements.STATEMENT_FAILED_ACTOR
    message = {"message_id": job[0], "kwargs": {"job_id": job[0], **job[1]},
               "options": {"traceback": "Traceback ...\nOSError: storage unreachable\n"}}
    await creators.actors.creator_statement_failed.fn.__wrapped__(message, {"retries": 6, "max_retries": 6})
    assert await admin_db.fetchval("select status || ':' || error from creator_statement") \
        == "FAILED:OSError: storage unreachable"
    listed = (await shop.gql.ok(MINE, token=shop.creator.token))["viewer"]["creatorStatements"]["nodes"]
    assert [(n["status"], n["url"]) for n in listed] == [("FAILED", None)]
    monkeypatch.undo()
    monkeypatch.setattr(creators.actors, "runtime", lambda: creators.runtime)
    await creators.request(shop.creator)  # asked again: a new job, which succeeds
    await creators.run((await creators.jobs())[-1])
    assert [r[3] for r in await creators.rows()] == ["READY"] and len(mailbox.received) == 1


async def test_bad_input_is_a_typed_error_and_creates_nothing(shop, creators, admin_db):
    for month in ("2026-13", "11-2026", "", "2026-1", "3000-01", "0001-01", "2020-01"):  # the last two: before the org
        answer = (await creators.request(shop.creator, month))["data"]["creatorStatement"]
        assert [(e["code"], e["field"]) for e in answer["errors"]] == [("INVALID_INPUT", ["input", "month"])], month
        assert answer["statement"] is None
    for organization_id in (to_global_id("Organization", uuid.uuid4()), "not-an-id",
                            to_global_id("Content", shop.org)):
        answer = (await creators.request(shop.creator, organization_id=organization_id))["data"]["creatorStatement"]
        assert [(e["code"], e["field"]) for e in answer["errors"]] == [("NOT_FOUND", ["input", "organizationId"])]
    assert await creators.rows() == [] and await creators.jobs() == []


async def test_who_may_request_and_read_a_statement(shop, creators, admin_db):
    await sell_and_refund(shop)
    factory = shop.factory
    ben = await factory.user(name="Ben Creator")
    await factory.member(shop.org, ben, OrgRole.CREATOR)
    member = await factory.user()
    await factory.member(shop.org, member, OrgRole.MEMBER)
    other_staff = await factory.user()
    await factory.organization(other_staff)
    customer = await factory.user()
    await shop.buy(customer)

    refused = {"anonymous": (None, "UNAUTHENTICATED"), "customer": (customer, "FORBIDDEN"),
               "other_org_staff": (other_staff, "FORBIDDEN"), "member_without_earnings": (member, "FORBIDDEN")}
    for name, (person, code) in refused.items():
        body = await creators.request(person)
        assert [e["extensions"]["code"] for e in body["errors"]] == [code], name
        assert body["data"] is None or body["data"]["creatorStatement"] is None, name
    assert await creators.rows() == [] and await creators.jobs() == []

    # Creators ask for their own statement, never anyone else's.
    ann_statement = (await creators.request(shop.creator))["data"]["creatorStatement"]["statement"]
    ben_statement = (await creators.request(ben))["data"]["creatorStatement"]["statement"]
    assert ann_statement["id"] != ben_statement["id"]
    for job in await creators.jobs():
        await creators.run(job)
    rows = {r[1]: (r[3], r[4]) for r in await creators.rows()}
    assert rows == {shop.creator.user_id: ("READY", 3), ben.user_id: ("READY", 0)}  # the second sale counts too

    readers = {"anonymous": None, "customer": customer, "other_org_staff": other_staff, "member": member,
               "creator_b": ben, "creator_a": shop.creator, "owner": shop.owner}
    for name, person in readers.items():
        body = await shop.gql(NODE, {"id": ann_statement["id"]}, person.token if person else None)
        node = (body.get("data") or {}).get("node")
        if name in ("creator_a", "owner"):
            assert node["status"] == "READY" and node["rows"] == 3 and node["url"] and node["expiresAt"], (name, body)
        else:
            assert not node, (name, body)
            assert ann_statement["id"].encode() not in json.dumps(body).encode(), name
        if person is not None:
            mine = (await shop.gql.ok(MINE, token=person.token))["viewer"]["creatorStatements"]["nodes"]
            assert (ann_statement["id"] in {n["id"] for n in mine}) == (name == "creator_a"), name


async def test_a_creator_asks_from_another_active_organization(shop, creators, admin_db):
    await sell_and_refund(shop)
    own_org = await shop.factory.organization(shop.creator, name="Cleo's own studio")
    headers = {"x-codex-organization": str(own_org)}
    active = await shop.gql.ok("{ viewer { activeOrganization { id } } }", token=shop.creator.token, headers=headers)
    assert active["viewer"]["activeOrganization"]["id"] == to_global_id("Organization", own_org)
    body = await shop.gql(STATEMENT, {"input": {"organizationId": to_global_id("Organization", shop.org),
                                                "month": this_month()}}, shop.creator.token, headers=headers)
    answer = body["data"]["creatorStatement"]
    assert answer["errors"] == [] and answer["statement"]["organization"] == {"slug": "shop"}
    assert [(r[0], r[1], r[3]) for r in await creators.rows()] == [(shop.org, shop.creator.user_id, "PENDING")]
    [(job_id, payload)] = await creators.jobs()
    assert await admin_db.fetchval("select organization_id from outbox_message where id = $1::uuid", job_id) == shop.org
    await creators.run((job_id, payload))
    assert [r[3:] for r in await creators.rows()] == [("READY", 2)]


async def test_a_revoked_session_requests_nothing(shop, creators, admin_db):
    await sell_and_refund(shop)
    logout = await shop.gql.ok("mutation { logout(input: {}) { errors { code } } }", {}, shop.creator.token)
    assert logout["logout"]["errors"] == []
    answer = await creators.request(shop.creator)
    assert (answer["data"] or {}).get("creatorStatement") is None
    assert {e["extensions"]["code"] for e in answer["errors"]} == {"UNAUTHENTICATED"}
    assert await creators.rows() == [] and await creators.jobs() == []
