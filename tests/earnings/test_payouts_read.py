"""Reading payouts: ``Organization.payouts`` (PURCHASES_READ: owners and admins) through the authorization
matrix, ``viewer { payouts }`` showing a creator their own payouts only, ``node(id:)`` under the same rule, and
statement counts flat in the page size."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import pytest

from codex_graphql.authz import OrgRole
from codex_graphql.relay import to_global_id
from tests.support import Actors, assert_authz_matrix, make_actors, statements

ORG_PAYOUTS = """query($slug: String!, $first: Int) { organization(slug: $slug) { payouts(first: $first) {
  totalCount pageInfo { hasNextPage endCursor } nodes { id amountCents currency status periodStart
  organization { slug name } user { id name } } } } }"""
MY_PAYOUTS = """query($first: Int) { viewer { payouts(first: $first) { totalCount nodes { id amountCents status
  organization { slug name } user { id name } } } } }"""
NODE = "query($id: ID!) { node(id: $id) { id ... on Payout { amountCents user { id } } } }"


async def add_payouts(admin_db: Any, org: uuid.UUID, user_id: uuid.UUID, count: int, amount: int = 500) -> list[uuid.UUID]:
    """``count`` PAID payouts of ``user_id`` in ``org``, one per (made-up) period, newest last."""
    ids = []
    for n in range(count):
        payout_id = uuid.uuid4()
        await admin_db.execute(
            "insert into payout (id, organization_id, user_id, currency, amount_cents, status, period_start, attempt, "
            "account_id, transfer_id, paid_at, created_at) values ($1, $2, $3, 'USD', $4, 'PAID', $5, 1, 'acct_x', $6, "
            "now(), now() + make_interval(secs => $7))",
            payout_id, org, user_id, amount + n, date(2020, 1, 6) + timedelta(weeks=n), f"tr_{payout_id.hex}", n)
        ids.append(payout_id)
    return ids


@pytest.fixture
async def actors(factory) -> Actors:
    # A CREATOR lacks PURCHASES_READ: the staff without the permission.
    return await make_actors(factory, with_role=OrgRole.OWNER, without_role=OrgRole.CREATOR)


async def test_organization_payouts_matrix(gql, admin_db, actors: Actors):
    await add_payouts(admin_db, actors.org, actors.staff_without.user_id, 2)
    other_org_payouts = await add_payouts(admin_db, actors.other_org, actors.other_staff.user_id, 1)

    async def snapshot() -> Any:
        return await admin_db.fetchval("select count(*) from payout")

    results = await assert_authz_matrix(gql, actors, ORG_PAYOUTS, {"slug": actors.org_slug, "first": 10},
                                        path=["organization", "payouts"], allowed={"staff_with_permission"},
                                        snapshot=snapshot)
    page = results["staff_with_permission"]["data"]["organization"]["payouts"]
    assert page["totalCount"] == 2
    assert {n["user"]["id"] for n in page["nodes"]} == {actors.staff_without.global_id}
    assert to_global_id("Payout", other_org_payouts[0]) not in {n["id"] for n in page["nodes"]}


async def test_a_creator_sees_their_own_payouts_and_never_another_creators(gql, factory, admin_db, actors: Actors):
    creator = actors.staff_without
    rival = await factory.user(name="Rival Creator")
    await factory.member(actors.org, rival, OrgRole.CREATOR)
    mine = await add_payouts(admin_db, actors.org, creator.user_id, 2)
    elsewhere = await factory.organization(await factory.user())
    await factory.member(elsewhere, creator, OrgRole.CREATOR)
    mine += await add_payouts(admin_db, elsewhere, creator.user_id, 1)  # in another organization: theirs too
    theirs = await add_payouts(admin_db, actors.org, rival.user_id, 2)

    seen = (await gql.ok(MY_PAYOUTS, {"first": 10}, creator.token))["viewer"]["payouts"]
    assert seen["totalCount"] == 3
    assert {n["id"] for n in seen["nodes"]} == {to_global_id("Payout", i) for i in mine}
    assert {n["user"]["id"] for n in seen["nodes"]} == {creator.global_id}
    for payout_id in theirs:
        assert (await gql.ok(NODE, {"id": to_global_id("Payout", payout_id)}, creator.token))["node"] is None
        owner_view = await gql.ok(NODE, {"id": to_global_id("Payout", payout_id)}, actors.staff_with.token)
        assert owner_view["node"]["user"]["id"] == rival.global_id
    own = await gql.ok(NODE, {"id": to_global_id("Payout", mine[0])}, creator.token)
    assert own["node"]["id"] == to_global_id("Payout", mine[0])
    for token in (None, actors.customer.token, actors.other_staff.token):
        assert (await gql.ok(NODE, {"id": to_global_id("Payout", mine[0])}, token))["node"] is None
    assert (await gql.ok(MY_PAYOUTS, {"first": 10}, rival.token))["viewer"]["payouts"]["totalCount"] == 2


async def _count(app: Any, gql: Any, query: str, variables: dict[str, Any], token: str) -> int:
    async with statements(app) as seen:
        await gql.ok(query, variables, token)
    return len(seen)


async def test_payout_lists_cost_the_same_statements_for_5_and_for_60_items(app, gql, factory, admin_db,
                                                                            actors: Actors):
    creators = [actors.staff_without]
    for _ in range(2):
        person = await factory.user()
        await factory.member(actors.org, person, OrgRole.CREATOR)
        creators.append(person)
    for person in creators:
        await add_payouts(admin_db, actors.org, person.user_id, 20)
    owner, creator = actors.staff_with.token, actors.staff_without.token
    org_vars = {"slug": actors.org_slug}
    # Warm up as the same viewer first: the session cache and the compiled path's connection scope cost once.
    await gql.ok(ORG_PAYOUTS, {**org_vars, "first": 1}, owner)
    small = await _count(app, gql, ORG_PAYOUTS, {**org_vars, "first": 5}, owner)
    large = await _count(app, gql, ORG_PAYOUTS, {**org_vars, "first": 60}, owner)
    assert small == large
    await gql.ok(MY_PAYOUTS, {"first": 1}, creator)
    mine_small = await _count(app, gql, MY_PAYOUTS, {"first": 5}, creator)
    assert mine_small == await _count(app, gql, MY_PAYOUTS, {"first": 20}, creator)
