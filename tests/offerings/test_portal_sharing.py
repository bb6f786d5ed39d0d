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
