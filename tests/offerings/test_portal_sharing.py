"""Attaching an item to a portal gives it to every participant for free: only the item's own creator may attach
it, or staff who manage every item (CONTENT_MANAGE_ALL); a creator cannot hand out another creator's item or an
offering's offer item (review of issue 19)."""

from __future__ import annotations

from typing import Any

from codex_graphql.authz import OrgRole
from tests.offerings.portal_support import ATTACH, insert_content, portal_state
from tests.offerings.support import published_event


async def test_only_an_items_creator_or_content_manage_all_may_attach_it(gql: Any, db: Any, admin_db: Any,
                                                                      factory: Any) -> None:
    owner, creator, other = await factory.user(), await factory.user(), await factory.user()
    org = await factory.organization(owner, slug="sharing")
    for person in (creator, other):
        await factory.member(org, person, OrgRole.CREATOR)
    offering, _ = await published_event(gql, creator.token, capacity=5, title="Creator's workshop")
    theirs = await insert_content(db, org, other.user_id, "Another creator's film")
    own = await insert_content(db, org, creator.user_id, "My own notes")

    before = await portal_state(admin_db)
    refused = (await gql(ATTACH, {"input": {"offeringId": offering["id"], "contentId": theirs}},
                         creator.token))["data"]["attachToOfferingPortal"]
    assert [e["code"] for e in refused["errors"]] == ["NOT_ALLOWED"] and refused["item"] is None
    assert await portal_state(admin_db) == before

    mine = (await gql.ok(ATTACH, {"input": {"offeringId": offering["id"], "contentId": own}},
                         creator.token))["attachToOfferingPortal"]
    assert mine["errors"] == [] and mine["item"]["content"]["id"] == own
    # The owner manages every item (and every offering): they may attach the other creator's.
    shared = (await gql.ok(ATTACH, {"input": {"offeringId": offering["id"], "contentId": theirs}},
                           owner.token))["attachToOfferingPortal"]
    assert shared["errors"] == [] and shared["item"]["content"]["id"] == theirs


PAGE = """query($slug: String!, $first: Int!) { organization(slug: $slug) { offerings(first: $first) { nodes { id
  portal { items { id title } announcements { id title } } } } } }"""


async def test_a_page_of_portals_reads_in_the_same_statements_whatever_its_size(app: Any, gql: Any, db: Any,
                                                                              factory: Any) -> None:
    from tests.offerings.portal_support import ANNOUNCE
    from tests.support import statements

    owner = await factory.user()
    org = await factory.organization(owner, slug="portal-pages")
    for n in range(6):
        offering, _ = await published_event(gql, owner.token, capacity=3, title=f"Workshop {n}")
        item = await insert_content(db, org, owner.user_id, f"Notes {n}")
        await gql.ok(ATTACH, {"input": {"offeringId": offering["id"], "contentId": item}}, owner.token)
        for k in range(2):
            await gql.ok(ANNOUNCE, {"input": {"offeringId": offering["id"], "title": f"News {n}.{k}",
                                              "body": "Bring a notebook."}}, owner.token)
    await gql.ok(PAGE, {"slug": "portal-pages", "first": 1}, owner.token)  # warm: the session's first read
    counts = []
    for first in (2, 6):
        async with statements(app) as seen:
            data = await gql.ok(PAGE, {"slug": "portal-pages", "first": first}, owner.token)
        nodes = data["organization"]["offerings"]["nodes"]
        assert len(nodes) == first
        assert all(len(n["portal"]["items"]) == 1 and len(n["portal"]["announcements"]) == 2 for n in nodes)
        assert all(n["portal"]["announcements"][0]["title"].endswith(".1") for n in nodes)  # newest first
        counts.append(len(seen))
    assert counts[0] == counts[1], counts
