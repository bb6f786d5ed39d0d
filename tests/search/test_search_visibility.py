"""Organization.search finds exactly what Organization.contents lists to the same viewer: published, listed,
live items for anonymous visitors, customers (entitled or not) and staff of other organizations; every live item
for the organization's staff. Filters, pagination, statement counts, and the vectors' tables kept in step."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from codex_graphql.categories.models import Category, ContentCategory
from codex_graphql.content.models import ContentEntitlement, ContentKind, ContentStatus, EntitlementSource
from codex_graphql.db import TenantScope, utcnow
from codex_graphql.relay import decode_id, to_global_id
from tests.search.support import LIST, found_ids, gid, insert, search, titles, update
from tests.support import statements

EVERY_STATUS = [ContentStatus.UPLOADING, ContentStatus.PROCESSING, ContentStatus.READY, ContentStatus.PUBLISHED,
                ContentStatus.FAILED]


async def _catalogue(db: Any, shop: dict[str, Any]) -> dict[str, Any]:
    """Every status, listed and unlisted, live and deleted, all matching "lantern"; one customer entitled to a
    draft and an unlisted item (entitlements never bring an item into a list or a search)."""
    owner = shop["owner"]
    specs = [{"title": f"Lantern {status.value.lower()} {'listed' if listed else 'unlisted'}"
              f"{' deleted' if deleted else ''}", "status": status, "listed": listed,
              "deleted_at": utcnow() if deleted else None}
             for status in EVERY_STATUS for listed in (True, False) for deleted in (False, True)]
    ids = dict(zip([s["title"] for s in specs], await insert(db, shop["org"], owner.user_id, specs), strict=True))
    await insert(db, shop["other_org"], shop["elsewhere"].user_id, [{"title": "Lantern elsewhere"}])
    async with db.transaction(TenantScope(organization_id=shop["org"])) as session:
        for title in ("Lantern ready listed", "Lantern published unlisted"):
            session.add(ContentEntitlement(organization_id=shop["org"], user_id=shop["customer"].user_id,
                                           content_id=ids[title], source=EntitlementSource.GRANT))
    return ids


async def test_every_viewer_finds_exactly_what_contents_lists_to_them(db, gql, shop):
    ids = await _catalogue(db, shop)
    public = {gid(ids[t]) for t in ("Lantern published listed",)}
    staff = {gid(i) for t, i in ids.items() if "deleted" not in t}
    viewers = {"anonymous": None, "customer": shop["customer"].token, "other_org_staff": shop["elsewhere"].token,
               "member": shop["member"].token, "owner": shop["owner"].token}
    for name, token in viewers.items():
        found = await search(gql, token, "lantern")
        listed = await gql.ok(LIST, {"slug": "shop"}, token)
        assert set(found_ids(found)) == {n["id"] for n in listed["organization"]["contents"]["nodes"]}, name
        assert set(found_ids(found)) == (staff if name in ("member", "owner") else public), name
        assert found["totalCount"] == len(found_ids(found)), name
        # The typo fallback follows the same rule.
        assert set(found_ids(await search(gql, token, "lanterns"))) <= set(found_ids(found)), name
        assert set(found_ids(await search(gql, token, "lantren"))) == set(found_ids(found)), name
    # Staff of the other organization see their own item in their own search, and none of ours.
    assert titles(await search(gql, shop["elsewhere"].token, "lantern", slug="elsewhere")) == ["Lantern elsewhere"]


async def test_publishing_unlisting_and_deleting_move_an_item_in_and_out_of_public_search(db, gql, shop):
    [item] = await insert(db, shop["org"], shop["owner"].user_id, [{"title": "Aurora", "status": ContentStatus.READY}])
    customer, owner = shop["customer"].token, shop["owner"].token

    async def seen() -> tuple[bool, bool]:
        return (bool(found_ids(await search(gql, customer, "aurora"))), bool(found_ids(await search(gql, owner, "aurora"))))

    assert await seen() == (False, True)
    await update(db, shop["org"], item, status=ContentStatus.PUBLISHED)
    assert await seen() == (True, True)
    await update(db, shop["org"], item, listed=False)
    assert await seen() == (False, True)
    await update(db, shop["org"], item, listed=True, title="Borealis")
    assert await seen() == (False, False)
    assert found_ids(await search(gql, customer, "borealis")) == [gid(item)]
    await update(db, shop["org"], item, deleted_at=utcnow())
    assert found_ids(await search(gql, customer, "borealis")) == [] == found_ids(await search(gql, owner, "borealis"))


async def test_the_vector_tables_hold_each_live_item_once_in_the_table_its_visibility_picks(db, admin_db, shop):
    await _catalogue(db, shop)
    rows = await admin_db.fetch(
        "select c.id, c.status = 'PUBLISHED' and c.listed as public, c.deleted_at is not null as deleted, "
        "(select count(*) from content_search_public p where p.content_id = c.id) as in_public, "
        "(select count(*) from content_search_staff s where s.content_id = c.id) as in_staff from content c")
    assert len(rows) == 2 * 2 * len(EVERY_STATUS) + 1
    for row in rows:
        expected = (0, 0) if row["deleted"] else (1, 0) if row["public"] else (0, 1)
        assert (row["in_public"], row["in_staff"]) == expected, dict(row)


async def test_filters_narrow_hits_like_the_catalogue(db, gql, shop):
    owner = shop["owner"]
    ids = await insert(db, shop["org"], owner.user_id, [
        {"title": "Comet video", "tags": ["space"], "price_cents": 0},
        {"title": "Comet audio", "kind": ContentKind.AUDIO, "price_cents": 500},
        {"title": "Comet article", "body": "Tails of ice.", "price_cents": 300, "tags": ["space"]},
        {"title": "Comet draft", "status": ContentStatus.READY, "tags": ["space"]},
    ])
    async with db.transaction(TenantScope(organization_id=shop["org"])) as session:
        category = Category(organization_id=shop["org"], name="Sky", slug="sky")
        session.add(category)
        await session.flush()
        session.add(ContentCategory(content_id=ids[1], category_id=category.id, organization_id=shop["org"]))
        category_id = to_global_id("Category", category.id)
    customer = shop["customer"].token
    assert set(titles(await search(gql, customer, "comet", kind="AUDIO"))) == {"Comet audio"}
    assert set(titles(await search(gql, customer, "comet", tag="Space"))) == {"Comet video", "Comet article"}
    assert set(titles(await search(gql, customer, "comet", free=True))) == {"Comet video"}
    assert set(titles(await search(gql, customer, "comet", free=False))) == {"Comet audio", "Comet article"}
    assert set(titles(await search(gql, customer, "comet", category=category_id))) == {"Comet audio"}
    assert set(titles(await search(gql, customer, "comet", status="READY"))) == {"Comet video", "Comet audio",
                                                                                  "Comet article"}
    assert set(titles(await search(gql, owner.token, "comet", status="READY"))) == {"Comet draft"}
    assert set(titles(await search(gql, owner.token, "comet", tag="space", free=True))) == {"Comet video",
                                                                                            "Comet draft"}
    bad = await gql(
        "query($f: SearchFilter) { organization(slug: \"shop\") { search(query: \"comet\", filter: $f) { totalCount } } }",
        {"f": {"category": "not-an-id"}}, customer)
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT" and bad["data"]["organization"] is None


async def test_pages_follow_each_other_by_rank_without_gaps_or_repeats(db, gql, shop):
    owner = shop["owner"]
    # Ties on purpose (same text), and different ranks (title vs description).
    specs = [{"title": f"Nebula {i}"} for i in range(12)] + [{"title": f"Item {i}", "description": "A nebula."}
                                                              for i in range(11)]
    await insert(db, shop["org"], owner.user_id, specs)
    everything = await search(gql, None, "nebula", first=100)
    assert everything["totalCount"] == 23 and len(everything["edges"]) == 23
    seen: list[str] = []
    after = None
    for page_number in range(3):
        page = await search(gql, None, "nebula", first=10, after=after)
        seen += found_ids(page)
        assert page["totalCount"] == 23
        assert page["pageInfo"]["hasNextPage"] is (page_number < 2)
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        after = page["pageInfo"]["endCursor"]
    assert seen == found_ids(everything)
    tied = [decode_id(i, "Content") for i in found_ids(everything)[:12]]
    assert tied == sorted(tied, reverse=True)  # equal ranks: by id, descending
    ranks = [edge["node"]["rank"] for edge in everything["edges"]]
    assert ranks == sorted(ranks, reverse=True) and ranks[11] > ranks[12]
    for cursor in ("garbage", "bmFufG5vdC1hLXV1aWQ=", "aW5mfDAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMA=="):
        body = await gql(
            "query($a: String) { organization(slug: \"shop\") { search(query: \"nebula\", after: $a) { totalCount } } }",
            {"a": cursor})
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", (cursor, body)


HITS = """query($first: Int) { organization(slug: "shop") { search(query: "quasar", first: $first) {
  edges { cursor node { rank headline content { id title viewerHasAccess thumbnailUrl creator { name }
  categories { name } } } } } } }"""


async def test_statements_per_request_do_not_grow_with_the_page(app, db, gql, shop):
    await insert(db, shop["org"], shop["owner"].user_id, [{"title": f"Quasar {i}"} for i in range(40)])
    counts = {}
    for token in (None, shop["customer"].token, shop["owner"].token):
        await gql.ok(HITS, {"first": 1}, token)  # the session's first request looks its sign-in up
    for size in (5, 40):
        for token in (None, shop["customer"].token, shop["owner"].token):
            async with statements(app) as seen:
                data = await gql.ok(HITS, {"first": size}, token)
            assert len(data["organization"]["search"]["edges"]) == size
            counts[(size, token)] = len(seen)
    for token in (None, shop["customer"].token, shop["owner"].token):
        assert counts[(5, token)] == counts[(40, token)], counts


async def test_a_query_that_forgets_the_organization_still_sees_no_other_tenant_s_drafts(db, shop):
    """Row-level security alone keeps another organization's non-public vectors out (no WHERE at all)."""
    await insert(db, shop["other_org"], shop["elsewhere"].user_id, [{"title": "Secret", "status": ContentStatus.READY}])
    await insert(db, shop["org"], shop["owner"].user_id, [{"title": "Mine", "status": ContentStatus.READY}])
    async with db.transaction(TenantScope(user_id=shop["owner"].user_id, organization_id=shop["org"])) as session:
        staff_rows = (await session.execute(text("select organization_id from content_search_staff"))).scalars().all()
        public_rows = (await session.execute(text("select count(*) from content_search_public"))).scalar()
    assert set(staff_rows) == {shop["org"]} and public_rows == 0
    async with db.transaction(TenantScope()) as session:
        assert (await session.execute(text("select count(*) from content_search_staff"))).scalar() == 0
