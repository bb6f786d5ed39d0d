"""Payloads reflect the mutation: a mutation that changes who the viewer is or what they may do answers
with the new state, restricted fields included, in the same response (and later fields of the same
request resolve as the new viewer, in its tenant scope)."""

from __future__ import annotations

import uuid

from codex_graphql.authz import OrgRole, PlatformRole
from codex_graphql.relay import to_global_id
from tests.conftest import module_database
from tests.support import PASSWORD
from tests.support.accounts import STRONG_PASSWORD, unique_email
from tests.support.team import invite, mint_token

database_url = module_database("payloads")


STAFF_VIEWER = """viewer {
  memberships { role organization { slug } }
  activeOrganization { slug viewerRole members { totalCount } }
  permissions
}"""


async def test_login_answers_with_memberships_and_permissions(gql, factory):
    owner = await factory.user()
    slug = f"org-{uuid.uuid4().hex[:8]}"
    org = await factory.organization(owner, slug=slug)
    admin = await factory.user()
    await factory.member(org, admin, OrgRole.ADMIN)
    query = f"""mutation($e: String!, $p: String!) {{ login(input: {{email: $e, password: $p}}) {{
      token errors {{ code }} {STAFF_VIEWER} }} }}"""
    data = await gql.ok(query, {"e": admin.email, "p": PASSWORD})
    viewer = data["login"]["viewer"]
    assert viewer["memberships"] == [{"role": "ADMIN", "organization": {"slug": slug}}]
    # Restricted fields of the active organization resolve in its scope, as this admin.
    assert viewer["activeOrganization"] == {"slug": slug, "viewerRole": "ADMIN", "members": {"totalCount": 2}}
    assert "MEMBERS_MANAGE" in viewer["permissions"]


async def test_register_then_accept_in_one_request(gql, factory, admin_db):
    """The second mutation of the document runs as the account the first one created."""
    owner = await factory.user()
    slug = f"org-{uuid.uuid4().hex[:8]}"
    org = await factory.organization(owner, slug=slug)
    address = unique_email("joiner")
    token = await mint_token(admin_db, (await invite(gql, owner.token, address, "CREATOR"))["id"])
    query = """mutation($e: String!, $p: String!, $t: String!) {
      register(input: {email: $e, password: $p}) { token errors { code } viewer { memberships { role } } }
      acceptOrganizationInvitation(input: {token: $t}) {
        errors { code } organization { slug viewerRole viewerPermissions }
        member { user { id } }
      }
    }"""
    data = await gql.ok(query, {"e": address, "p": STRONG_PASSWORD, "t": token})
    assert data["register"]["viewer"]["memberships"] == []
    accepted = data["acceptOrganizationInvitation"]
    assert accepted["organization"]["slug"] == slug and accepted["organization"]["viewerRole"] == "CREATOR"
    assert "CONTENT_CREATE" in accepted["organization"]["viewerPermissions"]
    user_id = await admin_db.fetchval("select id from user_account where email = $1", address)
    assert accepted["member"]["user"]["id"] == to_global_id("User", user_id)
    assert await admin_db.fetchval("select role from organization_membership where organization_id = $1 and user_id = $2",
                                   org, user_id) == "CREATOR"


async def test_create_organization_answers_as_its_new_owner(gql, factory):
    owner = await factory.user(role=PlatformRole.PLATFORM_OWNER)
    await factory.organization(owner)  # another organization is active until the new one exists
    slug = f"new-{uuid.uuid4().hex[:8]}"
    query = """mutation($n: String!, $s: String!) { createOrganization(input: {name: $n, slug: $s}) {
      errors { code }
      organization { slug viewerRole viewerPermissions settings { name timezone } members { totalCount } }
    } }"""
    data = await gql.ok(query, {"n": "Fresh Films", "s": slug}, owner.token)
    organization = data["createOrganization"]["organization"]
    assert organization["viewerRole"] == "OWNER"
    assert organization["settings"] == {"name": "Fresh Films", "timezone": "UTC"}
    assert organization["members"] == {"totalCount": 1}
    assert "SETTINGS_MANAGE" in organization["viewerPermissions"]


async def test_set_active_organization_answers_with_the_new_permissions(gql, factory):
    person = await factory.user()
    first = f"org-{uuid.uuid4().hex[:8]}"
    await factory.organization(person, slug=first)
    owner = await factory.user()
    second = f"org-{uuid.uuid4().hex[:8]}"
    second_id = await factory.organization(owner, slug=second)
    await factory.member(second_id, person, OrgRole.CREATOR)
    query = """mutation($o: ID!) { setActiveOrganization(input: {organizationId: $o}) {
      errors { code } organization { slug viewerRole viewerPermissions members { totalCount } } } }"""
    other = """query { viewer { activeOrganization { slug } } }"""
    assert (await gql.ok(other, token=person.token))["viewer"]["activeOrganization"] == {"slug": first}
    data = await gql.ok(query, {"o": to_global_id("Organization", second_id)}, person.token)
    organization = data["setActiveOrganization"]["organization"]
    assert organization["viewerRole"] == "CREATOR"
    assert "CONTENT_CREATE" in organization["viewerPermissions"] and "SETTINGS_MANAGE" not in organization["viewerPermissions"]
    assert organization["members"] == {"totalCount": 2}
