"""The raw-SQL benchmark server (benchmarks/raw_server.py) answers every benchmark operation exactly as
our GraphQL server does: same JSON, same key order, once signed URLs and expiry times are normalized
(benchmarks/compare.py). Both run in-process against the same database; the raw one as superuser."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest

from benchmarks.compare import EXPIRES_AT, normalize
from benchmarks.raw_server import create_raw_app
from benchmarks.workload import BY_KEY, OPERATIONS
from codex_graphql.authz import OrgRole
from codex_graphql.relay import to_global_id
from tests.support import Person

NOW = datetime.now(UTC)


@dataclass
class Bench:
    ours: httpx.AsyncClient
    raw: httpx.AsyncClient
    raw_server: Any
    storage: Any
    admin_db: Any
    org: uuid.UUID
    slug: str
    other_slug: str
    owner: Person
    creator: Person
    customer: Person
    other_owner: Person  # owns the other organization, MEMBER of the first (not their active one)
    items: dict[str, uuid.UUID]

    def gid(self, title: str) -> str:
        return to_global_id("Content", self.items[title])

    async def compare(self, key: str, variables: dict[str, Any], token: str | None = None,
                      headers: dict[str, str] | None = None) -> dict[str, Any]:
        """Both answers to one request, normalized; asserts they are equal, key order included."""
        operation = BY_KEY[key]
        body = {"query": operation.document, "variables": variables, "operationName": operation.name}
        sent = dict(headers or {})
        if token:
            sent["authorization"] = f"Bearer {token}"
        self.ours.cookies.clear()
        ours = await self.ours.post("/graphql", json=body, headers=sent)
        raw = await self.raw.post(f"/raw/{key}", json=body, headers=sent)
        assert ours.status_code == raw.status_code == 200, (ours.text, raw.text)
        expected, got = normalize(ours, self.storage), normalize(raw, self.storage)
        assert got == expected, (key, variables)
        assert orjson.dumps(got) == orjson.dumps(expected), "same values, different key order"
        for error in expected.get("errors", []):
            assert error["extensions"]["code"] != "INTERNAL_SERVER_ERROR", expected
        return expected


THUMBS = [{"key": "thumb-1280.jpg", "width": 1280, "height": 720}, {"key": "thumb-320.jpg", "width": 320, "height": 180}]


async def add_content(conn: Any, org: uuid.UUID, creator: uuid.UUID, title: str, at: datetime, *,
                      kind: str = "VIDEO", status: str = "PUBLISHED", listed: bool = True, price: int = 500,
                      tags: list[str] | None = None, duration: float | None = 61.5, thumbnails: bool = True,
                      deleted: bool = False) -> uuid.UUID:
    content_id = uuid.uuid4()
    base = f"orgs/{org}/content/{content_id}"
    thumbs = [{**t, "key": f"{base}/{t['key']}"} for t in THUMBS] if thumbnails and kind == "VIDEO" else []
    await conn.execute(
        "insert into content (id, organization_id, creator_id, kind, status, title, description, price_cents, tags, "
        "duration_seconds, thumbnails, storage_key, mime_type, original_filename, size_bytes, created_at, published_at, "
        "listed, deleted_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12, $13, 'a', 100, $14, $15, "
        "$16, $17)",
        content_id, org, creator, kind, status, title, f"About {title}.", price, tags or [], duration,
        orjson.dumps(thumbs).decode(), f"{base}/original.{'mp4' if kind == 'VIDEO' else 'mp3'}",
        "video/mp4" if kind == "VIDEO" else "audio/mpeg", at, at + timedelta(minutes=1) if status == "PUBLISHED" else None,
        listed, at + timedelta(hours=1) if deleted else None)
    return content_id


async def add_purchase(conn: Any, org: uuid.UUID, user: uuid.UUID, content: uuid.UUID, creator: uuid.UUID,
                       title: str, at: datetime, *, kind: str = "PAID", amount: int = 0, tax: int = 0,
                       refunded_at: datetime | None = None, receipt_url: str | None = None,
                       entitle: bool = True) -> uuid.UUID:
    purchase_id = uuid.uuid4()
    await conn.execute(
        "insert into purchase (id, organization_id, user_id, content_id, creator_id, content_title, kind, status, "
        "amount_cents, tax_cents, currency, created_at, receipt_url) values ($1, $2, $3, $4, $5, $6, $7, 'COMPLETED', "
        "$8, $9, 'USD', $10, $11)", purchase_id, org, user, content, creator, title, kind, amount, tax, at, receipt_url)
    if refunded_at is not None:  # the summary triggers count the refund on its own day
        await conn.execute("update purchase set status = 'REFUNDED', refunded_at = $2 where id = $1",
                           purchase_id, refunded_at)
    if entitle:
        source = {"PAID": "PURCHASE", "FREE": "FREE", "GRANT": "GRANT"}[kind]
        await conn.execute(
            "insert into content_entitlement (id, organization_id, user_id, content_id, source, source_id, revoked_at) "
            "values ($1, $2, $3, $4, $5, $6, $7)", uuid.uuid4(), org, user, content, source, purchase_id, refunded_at)
    return purchase_id


@pytest.fixture
async def bench(app: Any, http: httpx.AsyncClient, factory: Any, admin_db: Any, settings: Any,
                database_url: str) -> AsyncIterator[Bench]:
    owner = await factory.user(name="Olive Owner")
    creator = await factory.user(name="Cleo Creator")
    customer = await factory.user(name="Carl Customer")
    other_owner = await factory.user(name="Otto Other")
    buyers = [await factory.user(name=f"Buyer {n}") for n in range(2)]
    slug, other_slug = f"bench-{uuid.uuid4().hex[:6]}", f"other-{uuid.uuid4().hex[:6]}"
    other_org = await factory.organization(other_owner, slug=other_slug, name="Other Shop")
    org = await factory.organization(owner, slug=slug, name="Bench Shop")
    await factory.member(org, creator, OrgRole.CREATOR)
    await factory.member(org, other_owner, OrgRole.MEMBER)
    # A half-hour offset, so that local days and months differ from UTC ones.
    await admin_db.execute("update organization set timezone = 'Asia/Kolkata' where id = $1", org)

    c, o = creator.user_id, owner.user_id
    start = NOW - timedelta(days=3)
    tie = (start + timedelta(hours=5)).replace(microsecond=0)  # no microseconds: isoformat() drops them
    items: dict[str, uuid.UUID] = {}
    specs: list[tuple[str, datetime, dict[str, Any]]] = [
        ("Alpha", start, {"tags": ["drama", "short-film"], "price": 1999}),
        ("Beta", start + timedelta(hours=1), {"kind": "AUDIO", "price": 0, "duration": None}),
        ("Gamma", start + timedelta(hours=2), {"price": 0, "thumbnails": False}),
        ("Delta", start + timedelta(hours=3), {"tags": ["music"], "duration": 240.0}),
        ("Epsilon", start + timedelta(hours=4), {"kind": "AUDIO", "price": 299}),
        ("Zeta", tie, {"price": 1500}),
        ("Eta", tie, {"tags": ["tie"]}),  # same created_at as Zeta: the id breaks the tie
        ("Theta", start + timedelta(hours=6), {"price": 2500, "duration": 7.25}),
        ("Unlisted", start + timedelta(hours=7), {"listed": False}),
        ("Draft", start + timedelta(hours=8), {"status": "READY"}),
        ("Deleted", start + timedelta(hours=9), {"deleted": True}),
        ("Withdrawn", start - timedelta(days=1), {"status": "READY", "price": 800}),
    ]
    for title, at, options in specs:
        items[title] = await add_content(admin_db, org, o if title == "Theta" else c, title, at, **options)
    items["Elsewhere"] = await add_content(admin_db, other_org, other_owner.user_id, "Elsewhere", start,
                                           kind="AUDIO", price=700)

    day = timedelta(days=1)
    cu = customer.user_id
    await add_purchase(admin_db, org, cu, items["Alpha"], c, "Alpha", NOW - 2 * day, amount=1999, tax=199)
    await add_purchase(admin_db, org, cu, items["Gamma"], c, "Gamma", NOW - 2 * day + timedelta(hours=1), kind="FREE")
    await add_purchase(admin_db, org, cu, items["Delta"], c, "Delta", NOW - 2 * day + timedelta(hours=2), kind="GRANT")
    await add_purchase(admin_db, org, cu, items["Epsilon"], c, "Epsilon", NOW - 6 * day, amount=299,
                       refunded_at=NOW - 1 * day)
    await add_purchase(admin_db, org, cu, items["Withdrawn"], c, "Withdrawn (old title)", NOW - 9 * day, amount=800,
                       receipt_url="https://pay.example/receipts/rcpt_123")
    await add_purchase(admin_db, other_org, cu, items["Elsewhere"], other_owner.user_id, "Elsewhere",
                       NOW - 3 * day, amount=700, tax=70)
    for n, buyer in enumerate(buyers):
        for m, title in enumerate(("Alpha", "Theta", "Zeta", "Delta")):
            await add_purchase(admin_db, org, buyer.user_id, items[title], o if title == "Theta" else c, title,
                               NOW - (n * 7 + m * 3) * day - timedelta(minutes=n), amount=1000 + 250 * m, tax=m * 10)
    await admin_db.execute(
        "insert into playback_position (user_id, content_id, organization_id, position_seconds) values ($1, $2, $3, 12.5)",
        cu, items["Alpha"], org)

    raw_app = create_raw_app(database_url, settings)
    async with raw_app.router.lifespan_context(raw_app):
        transport = httpx.ASGITransport(app=raw_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://raw") as raw:
            yield Bench(ours=http, raw=raw, raw_server=raw_app.state.raw, storage=raw_app.state.raw.storage,
                        admin_db=admin_db, org=org, slug=slug, other_slug=other_slug, owner=owner, creator=creator, customer=customer,
                        other_owner=other_owner, items=items)


def edges(body: dict[str, Any], *path: str) -> list[dict[str, Any]]:
    for key in path:
        body = body[key]
    return body["edges"]


async def test_typename_and_storefront(bench: Bench) -> None:
    assert {op.key for op in OPERATIONS} == set(bench.raw_server.handlers)
    assert await bench.compare("typename", {}) == {"data": {"__typename": "Query"}}
    assert await bench.compare("typename", {}, bench.customer.token) == {"data": {"__typename": "Query"}}
    assert (await bench.raw.post("/raw/nope", json={})).status_code == 404

    page = await bench.compare("storefront", {"slug": bench.slug, "first": 50}, bench.customer.token)
    nodes = [e["node"] for e in edges(page["data"], "organization", "contents")]
    assert [n["title"] for n in nodes][:3] == ["Theta", *sorted(["Zeta", "Eta"], key=lambda t: bench.items[t],
                                                                       reverse=True)]
    assert len(nodes) == 8 and {n["title"] for n in nodes} >= {"Alpha", "Beta"}
    assert {n["title"] for n in nodes if n["viewerHasAccess"]} == {"Alpha", "Gamma", "Delta"}
    alpha = next(n for n in nodes if n["title"] == "Alpha")
    assert alpha["thumbnailUrl"].count("thumb-320.jpg") == 1
    # normalize() checks signatures: a tampered one is refused.
    raw = (await bench.raw.post("/raw/storefront", json={"variables": {"slug": bench.slug, "first": 1}})).json()
    node = raw["data"]["organization"]["contents"]["edges"][0]["node"]
    node["thumbnailUrl"] = node["thumbnailUrl"].replace("sig=", "sig=0")
    with pytest.raises(AssertionError, match="does not verify"):
        normalize(raw, bench.storage)

    # Paging with `after`, anonymous and signed in, to the end.
    for token in (None, bench.customer.token):
        after, seen = None, []
        while True:
            body = await bench.compare("storefront", {"slug": bench.slug, "first": 3, "after": after}, token)
            connection = body["data"]["organization"]["contents"]
            seen += [e["node"]["title"] for e in connection["edges"]]
            if not connection["pageInfo"]["hasNextPage"]:
                break
            after = connection["pageInfo"]["endCursor"]
        assert seen == [n["title"] for n in nodes]

    await bench.compare("storefront", {"slug": bench.slug}, None)  # the document's default `first`
    await bench.compare("storefront", {"slug": bench.slug, "first": None}, None)
    await bench.compare("storefront", {"slug": bench.slug, "first": 0}, bench.customer.token)
    await bench.compare("storefront", {"slug": f"  {bench.slug.upper()} ", "first": 2}, None)
    await bench.compare("storefront", {"slug": "no-such-shop", "first": 5}, bench.customer.token)
    # Staff list every status (deleted items excepted) and may play what is READY or PUBLISHED.
    staff = await bench.compare("storefront", {"slug": bench.slug, "first": 50}, bench.owner.token)
    assert {"Draft", "Unlisted", "Withdrawn"} <= {e["node"]["title"] for e in edges(staff["data"], "organization",
                                                                                        "contents")}
    await bench.compare("storefront", {"slug": bench.slug, "first": 50}, bench.creator.token)
    # A member whose active organization is another one, unless the header picks this one.
    await bench.compare("storefront", {"slug": bench.slug, "first": 50}, bench.other_owner.token)
    hinted = await bench.compare("storefront", {"slug": bench.slug, "first": 50}, bench.other_owner.token,
                                 {"x-codex-organization": bench.slug})
    assert "Draft" in {e["node"]["title"] for e in edges(hinted["data"], "organization", "contents")}
    # Argument errors.
    for variables in ({"first": 101}, {"first": -1}, {"after": "not-a-cursor"}):
        body = await bench.compare("storefront", {"slug": bench.slug, **variables}, bench.customer.token)
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    await bench.compare("storefront", {"slug": "no-such-shop", "first": 101}, None)


async def test_content_detail_and_its_view(bench: Bench) -> None:
    alpha = bench.items["Alpha"]
    await bench.admin_db.execute("delete from content_view")
    variables = {"id": bench.gid("Alpha")}
    raw = await bench.raw.post("/raw/content_detail", json={"query": BY_KEY["content_detail"].document,
                                                            "variables": variables},
                               headers={"authorization": f"Bearer {bench.customer.token}"})
    views = await bench.admin_db.fetch("select content_id, user_id, hour, organization_id from content_view")
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    assert [tuple(v) for v in views] == [(alpha, bench.customer.user_id, hour, bench.org)]
    body = await bench.compare("content_detail", variables, bench.customer.token)
    assert await bench.admin_db.fetchval("select count(*) from content_view") == 1  # once per viewer and hour
    content = body["data"]["content"]
    assert content["viewerHasAccess"] and content["playbackPosition"] == 12.5
    assert content["playback"]["expiresAt"] == EXPIRES_AT and raw.json()["data"]["content"]["playback"]["url"]
    assert [t["width"] for t in content["thumbnails"]] == [320, 1280]

    for title in ("Beta", "Gamma", "Delta", "Epsilon", "Unlisted", "Draft", "Deleted", "Withdrawn", "Elsewhere"):
        for token in (None, bench.customer.token, bench.owner.token):
            await bench.compare("content_detail", {"id": bench.gid(title)}, token)
    forbidden = await bench.compare("content_detail", {"id": bench.gid("Beta")}, bench.customer.token)
    assert forbidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    anonymous = await bench.compare("content_detail", variables, None)
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    staff = await bench.compare("content_detail", {"id": bench.gid("Draft")}, bench.creator.token)
    assert staff["data"]["content"]["playback"] is not None
    for bad in (to_global_id("User", bench.customer.user_id), "garbage", to_global_id("Content", uuid.uuid4())):
        await bench.compare("content_detail", {"id": bad}, bench.customer.token)


async def test_purchase_history(bench: Bench) -> None:
    full = await bench.compare("purchase_history", {"first": 20}, bench.customer.token)
    nodes = [e["node"] for e in edges(full["data"], "viewer", "purchases")]
    assert len(nodes) == 6
    withdrawn = next(n for n in nodes if n["contentTitle"] == "Withdrawn (old title)")
    # Unpublished since the purchase: the buyer keeps it (content.access), under its current title.
    assert withdrawn["content"]["title"] == "Withdrawn"
    assert withdrawn["receiptUrl"] == "https://pay.example/receipts/rcpt_123"
    assert {n["organization"]["slug"] for n in nodes} == {bench.slug, bench.other_slug}
    assert any(n["status"] == "REFUNDED" and n["refundedAt"] for n in nodes)

    after, seen = None, []
    while True:
        body = await bench.compare("purchase_history", {"first": 4, "after": after}, bench.customer.token)
        connection = body["data"]["viewer"]["purchases"]
        seen += [e["node"]["id"] for e in connection["edges"]]
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert seen == [n["id"] for n in nodes]

    await bench.compare("purchase_history", {}, bench.customer.token)  # the document's default `first`
    await bench.compare("purchase_history", {"first": 0}, bench.customer.token)
    # Staff see the withdrawn item of their active organization in their own history.
    await bench.admin_db.execute(
        "update purchase set user_id = $1 where content_id = $2", bench.owner.user_id, bench.items["Withdrawn"])
    owned = await bench.compare("purchase_history", {"first": 20}, bench.owner.token)
    assert edges(owned["data"], "viewer", "purchases")[0]["node"]["content"]["title"] == "Withdrawn"
    await bench.compare("purchase_history", {"first": 20}, bench.creator.token)  # no purchases
    assert (await bench.compare("purchase_history", {"first": 20}, None)) == {"data": {"viewer": None}}
    await bench.compare("purchase_history", {"first": 20}, "not-a-live-token")
    for variables in ({"first": 101}, {"after": "bm9wZQ=="}):
        await bench.compare("purchase_history", variables, bench.customer.token)
        await bench.compare("purchase_history", variables, None)


async def test_admin_dashboard(bench: Bench) -> None:
    today = datetime.now(UTC).date()
    week = {"from": (today - timedelta(days=8)).isoformat(), "to": (today + timedelta(days=1)).isoformat()}
    body = await bench.compare("admin_dashboard", {"slug": bench.slug, "range": week}, bench.owner.token)
    analytics = body["data"]["organization"]["analytics"]
    assert analytics["purchaseCount"] > 0 and analytics["refundCount"] == 1 and analytics["customerCount"] == 3
    assert len(analytics["topContent"]) == 5 and len(analytics["recentPurchases"]) == 10
    await bench.compare("admin_dashboard", {"slug": bench.slug, "range": None}, bench.owner.token)
    await bench.compare("admin_dashboard", {"slug": bench.slug}, bench.owner.token)
    await bench.compare("admin_dashboard", {"slug": bench.other_slug, "range": week}, bench.other_owner.token)

    # Refusals: anonymous, a customer, staff without ANALYTICS_READ, a member of another active organization.
    for token, headers in ((None, None), (bench.customer.token, None), (bench.creator.token, None),
                           (bench.other_owner.token, None), (bench.other_owner.token, {"x-codex-organization": bench.slug})):
        refused = await bench.compare("admin_dashboard", {"slug": bench.slug, "range": week}, token, headers)
        assert refused["data"] == {"organization": {"analytics": None}} and refused["errors"]
    await bench.compare("admin_dashboard", {"slug": "no-such-shop", "range": week}, bench.owner.token)
    # Range errors, for the owner and for someone refused anyway.
    for bad in ({"from": week["to"], "to": week["from"]}, {"from": "2020-01-01", "to": "2026-01-01"}):
        for token in (bench.owner.token, bench.customer.token):
            await bench.compare("admin_dashboard", {"slug": bench.slug, "range": bad}, token)
