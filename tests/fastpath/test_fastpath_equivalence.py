"""The compiled fast path answers exactly what the resolvers answer, for every shape it compiles and
every kind of viewer; shapes it does not cover fall back to the resolvers."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import httpx
import pytest

from codex_graphql.app import create_app
from codex_graphql.authz import OrgRole
from codex_graphql.relay import to_global_id
from tests.support import GraphQLClient, bare, statements

OPERATIONS = Path(__file__).resolve().parents[2] / "benchmarks" / "operations"
STOREFRONT = (OPERATIONS / "storefront.graphql").read_text()
HISTORY = (OPERATIONS / "purchase_history.graphql").read_text()
BASE = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

# Shapes the fast path compiles: fragments, aliases, __typename at every level, nodes and edges,
# every pageInfo field, totalCount, and organization scalars around the connection.
STOREFRONT_VARIANTS = [
    STOREFRONT,
    """query Full($slug: String!, $first: Int, $after: String) { __typename organization(slug: $slug) {
      __typename slug createdAt items: contents(first: $first, after: $after) { __typename totalCount
        pageInfo { __typename hasNextPage hasPreviousPage startCursor endCursor }
        edges { __typename cursor node { ...Card } } } name id } }
    fragment Card on Content { __typename id kind status title description priceCents currency tags
      durationSeconds createdAt updatedAt publishedAt listed allowDownloads reviewsEnabled thumbnailUrl
      viewerHasAccess creator { __typename id name createdAt } }""",
    """query Nodes($slug: String!) { organization(slug: $slug) { contents(first: 3) {
      nodes { ... on Content { id t: title } title access: viewerHasAccess } totalCount } } }""",
    """query Bare($slug: String!) { organization(slug: $slug) { id name } }""",
]
HISTORY_VARIANTS = [
    HISTORY,
    """query H($first: Int, $after: String) { viewer { __typename id name email emailVerified platformRole createdAt
      purchases(first: $first, after: $after) { totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
        nodes { __typename id kind status amountCents taxCents currency contentTitle createdAt refundedAt receiptUrl
          refundedAmountCents
          content { id title status viewerHasAccess thumbnailUrl creator { name } }
          organization { __typename id slug name createdAt } } } } }""",
    """{ viewer { name } }""",
]


@pytest.fixture(autouse=True)
def compiled_execution_never_fails(caplog):
    """A defect of the compiled form falls back to the resolvers (same answer) and logs an error: the
    equal answers above prove nothing unless that never happened."""
    yield
    failures = [r for r in caplog.get_records("call") if r.levelname == "ERROR" and "compiled" in r.getMessage()]
    assert not failures, [r.getMessage() for r in failures]


@pytest.fixture
def settings(settings):
    """Both servers here (``app`` and ``resolvers_only``) charge the same callers' buckets in the same Redis
    namespace, every comparison twice: a bucket this deep never answers THROTTLED in these hundreds of
    requests. The limiter itself is tested in tests/http and tests/fastpath/test_limits_once.py."""
    return settings.model_copy(update={"rate_limit_capacity": 100_000_000})


async def insert_content(admin_db: Any, org: uuid.UUID, creator: uuid.UUID, n: int, **overrides: Any) -> uuid.UUID:
    content_id = uuid.uuid4()
    values = {
        "status": "PUBLISHED", "listed": True, "deleted_at": None, "price_cents": 100 * n,
        "thumbnails": json.dumps([{"key": f"orgs/{org}/content/{content_id}/thumb-{w}.jpg", "width": w,
                                   "height": w * 9 // 16} for w in (1280, 320)] if n % 2 == 0 else []),
    } | overrides
    await admin_db.execute(
        "insert into content (id, organization_id, creator_id, kind, status, title, description, price_cents, tags, "
        "storage_key, mime_type, original_filename, size_bytes, duration_seconds, published_at, created_at, listed, "
        "deleted_at, thumbnails) values ($1, $2, $3, $4, $5, $6::text, 'About ' || $6::text, $7, $8, $9, 'video/mp4', 'a.mp4', "
        "10, $10, $11, $11, $12, $13, $14::jsonb)",
        content_id, org, creator, "VIDEO" if n % 3 else "AUDIO", values["status"], f"Item {n}", values["price_cents"],
        [f"tag-{n % 3}", "all"], f"orgs/{org}/content/{content_id}/original.mp4", 60.5 + n,
        BASE - timedelta(hours=n), values["listed"], values["deleted_at"], values["thumbnails"])
    return content_id


async def insert_purchase(admin_db: Any, org: uuid.UUID, user: uuid.UUID, content: uuid.UUID, creator: uuid.UUID,
                          n: int, *, refunded: bool = False, receipt: str | None = None) -> None:
    purchase_id = uuid.uuid4()
    at = BASE + timedelta(minutes=n)
    await admin_db.execute(
        "insert into purchase (id, organization_id, user_id, content_id, creator_id, content_title, kind, status, "
        "amount_cents, tax_cents, currency, created_at, refunded_at, receipt_url) values ($1, $2, $3, $4, $5, $6, "
        "$7, $8, $9, $10, 'USD', $11, $12, $13)",
        purchase_id, org, user, content, creator, f"Bought {n}", "PAID" if n % 4 else "FREE",
        "REFUNDED" if refunded else "COMPLETED", 500 + n, n, at, at + timedelta(days=1) if refunded else None, receipt)
    await admin_db.execute(
        "insert into content_entitlement (id, organization_id, user_id, content_id, source, source_id, revoked_at) "
        "values ($1, $2, $3, $4, 'PURCHASE', $5, $6)",
        uuid.uuid4(), org, user, content, purchase_id, at if refunded else None)


@pytest.fixture
async def world(factory, admin_db) -> dict[str, Any]:
    owner = await factory.user(name="Owner")
    org = await factory.organization(owner, slug="shop")
    creator = await factory.user(name="Creator")
    await factory.member(org, creator, OrgRole.CREATOR)
    other_owner = await factory.user(name="Other Owner")
    other = await factory.organization(other_owner, slug="elsewhere")
    customer = await factory.user(name="Customer")
    ids = [await insert_content(admin_db, org, (owner if n % 2 else creator).user_id, n) for n in range(14)]
    hidden = [
        await insert_content(admin_db, org, owner.user_id, 20, listed=False),
        await insert_content(admin_db, org, owner.user_id, 21, status="READY"),
        await insert_content(admin_db, org, owner.user_id, 22, deleted_at=BASE),
    ]
    elsewhere = [await insert_content(admin_db, other, other_owner.user_id, n) for n in range(3)]
    for n, content in enumerate(ids[:6]):
        await insert_purchase(admin_db, org, customer.user_id, content, creator.user_id, n, refunded=n == 2,
                              receipt="https://pay.example/receipt/1" if n == 1 else None)
    await insert_purchase(admin_db, org, customer.user_id, hidden[1], owner.user_id, 10)  # unpublished since
    await insert_purchase(admin_db, org, customer.user_id, hidden[2], owner.user_id, 11)  # deleted since
    for n, content in enumerate(elsewhere):
        await insert_purchase(admin_db, other, customer.user_id, content, other_owner.user_id, 20 + n)
    await insert_shelf_and_tiers(admin_db, org, other, ids, hidden, elsewhere)
    return {"owner": owner, "creator": creator, "other_owner": other_owner, "customer": customer, "org": org}


async def insert_shelf_and_tiers(admin_db: Any, org: uuid.UUID, other: uuid.UUID, ids: list[uuid.UUID],
                                 hidden: list[uuid.UUID], elsewhere: list[uuid.UUID]) -> None:
    """Categories (on the public shelf; holding only an unlisted item; only an unpublished one the customer
    bought; empty) and tiers (on sale; published but not ready to sell; draft; archived; all content)."""
    categories: dict[str, uuid.UUID] = {}
    for name, position, organization, items in (
            ("Yoga", 0, org, ids[:2]), ("Quiet", 1, org, hidden[:1]), ("Backstage", 1, org, hidden[1:2]),
            ("Empty", 2, org, []), ("Far", 0, other, elsewhere[:1])):
        categories[name] = uuid.uuid4()
        await admin_db.execute("insert into category (id, organization_id, name, slug, description, position, "
                               "created_at, updated_at) values ($1, $2, $3::text, lower($3::text), 'About ' || $3::text, $4, $5, $5)",
                               categories[name], organization, name, position, BASE + timedelta(minutes=position))
        for item in items:
            await admin_db.execute("insert into content_category (content_id, category_id, organization_id) "
                                   "values ($1, $2, $3)", item, categories[name], organization)
    tiers = (  # name, organization, status, product, all content, categories, prices (interval, cents, provider id, active)
        ("Gold", org, "PUBLISHED", "prod_gold", False, ("Yoga", "Backstage", "Empty"),
         (("MONTH", 1200, "price_old", False), ("MONTH", 1500, "price_gm", True), ("YEAR", 15000, "price_ga", True))),
        ("Silver", org, "PUBLISHED", "prod_silver", False, ("Yoga",), (("MONTH", 900, None, True),)),
        ("Sketch", org, "DRAFT", "prod_sketch", False, ("Quiet",), (("MONTH", 700, "price_sk", True),)),
        ("Old", org, "ARCHIVED", "prod_old", False, (), (("YEAR", 5000, "price_oy", False),)),
        ("All access", org, "PUBLISHED", "prod_all", True, (), (("YEAR", 30000, "price_all", True),)),
        ("Far tier", other, "PUBLISHED", "prod_far", False, ("Far",), (("MONTH", 100, "price_far", True),)),
    )
    for n, (name, organization, status, product, all_content, granted, prices) in enumerate(tiers):
        tier = uuid.uuid4()
        at = BASE + timedelta(hours=n)
        await admin_db.execute(
            "insert into subscription_tier (id, organization_id, name, description, status, trial_days, all_content, "
            "offering_access, monthly_credits, credit_policy, credit_rollover_cap, currency, position, "
            "stripe_product_id, published_at, archived_at, created_at, updated_at) values ($1, $2, $3::text, 'About ' || $3::text, "
            "$4, $5, $6, $7, $8, $9, $10, 'USD', $11, $12, $13, $14, $15, $15)",
            tier, organization, name, status, 7 * (n % 2), all_content, n % 2 == 0, 2 * n,
            "ROLLOVER" if all_content else "EXPIRE_MONTHLY", 10 if all_content else None, 0 if n in (0, 4) else n,
            product, at if status != "DRAFT" else None, at if status == "ARCHIVED" else None, at)
        for name_ in granted:
            await admin_db.execute("insert into subscription_tier_category (tier_id, category_id, organization_id) "
                                   "values ($1, $2, $3)", tier, categories[name_], organization)
        for m, (interval, cents, provider, active) in enumerate(prices):
            await admin_db.execute(
                "insert into subscription_tier_price (id, tier_id, organization_id, interval, amount_cents, currency, "
                "stripe_price_id, active, deactivated_at, created_at) values ($1, $2, $3, $4, $5, 'USD', $6, $7, $8, $9)",
                uuid.uuid4(), tier, organization, interval, cents, provider, active, None if active else at,
                at + timedelta(minutes=m))


@pytest.fixture
async def resolvers_only(settings) -> Any:
    """The same server with compiled execution turned off: the reference answers."""
    app = create_app(settings.model_copy(update={"fast_path_enabled": False}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 4321))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield GraphQLClient(http)


def unsigned(value: Any, storage: Any) -> Any:
    """Signed URLs carry their expiry second: check the signature, then compare them without it."""
    if isinstance(value, dict):
        if isinstance(value.get("expiresAt"), str) and "url" in value:  # playback: the URL's own expiry
            exp = dict(parse_qsl(urlsplit(value["url"]).query))["exp"]
            assert datetime.fromisoformat(value["expiresAt"]).timestamp() == int(exp)
            value = {**value, "expiresAt": "<expiry>"}
        return {k: unsigned(v, storage) for k, v in value.items()}
    if isinstance(value, list):
        return [unsigned(v, storage) for v in value]
    if isinstance(value, str) and "/storage/" in value and "sig=" in value:
        parts = urlsplit(value)
        key = unquote(parts.path.split("/storage/", 1)[1])
        params = dict(parse_qsl(parts.query))
        storage.verify(key, params, ("get",))
        # Everything the URL asks of the storage (file name, content type) compared; expiry and signature not.
        kept = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k not in {"exp", "sig"})
        return f"{parts.path}?{kept}&signed"
    return value


def viewers(world: dict[str, Any]) -> dict[str, str | None]:
    return {"anonymous": None, "customer": world["customer"].token, "creator": world["creator"].token,
            "owner": world["owner"].token, "other_org_owner": world["other_owner"].token}


def fast_path(app: Any) -> Any:
    return app.state.runtime["graphql"].fast


async def compare(app: Any, gql: GraphQLClient, reference: GraphQLClient, document: str,
                  variables: dict[str, Any], token: str | None) -> dict[str, Any]:
    assert fast_path(app).plan(document, None) is not None, "this shape should compile"
    fast = await gql.raw(document, variables, token)
    slow = await reference.raw(document, variables, token)
    assert fast.status_code == slow.status_code == 200
    fast_body, slow_body = fast.json(), slow.json()
    storage = app.state.runtime["services"].storage
    assert unsigned(bare(fast_body), storage) == unsigned(bare(slow_body), storage), (document, variables)
    assert "errors" not in fast_body
    assert fast_body["extensions"]["cost"]["requestedQueryCost"] == slow_body["extensions"]["cost"]["requestedQueryCost"]
    return fast_body["data"]


@pytest.mark.parametrize("variant", range(len(STOREFRONT_VARIANTS)))
async def test_storefront_shapes_match_the_resolvers_for_every_viewer(app, gql, resolvers_only, world, variant):
    document = STOREFRONT_VARIANTS[variant]
    for who, token in viewers(world).items():
        for first in (None, 0, 5, 50):
            variables: dict[str, Any] = {"slug": " Shop "}
            if first is not None and "$first" in document:
                variables["first"] = first
            data = await compare(app, gql, resolvers_only, document, variables, token)
            connection = (data["organization"] or {}).get("contents") or (data["organization"] or {}).get("items")
            cursor = connection and connection.get("pageInfo", {}).get("endCursor")
            if cursor and "$after" in document:
                await compare(app, gql, resolvers_only, document, {**variables, "after": cursor}, token)
        await compare(app, gql, resolvers_only, document, {"slug": "no-such-shop"}, token)


async def test_storefront_answers_are_right_not_only_equal(app, gql, world):
    as_customer = await gql.ok(STOREFRONT, {"slug": "shop"}, world["customer"].token)
    nodes = [edge["node"] for edge in as_customer["organization"]["contents"]["edges"]]
    assert [n["title"] for n in nodes] == [f"Item {n}" for n in range(14)]  # newest first, hidden ones left out
    assert [n["viewerHasAccess"] for n in nodes] == [n in (0, 1, 3, 4, 5) for n in range(14)]  # 2 was refunded
    assert all(n["thumbnailUrl"] is None or "thumb-320" in n["thumbnailUrl"] for n in nodes)
    as_owner = await gql.ok(STOREFRONT, {"slug": "shop"}, world["owner"].token)
    owner_titles = [e["node"]["title"] for e in as_owner["organization"]["contents"]["edges"]]
    assert "Item 20" in owner_titles and "Item 21" in owner_titles and "Item 22" not in owner_titles
    assert all(e["node"]["viewerHasAccess"] for e in as_owner["organization"]["contents"]["edges"])
    as_other = await gql.ok(STOREFRONT, {"slug": "shop"}, world["other_owner"].token)
    assert [e["node"]["title"] for e in as_other["organization"]["contents"]["edges"]] == [f"Item {n}" for n in range(14)]


@pytest.mark.parametrize("variant", range(len(HISTORY_VARIANTS)))
async def test_purchase_history_shapes_match_the_resolvers(app, gql, resolvers_only, world, variant):
    document = HISTORY_VARIANTS[variant]
    for token in viewers(world).values():
        for first in (None, 1, 4, 20):
            variables = {"first": first} if first is not None and "$first" in document else {}
            data = await compare(app, gql, resolvers_only, document, variables, token)
            purchases = (data["viewer"] or {}).get("purchases")
            if purchases and purchases["pageInfo"]["hasNextPage"] and "$after" in document:
                await compare(app, gql, resolvers_only, document,
                              {**variables, "after": purchases["pageInfo"]["endCursor"]}, token)


async def test_purchase_history_keeps_what_the_buyer_still_owns(app, gql, world):
    data = await gql.ok(HISTORY, {"first": 20}, world["customer"].token)
    nodes = {e["node"]["contentTitle"]: e["node"] for e in data["viewer"]["purchases"]["edges"]}
    assert len(nodes) == 11
    assert nodes["Bought 10"]["content"]["title"] == "Item 21"  # unpublished since: the buyer keeps it
    assert nodes["Bought 11"]["content"]["title"] == "Item 22"  # deleted since: the buyer keeps it too
    assert nodes["Bought 2"]["content"]["title"] == "Item 2"  # refunded, but still in the public catalogue
    assert nodes["Bought 3"]["content"]["title"] == "Item 3"
    assert nodes["Bought 1"]["receiptUrl"] == "https://pay.example/receipt/1"
    assert nodes["Bought 0"]["receiptUrl"].startswith("http://testserver/receipts/")


async def test_compiled_requests_cost_one_statement_whatever_the_page_size(app, gql, world):
    token = world["customer"].token
    await gql.ok(STOREFRONT, {"slug": "shop"}, token)  # warm the session and the connection's tenant settings
    for first in (1, 5, 14):
        async with statements(app) as seen:
            await gql.ok(STOREFRONT, {"slug": "shop", "first": first}, token)
        assert len(seen) == 1, seen
        async with statements(app) as seen:
            await gql.ok(HISTORY, {"first": first}, token)
        assert len(seen) == 1, seen


DETAIL = (OPERATIONS / "content_detail.graphql").read_text()
DETAIL_WITHOUT_PLAYBACK = """query D($id: ID!) { content(id: $id) { __typename id title status viewerHasAccess
  playbackPosition thumbnails { __typename url width height } creator { name } } }"""


async def compare_any(app: Any, gql: GraphQLClient, reference: GraphQLClient, document: str,
                      variables: dict[str, Any], token: str | None) -> dict[str, Any]:
    """Like compare, for answers that may carry errors (those come from the resolvers either way)."""
    fast = (await gql.raw(document, variables, token)).json()
    slow = (await reference.raw(document, variables, token)).json()
    storage = app.state.runtime["services"].storage
    assert unsigned(bare(fast), storage) == unsigned(bare(slow), storage), (document, variables, token)
    return fast


async def test_content_detail_matches_the_resolvers_and_records_views_alike(app, gql, resolvers_only, world,
                                                                          admin_db):
    assert fast_path(app).plan(DETAIL, None) is not None
    ids = await admin_db.fetch("select id, title, status from content order by title")
    for who, token in viewers(world).items():
        for row in ids:
            global_id = to_global_id("Content", row["id"])
            for document in (DETAIL, DETAIL_WITHOUT_PLAYBACK):
                await compare_any(app, gql, resolvers_only, document, {"id": global_id}, token)
        for bad in ("not-an-id", to_global_id("Purchase", uuid.uuid4()), to_global_id("Content", uuid.uuid4())):
            await compare_any(app, gql, resolvers_only, DETAIL, {"id": bad}, token)
    # A view per viewer, item and hour, whichever path served the playback; refused playbacks record none.
    views = await admin_db.fetch("select user_id, content_id, count(*) as n from content_view group by 1, 2")
    assert views and all(v["n"] == 1 for v in views)
    customer_views = {v["content_id"] for v in views if v["user_id"] == world["customer"].user_id}
    entitled = await admin_db.fetch(
        "select e.content_id from content_entitlement e join content c on c.id = e.content_id where e.user_id = $1 "
        "and e.revoked_at is null and c.status in ('READY', 'PUBLISHED')", world["customer"].user_id)
    # Buyers keep playing what they bought after it is unpublished or deleted (content.access.may_play).
    assert customer_views == {r["content_id"] for r in entitled}


async def test_a_compiled_playback_records_exactly_one_view(app, gql, world, admin_db):
    token = world["customer"].token
    [bought] = await admin_db.fetch(
        "select c.id from content c join content_entitlement e on e.content_id = c.id where e.user_id = $1 "
        "and e.revoked_at is null and c.status = 'PUBLISHED' and c.deleted_at is null limit 1",
        world["customer"].user_id)
    await gql.ok(DETAIL, {"id": to_global_id("Content", bought["id"])}, token)  # warm: session, connection types
    async with statements(app) as seen:
        data = await gql.ok(DETAIL, {"id": to_global_id("Content", bought["id"])}, token)
    assert data["content"]["playback"]["url"] and len(seen) == 1, seen  # the view is in the same statement
    assert await admin_db.fetchval("select count(*) from content_view where user_id = $1",
                                   world["customer"].user_id) == 1
    refused = await gql(DETAIL, {"id": to_global_id("Content", (await admin_db.fetchval(
        "select id from content where title = 'Item 13'")))}, token)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await admin_db.fetchval("select count(*) from content_view where user_id = $1",
                                   world["customer"].user_id) == 1


DASHBOARD = (OPERATIONS / "admin_dashboard.graphql").read_text()
DASHBOARD_VARIANTS = [
    DASHBOARD,
    """query D($slug: String!, $top: Int!, $recent: Int!) { organization(slug: $slug) { name a: analytics {
      __typename customerCount totalRevenueCents revenueByDay { __typename refunds day }
      topContent(limit: $top) { __typename revenueCents content { ...C } purchases }
      recentPurchases(limit: $recent) { __typename id status receiptUrl content { id title }
        organization { slug } } } } }
    fragment C on Content { id title viewerHasAccess thumbnailUrl creator { name } }""",
]


async def test_admin_dashboard_matches_the_resolvers_for_every_viewer(app, gql, resolvers_only, world):
    for document in DASHBOARD_VARIANTS:
        assert fast_path(app).plan(document, None) is not None
    ranges = [None, {"from": "2026-05-25", "to": "2026-06-10"}, {"from": "2026-06-10", "to": "2026-05-25"},
              {"from": "2020-01-01", "to": "2026-06-10"}]
    for who, token in viewers(world).items():
        for span in ranges:
            variables: dict[str, Any] = {"slug": "shop", **({"range": span} if span else {})}
            body = await compare_any(app, gql, resolvers_only, DASHBOARD, variables, token)
            if who == "owner" and span in (None, ranges[1]):
                assert "errors" not in body and body["data"]["organization"]["analytics"]["purchaseCount"] >= (
                    0 if span is None else 1)
        for top, recent in ((0, 0), (3, 2), (100, 100)):
            await compare_any(app, gql, resolvers_only, DASHBOARD_VARIANTS[1],
                              {"slug": "shop", "top": top, "recent": recent}, token)
    await gql.ok(DASHBOARD, {"slug": "shop"}, world["owner"].token)  # the connection takes the owner's scope
    async with statements(app) as seen:
        owner = await gql.ok(DASHBOARD, {"slug": "shop", "range": ranges[1]}, world["owner"].token)
    # Compiled: the organization with the figures, best sellers and latest purchases, one statement (resolvers: a dozen).
    assert len(seen) == 1, seen
    figures = owner["organization"]["analytics"]
    assert figures["purchaseCount"] == 8 and figures["refundCount"] == 1 and figures["customerCount"] == 1
    assert len(figures["revenueByDay"]) == 17 and len(figures["recentPurchases"]) == 8


@pytest.mark.parametrize("document", [
    # Roots left whole to the resolvers: a field that does not compile on a type that cannot be grafted
    # (tests/fastpath/test_fastpath_grafts.py: fields grafted into their compiled root), introspection.
    """{ organization(slug: "shop") { analytics(range: {from: "2026-01-01", to: "2026-01-02"}) { purchaseCount } } }""",
    """{ viewer { purchases { nodes { customerEmail } } } }""",
    """{ __schema { queryType { name } } }""",
])
async def test_other_shapes_are_not_compiled(app, document):
    assert fast_path(app).plan(document, None) is None


async def test_requests_the_plan_cannot_serve_fall_back_to_the_resolvers(app, gql, resolvers_only, world):
    token = world["customer"].token
    for variables in ({"slug": "shop", "first": 101}, {"slug": "shop", "after": "not-a-cursor"}):
        fast, slow = await gql.raw(STOREFRONT, variables, token), await resolvers_only.raw(STOREFRONT, variables, token)
        assert bare(fast.json()) == bare(slow.json()) and fast.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    filtered = """query($slug: String!, $f: ContentFilter) { organization(slug: $slug) {
      contents(first: 50, filter: $f) { edges { node { title } } } } }"""
    data = await compare(app, gql, resolvers_only, filtered, {"slug": "shop", "f": {"tag": "tag-1"}}, token)
    assert [e["node"]["title"] for e in data["organization"]["contents"]["edges"]] == [
        f"Item {n}" for n in range(14) if n % 3 == 1]


# -- generated from the declarations -------------------------------------------------------------------
# For every (type, field) the registry declares, documents reaching that type through the declared roots
# select it (with `id` and `__typename`); wherever such a document compiles, both executors must answer
# alike for every kind of viewer, and each declared field must compile through at least one of them.

ROOT_VARIANTS: dict[str, list[str]] = {  # argument text of each declared root ({content} per content id)
    "organization": ['(slug: "shop")'],
    "viewer": [""],
    "content": ['(id: "{content}")'],
}
ITEMS = ("Item 0", "Item 13", "Item 21", "Item 22")  # bought; not bought; bought, unpublished since; deleted


def named(graphql_type: Any) -> Any:
    while hasattr(graphql_type, "of_type"):
        graphql_type = graphql_type.of_type
    return graphql_type


def subselection(schema: Any, graphql_field: Any, declared_types: set[str]) -> str:
    """What to select below a field: nothing for leaves; `__typename` (and `id`) for declared objects and
    connections of them; every leaf of other object types (thumbnails, playback, revenue days)."""
    target = named(graphql_field.type)
    fields = getattr(target, "fields", None)
    if fields is None:
        return ""
    if "nodes" in fields and target.name.endswith("Connection"):
        return "{ __typename totalCount pageInfo { hasNextPage endCursor } nodes { __typename id } }"
    if target.name in declared_types:
        return "{ __typename" + (" id" if "id" in fields else "") + " }"
    leaves = [name for name, f in fields.items() if not hasattr(named(f.type), "fields") and not f.args]
    return "{ __typename " + " ".join(leaves) + " }"


def reach(schema: Any) -> dict[str, list[tuple[str, str]]]:
    """Per type, (root name, document template with `%s` where that type's selection goes)."""
    from codex_graphql.fastpath import registry

    paths: dict[str, list[tuple[str, str]]] = {}
    frontier: list[tuple[str, str, str, int]] = []
    for root, type_name in registry.ROOT_TYPES.items():
        for arguments in ROOT_VARIANTS[root]:
            frontier.append((type_name, root, "query { " + root + arguments + " { %s } }", 0))
    follow_ups = {d.type_name: d for _, _, d in registry.declared() if isinstance(d, registry.FollowUp)}
    while frontier:
        type_name, root, template, depth = frontier.pop(0)
        paths.setdefault(type_name, []).append((root, template))
        if depth == 3:
            continue
        graphql_type = schema.type_map[type_name]
        declared_fields = (registry.OBJECTS[type_name].fields if type_name in registry.OBJECTS
                           else dict.fromkeys(follow_ups[type_name].fields))
        for name in declared_fields:
            target = named(graphql_type.fields[name].type)
            inner = target.name
            wrap = "%s"
            if inner.endswith("Connection") and "nodes" in target.fields:
                inner, wrap = named(target.fields["nodes"].type).name, "nodes { %s }"
            if inner in registry.OBJECTS or inner in follow_ups:
                child = template % ("__typename " + name + " { " + wrap + " }")
                frontier.append((inner, root, child, depth + 1))
    return paths


def generated_documents(schema: Any) -> list[tuple[str, str, str, str]]:
    """(type, field, root, document) for every declared field and every path reaching its type."""
    from codex_graphql.fastpath import registry

    declared_types = set(registry.OBJECTS)
    paths = reach(schema)
    out = []
    for type_name, name, _ in registry.declared():
        if type_name == "Query":
            continue
        graphql_type = schema.type_map[type_name]
        selection = "__typename " + ("id " if "id" in graphql_type.fields else "") + name + " " + subselection(
            schema, graphql_type.fields[name], declared_types)
        for root, template in paths.get(type_name, []):
            out.append((type_name, name, root, template % selection))
    return out


async def test_every_declared_field_matches_the_resolvers_wherever_it_compiles(app, gql, resolvers_only, world,
                                                                            factory, admin_db):
    from codex_graphql.fastpath import registry

    fast = fast_path(app)
    newcomer = await factory.user(name="Newcomer")  # a customer without any purchase
    tokens = {"anonymous": None, "customer": world["customer"].token, "newcomer": newcomer.token,
              "owner": world["owner"].token, "creator": world["creator"].token,
              "other_org_owner": world["other_owner"].token}
    items = [to_global_id("Content", await admin_db.fetchval("select id from content where title = $1", title))
             for title in ITEMS]
    assert set(registry.ROOTS) <= set(ROOT_VARIANTS), "a declared root without arguments to reach it by"
    compiled: set[tuple[str, str]] = set()
    documents = generated_documents(fast.graphql_schema)
    for type_name, name, root, template in documents:
        for document in ([template.replace("{content}", item) for item in items] if "{content}" in template
                         else [template]):
            if fast.plan(document, None) is None:
                continue  # not compilable along this path (e.g. a detail field inside a list)
            compiled.update({(type_name, name), ("Query", root)})
            for token in tokens.values():
                await compare_any(app, gql, resolvers_only, document, {}, token)
    declared = {(t, n) for t, n, _ in registry.declared()}
    assert declared - compiled == set(), "declared fields no generated document compiles"
    assert len(documents) >= len(declared) - len(registry.ROOTS)


async def test_a_guarded_declaration_runs_its_schema_guard_on_real_rows(app, gql, resolvers_only, world, admin_db,
                                                                       monkeypatch):
    """Declared, `Content.failureReason` (guarded by CONTENT_READ in the schema) compiles with that check:
    staff of the item's organization get the compiled value, everyone else the resolvers' FORBIDDEN."""
    from codex_graphql.fastpath import registry

    schema = app.state.runtime["graphql"].schema
    monkeypatch.setitem(registry.OBJECTS["Content"].fields, "failureReason", registry.Scalar("failure_reason"))
    registry.bind_schema(schema)
    try:
        await admin_db.execute("update content set failure_reason = 'bad codec' where title = 'Item 21'")
        document = '{ organization(slug: "shop") { contents(first: 30) { nodes { id title failureReason } } } }'
        assert fast_path(app).plan(document, None) is not None
        for who, token in viewers(world).items():
            body = await compare_any(app, gql, resolvers_only, document, {}, token)
            if who in ("owner", "creator"):  # both hold CONTENT_READ in the shop
                assert "errors" not in body
                nodes = body["data"]["organization"]["contents"]["nodes"]
                assert {n["title"]: n["failureReason"] for n in nodes}["Item 21"] == "bad codec"
            else:
                assert body["errors"][0]["extensions"]["code"] in ("FORBIDDEN", "UNAUTHENTICATED"), who
    finally:
        monkeypatch.undo()
        registry.bind_schema(schema)
