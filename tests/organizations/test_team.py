"""Team management: role changes, removal, leaving and ownership transfer; the one-OWNER rule under
concurrency; permissions ending on every instance with the next request; audit; authorization matrices."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from codex_graphql.app import create_app
from codex_graphql.authz import OrgRole
from codex_graphql.relay import to_global_id
from tests.conftest import module_database
from tests.support import GraphQLClient, assert_authz_matrix, make_actors
from tests.support.team import LEAVE, PERMISSIONS, REMOVE, TRANSFER, UPDATE_ROLE, member_id, roles, team_state

# One database for the module: every test makes its own organizations.
database_url = module_database("team")


@pytest.fixture
async def org(factory):
    owner = await factory.user(name="Olive Owner")
    slug = f"org-{uuid.uuid4().hex[:8]}"
    return owner, await factory.organization(owner, slug=slug), slug


@pytest.fixture
async def second_instance(settings):
    """Another API process on the same database and Redis, whose in-memory viewer copies last a minute:
    only the Redis broadcast can make it forget them in time."""
    app = create_app(settings.model_copy(update={"session_local_cache_seconds": 60.0}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 4321))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield GraphQLClient(http)


async def eventually(check, within: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "not within the deadline"
        await asyncio.sleep(0.02)


async def actions(admin_db, org_id) -> list[str]:
    rows = await admin_db.fetch("select action from audit_log_entry where organization_id = $1 order by created_at", org_id)
    return [r["action"] for r in rows]


async def refused(gql, admin_db, org_id, query, variables, token, code, field):
    before = await team_state(admin_db, org_id)
    body = await gql(query, variables, token)
    assert "errors" not in body, body
    [payload] = body["data"].values()
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [(code, ["input", field] if field else None)], payload
    assert await team_state(admin_db, org_id) == before
    return payload


# --- role changes ---------------------------------------------------------------------------------


async def test_demoted_member_loses_the_permission_on_every_instance_with_the_next_request(
        gql, factory, admin_db, org, second_instance):
    owner, org_id, slug = org
    admin = await factory.user()
    await factory.member(org_id, admin, OrgRole.ADMIN)
    members_manage = "query($s: String!) { organization(slug: $s) { viewerPermissions } }"
    for client in (gql, second_instance):  # both instances now hold the admin's viewer in memory
        assert "MEMBERS_MANAGE" in (await client.ok(members_manage, {"s": slug}, admin.token))["organization"][
            "viewerPermissions"]

    data = await gql.ok(UPDATE_ROLE, {"m": await member_id(admin_db, org_id, admin.user_id), "r": "MEMBER"}, owner.token)
    assert data["updateOrganizationMemberRole"]["member"]["role"] == "MEMBER"
    # This instance: the very next request.
    viewer = (await gql.ok(PERMISSIONS, token=admin.token))["viewer"]
    assert "MEMBERS_MANAGE" not in viewer["permissions"] and viewer["memberships"][0]["role"] == "MEMBER"
    body = await gql(UPDATE_ROLE, {"m": await member_id(admin_db, org_id, owner.user_id), "r": "MEMBER"}, admin.token)
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]

    # The other instance forgets its in-memory copy through the Redis broadcast, long before it lapses.
    async def demoted_there() -> bool:
        permissions = (await second_instance.ok(members_manage, {"s": slug}, admin.token))["organization"]["viewerPermissions"]
        return "MEMBERS_MANAGE" not in permissions
    await eventually(demoted_there, within=2.0)
    assert await actions(admin_db, org_id) == ["MEMBER_ROLE_CHANGED"]
    entry = await admin_db.fetchrow("select before, after from audit_log_entry where organization_id = $1", org_id)
    assert '"ADMIN"' in entry["before"] and '"MEMBER"' in entry["after"]


async def test_role_rules(gql, factory, admin_db, org):
    owner, org_id, _ = org
    admin = await factory.user()
    await factory.member(org_id, admin, OrgRole.ADMIN)
    creator = await factory.user()
    await factory.member(org_id, creator, OrgRole.CREATOR)
    owner_m, admin_m, creator_m = [await member_id(admin_db, org_id, p.user_id) for p in (owner, admin, creator)]

    # Nobody grants or changes a role above their own (themselves included).
    await refused(gql, admin_db, org_id, UPDATE_ROLE, {"m": creator_m, "r": "OWNER"}, admin.token, "NOT_ALLOWED", "role")
    await refused(gql, admin_db, org_id, UPDATE_ROLE, {"m": admin_m, "r": "OWNER"}, admin.token, "NOT_ALLOWED", "role")
    await refused(gql, admin_db, org_id, UPDATE_ROLE, {"m": owner_m, "r": "MEMBER"}, admin.token, "NOT_ALLOWED", "memberId")
    # The only OWNER cannot demote themselves.
    await refused(gql, admin_db, org_id, UPDATE_ROLE, {"m": owner_m, "r": "ADMIN"}, owner.token, "LAST_OWNER", "memberId")
    # Someone of another organization, or no member at all: not found.
    stranger = await factory.user()
    foreign_org = await factory.organization(stranger)
    foreign_m = await member_id(admin_db, foreign_org, stranger.user_id)
    for bad in (foreign_m, to_global_id("OrganizationMember", uuid.uuid4()), "junk"):
        await refused(gql, admin_db, org_id, UPDATE_ROLE, {"m": bad, "r": "MEMBER"}, owner.token, "NOT_FOUND", "memberId")
    assert (await roles(admin_db, foreign_org))[stranger.user_id] == "OWNER"

    # Allowed: an admin up to their own rank; an owner making another owner, who may then step down.
    data = await gql.ok(UPDATE_ROLE, {"m": creator_m, "r": "ADMIN"}, admin.token)
    assert data["updateOrganizationMemberRole"]["member"]["role"] == "ADMIN"
    await gql.ok(UPDATE_ROLE, {"m": admin_m, "r": "OWNER"}, owner.token)
    data = await gql.ok(UPDATE_ROLE, {"m": owner_m, "r": "CREATOR"}, owner.token)
    payload = data["updateOrganizationMemberRole"]
    # The payload answers with the viewer's new permissions (a CREATOR: no MEMBERS_MANAGE any more).
    assert payload["organization"]["viewerRole"] == "CREATOR"
    assert "MEMBERS_MANAGE" not in payload["organization"]["viewerPermissions"]
    assert await roles(admin_db, org_id) == {owner.user_id: "CREATOR", admin.user_id: "OWNER", creator.user_id: "ADMIN"}
    assert await actions(admin_db, org_id) == ["MEMBER_ROLE_CHANGED"] * 3


async def test_demoting_the_last_two_owners_at_once_leaves_one(gql, factory, admin_db, org):
    owner, org_id, _ = org
    second = await factory.user()
    await factory.member(org_id, second, OrgRole.OWNER)
    first_m, second_m = await member_id(admin_db, org_id, owner.user_id), await member_id(admin_db, org_id, second.user_id)
    # Each owner steps down at the same moment, twice over (self-demotion, and demoting each other).
    for pairs in ([(first_m, owner), (second_m, second)], [(second_m, owner), (first_m, second)]):
        bodies = await asyncio.gather(*[gql(UPDATE_ROLE, {"m": m, "r": "ADMIN"}, p.token) for m, p in pairs])
        codes = sorted(tuple(e["code"] for e in b["data"]["updateOrganizationMemberRole"]["errors"]) for b in bodies)
        assert codes[0] == () and codes[1] in {("LAST_OWNER",), ("NOT_ALLOWED",)}, bodies
        assert sorted((await roles(admin_db, org_id)).values()) == ["ADMIN", "OWNER"]
        # Two owners again for the second round (the guard's cached roles are ADMIN or OWNER: both manage members;
        # the service decides on the roles it reads after taking the lock).
        await admin_db.execute("update organization_membership set role = 'OWNER' where organization_id = $1", org_id)


# --- removing and leaving -------------------------------------------------------------------------


async def test_remove_member(gql, factory, admin_db, org, second_instance):
    owner, org_id, slug = org
    admin = await factory.user()
    await factory.member(org_id, admin, OrgRole.ADMIN)
    creator = await factory.user()
    await factory.member(org_id, creator, OrgRole.CREATOR)
    members = "query($s: String!) { organization(slug: $s) { members { totalCount } } }"
    assert (await second_instance.ok(members, {"s": slug}, creator.token))["organization"]["members"]["totalCount"] == 3

    owner_m = await member_id(admin_db, org_id, owner.user_id)
    await refused(gql, admin_db, org_id, REMOVE, {"m": owner_m}, admin.token, "NOT_ALLOWED", "memberId")
    await refused(gql, admin_db, org_id, REMOVE, {"m": owner_m}, owner.token, "LAST_OWNER", "memberId")
    stranger = await factory.user()
    foreign_m = await member_id(admin_db, await factory.organization(stranger), stranger.user_id)
    await refused(gql, admin_db, org_id, REMOVE, {"m": foreign_m}, owner.token, "NOT_FOUND", "memberId")

    creator_m = await member_id(admin_db, org_id, creator.user_id)
    data = await gql.ok(REMOVE, {"m": creator_m}, admin.token)
    assert data["removeOrganizationMember"]["removedMemberId"] == creator_m
    assert creator.user_id not in await roles(admin_db, org_id)
    viewer = (await gql.ok(PERMISSIONS, token=creator.token))["viewer"]
    assert viewer == {"activeOrganization": None, "permissions": [], "memberships": []}

    async def gone_there() -> bool:
        body = await second_instance(members, {"s": slug}, creator.token)
        return body["data"]["organization"]["members"] is None
    await eventually(gone_there, within=2.0)
    assert await actions(admin_db, org_id) == ["MEMBER_REMOVED"]


async def test_leave_organization(gql, factory, admin_db, org):
    owner, org_id, slug = org
    person = await factory.user()
    await factory.member(org_id, person, OrgRole.ADMIN)
    other_slug = f"org-{uuid.uuid4().hex[:8]}"
    other_org = await factory.organization(person, slug=other_slug)
    org_gid = to_global_id("Organization", org_id)

    await refused(gql, admin_db, org_id, LEAVE, {"o": org_gid}, owner.token, "LAST_OWNER", "organizationId")
    stranger = await factory.user()
    await refused(gql, admin_db, org_id, LEAVE, {"o": org_gid}, stranger.token, "NOT_FOUND", "organizationId")

    data = await gql.ok(LEAVE, {"o": org_gid}, person.token)
    viewer = data["leaveOrganization"]["viewer"]
    assert viewer["memberships"] == [{"role": "OWNER", "organization": {"slug": other_slug}}]
    assert viewer["activeOrganization"] == {"slug": other_slug}
    assert person.user_id not in await roles(admin_db, org_id)
    assert (await roles(admin_db, other_org))[person.user_id] == "OWNER"
    assert await actions(admin_db, org_id) == ["MEMBER_LEFT"]


# --- ownership transfer ---------------------------------------------------------------------------


async def test_transfer_ownership(gql, factory, admin_db, org):
    owner, org_id, slug = org
    admin = await factory.user()
    await factory.member(org_id, admin, OrgRole.ADMIN)
    owner_m, admin_m = await member_id(admin_db, org_id, owner.user_id), await member_id(admin_db, org_id, admin.user_id)
    await refused(gql, admin_db, org_id, TRANSFER, {"m": owner_m}, owner.token, "INVALID_INPUT", "memberId")

    data = await gql.ok(TRANSFER, {"m": admin_m}, owner.token)
    payload = data["transferOrganizationOwnership"]
    assert payload["newOwner"] == {"role": "OWNER", "email": admin.email}
    assert payload["previousOwner"] == {"role": "ADMIN", "email": owner.email}
    assert payload["organization"]["viewerRole"] == "ADMIN"
    assert "OWNERSHIP_TRANSFER" not in payload["organization"]["viewerPermissions"]
    assert await roles(admin_db, org_id) == {owner.user_id: "ADMIN", admin.user_id: "OWNER"}
    # The previous owner, an ADMIN now, may not transfer back.
    body = await gql(TRANSFER, {"m": owner_m}, owner.token)
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
    assert await actions(admin_db, org_id) == ["OWNERSHIP_TRANSFERRED"]


# --- authorization matrices -----------------------------------------------------------------------


@pytest.mark.parametrize(("query", "variables", "name"), [
    (UPDATE_ROLE, {"r": "CREATOR"}, "updateOrganizationMemberRole"),
    (REMOVE, {}, "removeOrganizationMember"),
    (TRANSFER, {}, "transferOrganizationOwnership"),
])
async def test_member_mutation_matrix(gql, factory, admin_db, query, variables, name):
    # MEMBERS_MANAGE (ADMIN) for role changes and removal; OWNERSHIP_TRANSFER (OWNER only) for the transfer.
    with_role = OrgRole.OWNER if name == "transferOrganizationOwnership" else OrgRole.ADMIN
    without_role = OrgRole.ADMIN if name == "transferOrganizationOwnership" else OrgRole.CREATOR
    actors = await make_actors(factory, with_role=with_role, without_role=without_role)
    if with_role is not OrgRole.OWNER:
        await factory.member(actors.org, await factory.user(), OrgRole.OWNER)
    target = await factory.user()
    await factory.member(actors.org, target, OrgRole.MEMBER)
    variables = {**variables, "m": await member_id(admin_db, actors.org, target.user_id),
                 "o": to_global_id("Organization", actors.org)}

    async def snapshot():
        return await team_state(admin_db, actors.org)

    results = await assert_authz_matrix(gql, actors, query, variables, path=[name], allowed={"staff_with_permission"},
                                        snapshot=snapshot)
    assert results["staff_with_permission"]["data"][name]["errors"] == []
    assert (await roles(admin_db, actors.org)).get(target.user_id) in {"CREATOR", "OWNER", None}


async def test_leave_matrix(gql, factory, admin_db):
    """Leaving asks only for a signed-in member of the named organization; others are told NOT_FOUND."""
    actors = await make_actors(factory, with_role=OrgRole.ADMIN)

    async def snapshot():
        return await team_state(admin_db, actors.org)

    signed_in = {"customer", "other_org_staff", "staff_without_permission", "staff_with_permission"}
    before = await snapshot()
    results = await assert_authz_matrix(gql, actors, LEAVE, {"o": to_global_id("Organization", actors.org)},
                                        path=["leaveOrganization"], allowed=signed_in)
    for name in ("customer", "other_org_staff"):
        assert [e["code"] for e in results[name]["data"]["leaveOrganization"]["errors"]] == ["NOT_FOUND"]
    for name in ("staff_without_permission", "staff_with_permission"):
        assert results[name]["data"]["leaveOrganization"]["errors"] == []
    assert await snapshot() != before
    assert list((await roles(admin_db, actors.org)).values()) == ["OWNER"]  # the two staff left; the owner stays
