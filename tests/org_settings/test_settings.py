"""updateOrganizationSettings and logos through the API: validation (nothing stored on bad input),
partial updates, logo checks on the real uploaded bytes, content defaults, the public storefront face."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from codex_graphql.org_settings import logo, svg
from codex_graphql.org_settings import service as settings_service
from codex_graphql.relay import to_global_id
from tests.org_settings.test_settings_units import BAD_SVGS, CLEAN_SVG, JPEG, PNG, REFUSED_SVGS, WEBP
from tests.support import make_actors

UPDATE = """mutation($input: UpdateOrganizationSettingsInput!) { updateOrganizationSettings(input: $input) {
  errors { code field message }
  organization { id name }
  settings { name legalName contactEmail timezone businessCategory currency platformName primaryColor logoKey
             logoUrl refundPolicy termsOfService privacyPolicy defaultVisibility allowDownloads enableReviews
             moderationLevel palette { shade color textColor contrastRatio } } } }"""
LOGO = """mutation($input: CreateOrganizationLogoUploadInput!) { createOrganizationLogoUpload(input: $input) {
  errors { code field message } logoKey upload { url method headers { name value } expiresAt } } }"""
PUBLIC = """query($slug: String!) { organization(slug: $slug) { name
  branding { platformName logoUrl primaryColor palette { shade color textColor } }
  policies { refundPolicy termsOfService privacyPolicy } } }"""
CREATE = """mutation($input: CreateContentInput!) { createContent(input: $input) {
  errors { code field message } content { id listed allowDownloads reviewsEnabled } } }"""
CONTENT_INPUT = {"kind": "AUDIO", "title": "Episode", "filename": "tone.mp3", "mimeType": "audio/mpeg", "sizeBytes": 1234}


async def org_row(admin_db: Any, org: uuid.UUID) -> tuple[Any, ...]:
    row = await admin_db.fetchrow("select name, timezone, settings from organization where id = $1", org)
    return (row["name"], row["timezone"], json.loads(row["settings"]) if isinstance(row["settings"], str) else row["settings"])


async def update(gql: Any, token: str, **fields: Any) -> dict[str, Any]:
    return (await gql(UPDATE, {"input": fields}, token))["data"]["updateOrganizationSettings"]


async def test_bad_input_is_refused_and_nothing_stored(gql, factory, admin_db):
    actors = await make_actors(factory)
    token = actors.staff_with.token
    before = await org_row(admin_db, actors.org)
    cases = [
        ({"primaryColor": "red"}, ["input", "primaryColor"]),
        ({"primaryColor": "#12345"}, ["input", "primaryColor"]),
        ({"primaryColor": "#xyzxyz"}, ["input", "primaryColor"]),
        ({"timezone": "Mars/Olympus"}, ["input", "timezone"]),
        ({"timezone": ""}, ["input", "timezone"]),
        ({"contactEmail": "not-an-email"}, ["input", "contactEmail"]),
        ({"contactEmail": "a@b"}, ["input", "contactEmail"]),
        ({"currency": "EUR"}, ["input", "currency"]),
        ({"name": ""}, ["input", "name"]),
        ({"allowDownloads": None}, ["input", "allowDownloads"]),
        ({"termsOfService": "<p>" + "x" * 51_300 + "</p>"}, ["input", "termsOfService"]),
        ({"organizationId": to_global_id("Content", uuid.uuid4())}, ["input", "organizationId"]),
        ({"logoKey": f"orgs/{actors.other_org}/branding/logo-{uuid.uuid4().hex}.png"}, ["input", "logoKey"]),
        ({"logoKey": f"orgs/{actors.org}/branding/logo-{uuid.uuid4().hex}.png"}, ["input", "logoKey"]),  # not uploaded
    ]
    for fields, field in cases:
        # A valid change alongside an invalid one is not applied either.
        result = await update(gql, token, legalName="Should Not Stick", **fields)
        assert result["settings"] is None and result["organization"] is None, (fields, result)
        assert [e["field"] for e in result["errors"]] == [field], (fields, result)
        assert await org_row(admin_db, actors.org) == before, fields
    # Several problems are reported together.
    result = await update(gql, token, primaryColor="nope", contactEmail="nope", currency="GBP")
    assert sorted(e["field"][1] for e in result["errors"]) == ["contactEmail", "currency", "primaryColor"]
    assert {e["code"] for e in result["errors"]} == {"INVALID_INPUT"}


async def test_partial_updates(gql, factory, admin_db, monkeypatch):
    rebuilt: list[uuid.UUID] = []

    class FakeAnalytics:
        @staticmethod
        async def rebuild_daily_rollups(session: Any, organization_id: uuid.UUID) -> None:
            rebuilt.append(organization_id)

    real_import = settings_service.importlib.import_module
    monkeypatch.setattr(settings_service.importlib, "import_module",
                        lambda name: FakeAnalytics if name == "codex_graphql.analytics.service" else real_import(name))
    actors = await make_actors(factory)
    token = actors.staff_with.token
    first = await update(gql, token, name="  Acme Films ", legalName="Acme Films LLC", contactEmail="Hello@Acme.example",
                         timezone="Europe/Paris", businessCategory="FILM_AND_VIDEO", currency="usd",
                         platformName="Acme TV", primaryColor="#3B82F6",
                         refundPolicy='<p onclick="x()">30 days<script>alert(1)</script></p>',
                         termsOfService="<h2>Terms</h2><p><a href='https://acme.example/t'>full text</a></p>",
                         privacyPolicy="<p>We keep <strong>nothing</strong>.</p>",
                         defaultVisibility="PRIVATE", allowDownloads=True, enableReviews=True, moderationLevel="STRICT")
    assert first["errors"] == [], first
    settings = first["settings"]
    assert first["organization"]["name"] == "Acme Films" == settings["name"]
    assert settings | {"palette": None} == {
        "name": "Acme Films", "legalName": "Acme Films LLC", "contactEmail": "Hello@acme.example",
        "timezone": "Europe/Paris", "businessCategory": "FILM_AND_VIDEO", "currency": "USD", "platformName": "Acme TV",
        "primaryColor": "#3b82f6", "logoKey": None, "logoUrl": None, "refundPolicy": "<p>30 days</p>",
        "termsOfService": '<h2>Terms</h2><p><a href="https://acme.example/t" rel="noopener noreferrer">full text</a></p>',
        "privacyPolicy": "<p>We keep <strong>nothing</strong>.</p>", "defaultVisibility": "PRIVATE",
        "allowDownloads": True, "enableReviews": True, "moderationLevel": "STRICT", "palette": None,
    }
    assert len(settings["palette"]) == 11 and settings["palette"][5] == {
        "shade": 500, "color": "#3b82f6", "textColor": "#000000", "contrastRatio": 5.71}
    assert rebuilt == [actors.org]  # the timezone changed
    name, timezone, stored = await org_row(admin_db, actors.org)
    assert (name, timezone) == ("Acme Films", "Europe/Paris")
    assert "name" not in stored and "timezone" not in stored and stored["primary_color"] == "#3b82f6"

    # Omitted fields stay; null clears optional ones.
    second = await update(gql, token, primaryColor="#0F0", legalName=None, organizationId=to_global_id("Organization", actors.org))
    assert second["errors"] == []
    expected = settings | {"primaryColor": "#00ff00", "legalName": None, "palette": None}
    assert second["settings"] | {"palette": None} == expected
    assert rebuilt == [actors.org]  # same timezone: no rebuild
    third = await update(gql, token, timezone="America/New_York")
    assert third["errors"] == [] and third["settings"]["timezone"] == "America/New_York"
    assert rebuilt == [actors.org, actors.org]
    settings_query = "query($s:String!){organization(slug:$s){settings{legalName contactEmail timezone primaryColor}}}"
    data = await gql.ok(settings_query, {"s": actors.org_slug}, token)
    assert data["organization"]["settings"] == {"legalName": None, "contactEmail": "Hello@acme.example",
                                                "timezone": "America/New_York", "primaryColor": "#00ff00"}


async def put_logo(gql: Any, http: Any, token: str, filename: str, mime: str, data: bytes) -> str:
    created = (await gql(LOGO, {"input": {"filename": filename, "mimeType": mime, "sizeBytes": len(data)}}, token))
    created = created["data"]["createOrganizationLogoUpload"]
    assert created["errors"] == [], created
    upload = created["upload"]
    assert upload["method"] == "PUT"
    response = await http.put(upload["url"], content=data, headers={h["name"]: h["value"] for h in upload["headers"]})
    assert response.status_code in (200, 201, 204), response.text
    return created["logoKey"]


async def test_logo_upload_checks_the_real_bytes(gql, http, app, factory, admin_db, tmp_path: Path):
    actors = await make_actors(factory)
    token = actors.staff_with.token
    org = actors.org
    storage = app.state.runtime["services"].storage

    key = await put_logo(gql, http, token, "logo.png", "image/png", PNG)
    assert key.startswith(f"orgs/{org}/branding/logo-") and key.endswith(".png")
    done = await update(gql, token, logoKey=key)
    assert done["errors"] == [] and done["settings"]["logoKey"] == key
    logo_url = done["settings"]["logoUrl"]
    assert (await http.get(logo_url)).content == PNG

    async def stored_as(extension: str, data: bytes) -> str:
        """Bytes in a logo's staging key (what an upload past the declared checks would leave there)."""
        key = f"orgs/{org}/branding/logo-{uuid.uuid4().hex}.{extension}"
        source = tmp_path / uuid.uuid4().hex
        source.write_bytes(data)
        await storage.upload_file(logo.staging_for(key), source, "application/octet-stream")
        return key

    before = await org_row(admin_db, org)
    refused = {
        "png renamed jpg": await put_logo(gql, http, token, "logo.jpg", "image/jpeg", PNG),
        "text declared png": await put_logo(gql, http, token, "logo.png", "image/png", b"just some text, not a picture"),
        "jpeg declared webp": await put_logo(gql, http, token, "logo.webp", "image/webp", JPEG),
        "oversized": await stored_as("png", PNG + b"\x00" * (2 * 1024 * 1024)),
        **{f"svg {name}": await stored_as("svg", BAD_SVGS[name]) for name in REFUSED_SVGS},
    }
    for case, bad_key in refused.items():
        result = await update(gql, token, logoKey=bad_key, platformName="Not stored")
        assert [(e["code"], e["field"]) for e in result["errors"]] == [("INVALID_INPUT", ["input", "logoKey"])], (case, result)
        assert await org_row(admin_db, org) == before, case

    # Oversized declarations are refused before any upload URL is issued.
    big = (await gql(LOGO, {"input": {"filename": "l.png", "mimeType": "image/png", "sizeBytes": 2 * 1024 * 1024 + 1}},
                     token))["data"]["createOrganizationLogoUpload"]
    assert big["upload"] is None and big["errors"][0]["field"] == ["input", "sizeBytes"]
    gif = (await gql(LOGO, {"input": {"filename": "l.gif", "mimeType": "image/gif", "sizeBytes": 10}},
                     token))["data"]["createOrganizationLogoUpload"]
    assert gif["errors"][0]["field"] == ["input", "mimeType"]

    for filename, mime, data in (("l.jpg", "image/jpeg", JPEG), ("l.webp", "image/webp", WEBP),
                                 ("logo.svg", "image/svg+xml", CLEAN_SVG)):
        good = await put_logo(gql, http, token, filename, mime, data)
        result = await update(gql, token, logoKey=good)
        assert result["errors"] == [] and result["settings"]["logoKey"] == good, (filename, result)
    cleared = await update(gql, token, logoKey=None)
    assert cleared["errors"] == [] and cleared["settings"]["logoUrl"] is None


async def test_content_defaults_apply_to_new_content(gql, factory, admin_db):
    actors = await make_actors(factory)
    token = actors.staff_with.token
    public = (await gql(CREATE, {"input": CONTENT_INPUT}, token))["data"]["createContent"]["content"]
    assert public == public | {"listed": True, "allowDownloads": False, "reviewsEnabled": False}
    assert (await update(gql, token, defaultVisibility="PRIVATE", allowDownloads=True, enableReviews=True))["errors"] == []
    private = (await gql(CREATE, {"input": CONTENT_INPUT}, token))["data"]["createContent"]["content"]
    assert private == private | {"listed": False, "allowDownloads": True, "reviewsEnabled": True}
    row = await admin_db.fetchrow("select listed, allow_downloads, reviews_enabled from content where title = $1 "
                                  "order by created_at desc limit 1", "Episode")
    assert tuple(row) == (False, True, True)
    await admin_db.execute("update content set status = 'PUBLISHED', published_at = now() where organization_id = $1",
                           actors.org)

    listing = "query($s:String!){organization(slug:$s){contents{totalCount nodes{id listed}}}}"
    by_id = "query($id:ID!){content(id:$id){id listed}}"
    for caller in (None, actors.customer.token):
        data = await gql.ok(listing, {"s": actors.org_slug}, caller)
        assert [n["id"] for n in data["organization"]["contents"]["nodes"]] == [public["id"]]
        assert data["organization"]["contents"]["totalCount"] == 1
        assert (await gql.ok(by_id, {"id": private["id"]}, caller))["content"] == {"id": private["id"], "listed": False}
    staff = await gql.ok(listing, {"s": actors.org_slug}, token)
    assert {n["id"] for n in staff["organization"]["contents"]["nodes"]} == {public["id"], private["id"]}

    # Listing it again puts it in the public list.
    edit = """mutation($id:ID!){updateContent(input:{contentId:$id, listed:true, reviewsEnabled:false}){
      errors{code} content{listed allowDownloads reviewsEnabled}}}"""
    edited = await gql.ok(edit, {"id": private["id"]}, token)
    assert edited["updateContent"]["content"] == {"listed": True, "allowDownloads": True, "reviewsEnabled": False}
    data = await gql.ok(listing, {"s": actors.org_slug}, None)
    assert data["organization"]["contents"]["totalCount"] == 2


async def test_storefront_face_is_public(gql, http, factory):
    actors = await make_actors(factory)
    token = actors.staff_with.token
    key = await put_logo(gql, http, token, "logo.svg", "image/svg+xml", CLEAN_SVG)
    assert (await update(gql, token, platformName="Acme TV", primaryColor="#7c3aed", logoKey=key,
                         refundPolicy="<p>Refunds <em>within</em> 14 days.</p>", legalName="Secret LLC",
                         contactEmail="owner@acme.example"))["errors"] == []
    for caller in (None, actors.customer.token, actors.other_staff.token, actors.staff_without.token):
        data = await gql.ok(PUBLIC, {"slug": actors.org_slug}, caller)
        organization = data["organization"]
        assert organization["branding"]["platformName"] == "Acme TV"
        assert organization["branding"]["primaryColor"] == "#7c3aed"
        assert len(organization["branding"]["palette"]) == 11
        assert (await http.get(organization["branding"]["logoUrl"])).content == svg.sanitize(CLEAN_SVG)
        assert organization["policies"] == {"refundPolicy": "<p>Refunds <em>within</em> 14 days.</p>",
                                            "termsOfService": None, "privacyPolicy": None}
        assert "Secret" not in json.dumps(data) and "owner@" not in json.dumps(data)
    # The private fields: UNAUTHENTICATED and null for anonymous callers, even next to public fields.
    body = await gql("query($s:String!){organization(slug:$s){name branding{platformName} settings{contactEmail legalName}}}",
                     {"s": actors.org_slug})
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]
    assert body["data"]["organization"]["settings"] is None
    assert body["data"]["organization"]["branding"] == {"platformName": "Acme TV"}
    # Defaults before anything is set.
    fresh = await gql.ok(PUBLIC, {"slug": (await admin_slug(factory, actors.other_org))})
    assert fresh["organization"]["branding"] == {"platformName": None, "logoUrl": None, "primaryColor": None, "palette": []}


async def admin_slug(factory: Any, org: uuid.UUID) -> str:
    from sqlalchemy import select

    from codex_graphql.organizations.models import Organization

    async with factory.db.transaction() as session:
        return str(await session.scalar(select(Organization.slug).where(Organization.id == org)))


async def test_timezone_change_runs_the_real_rollup_rebuild(gql, factory, admin_db):
    """No stand-in here: whatever analytics provides (or not) must work inside the mutation's savepoint."""
    actors = await make_actors(factory)
    result = await update(gql, actors.staff_with.token, timezone="Asia/Tokyo")
    assert result["errors"] == [] and result["settings"]["timezone"] == "Asia/Tokyo"
    assert (await org_row(admin_db, actors.org))[1] == "Asia/Tokyo"
