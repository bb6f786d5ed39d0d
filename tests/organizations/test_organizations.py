"""Organizations: creation, members, the active organization, authorization and statement counts."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from codex_graphql.app import create_app
from codex_graphql.authz import OrgRole, PlatformRole
from codex_graphql.relay import to_global_id
from tests.conftest import module_database
from tests.support import GraphQLClient, assert_authz_matrix, log_driver_queries, make_actors
from tests.support import statements as every_statement

# One database for this module (tests use their own organizations and slugs): a fresh clone
# per test costs a checkpoint on DROP DATABASE, which dominates these tests' runtime.
database_url = module_database("orgs")


CREATE = """
mutation($name: String!, $slug: String!) {
  createOrganization(input: {name: $name, slug: $slug}) {
    organization { id slug name }
    errors { code field message }
  }
}"""

ADD = """
mutation($org: ID!, $email: String!, $role: OrgRole!) {
  addOrganizationMember(input: {organizationId: $org, email: $email, role: $role}) {
    member { id role email user { name } organization { slug } }
    errors { code field message }
  }
}"""

SET_ACTIVE = """
mutation($org: ID!) {
  setActiveOrganization(input: {organizationId: $org}) {
    organization { slug }
    errors { code field message }
  }
}"""

VIEWER = "{ viewer { activeOrganization { slug } memberships { role organization { slug } } permissions } }"


async def _state(admin_db) -> tuple[Any, ...]:
    """Everything a refused organization mutation must leave untouched."""
    return (
        await admin_db.fetchval("select count(*) from organization"),
        await admin_db.fetchval("select count(*) from organization_membership"),
        await admin_db.fetchval("select count(*) from outbox_message"),
        tuple(await admin_db.fetch("select id, active_organization_id from user_session order by id")),
    )


async def _slug_of(admin_db, org_id: uuid.UUID) -> str:
    return await admin_db.fetchval("select slug from organization where id = $1", org_id)


# --- createOrganization ---------------------------------------------------------------------------


async def test_platform_owner_creates_an_organization_and_it_becomes_active(gql, factory, admin_db):
    owner = await factory.user(role=PlatformRole.PLATFORM_OWNER)
    existing = await factory.organization(owner, slug="first-org")  # active until the new one is created
    assert (await gql.ok(VIEWER, token=owner.token))["viewer"]["activeOrganization"] == {"slug": "first-org"}

    data = await gql.ok(CREATE, {"name": "  Acme Films ", "slug": "Acme-Films"}, owner.token)
    organization = data["createOrganization"]["organization"]
    assert organization["slug"] == "acme-films"
    assert organization["name"] == "Acme Films"

    row = await admin_db.fetchrow("select id, name from organization where slug = 'acme-films'")
    assert organization["id"] == to_global_id("Organization", row["id"])
    members = await admin_db.fetch("select user_id, role from organization_membership where organization_id = $1", row["id"])
    assert [(m["user_id"], m["role"]) for m in members] == [(owner.user_id, "OWNER")]
    topics = await admin_db.fetch("select topic, organization_id from outbox_message where organization_id = $1", row["id"])
    assert [(t["topic"], t["organization_id"]) for t in topics] == [("organization.created", row["id"])]

    viewer = (await gql.ok(VIEWER, token=owner.token))["viewer"]
    assert viewer["activeOrganization"] == {"slug": "acme-films"}
    assert {(m["organization"]["slug"], m["role"]) for m in viewer["memberships"]} == {
        ("first-org", "OWNER"), ("acme-films", "OWNER")}
    assert "MEMBERS_MANAGE" in viewer["permissions"]
    assert existing != row["id"]


async def test_customer_may_not_create_organizations_without_multi_org(gql, factory, admin_db):
    customer = await factory.user()
    before = await _state(admin_db)
    data = await gql.ok("{ viewer { id } }", token=customer.token)  # signed in fine
    assert data["viewer"]
    body = await gql(CREATE, {"name": "Mine", "slug": "mine"}, customer.token)
    payload = body["data"]["createOrganization"]
    assert payload["organization"] is None
    assert [e["code"] for e in payload["errors"]] == ["NOT_ALLOWED"]
    assert await _state(admin_db) == before


async def test_anonymous_cannot_create_organizations(gql, admin_db):
    before = await _state(admin_db)
    body = await gql(CREATE, {"name": "Anon", "slug": "anon-org"})
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]
    assert body["data"] is None or body["data"]["createOrganization"] is None
    assert await _state(admin_db) == before


@pytest.fixture
async def multi_org_gql(settings):
    app = create_app(settings.model_copy(update={"enable_multi_org": True}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.8", 4321))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield GraphQLClient(client)


async def test_multi_org_lets_verified_users_create_organizations(multi_org_gql, factory, admin_db):
    verified = await factory.user(verified=True)
    unverified = await factory.user(verified=False)
    before = await _state(admin_db)
    body = await multi_org_gql(CREATE, {"name": "Unverified", "slug": "unverified-org"}, unverified.token)
    assert [e["code"] for e in body["data"]["createOrganization"]["errors"]] == ["NOT_ALLOWED"]
    assert await _state(admin_db) == before

    data = await multi_org_gql.ok(CREATE, {"name": "Verified", "slug": "verified-org"}, verified.token)
    assert data["createOrganization"]["organization"]["slug"] == "verified-org"
    role = await admin_db.fetchval(
        "select m.role from organization_membership m join organization o on o.id = m.organization_id "
        "where o.slug = 'verified-org' and m.user_id = $1", verified.user_id)
    assert role == "OWNER"
    viewer = (await multi_org_gql.ok(VIEWER, token=verified.token))["viewer"]
    assert viewer["activeOrganization"] == {"slug": "verified-org"}


@pytest.mark.parametrize(("name", "slug", "code", "field"), [
    ("Org", "ab", "INVALID_INPUT", "slug"),
    ("Org", "-abc", "INVALID_INPUT", "slug"),
    ("Org", "abc-", "INVALID_INPUT", "slug"),
    ("Org", "has space", "INVALID_INPUT", "slug"),
    ("Org", "under_score", "INVALID_INPUT", "slug"),
    ("Org", "ünïcode", "INVALID_INPUT", "slug"),
    ("Org", "a" * 65, "INVALID_INPUT", "slug"),
    ("Org", "", "INVALID_INPUT", "slug"),
    ("Org", "admin", "ALREADY_EXISTS", "slug"),
    ("Org", "GraphQL", "ALREADY_EXISTS", "slug"),
    ("Org", "{taken}", "ALREADY_EXISTS", "slug"),
    ("Org", " {TAKEN} ", "ALREADY_EXISTS", "slug"),
    ("   ", "fine-slug", "INVALID_INPUT", "name"),
    ("x" * 201, "fine-slug", "INVALID_INPUT", "name"),
])
async def test_bad_names_and_slugs_are_refused_and_nothing_is_stored(gql, factory, admin_db, name, slug, code, field):
    owner = await factory.user(role=PlatformRole.PLATFORM_OWNER)
    taken = f"taken-{uuid.uuid4().hex[:8]}"
    await factory.organization(owner, slug=taken)
    slug = slug.replace("{taken}", taken).replace("{TAKEN}", taken.upper())
    before = await _state(admin_db)
    body = await gql(CREATE, {"name": name, "slug": slug}, owner.token)
    assert "errors" not in body
    payload = body["data"]["createOrganization"]
    assert payload["organization"] is None
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [(code, ["input", field])]
    assert await _state(admin_db) == before


async def test_slug_limits_are_inclusive(gql, factory):
    owner = await factory.user(role=PlatformRole.PLATFORM_OWNER)
    for slug in ("abc", "a" * 64, "a-b-c9"):
        data = await gql.ok(CREATE, {"name": "Edge", "slug": slug}, owner.token)
        assert data["createOrganization"]["organization"]["slug"] == slug


# --- addOrganizationMember ------------------------------------------------------------------------


@pytest.fixture
async def org(factory):
    owner = await factory.user(name="Olive Owner")
    slug = f"org-{uuid.uuid4().hex[:8]}"
    org_id = await factory.organization(owner, slug=slug)
    return owner, org_id, slug


async def test_owner_adds_a_member(gql, factory, admin_db, org):
    owner, org_id, slug = org
    person = await factory.user(name="Pat Person")
    data = await gql.ok(ADD, {"org": to_global_id("Organization", org_id), "email": f"  {person.email.upper()} ",
                              "role": "CREATOR"}, owner.token)
    member = data["addOrganizationMember"]["member"]
    assert member["role"] == "CREATOR"
    assert member["email"] == person.email
    assert member["user"] == {"name": "Pat Person"}
    assert member["organization"] == {"slug": slug}
    assert await admin_db.fetchval(
        "select role from organization_membership where organization_id = $1 and user_id = $2", org_id, person.user_id
    ) == "CREATOR"
    topics = [r["topic"] for r in await admin_db.fetch("select topic from outbox_message where organization_id = $1", org_id)]
    assert topics == ["organization.member_added"]


async def test_new_member_sees_the_organization_immediately(gql, factory, org):
    owner, org_id, slug = org
    person = await factory.user()
    # The person's viewer (no memberships) is now cached.
    before = (await gql.ok(VIEWER, token=person.token))["viewer"]
    assert before == {"activeOrganization": None, "memberships": [], "permissions": []}
    await gql.ok(ADD, {"org": to_global_id("Organization", org_id), "email": person.email, "role": "ADMIN"}, owner.token)
    after = (await gql.ok(VIEWER, token=person.token))["viewer"]
    assert after["memberships"] == [{"role": "ADMIN", "organization": {"slug": slug}}]
    assert after["activeOrganization"] == {"slug": slug}
    assert "MEMBERS_MANAGE" in after["permissions"]
    # ... and can use the new permissions at once.
    members = await gql.ok("query($s:String!){organization(slug:$s){members{totalCount}}}", {"s": slug}, person.token)
    assert members["organization"]["members"]["totalCount"] == 2


async def test_an_admin_cannot_grant_owner(gql, factory, admin_db, org):
    owner, org_id, _ = org
    admin = await factory.user()
    await factory.member(org_id, admin, OrgRole.ADMIN)
    person = await factory.user()
    before = await _state(admin_db)
    body = await gql(ADD, {"org": to_global_id("Organization", org_id), "email": person.email, "role": "OWNER"}, admin.token)
    payload = body["data"]["addOrganizationMember"]
    assert payload["member"] is None
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("NOT_ALLOWED", ["input", "role"])]
    assert await _state(admin_db) == before
    # Up to their own rank is fine.
    data = await gql.ok(ADD, {"org": to_global_id("Organization", org_id), "email": person.email, "role": "ADMIN"}, admin.token)
    assert data["addOrganizationMember"]["member"]["role"] == "ADMIN"


async def test_unknown_email_is_not_found(gql, factory, admin_db, org):
    owner, org_id, _ = org
    before = await _state(admin_db)
    body = await gql(ADD, {"org": to_global_id("Organization", org_id), "email": "nobody@example.com", "role": "MEMBER"},
                     owner.token)
    payload = body["data"]["addOrganizationMember"]
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("NOT_FOUND", ["input", "email"])]
    assert payload["member"] is None
    assert await _state(admin_db) == before


async def test_duplicate_member_already_exists(gql, factory, admin_db, org):
    owner, org_id, _ = org
    person = await factory.user()
    await factory.member(org_id, person, OrgRole.MEMBER)
    before = await _state(admin_db)
    for email in (person.email, owner.email):
        body = await gql(ADD, {"org": to_global_id("Organization", org_id), "email": email, "role": "ADMIN"}, owner.token)
        payload = body["data"]["addOrganizationMember"]
        assert [(e["code"], e["field"]) for e in payload["errors"]] == [("ALREADY_EXISTS", ["input", "email"])]
    assert await _state(admin_db) == before
    assert await admin_db.fetchval("select role from organization_membership where user_id = $1", person.user_id) == "MEMBER"


async def test_foreign_organization_id_is_refused(gql, factory, admin_db, org):
    owner, org_id, _ = org
    stranger = await factory.user()
    other_org = await factory.organization(stranger)
    person = await factory.user()
    before = await _state(admin_db)
    # An id that names no organization (garbage, another type, a deleted organization's): NOT_FOUND.
    for bad in ("garbage", to_global_id("User", person.user_id)):
        body = await gql(ADD, {"org": bad, "email": person.email, "role": "MEMBER"}, owner.token)
        payload = body["data"]["addOrganizationMember"]
        assert [(e["code"], e["field"]) for e in payload["errors"]] == [("NOT_FOUND", ["input", "organizationId"])], bad
    # Another tenant's organization: the declared permission is checked there, and the caller has none.
    body = await gql(ADD, {"org": to_global_id("Organization", other_org), "email": person.email, "role": "MEMBER"},
                     owner.token)
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
    assert body["data"] is None or body["data"]["addOrganizationMember"] is None
    assert await _state(admin_db) == before


async def test_staff_of_two_orgs_must_switch_before_managing_the_other(gql, factory, admin_db, org):
    owner, org_id, slug = org
    other_slug = f"org-{uuid.uuid4().hex[:8]}"
    second_org = await factory.organization(owner, slug=other_slug)  # owner of both; first one active
    person = await factory.user()
    before = await _state(admin_db)
    body = await gql(ADD, {"org": to_global_id("Organization", second_org), "email": person.email, "role": "MEMBER"},
                     owner.token)
    [error] = body["errors"]
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert "active organization" in error["message"]
    assert await _state(admin_db) == before
    # With the header selecting the other organization, the same call works.
    data = await gql.ok(ADD, {"org": to_global_id("Organization", second_org), "email": person.email, "role": "MEMBER"},
                        owner.token, headers={"x-codex-organization": other_slug})
    assert data["addOrganizationMember"]["member"]["organization"] == {"slug": other_slug}


# --- the active organization ----------------------------------------------------------------------


async def test_set_active_organization(gql, factory, admin_db, org):
    owner, org_id, slug = org
    stranger = await factory.user()
    foreign = await factory.organization(stranger)
    second_slug = f"org-{uuid.uuid4().hex[:8]}"
    second = await factory.organization(owner, slug=second_slug)
    assert (await gql.ok(VIEWER, token=owner.token))["viewer"]["activeOrganization"] == {"slug": slug}

    before = await _state(admin_db)
    for bad in (to_global_id("Organization", foreign), to_global_id("Organization", uuid.uuid4()), "junk"):
        body = await gql(SET_ACTIVE, {"org": bad}, owner.token)
        payload = body["data"]["setActiveOrganization"]
        assert [(e["code"], e["field"]) for e in payload["errors"]] == [("NOT_FOUND", ["input", "organizationId"])]
        assert payload["organization"] is None
    assert await _state(admin_db) == before
    assert (await gql.ok(VIEWER, token=owner.token))["viewer"]["activeOrganization"] == {"slug": slug}

    data = await gql.ok(SET_ACTIVE, {"org": to_global_id("Organization", second)}, owner.token)
    assert data["setActiveOrganization"]["organization"] == {"slug": second_slug}
    assert (await gql.ok(VIEWER, token=owner.token))["viewer"]["activeOrganization"] == {"slug": second_slug}


async def test_organization_header_selects_the_active_organization_per_request(gql, factory, org):
    owner, org_id, slug = org
    second_slug = f"org-{uuid.uuid4().hex[:8]}"
    second = await factory.organization(owner, slug=second_slug)
    stranger = await factory.user()
    foreign_slug = f"org-{uuid.uuid4().hex[:8]}"
    await factory.organization(stranger, slug=foreign_slug)
    members_query = "query($s:String!){organization(slug:$s){members{totalCount}}}"

    async def active(header: str | None) -> str | None:
        headers = {"x-codex-organization": header} if header is not None else None
        viewer = (await gql.ok(VIEWER, token=owner.token, headers=headers))["viewer"]
        return (viewer["activeOrganization"] or {}).get("slug")

    assert await active(None) == slug
    assert await active(second_slug) == second_slug
    assert await active(second_slug.upper()) == second_slug
    assert await active(to_global_id("Organization", second)) == second_slug
    for refused in (foreign_slug, "no-such-org"):  # not a member: FORBIDDEN, never a fallback
        body = await gql(VIEWER, token=owner.token, headers={"x-codex-organization": refused})
        assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"] and body["data"] is None
    assert await active(None) == slug  # per request only: the session is unchanged

    # Permissions follow the header: the second organization's members are readable only with it.
    body = await gql(members_query, {"s": second_slug}, owner.token)
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
    data = await gql.ok(members_query, {"s": second_slug}, owner.token, headers={"x-codex-organization": second_slug})
    assert data["organization"]["members"]["totalCount"] == 1
    # ... and never open a foreign organization: the whole request is refused.
    body = await gql(members_query, {"s": foreign_slug}, owner.token, headers={"x-codex-organization": foreign_slug})
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
    assert body["data"] is None


# --- authorization matrices -----------------------------------------------------------------------


async def test_members_matrix(gql, factory):
    # Every organization role includes MEMBERS_READ, so both staff callers may list members.
    actors = await make_actors(factory, without_role=OrgRole.MEMBER)
    query = "query($s:String!){organization(slug:$s){ name members(first:10){ totalCount nodes { role email } } }}"
    results = await assert_authz_matrix(gql, actors, query, {"s": actors.org_slug}, path=["organization", "members"],
                                        allowed={"staff_with_permission", "staff_without_permission"})
    members = results["staff_with_permission"]["data"]["organization"]["members"]
    assert members["totalCount"] == 2
    assert {n["email"] for n in members["nodes"]} == {actors.staff_with.email, actors.staff_without.email}
    # The organization's public face stays readable for everyone.
    for name, body in results.items():
        assert body["data"]["organization"]["name"] == "Test Org", name


async def test_add_member_matrix(gql, factory, admin_db):
    actors = await make_actors(factory, with_role=OrgRole.ADMIN, without_role=OrgRole.CREATOR)
    target = await factory.user()

    async def snapshot():
        return await admin_db.fetchval("select count(*) from organization_membership")

    before = await snapshot()
    results = await assert_authz_matrix(
        gql, actors, ADD, {"org": to_global_id("Organization", actors.org), "email": target.email, "role": "MEMBER"},
        path=["addOrganizationMember", "member"], allowed={"staff_with_permission"}, snapshot=snapshot,
    )
    assert results["staff_with_permission"]["data"]["addOrganizationMember"]["errors"] == []
    assert await snapshot() == before + 1
    assert await admin_db.fetchval(
        "select organization_id from organization_membership where user_id = $1", target.user_id) == actors.org


async def test_create_organization_matrix(gql, factory, admin_db):
    # The field asks only for a signed-in user; the platform rule (owner, or ENABLE_MULTI_ORG) is a
    # business rule answered in the payload. None of the matrix callers is the platform owner.
    actors = await make_actors(factory)

    async def snapshot():
        return await _state(admin_db)

    before = await snapshot()
    signed_in = {"customer", "other_org_staff", "staff_without_permission", "staff_with_permission"}
    results = await assert_authz_matrix(gql, actors, CREATE, {"name": "Matrix", "slug": "matrix-org"},
                                        path=["createOrganization"], allowed=signed_in, snapshot=snapshot)
    for name in signed_in:
        payload = results[name]["data"]["createOrganization"]
        assert payload["organization"] is None
        assert [e["code"] for e in payload["errors"]] == ["NOT_ALLOWED"], name
    assert await snapshot() == before


async def test_node_hides_memberships_of_other_organizations(gql, factory, admin_db):
    actors = await make_actors(factory)
    membership_id = await admin_db.fetchval(
        "select id from organization_membership where organization_id = $1 and user_id = $2",
        actors.org, actors.staff_without.user_id)
    node_id = to_global_id("OrganizationMember", membership_id)
    query = "query($id:ID!){ node(id:$id){ id ... on OrganizationMember { role email } } }"
    expected = {"id": node_id, "role": "MEMBER", "email": actors.staff_without.email}
    visible = {"staff_with_permission": expected, "staff_without_permission": expected}
    for name, token in actors.tokens().items():
        body = await gql(query, {"id": node_id}, token)
        assert "errors" not in body, (name, body)
        assert body["data"]["node"] == visible.get(name), name


# --- the members connection -----------------------------------------------------------------------


async def _add_members(admin_db, org_id: uuid.UUID, count: int) -> list[str]:
    """Members inserted directly (no sign-in needed), created one millisecond apart, oldest first."""
    emails = []
    for i in range(count):
        user_id = uuid.uuid4()
        email = f"member-{i:03d}-{user_id.hex[:6]}@example.com"
        await admin_db.execute(
            "insert into user_account (id, email, name, password_hash, platform_role) values ($1, $2, $3, 'x', 'CUSTOMER')",
            user_id, email, f"Member {i}")
        await admin_db.execute(
            "insert into organization_membership (id, organization_id, user_id, role, created_at) "
            "values ($1, $2, $3, 'MEMBER', now() + make_interval(secs => $4))",
            uuid.uuid4(), org_id, user_id, (i + 1) / 1000)
        emails.append(email)
    return emails


PAGE = """
query($s: String!, $first: Int, $after: String) {
  organization(slug: $s) {
    members(first: $first, after: $after) {
      totalCount
      edges { cursor node { id email } }
      nodes { email role }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
}"""


async def test_members_pagination(gql, admin_db, org):
    owner, org_id, slug = org
    emails = [owner.email, *await _add_members(admin_db, org_id, 7)]
    seen: list[str] = []
    after = None
    pages = []
    while True:
        members = (await gql.ok(PAGE, {"s": slug, "first": 3, "after": after}, owner.token))["organization"]["members"]
        pages.append(members)
        assert members["totalCount"] == 8
        assert [e["node"]["email"] for e in members["edges"]] == [n["email"] for n in members["nodes"]]
        info = members["pageInfo"]
        assert info["hasPreviousPage"] is (after is not None)
        assert info["startCursor"] == members["edges"][0]["cursor"]
        assert info["endCursor"] == members["edges"][-1]["cursor"]
        seen += [n["email"] for n in members["nodes"]]
        if not info["hasNextPage"]:
            break
        after = info["endCursor"]
    assert [len(p["nodes"]) for p in pages] == [3, 3, 2]
    assert seen == emails  # oldest first, each exactly once
    assert pages[0]["nodes"][0]["role"] == "OWNER"
    # first: 0 is an empty page that still knows what follows.
    empty = (await gql.ok(PAGE, {"s": slug, "first": 0}, owner.token))["organization"]["members"]
    assert empty["edges"] == [] and empty["pageInfo"]["hasNextPage"] is True and empty["pageInfo"]["endCursor"] is None


@pytest.fixture
async def resolvers_app(settings):
    """The same server with compiled execution turned off: the statements the resolvers send."""
    app = create_app(settings.model_copy(update={"fast_path_enabled": False}))
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def resolvers_gql(resolvers_app):
    transport = httpx.ASGITransport(app=resolvers_app, client=("203.0.113.7", 4321))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield GraphQLClient(client)


@pytest.fixture
def statements(resolvers_app):
    """SQL statements the resolvers-only app's engine executes while recording."""
    engine = resolvers_app.state.runtime["services"].db.engine.sync_engine
    recorded: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        recorded.append(statement)

    def record_driver(query):  # straight on the driver (db.SerializedSession.fetch); transaction control left out
        if query.query.split()[0].upper().rstrip(";") not in ("BEGIN", "COMMIT", "ROLLBACK") \
                and "typeinfo_tree" not in query.query:
            recorded.append(query.query)

    event.listen(engine, "before_cursor_execute", record)
    stop = log_driver_queries(engine, record_driver)
    yield recorded
    stop()
    event.remove(engine, "before_cursor_execute", record)


async def test_members_statement_count_does_not_grow_with_page_size(app, gql, resolvers_app, resolvers_gql, admin_db,
                                                                    org, statements):
    owner, org_id, slug = org
    await _add_members(admin_db, org_id, 55)
    await resolvers_app.state.runtime["services"].relay.stop()  # its polling would add statements of its own
    query = """query($s:String!,$f:Int!){ organization(slug:$s){ members(first:$f){ nodes { role email user { name } } } } }"""
    await resolvers_gql.ok(query, {"s": slug, "f": 1}, owner.token)  # warms the session cache

    # Through the resolvers:
    counts = {}
    for first in (5, 50):
        statements.clear()
        data = await resolvers_gql.ok(query, {"s": slug, "f": first}, owner.token)
        nodes = data["organization"]["members"]["nodes"]
        assert len(nodes) == first
        assert all(n["user"]["name"] and "@" in n["email"] for n in nodes)
        counts[first] = list(statements)
    assert len(counts[5]) == len(counts[50]), counts
    # Whatever the page size: one statement for the page and one batch for the users of `email` and `user`.
    for listed in counts.values():
        assert sum("FROM organization_membership" in s for s in listed) == 1, listed
        assert sum("FROM user_account" in s and "user_account.id = ANY" in s for s in listed) == 1, listed
        assert sum("WHERE organization.slug =" in s for s in listed) == 1, listed

    # Through the compiled path (the default): one root statement finds the organization, and `members`,
    # grafted onto the organization loaded by id, costs the resolvers' page and user batch: as flat.
    await gql.ok(query, {"s": slug, "f": 1}, owner.token)  # warms the session cache and the pool's scope
    compiled: dict[int, list[str]] = {}
    for first in (5, 50):
        async with every_statement(app) as compiled[first]:
            data = await gql.ok(query, {"s": slug, "f": first}, owner.token)
        nodes = data["organization"]["members"]["nodes"]
        assert len(nodes) == first
        assert all(n["user"]["name"] and "@" in n["email"] for n in nodes)
    assert len(compiled[5]) == len(compiled[50]), compiled
    for listed in compiled.values():
        assert sum("FROM organization o " in s for s in listed) == 1, listed  # the compiled root's statement
        assert sum("FROM organization_membership" in s for s in listed) == 1, listed
        assert sum("FROM user_account" in s and "user_account.id = ANY" in s for s in listed) == 1, listed
