"""The catalogue (Organization.contents): visibility by status, filters, pagination; input validation
of createContent/updateContent; delete, publish and unpublish as seen from the catalogue."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest

from codex_graphql.authz import OrgRole
from codex_graphql.content.models import (
    Content,
    ContentEntitlement,
    ContentKind,
    ContentStatus,
    EntitlementSource,
)
from codex_graphql.db import TenantScope, utcnow
from codex_graphql.relay import to_global_id
from tests.support import Person

GB = 1024**3
MB = 1024**2
BASE = datetime(2026, 1, 1, 12, 0, 0).astimezone()


def gid(content_id: uuid.UUID) -> str:
    return to_global_id("Content", content_id)


async def insert(db: Any, org: uuid.UUID, creator_id: uuid.UUID, specs: list[dict[str, Any]]) -> list[uuid.UUID]:
    """Insert content rows directly (no upload): each spec may set any Content column.
    ``age`` (seconds before BASE) sets created_at, so the newest-first order is known."""
    ids = []
    async with db.transaction(TenantScope(organization_id=org)) as session:
        for spec in specs:
            spec = dict(spec)
            content_id = uuid.uuid4()
            status = spec.pop("status", ContentStatus.PUBLISHED)
            kind = spec.pop("kind", ContentKind.VIDEO)
            extension, mime = ("mp4", "video/mp4") if kind is ContentKind.VIDEO else ("mp3", "audio/mpeg")
            session.add(Content(
                id=content_id, organization_id=org, creator_id=creator_id, kind=kind, status=status,
                title=spec.pop("title", "Untitled"), created_at=BASE - timedelta(seconds=spec.pop("age", 0)),
                storage_key=f"orgs/{org}/content/{content_id}/original.{extension}", mime_type=mime,
                original_filename=f"file.{extension}", size_bytes=1000,
                published_at=BASE if status is ContentStatus.PUBLISHED else None, **spec,
            ))
            ids.append(content_id)
    return ids


@pytest.fixture
async def shop(factory) -> dict[str, Any]:
    owner = await factory.user()
    org = await factory.organization(owner, slug="shop")
    member = await factory.user()
    await factory.member(org, member, OrgRole.MEMBER)
    customer = await factory.user()
    return {"owner": owner, "org": org, "member": member, "customer": customer}


LIST = """query($slug: String!, $first: Int, $after: String, $filter: ContentFilter) {
  organization(slug: $slug) { contents(first: $first, after: $after, filter: $filter) {
    totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id status title kind tags } } } } }"""


async def listing(gql: Any, token: str | None, *, first: int | None = 100, after: str | None = None,
                  slug: str = "shop", **filter: Any) -> dict[str, Any]:
    data = await gql.ok(LIST, {"slug": slug, "first": first, "after": after, "filter": filter or None}, token)
    return data["organization"]["contents"]


def ids_of(connection: dict[str, Any]) -> list[str]:
    return [edge["node"]["id"] for edge in connection["edges"]]


async def test_customers_see_published_newest_first_and_staff_see_everything(gql, factory, db, shop):
    owner, org = shop["owner"], shop["org"]
    published = await insert(db, org, owner.user_id, [
        {"title": "Oldest", "age": 400}, {"title": "Newest", "age": 10}, {"title": "Middle", "age": 200},
    ])
    other = {status: (await insert(db, org, owner.user_id, [{"status": status, "age": 5}]))[0]
             for status in (ContentStatus.UPLOADING, ContentStatus.PROCESSING, ContentStatus.READY, ContentStatus.FAILED)}
    deleted = await insert(db, org, owner.user_id, [
        {"title": "Gone", "age": 1, "deleted_at": utcnow()},
        {"title": "Gone draft", "age": 1, "deleted_at": utcnow(), "status": ContentStatus.READY},
    ])
    # Another organization's published items never show up here.
    elsewhere_owner = await factory.user()
    elsewhere = await factory.organization(elsewhere_owner, slug="elsewhere")
    await insert(db, elsewhere, elsewhere_owner.user_id, [{"title": "Elsewhere", "age": 0}])

    newest_first = [gid(published[1]), gid(published[2]), gid(published[0])]
    for token in (None, shop["customer"].token, elsewhere_owner.token):
        public = await listing(gql, token)
        assert ids_of(public) == newest_first
        assert public["totalCount"] == 3
        assert {e["node"]["status"] for e in public["edges"]} == {"PUBLISHED"}
        # A status filter is for staff; everyone else still gets the published items.
        for status in ("READY", "UPLOADING", "PUBLISHED"):
            filtered = await listing(gql, token, status=status)
            assert ids_of(filtered) == newest_first and filtered["totalCount"] == 3, (token, status)

    for token in (owner.token, shop["member"].token):
        everything = await listing(gql, token)
        assert everything["totalCount"] == 7
        assert set(ids_of(everything)) == {*newest_first, *map(gid, other.values())}
        assert not {gid(d) for d in deleted} & set(ids_of(everything))
        # Newest first; the four items created at the same instant are ordered by id, descending.
        assert ids_of(everything) == [gid(i) for i in sorted(other.values(), reverse=True)] + newest_first
        for status, content_id in other.items():
            only = await listing(gql, token, status=status.value)
            assert ids_of(only) == [gid(content_id)] and only["totalCount"] == 1
        only_published = await listing(gql, token, status="PUBLISHED")
        assert ids_of(only_published) == newest_first and only_published["totalCount"] == 3


async def test_filters_by_kind_tag_and_search(gql, db, shop):
    owner, org = shop["owner"], shop["org"]
    ids = await insert(db, org, owner.user_id, [
        {"title": "Making of the film", "kind": ContentKind.VIDEO, "tags": ["behind-the-scenes", "drama"], "age": 1},
        {"title": "Soundtrack", "kind": ContentKind.AUDIO, "tags": ["music"], "description": "All the SCENES scored", "age": 2},
        {"title": "100% pure", "kind": ContentKind.AUDIO, "tags": ["behind-the-scenes"], "age": 3},
        {"title": "1000 ways", "kind": ContentKind.VIDEO, "description": "Not a percentage", "age": 4},
        {"title": "snake_case explained", "kind": ContentKind.VIDEO, "age": 5},
        {"title": "snakeXcase and friends", "kind": ContentKind.VIDEO, "age": 6},
        {"title": "A draft behind the scenes", "kind": ContentKind.VIDEO, "tags": ["behind-the-scenes"], "age": 0,
         "status": ContentStatus.READY},
    ])
    making, soundtrack, pure, ways, snake, snakex, draft = map(gid, ids)
    customer = shop["customer"].token
    cases: list[tuple[dict[str, Any], list[str]]] = [
        ({"kind": "AUDIO"}, [soundtrack, pure]),
        ({"kind": "VIDEO"}, [making, ways, snake, snakex]),
        ({"tag": "Behind The Scenes"}, [making, pure]),
        ({"tag": "  behind_the  scenes "}, [making, pure]),
        ({"tag": "behind-the-scenes", "kind": "AUDIO"}, [pure]),
        ({"tag": "comedy"}, []),
        ({"tag": "   "}, [making, soundtrack, pure, ways, snake, snakex]),  # nothing left after normalizing: no filter
        ({"search": "making"}, [making]),
        ({"search": "MAKING OF"}, [making]),
        ({"search": "scenes"}, [soundtrack]),  # description, case-insensitive; tags are not searched
        ({"search": "100%"}, [pure]),  # `%` is literal: "1000 ways" does not match
        ({"search": "%"}, [pure]),
        ({"search": "snake_case"}, [snake]),  # `_` is literal: "snakeXcase" does not match
        ({"search": "_"}, [snake]),
        ({"search": "\\"}, []),
        ({"search": "  pure  "}, [pure]),
        ({"search": "e", "kind": "AUDIO", "tag": "music"}, [soundtrack]),
    ]
    for filter, expected in cases:
        result = await listing(gql, customer, **filter)
        assert ids_of(result) == expected, filter
        assert result["totalCount"] == len(expected), filter
    staff = await listing(gql, owner.token, tag="Behind the scenes", search="behind")
    assert ids_of(staff) == [draft] and staff["totalCount"] == 1


async def test_invalid_filter_and_paging_arguments_are_bad_user_input(gql, db, shop):
    await insert(db, shop["org"], shop["owner"].user_id, [{"age": 1}])
    customer = shop["customer"].token
    bad = [
        {"first": 101}, {"first": -1}, {"after": "not-a-cursor"}, {"after": "bm90fGE="},
        {"filter": {"tag": "c++"}}, {"filter": {"tag": "x" * 41}},
    ]
    for arguments in bad:
        variables = {"slug": "shop", "first": 10, "after": None, "filter": None, **arguments}
        body = await gql(LIST, variables, customer)
        assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"], (arguments, body)
        assert body["data"]["organization"] is None, arguments
    assert len(ids_of(await listing(gql, customer, first=100))) == 1
    assert ids_of(await listing(gql, customer, first=0)) == []


async def test_pagination_across_pages(gql, db, shop):
    owner, org = shop["owner"], shop["org"]
    specs: list[dict[str, Any]] = [
        {"title": f"Item {n}", "age": n // 3, "kind": ContentKind.AUDIO if n % 2 else ContentKind.VIDEO}
        for n in range(25)  # three items share each created_at: the order falls back to the id
    ]
    specs += [{"title": "Draft", "status": ContentStatus.READY, "age": 0}]
    await insert(db, org, owner.user_id, specs)
    customer = shop["customer"].token
    whole = await listing(gql, customer, first=100)
    assert whole["totalCount"] == 25 and len(whole["edges"]) == 25
    assert whole["pageInfo"] == {"hasNextPage": False, "hasPreviousPage": False,
                                 "startCursor": whole["edges"][0]["cursor"], "endCursor": whole["edges"][-1]["cursor"]}

    for page_size, filter, total in ((10, {}, 25), (5, {"kind": "AUDIO"}, 12), (7, {"kind": "VIDEO"}, 13)):
        expected = ids_of(await listing(gql, customer, first=100, **filter))
        assert len(expected) == total
        seen: list[str] = []
        after = None
        pages = 0
        while True:
            page = await listing(gql, customer, first=page_size, after=after, **filter)
            pages += 1
            assert page["totalCount"] == total, (filter, pages)
            info = page["pageInfo"]
            assert info["hasPreviousPage"] is (after is not None)
            assert [e["cursor"] for e in page["edges"][:1]] == ([info["startCursor"]] if page["edges"] else [])
            assert info["endCursor"] == (page["edges"][-1]["cursor"] if page["edges"] else None)
            seen += ids_of(page)
            if not info["hasNextPage"]:
                break
            assert len(page["edges"]) == page_size
            after = info["endCursor"]
        assert seen == expected, filter
        assert pages == -(-total // page_size), filter
    # Past the end: an empty page.
    last = await listing(gql, customer, first=5, after=whole["edges"][-1]["cursor"])
    assert last["edges"] == [] and last["pageInfo"]["hasNextPage"] is False and last["totalCount"] == 25
    # Staff page through every status with the same cursors.
    staff = await listing(gql, owner.token, first=13)
    staff_next = await listing(gql, owner.token, first=13, after=staff["pageInfo"]["endCursor"])
    assert len(ids_of(staff)) + len(ids_of(staff_next)) == 26 and staff_next["pageInfo"]["hasNextPage"] is False


CREATE = """mutation($input: CreateContentInput!) { createContent(input: $input) {
  errors { code field message } content { id title tags priceCents description } upload { url partSize } } }"""
GOOD = {"kind": "VIDEO", "title": "Fine", "filename": "clip.mp4", "mimeType": "video/mp4", "sizeBytes": 1000}
AUDIO = {**GOOD, "kind": "AUDIO", "filename": "tone.mp3", "mimeType": "audio/mpeg"}
BAD_CREATE: list[tuple[str, dict[str, Any], str]] = [
    ("mime for mp4", {"mimeType": "audio/mpeg"}, "mimeType"),
    ("mime for mov", {"filename": "clip.mov", "mimeType": "video/mp4"}, "mimeType"),
    ("mime for mp3", {**AUDIO, "mimeType": "audio/wav"}, "mimeType"),
    ("unknown extension", {"filename": "clip.avi", "mimeType": "video/x-msvideo"}, "filename"),
    ("no extension", {"filename": "clip"}, "filename"),
    ("audio extension for a video", {"filename": "tone.mp3", "mimeType": "audio/mpeg"}, "filename"),
    ("video extension for audio", {**AUDIO, "filename": "clip.mp4", "mimeType": "video/mp4"}, "filename"),
    ("folders in the name", {"filename": "../clip.mp4"}, "filename"),
    ("video over 5 GB", {"sizeBytes": 5 * GB + 1}, "sizeBytes"),
    ("audio over 500 MB", {**AUDIO, "sizeBytes": 500 * MB + 1}, "sizeBytes"),
    ("zero size", {"sizeBytes": 0}, "sizeBytes"),
    ("negative size", {"sizeBytes": -5}, "sizeBytes"),
    ("fractional size", {"sizeBytes": 1000.5}, "sizeBytes"),
    ("absurd size", {"sizeBytes": 1e300}, "sizeBytes"),
    ("negative price", {"priceCents": -1}, "priceCents"),
    ("empty title", {"title": ""}, "title"),
    ("blank title", {"title": "   "}, "title"),
    ("long title", {"title": "x" * 201}, "title"),
    ("too many tags", {"tags": [f"tag{n}" for n in range(21)]}, "tags"),
    ("long tag", {"tags": ["x" * 41]}, "tags"),
    ("bad tag", {"tags": ["c++"]}, "tags"),
    ("long description", {"description": "x" * 10_001}, "description"),
]


async def test_create_content_rejects_bad_input(gql, admin_db, shop):
    token = shop["owner"].token
    for name, change, field in BAD_CREATE:
        body = await gql(CREATE, {"input": {**GOOD, **change}}, token)
        assert "errors" not in body, (name, body)
        payload = body["data"]["createContent"]
        assert [(e["code"], e["field"]) for e in payload["errors"]] == [("INVALID_INPUT", ["input", field])], (name, payload)
        assert payload["content"] is None and payload["upload"] is None, name
    assert await admin_db.fetchval("select count(*) from content") == 0
    assert await admin_db.fetchval("select count(*) from outbox_message") == 0

    # The limits themselves are accepted.
    edge_cases = [
        {**GOOD, "title": "x" * 200, "description": "d" * 10_000, "tags": [f"tag{n}" for n in range(20)] + ["TAG0"],
         "priceCents": 0},
        {**GOOD, "tags": ["x" * 40], "mimeType": " Video/MP4 "},
        {**AUDIO, "sizeBytes": 500 * MB},
        {**GOOD, "filename": "clip.MOV", "mimeType": "video/quicktime", "sizeBytes": 5 * GB},
    ]
    for good in edge_cases:
        created = (await gql.ok(CREATE, {"input": good}, token))["createContent"]
        assert created["content"]["id"]
    assert await admin_db.fetchval("select count(*) from content") == len(edge_cases)
    first = await admin_db.fetchrow("select title, tags, mime_type from content where length(title) = 200")
    assert len(first["tags"]) == 20 and first["mime_type"] == "video/mp4"


UPDATE = """mutation($input: UpdateContentInput!) { updateContent(input: $input) {
  errors { code field message } content { id title description priceCents tags } } }"""
BAD_UPDATE: list[tuple[str, dict[str, Any], str]] = [
    ("negative price", {"priceCents": -100}, "priceCents"),
    ("empty title", {"title": ""}, "title"),
    ("long title", {"title": "y" * 201}, "title"),
    ("too many tags", {"tags": [f"t{n}" for n in range(21)]}, "tags"),
    ("long tag", {"tags": ["ok", "y" * 41]}, "tags"),
    ("long description", {"description": "y" * 10_001}, "description"),
    ("good title, bad price", {"title": "Better", "priceCents": -1}, "priceCents"),
]


async def test_update_content_rejects_bad_input(gql, db, admin_db, shop):
    owner = shop["owner"]
    [content_id] = await insert(db, shop["org"], owner.user_id, [
        {"title": "Original", "description": "Desc", "price_cents": 300, "tags": ["one"]}])
    snapshot = "select title, description, price_cents, tags, updated_at from content"
    before = await admin_db.fetchrow(snapshot)
    for name, change, field in BAD_UPDATE:
        body = await gql(UPDATE, {"input": {"contentId": gid(content_id), **change}}, owner.token)
        assert "errors" not in body, (name, body)
        payload = body["data"]["updateContent"]
        assert [(e["code"], e["field"]) for e in payload["errors"]] == [("INVALID_INPUT", ["input", field])], (name, payload)
        assert payload["content"] is None
        assert await admin_db.fetchrow(snapshot) == before, name
    changed = await gql.ok(UPDATE, {"input": {"contentId": gid(content_id), "tags": ["Behind The Scenes", "one"],
                                              "priceCents": 0}}, owner.token)
    assert changed["updateContent"]["content"] == {"id": gid(content_id), "title": "Original", "description": "Desc",
                                                   "priceCents": 0, "tags": ["behind-the-scenes", "one"]}


DETAIL = """query($id: ID!) { content(id: $id) { id status viewerHasAccess playbackPosition } node(id: $id) { id } }"""
PLAY = "query($id: ID!) { content(id: $id) { playback { url } } }"
SAVE = """mutation($id: ID!) { savePlaybackPosition(input: {contentId: $id, positionSeconds: 1}) {
  errors { code field } positionSeconds } }"""


def mutation(name: str) -> str:
    return f"mutation($id: ID!) {{ {name}(input: {{contentId: $id}}) {{ errors {{ code field }} content {{ id status }} }} }}"


async def entitle(db: Any, org: uuid.UUID, content_id: uuid.UUID, customer: Person) -> None:
    async with db.transaction(TenantScope(organization_id=org)) as session:
        session.add(ContentEntitlement(organization_id=org, user_id=customer.user_id, content_id=content_id,
                                       source=EntitlementSource.PURCHASE))


async def test_deleted_content_disappears_everywhere(gql, db, admin_db, shop):
    owner, customer, org = shop["owner"], shop["customer"], shop["org"]
    item, kept = await insert(db, org, owner.user_id, [{"title": "Doomed", "age": 1}, {"title": "Kept", "age": 2}])
    await entitle(db, org, item, customer)
    assert (await gql.ok(SAVE, {"id": gid(item)}, customer.token))["savePlaybackPosition"]["positionSeconds"] == 1
    assert (await gql.ok(PLAY, {"id": gid(item)}, customer.token))["content"]["playback"]["url"]

    deleted = await gql.ok(mutation("deleteContent"), {"id": gid(item)}, owner.token)
    assert deleted["deleteContent"]["content"]["id"] == gid(item)
    assert await admin_db.fetchval("select deleted_at is not null from content where id = $1", item)

    for token in (None, customer.token, owner.token, shop["member"].token):
        listed = await listing(gql, token)
        assert ids_of(listed) == [gid(kept)] and listed["totalCount"] == 1
        assert (await listing(gql, token, search="Doomed"))["totalCount"] == 0
    for token in (None, owner.token, shop["member"].token):
        assert await gql.ok(DETAIL, {"id": gid(item)}, token) == {"content": None, "node": None}
        assert await gql.ok(PLAY, {"id": gid(item)}, token) == {"content": None}
    # The customer who holds an entitlement keeps the item (tests/commerce/test_entitled_access.py covers the rest).
    kept_by_buyer = await gql.ok(DETAIL, {"id": gid(item)}, customer.token)
    assert kept_by_buyer["node"] == {"id": gid(item)} and kept_by_buyer["content"]["viewerHasAccess"] is True
    assert (await gql.ok(SAVE, {"id": gid(item)}, customer.token))["savePlaybackPosition"]["positionSeconds"] == 1
    for name in ("deleteContent", "publishContent", "unpublishContent", "completeContentUpload", "updateContent"):
        payload = (await gql(mutation(name), {"id": gid(item)}, owner.token))["data"][name]
        assert payload["errors"] == [{"code": "NOT_FOUND", "field": ["input", "contentId"]}], name


async def test_publish_needs_ready_and_unpublish_returns_to_ready(gql, db, admin_db, shop):
    owner, customer, org = shop["owner"], shop["customer"], shop["org"]
    not_ready = await insert(db, org, owner.user_id, [
        {"status": status} for status in (ContentStatus.UPLOADING, ContentStatus.PROCESSING, ContentStatus.FAILED,
                                          ContentStatus.PUBLISHED)])
    [ready] = await insert(db, org, owner.user_id, [{"status": ContentStatus.READY, "title": "Soon", "age": -10}])
    snapshot = "select id, status, published_at from content order by id"
    before = await admin_db.fetch(snapshot)
    for content_id in not_ready:
        payload = (await gql(mutation("publishContent"), {"id": gid(content_id)}, owner.token))["data"]["publishContent"]
        assert payload == {"errors": [{"code": "INVALID_STATE", "field": ["input", "contentId"]}], "content": None}
    for content_id in [*not_ready[:3], ready]:
        payload = (await gql(mutation("unpublishContent"), {"id": gid(content_id)}, owner.token))["data"]["unpublishContent"]
        assert payload["errors"] == [{"code": "INVALID_STATE", "field": ["input", "contentId"]}]
    assert await admin_db.fetch(snapshot) == before
    assert await admin_db.fetchval("select count(*) from outbox_message") == 0

    published = await gql.ok(mutation("publishContent"), {"id": gid(ready)}, owner.token)
    assert published["publishContent"]["content"]["status"] == "PUBLISHED"
    public = await listing(gql, customer.token)
    assert ids_of(public)[0] == gid(ready) and public["totalCount"] == 2
    assert (await gql.ok(DETAIL, {"id": gid(ready)}, customer.token))["content"]["status"] == "PUBLISHED"

    unpublished = await gql.ok(mutation("unpublishContent"), {"id": gid(ready)}, owner.token)
    assert unpublished["unpublishContent"]["content"]["status"] == "READY"
    assert await admin_db.fetchval("select status from content where id = $1", ready) == "READY"
    for token in (None, customer.token):
        public = await listing(gql, token)
        assert gid(ready) not in ids_of(public) and public["totalCount"] == 1
        assert await gql.ok(DETAIL, {"id": gid(ready)}, token) == {"content": None, "node": None}
    staff = await gql.ok(DETAIL, {"id": gid(ready)}, owner.token)
    assert staff["content"]["status"] == "READY"
    # Unpublished items can be published again.
    again = await gql.ok(mutation("publishContent"), {"id": gid(ready)}, owner.token)
    assert again["publishContent"]["content"]["status"] == "PUBLISHED"
    events = await admin_db.fetch("select payload->>'status' as status from outbox_message "
                                  "where topic = 'content.status_changed' order by created_at")
    assert [e["status"] for e in events] == ["PUBLISHED", "READY", "PUBLISHED"]
