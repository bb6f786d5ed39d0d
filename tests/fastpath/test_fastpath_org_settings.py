"""Organization settings in the compiled path (codex_graphql/org_settings/compiled.py): ``branding``,
``policies``, ``settings`` (SETTINGS_MANAGE), ``viewerRole`` and ``viewerPermissions`` answer exactly what
the resolvers answer for every caller, in the organization root and below a purchase, in the root's one
statement; a caller refused ``settings`` gets the resolvers' error and null, and nothing of the compiled
answer; a settings change is seen by the next compiled read."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from graphql import FieldNode, parse

from codex_graphql.authz import ROLE_PERMISSIONS, OrgRole, Permission
from codex_graphql.fastpath import guards, registry
from codex_graphql.fastpath.selection import NotCompilable
from codex_graphql.org_settings import compiled as settings_compiled
from codex_graphql.relay import to_global_id
from tests.fastpath.test_fastpath_equivalence import (  # noqa: F401 (fixtures)
    compiled_execution_never_fails,
    fast_path,
    insert_purchase,
    resolvers_only,
    unsigned,
    world,
)
from tests.support import bare, statements

VARIED = Path(__file__).resolve().parents[2] / "benchmarks" / "operations" / "varied"
STOREFRONT_BRANDING = (VARIED / "storefront_branding.graphql").read_text()
STOREFRONT_SETTINGS = (VARIED / "storefront_settings.graphql").read_text()

PUBLIC = """query Public($slug: String!) { organization(slug: $slug) { __typename id name
  viewerRole viewerPermissions
  branding { __typename platformName primaryColor logoUrl palette { __typename shade color textColor contrastRatio } }
  look: branding { label: platformName primaryColor }
  ... on Organization { policies { __typename refundPolicy termsOfService privacyPolicy } } } }"""
PRIVATE = """query Private($slug: String!) { organization(slug: $slug) { name viewerRole branding { platformName }
  ...Panel } }
fragment Panel on Organization { settings { __typename name legalName contactEmail timezone businessCategory currency
  platformName primaryColor logoKey logoUrl refundPolicy termsOfService privacyPolicy defaultVisibility
  allowDownloads enableReviews moderationLevel downloadLimit palette { shade color textColor contrastRatio } } }"""
HISTORY = """query History($settings: Boolean!) { viewer { purchases(first: 30) { nodes { contentTitle
  organization { id name viewerRole viewerPermissions branding { platformName primaryColor logoUrl palette { shade color } }
    policies { refundPolicy } settings @include(if: $settings) { legalName contactEmail logoUrl } } } } } }"""
UPDATE = """mutation($input: UpdateOrganizationSettingsInput!) { updateOrganizationSettings(input: $input) {
  errors { code field message } } }"""

LEGAL_NAME = "Acme Secret Holdings LLC"
CONTACT = "secret-contact@acme.example"
RICH = {"platformName": "Acme TV", "primaryColor": "#7C3AED", "legalName": LEGAL_NAME, "contactEmail": CONTACT,
        "businessCategory": "FILM_AND_VIDEO", "refundPolicy": "<p>30 <strong>days</strong></p>",
        "termsOfService": "<p>Terms</p>", "privacyPolicy": "<p>Privacy</p>", "moderationLevel": "LIGHT", "downloadLimit": None,
        "enableReviews": True, "timezone": "Europe/Paris"}


def callers(world: dict[str, Any]) -> dict[str, str | None]:  # noqa: F811
    """The authorization matrix: the creator is staff of the shop without SETTINGS_MANAGE."""
    return {"anonymous": None, "customer": world["customer"].token, "other_org_staff": world["other_owner"].token,
            "staff_without_permission": world["creator"].token, "staff_with_permission": world["owner"].token}


def fallback_total(app: Any) -> float:
    metrics = app.state.runtime["graphql"].metrics.registry
    return sum(sample.value for metric in metrics.collect() if metric.name == "codex_fastpath_fallback"
               for sample in metric.samples if sample.name == "codex_fastpath_fallback_total")


def comparable(body: dict[str, Any], storage: Any) -> dict[str, Any]:
    """The body without extensions, URLs' signatures checked, masked errors without their request id."""
    body = unsigned(bare(body), storage)
    for error in body.get("errors", ()):
        error.get("extensions", {}).pop("requestId", None)
    return body


async def answers(app: Any, gql: Any, reference: Any, document: str, variables: dict[str, Any],
                  token: str | None) -> tuple[dict[str, Any], str, float]:
    """The compiled answer (equal to the resolvers' one, signatures checked), its text, and the fallbacks
    it counted."""
    plan = fast_path(app).plan(document, None)
    assert plan is not None and all(slot.root is not None for slot in plan.slots), "this shape should compile"
    before = fallback_total(app)
    fast = await gql.raw(document, variables, token)
    counted = fallback_total(app) - before
    slow = await reference.raw(document, variables, token)
    assert fast.status_code == slow.status_code == 200
    storage = app.state.runtime["services"].storage
    assert comparable(fast.json(), storage) == comparable(slow.json(), storage), (document, token)
    return fast.json(), fast.text, counted


async def set_rich_settings(gql: Any, world: dict[str, Any], admin_db: Any) -> str:  # noqa: F811
    done = await gql.ok(UPDATE, {"input": RICH}, world["owner"].token)
    assert done["updateOrganizationSettings"]["errors"] == []
    logo_key = f"orgs/{world['org']}/branding/logo-{uuid.uuid4().hex}.png"
    await admin_db.execute("update organization set settings = settings || jsonb_build_object('logo_key', $1::text) "
                           "where id = $2", logo_key, world["org"])
    return logo_key


async def test_the_settings_guard_is_the_schemas(app):
    schema = fast_path(app).graphql_schema
    rules = guards.rules_of(schema.type_map["Organization"].fields["settings"].extensions["strawberry-definition"])
    checks = registry.guard("Organization", "settings")
    assert [check.rule for check in checks] == rules and rules[0].permission is Permission.SETTINGS_MANAGE
    for public in ("branding", "policies", "viewerRole", "viewerPermissions"):
        assert registry.guard("Organization", public) == ()


async def test_public_faces_match_the_resolvers_for_every_caller(app, gql, resolvers_only, world, admin_db):  # noqa: F811
    await answers(app, gql, resolvers_only, PUBLIC, {"slug": "shop"}, None)  # defaults: nothing set yet
    logo_key = await set_rich_settings(gql, world, admin_db)
    for who, token in callers(world).items():
        body, _, counted = await answers(app, gql, resolvers_only, PUBLIC, {"slug": " Shop "}, token)
        assert "errors" not in body and counted == 0, (who, body)
        shop = body["data"]["organization"]
        assert shop["branding"]["platformName"] == shop["look"]["label"] == "Acme TV"
        assert shop["branding"]["primaryColor"] == "#7c3aed" and len(shop["branding"]["palette"]) == 11
        assert logo_key in shop["branding"]["logoUrl"].replace("%2F", "/")
        assert shop["policies"] == {"__typename": "Policies", "refundPolicy": "<p>30 <strong>days</strong></p>",
                                    "termsOfService": "<p>Terms</p>", "privacyPolicy": "<p>Privacy</p>"}
        role = {"staff_with_permission": OrgRole.OWNER, "staff_without_permission": OrgRole.CREATOR}.get(who)
        assert shop["viewerRole"] == (role.name if role else None)
        assert shop["viewerPermissions"] == ([p.name for p in sorted(ROLE_PERMISSIONS[role])] if role else [])
        await answers(app, gql, resolvers_only, PUBLIC, {"slug": "no-such-shop"}, token)


async def test_settings_answer_the_owner_and_leak_to_nobody_else(app, gql, resolvers_only, world, admin_db):  # noqa: F811
    logo_key = await set_rich_settings(gql, world, admin_db)
    for who, token in callers(world).items():
        body, text, counted = await answers(app, gql, resolvers_only, PRIVATE, {"slug": "shop"}, token)
        shop = body["data"]["organization"]
        if who == "staff_with_permission":
            assert "errors" not in body and counted == 0
            settings = shop["settings"]
            assert (settings["legalName"], settings["contactEmail"], settings["logoKey"]) == (LEGAL_NAME, CONTACT,
                                                                                              logo_key)
            assert (settings["businessCategory"], settings["moderationLevel"], settings["downloadLimit"],
                    settings["timezone"], settings["enableReviews"]) == ("FILM_AND_VIDEO", "LIGHT", None,
                                                                         "Europe/Paris", True)
            assert settings["logoUrl"] and len(settings["palette"]) == 11
            continue
        # Refused in the compiled emitter: the root is answered by the resolvers (error and null there).
        assert counted == 1, who
        assert [e["extensions"]["code"] for e in body["errors"]] == [
            "UNAUTHENTICATED" if token is None else "FORBIDDEN"], who
        assert body["errors"][0]["path"] == ["organization", "settings"]
        assert shop["settings"] is None and shop["branding"] == {"platformName": "Acme TV"}
        assert LEGAL_NAME not in text and CONTACT not in text and logo_key not in text, who


async def test_partial_selections_match_the_resolvers(app, gql, resolvers_only, world, admin_db):  # noqa: F811
    """Each face fetches only the stored keys its selection reads (a traced dependency per field)."""
    logo_key = await set_rich_settings(gql, world, admin_db)
    document = """query Partial($slug: String!) { organization(slug: $slug) {
      settings { palette { shade color } logoUrl currency }
      policies { privacyPolicy terms: termsOfService }
      branding { __typename } } }"""
    body, _, counted = await answers(app, gql, resolvers_only, document, {"slug": "shop"}, world["owner"].token)
    shop = body["data"]["organization"]
    assert counted == 0 and len(shop["settings"]["palette"]) == 11 and shop["settings"]["currency"] == "USD"
    assert logo_key in shop["settings"]["logoUrl"].replace("%2F", "/")
    assert shop["policies"] == {"privacyPolicy": "<p>Privacy</p>", "terms": "<p>Terms</p>"}


async def test_faces_below_a_purchase_match_the_resolvers(app, gql, resolvers_only, world, admin_db):  # noqa: F811
    await set_rich_settings(gql, world, admin_db)
    bought = await admin_db.fetchval("select id from content where title = 'Item 1'")
    await insert_purchase(admin_db, world["org"], world["owner"].user_id, bought, world["creator"].user_id, 40)
    shop = to_global_id("Organization", world["org"])
    elsewhere = to_global_id("Organization", await admin_db.fetchval("select id from organization where slug = 'elsewhere'"))
    for who, token in callers(world).items():
        body, text, counted = await answers(app, gql, resolvers_only, HISTORY, {"settings": False}, token)
        assert "errors" not in body and counted == 0, who
        nodes = (body["data"]["viewer"] or {"purchases": {"nodes": []}})["purchases"]["nodes"]
        shops = {node["organization"]["id"]: node["organization"]["branding"]["platformName"] for node in nodes}
        expected = {"customer": {shop: "Acme TV", elsewhere: None}, "staff_with_permission": {shop: "Acme TV"}}
        assert shops == expected.get(who, {}), who
        body, text, counted = await answers(app, gql, resolvers_only, HISTORY, {"settings": True}, token)
        if who == "staff_with_permission":  # one purchase, in the shop the owner manages
            assert "errors" not in body and counted == 0
            [node] = body["data"]["viewer"]["purchases"]["nodes"]
            assert node["organization"]["settings"]["legalName"] == LEGAL_NAME
            assert node["organization"]["viewerRole"] == "OWNER"
        elif who == "customer":  # purchases in two shops, managed by neither: the resolvers phrase the errors
            assert counted == 1 and {e["extensions"]["code"] for e in body["errors"]} == {"FORBIDDEN"}
            assert LEGAL_NAME not in text and CONTACT not in text


async def test_the_benchmark_documents_compile_and_stay_one_statement(app, gql, resolvers_only, world, admin_db):  # noqa: F811
    await set_rich_settings(gql, world, admin_db)
    owner = world["owner"].token
    for document in (STOREFRONT_BRANDING, STOREFRONT_SETTINGS):
        for who, token in callers(world).items():
            body, _, counted = await answers(app, gql, resolvers_only, document, {"slug": "shop"}, token)
            if who == "staff_with_permission" or document is STOREFRONT_BRANDING:
                assert "errors" not in body and counted == 0, (who, body)
        await gql.ok(document, {"slug": "shop"}, owner)  # warm: the owner's scope on the pool's connection
        async with statements(app) as seen:
            before = fallback_total(app)
            data = await gql.ok(document, {"slug": "shop", "first": 5}, owner)
            assert fallback_total(app) == before
        assert len(seen) == 1, seen
        assert data["organization"]["viewerRole"] == "OWNER" and len(data["organization"]["contents"]["edges"]) == 5


async def test_a_settings_change_is_seen_by_the_next_compiled_read(app, gql, resolvers_only, world, admin_db):  # noqa: F811
    owner = world["owner"].token
    first, _, _ = await answers(app, gql, resolvers_only, PRIVATE, {"slug": "shop"}, owner)
    assert first["data"]["organization"]["branding"]["platformName"] is None
    await set_rich_settings(gql, world, admin_db)
    second, _, counted = await answers(app, gql, resolvers_only, PRIVATE, {"slug": "shop"}, owner)
    assert counted == 0 and second["data"]["organization"]["settings"]["legalName"] == LEGAL_NAME
    done = await gql.ok(UPDATE, {"input": {"platformName": "Renamed", "legalName": None, "primaryColor": None}}, owner)
    assert done["updateOrganizationSettings"]["errors"] == []
    third, _, counted = await answers(app, gql, resolvers_only, PRIVATE, {"slug": "shop"}, owner)
    shop = third["data"]["organization"]
    assert counted == 0 and shop["branding"]["platformName"] == shop["settings"]["platformName"] == "Renamed"
    assert shop["settings"]["legalName"] is None and shop["settings"]["palette"] == []


@pytest.mark.parametrize(("stored", "public_fallback", "owner_fallback"), [
    ({"platform_name": {"not": "a string"}}, 1, 1),  # String cannot represent it: an error at platformName
    ({"allow_downloads": None}, 0, 1),  # null in a non-null Boolean: settings is nulled with an error
    ({"primary_color": "not-a-color"}, 1, 1),  # the palette cannot be generated: a masked error
    ({"moderation_level": "UNKNOWN", "business_category": "GONE", "download_limit": 7, "unknown_key": 1}, 0, 0),
])
async def test_stored_values_the_schema_refuses_are_answered_by_the_resolvers(app, gql, resolvers_only, world,  # noqa: F811
                                                                              admin_db, stored, public_fallback,
                                                                              owner_fallback):
    await admin_db.execute("update organization set settings = settings || $1::jsonb where id = $2",
                           json.dumps(stored), world["org"])
    for who, token in callers(world).items():
        _, _, counted = await answers(app, gql, resolvers_only, PUBLIC, {"slug": "shop"}, token)
        assert counted == public_fallback, who
        _, _, counted = await answers(app, gql, resolvers_only, PRIVATE, {"slug": "shop"}, token)
        assert counted == (owner_fallback if who == "staff_with_permission" else 1), who


def field_of(document: str) -> FieldNode:
    selection = parse(document).definitions[0].selection_set.selections[0]  # type: ignore[attr-defined]
    assert isinstance(selection, FieldNode)
    return selection


async def test_what_cannot_be_emitted_exactly_is_not_compiled(app, monkeypatch):
    with_logo = field_of('{ organization(slug: "a") { branding { logoUrl } } }')
    registry.compile_root(with_logo, {})
    # The engine signs URLs for one lifetime: a logo URL signed for another is left to the resolvers.
    monkeypatch.setattr(settings_compiled, "LOGO_URL_TTL_SECONDS", 60)
    with pytest.raises(NotCompilable):
        registry.compile_root(with_logo, {})
    registry.compile_root(field_of('{ organization(slug: "a") { branding { platformName palette { color } } } }'), {})
    # A type without a compiled serializer (here: a date-time) is refused at plan time.
    from datetime import datetime

    with pytest.raises(NotCompilable):
        settings_compiled._value(datetime, field_of("{ createdAt }"), {}, set())
