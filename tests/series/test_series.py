"""Series (issue 16 item 2, without prices yet): ordered items, shown where the catalogue shows them; navigation
to the next and previous item the viewer may see; refused changes change nothing; staff only."""

from __future__ import annotations

from typing import Any

from codex_graphql.authz import OrgRole
from tests.articles.test_articles import CREATE as CREATE_ARTICLE
from tests.articles.test_articles import doc, paragraph, text
from tests.support import assert_authz_matrix, make_actors, statements
from tests.support import commerce as commerce_support
from tests.support.commerce import insert_content

shop = commerce_support.shop

SERIES_FIELDS = "id title status itemCount items(first: $first) { totalCount pageInfo { hasNextPage endCursor } nodes { id title } }"
CREATE = f"""mutation($input: CreateSeriesInput!, $first: Int) {{ createSeries(input: $input) {{
  errors {{ code field message }} series {{ {SERIES_FIELDS} }} }} }}"""
ADD = f"""mutation($input: AddToSeriesInput!, $first: Int) {{ addToSeries(input: $input) {{
  errors {{ code field message }} series {{ {SERIES_FIELDS} }} }} }}"""
REMOVE = f"""mutation($input: RemoveFromSeriesInput!, $first: Int) {{ removeFromSeries(input: $input) {{
  errors {{ code field message }} series {{ {SERIES_FIELDS} }} }} }}"""
REORDER = f"""mutation($input: ReorderSeriesInput!, $first: Int) {{ reorderSeries(input: $input) {{
  errors {{ code field message }} series {{ {SERIES_FIELDS} }} }} }}"""
UPDATE = f"""mutation($input: UpdateSeriesInput!, $first: Int) {{ updateSeries(input: $input) {{
  errors {{ code field message }} series {{ {SERIES_FIELDS} }} }} }}"""
LIST = f"""query($slug: String!, $first: Int) {{ organization(slug: $slug) {{ series {{ totalCount
  nodes {{ {SERIES_FIELDS} }} }} }} }}"""
PLACE = """query($id: ID!) { content(id: $id) { title series { title } seriesPosition nextInSeries { title }
  previousInSeries { title } } }"""
NODE = "query($id: ID!) { node(id: $id) { ... on Series { title } } }"


async def _items(gql: Any, db: Any, shop_: Any) -> list[str]:
    draft = (await gql.ok(CREATE_ARTICLE, {"input": {"title": "Draft part", "body": doc(paragraph(text("x")))}},
                          shop_.owner.token))["createArticle"]["content"]["id"]
    return [shop_.free, draft, shop_.paid]


async def test_a_series_shows_its_items_where_the_catalogue_does_and_navigates(shop, admin_db):
    owner = shop.owner.token
    free, draft, paid = await _items(shop.gql, None, shop)
    created = (await shop.gql.ok(CREATE, {"input": {"title": "Season one", "published": True}, "first": 10},
                                 owner))["createSeries"]["series"]
    added = (await shop.gql.ok(ADD, {"input": {"seriesId": created["id"], "contentIds": [free, draft, paid]},
                                     "first": 10}, owner))["addToSeries"]["series"]
    assert [n["title"] for n in added["items"]["nodes"]] == ["Free short", "Draft part", "Paid film"]  # staff: all
    reader = await shop.factory.user(name="Reader")
    for token in (None, reader.token):
        [public] = (await shop.gql.ok(LIST, {"slug": "shop", "first": 10}, token))["organization"]["series"]["nodes"]
        assert [n["title"] for n in public["items"]["nodes"]] == ["Free short", "Paid film"] and public["itemCount"] == 2
        place = (await shop.gql.ok(PLACE, {"id": paid}, token))["content"]
        assert place == {"title": "Paid film", "series": {"title": "Season one"}, "seriesPosition": 3,
                         "nextInSeries": None, "previousInSeries": {"title": "Free short"}}  # the draft is skipped
    staff_place = (await shop.gql.ok(PLACE, {"id": paid}, owner))["content"]
    assert staff_place["previousInSeries"] == {"title": "Draft part"}

    # Pages of one item follow the series' order.
    page = (await shop.gql.ok(ADD, {"input": {"seriesId": created["id"], "contentIds": [paid], "position": 0},
                                    "first": 1}, owner))["addToSeries"]["series"]["items"]
    assert [n["title"] for n in page["nodes"]] == ["Paid film"] and page["pageInfo"]["hasNextPage"] is True
    reordered = (await shop.gql.ok(REORDER, {"input": {"seriesId": created["id"], "contentIds": [draft, free, paid]},
                                             "first": 10}, owner))["reorderSeries"]["series"]
    assert [n["title"] for n in reordered["items"]["nodes"]] == ["Draft part", "Free short", "Paid film"]
    removed = (await shop.gql.ok(REMOVE, {"input": {"seriesId": created["id"], "contentIds": [free]}, "first": 10},
                                 owner))["removeFromSeries"]["series"]
    assert [n["title"] for n in removed["items"]["nodes"]] == ["Draft part", "Paid film"]
    assert await admin_db.fetch("select position from series_item order by position") == [(0,), (1,)]

    # Back to DRAFT: gone for the public, there for staff.
    await shop.gql.ok(UPDATE, {"input": {"seriesId": created["id"], "published": False}, "first": 1}, owner)
    assert (await shop.gql.ok(LIST, {"slug": "shop", "first": 1}, None))["organization"]["series"]["nodes"] == []
    assert (await shop.gql.ok(NODE, {"id": created["id"]}, None))["node"] is None
    assert (await shop.gql.ok(PLACE, {"id": paid}, None))["content"]["series"] is None
    assert (await shop.gql.ok(NODE, {"id": created["id"]}, owner))["node"] == {"title": "Season one"}


async def test_refused_changes_change_nothing(shop, factory, db, admin_db):
    owner = shop.owner.token
    one = (await shop.gql.ok(CREATE, {"input": {"title": "One"}}, owner))["createSeries"]["series"]["id"]
    two = (await shop.gql.ok(CREATE, {"input": {"title": "Two"}}, owner))["createSeries"]["series"]["id"]
    await shop.gql.ok(ADD, {"input": {"seriesId": one, "contentIds": [shop.paid]}}, owner)
    stranger = await factory.user()
    other_org = await factory.organization(stranger, slug="other-place")
    foreign = await insert_content(db, other_org, stranger.user_id, "Theirs", 100)
    before = await admin_db.fetch("select * from series_item order by series_id, position")
    cases = [
        (ADD, {"seriesId": two, "contentIds": [shop.paid]}, "ALREADY_EXISTS", ["input", "contentIds"]),
        (ADD, {"seriesId": two, "contentIds": [foreign]}, "NOT_FOUND", ["input", "contentIds"]),
        (ADD, {"seriesId": two, "contentIds": ["garbage"]}, "NOT_FOUND", ["input", "contentIds"]),
        (ADD, {"seriesId": two, "contentIds": []}, "INVALID_INPUT", ["input", "contentIds"]),
        (ADD, {"seriesId": two, "contentIds": [shop.free], "position": -1}, "INVALID_INPUT", ["input", "position"]),
        (ADD, {"seriesId": "garbage", "contentIds": [shop.free]}, "NOT_FOUND", ["input", "seriesId"]),
        (REMOVE, {"seriesId": one, "contentIds": [shop.free]}, "NOT_FOUND", ["input", "contentIds"]),
        (REORDER, {"seriesId": one, "contentIds": [shop.paid, shop.free]}, "INVALID_INPUT", ["input", "contentIds"]),
        (REORDER, {"seriesId": one, "contentIds": []}, "INVALID_INPUT", ["input", "contentIds"]),
        (CREATE, {"title": ""}, "INVALID_INPUT", ["input", "title"]),
    ]
    for document, variables, code, field in cases:
        body = await shop.gql(document, {"input": variables}, owner)
        [payload] = body["data"].values()
        assert [(e["code"], e["field"]) for e in payload["errors"]] == [(code, field)], (variables, payload)
    assert await admin_db.fetch("select * from series_item order by series_id, position") == before
    # Another organization's staff cannot reach this organization's series.
    theirs = await shop.gql(ADD, {"input": {"seriesId": one, "contentIds": [foreign]}}, stranger.token)
    assert [e["code"] for e in theirs["data"]["addToSeries"]["errors"]] == ["NOT_FOUND"]


async def test_series_mutations_by_every_caller(factory, gql, db, admin_db):
    actors = await make_actors(factory, without_role=OrgRole.CREATOR)  # CREATOR: no CONTENT_MANAGE_ALL
    count = lambda: admin_db.fetchval("select count(*) from series where organization_id = $1", actors.org)  # noqa: E731
    results = await assert_authz_matrix(gql, actors, CREATE, {"input": {"title": "Matrix"}}, path=["createSeries"],
                                        allowed={"staff_with_permission", "other_org_staff"}, snapshot=count)
    assert results["other_org_staff"]["data"]["createSeries"]["series"]["id"]  # made in their own organization
    assert await count() == 1
    series_id = results["staff_with_permission"]["data"]["createSeries"]["series"]["id"]
    item = await insert_content(db, actors.org, actors.staff_with.user_id, "Matrix item", 100)
    snapshot = lambda: admin_db.fetch("select * from series_item order by series_id, position")  # noqa: E731
    cases = [(UPDATE, {"seriesId": series_id, "title": "Hacked", "priceCents": 1}),
             (ADD, {"seriesId": series_id, "contentIds": [item]}),
             (REORDER, {"seriesId": series_id, "contentIds": [item]}),
             (REMOVE, {"seriesId": series_id, "contentIds": [item]})]
    for document, variables in cases:
        for name, token in actors.tokens().items():
            if name == "staff_with_permission":
                continue
            before = (await snapshot(), await admin_db.fetch("select * from series order by id"))
            body = await gql(document, {"input": variables}, token)
            if name == "other_org_staff":  # not their organization's series
                [payload] = body["data"].values()
                assert [e["code"] for e in payload["errors"]] == ["NOT_FOUND"], (name, body)
            else:
                assert {e["extensions"]["code"] for e in body["errors"]} == {
                    "UNAUTHENTICATED" if token is None else "FORBIDDEN"} and body["data"] is None, (name, body)
            assert (await snapshot(), await admin_db.fetch("select * from series order by id")) == before, name
        [payload] = (await gql(document, {"input": variables}, actors.staff_with.token))["data"].values()
        assert payload["errors"] == [], payload


async def test_series_places_cost_the_same_for_any_page_size(shop, db):
    owner = shop.owner.token
    series = (await shop.gql.ok(CREATE, {"input": {"title": "Long", "published": True}}, owner))["createSeries"]["series"]
    ids = [await insert_content(db, shop.org, shop.creator.user_id, f"Part {n}", 0) for n in range(30)]
    await shop.gql.ok(ADD, {"input": {"seriesId": series["id"], "contentIds": ids}}, owner)
    document = """query($n: Int!) { organization(slug: "shop") { contents(first: $n) { nodes { id series { title }
      seriesPosition nextInSeries { id } previousInSeries { id } } } } }"""
    counts = []
    for size in (5, 30):
        await shop.gql.ok(document, {"n": size})
        async with statements(shop.app) as seen:
            nodes = (await shop.gql.ok(document, {"n": size}))["organization"]["contents"]["nodes"]
        assert all(n["series"] == {"title": "Long"} for n in nodes if n["seriesPosition"] is not None)
        counts.append(len(seen))
    assert counts[0] == counts[1], counts
