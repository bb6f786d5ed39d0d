"""Authorization matrices for the settings mutations and the private settings field.
MEMBER is the staff role without SETTINGS_MANAGE; ADMIN has it too."""

from __future__ import annotations

from typing import Any

from codex_graphql.authz import OrgRole
from codex_graphql.relay import to_global_id
from tests.support import assert_authz_matrix, make_actors

UPDATE = """mutation($input: UpdateOrganizationSettingsInput!) { updateOrganizationSettings(input: $input) {
  errors { code field message } settings { legalName primaryColor } } }"""
LOGO = """mutation($input: CreateOrganizationLogoUploadInput!) { createOrganizationLogoUpload(input: $input) {
  errors { code field message } logoKey upload { url } } }"""
SETTINGS = """query($slug: String!) { organization(slug: $slug) { name branding { platformName }
  settings { name legalName contactEmail timezone currency } } }"""


def snapshot_of(admin_db: Any, org: Any) -> Any:
    async def snapshot() -> Any:
        return tuple(await admin_db.fetchrow("select name, timezone, settings::text from organization where id = $1", org))
    return snapshot


async def test_update_settings_matrix(gql, factory, admin_db):
    for with_role in (OrgRole.OWNER, OrgRole.ADMIN):
        actors = await make_actors(factory, with_role=with_role, without_role=OrgRole.MEMBER)
        variables = {"input": {"organizationId": to_global_id("Organization", actors.org), "legalName": "Acme LLC",
                               "primaryColor": "#ABCDEF"}}
        results = await assert_authz_matrix(
            gql, actors, UPDATE, variables, path=["updateOrganizationSettings", "settings"],
            allowed={"staff_with_permission"}, snapshot=snapshot_of(admin_db, actors.org),
        )
        assert results["staff_with_permission"]["data"]["updateOrganizationSettings"]["settings"] == {
            "legalName": "Acme LLC", "primaryColor": "#abcdef"}
        # The other organization was not touched by its own staff's refused attempt.
        assert await admin_db.fetchval("select settings::text from organization where id = $1", actors.other_org) == "{}"


async def test_logo_upload_matrix(gql, factory, admin_db):
    actors = await make_actors(factory)
    variables = {"input": {"organizationId": to_global_id("Organization", actors.org), "filename": "logo.png",
                           "mimeType": "image/png", "sizeBytes": 1000}}
    results = await assert_authz_matrix(
        gql, actors, LOGO, variables, path=["createOrganizationLogoUpload", "upload"],
        allowed={"staff_with_permission"}, snapshot=snapshot_of(admin_db, actors.org),
    )
    key = results["staff_with_permission"]["data"]["createOrganizationLogoUpload"]["logoKey"]
    assert key.startswith(f"orgs/{actors.org}/branding/logo-")


async def test_settings_field_matrix(gql, factory):
    actors = await make_actors(factory)
    results = await assert_authz_matrix(
        gql, actors, SETTINGS, {"slug": actors.org_slug}, path=["organization", "settings"],
        allowed={"staff_with_permission"},
    )
    assert results["staff_with_permission"]["data"]["organization"]["settings"] == {
        "name": "Test Org", "legalName": None, "contactEmail": None, "timezone": "UTC", "currency": "USD"}
    for name, body in results.items():  # the public part answers for everyone
        assert body["data"]["organization"]["name"] == "Test Org", name
        assert body["data"]["organization"]["branding"] == {"platformName": None}, name
