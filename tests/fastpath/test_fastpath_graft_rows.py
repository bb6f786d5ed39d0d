"""Grafts on parents built from the compiled rows (``fastpath.grafts.FromRow``, ``codex_graphql.graft_parents``):
the compiled statement also reads the row the resolvers' parent object is built from, so a graft costs no
statement to load its parent, and the parent is the one the by-id loader would have built (same values, same
Python types: enums, timestamps with time zone, JSON, arrays), from exactly the row the statement saw."""

# ruff: noqa: F811  (the fixtures imported from the equivalence tests are redefined as parameters)
from __future__ import annotations

import dataclasses
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import ARRAY, Column, Integer

from codex_graphql import graft_parents
from codex_graphql.content.models import Content as ContentModel
from codex_graphql.content.models import ContentKind, ContentStatus
from codex_graphql.fastpath import grafts, registry
from codex_graphql.relay import from_global_id
from tests.fastpath.test_fastpath_equivalence import (  # noqa: F401 (fixtures)
    OPERATIONS,
    STOREFRONT,
    compiled_execution_never_fails,
    fast_path,
    resolvers_only,
    viewers,
    world,
)
from tests.fastpath.test_fastpath_grafts import content_id, graft_sites, same_answer
from tests.support import statements

# The benchmark storefront with one field that does not compile on every item: `media` (guarded by
# CONTENT_READ, answered from the row: no statement of its own for staff, an error for everyone else).
STOREFRONT_MEDIA = STOREFRONT.replace("durationSeconds", "durationSeconds media { container videoCodec }")
SETTINGS_PANEL = (OPERATIONS / "varied" / "storefront_settings.graphql").read_text()


def compiled_statements(found: list[str]) -> list[str]:
    return [s for s in found if "LEFT JOIN LATERAL" in s or s.startswith(("WITH", "SELECT c.", "SELECT v."))]


def parent_reads(found: list[str]) -> list[str]:
    """Statements reading a parent by id, as the loaders do (SQLAlchemy's `SELECT <table>.<column>, ...`)."""
    return [s for s in found if s.startswith(("SELECT content.", "SELECT organization.", "SELECT user_account."))]


async def test_a_graft_on_content_inside_the_storefront_costs_no_extra_statement(app, gql, resolvers_only, world):
    assert graft_sites(app, STOREFRONT_MEDIA) == [("Content", "media")]
    for who, token in viewers(world).items():
        await gql.ok(STOREFRONT, {"slug": "shop"}, token)  # warm: the session, the connection's scope
        async with statements(app) as plain:
            await gql.ok(STOREFRONT, {"slug": "shop"}, token)
        async with statements(app) as grafted:
            body = await gql(STOREFRONT_MEDIA, {"slug": "shop"}, token)
        # One statement, the storefront's own (reading the items' rows too): no parent read, no resolver session.
        assert len(plain) == len(grafted) == 1, (who, grafted)
        assert "c__storage_key" in grafted[0] and "c__storage_key" not in plain[0]
        nodes = [edge["node"] for edge in body["data"]["organization"]["contents"]["edges"]]
        if who in ("owner", "creator"):
            assert "errors" not in body and all(node["media"] == {"container": None, "videoCodec": None}
                                                for node in nodes)
        else:
            assert len(body["errors"]) == len(nodes) and all(node["media"] is None for node in nodes)
        await same_answer(app, gql, resolvers_only, STOREFRONT_MEDIA, {"slug": "shop"}, token)


async def test_the_graft_answer_equals_the_resolvers_with_media_facts(app, gql, resolvers_only, world, admin_db):
    """Values of the row's JSON column reach the resolver as the ORM gives them."""
    await admin_db.execute("""update content set media_info = '{"container": "mov,mp4", "video_codec": "h264",
        "width": 1280, "bit_rate": 9000000000}'::jsonb where title in ('Item 0', 'Item 3')""")
    for token in viewers(world).values():
        await same_answer(app, gql, resolvers_only, STOREFRONT_MEDIA, {"slug": "shop", "first": 5}, token)
    data = await gql.ok(STOREFRONT_MEDIA, {"slug": "shop"}, world["owner"].token)
    media = {edge["node"]["title"]: edge["node"]["media"] for edge in data["organization"]["contents"]["edges"]}
    assert media["Item 0"] == media["Item 3"] == {"container": "mov,mp4", "videoCodec": "h264"}


async def test_the_settings_panel_for_a_customer_is_one_statement(app, gql, resolvers_only, world):
    """The varied `storefront_settings` document: `settings` is refused to a customer, and the resolvers phrase
    that error on the Organization built from the compiled row (before: 3 statements, the resolvers' session
    scope and the organization by id)."""
    token = world["customer"].token
    await gql(SETTINGS_PANEL, {"slug": "shop"}, token)
    async with statements(app) as seen:
        body = await gql(SETTINGS_PANEL, {"slug": "shop"}, token)
    assert len(seen) == 1 and "o__settings" in seen[0], seen
    assert body["data"]["organization"]["settings"] is None
    assert [(e["path"], e["extensions"]["code"]) for e in body["errors"]] == [(["organization", "settings"],
                                                                               "FORBIDDEN")]
    for token in viewers(world).values():
        await same_answer(app, gql, resolvers_only, SETTINGS_PANEL, {"slug": "shop"}, token)


async def test_a_guard_refused_in_a_list_costs_allowed_viewers_nothing(app, gql, resolvers_only, world,
                                                                        monkeypatch):
    """A compiled guarded field on a catalogue's items (test only: `failureReason`, CONTENT_READ): staff read
    no parent columns for a refusal that does not happen; for everyone else the items are loaded by id."""
    schema = app.state.runtime["graphql"].schema
    monkeypatch.setitem(registry.OBJECTS["Content"].fields, "failureReason", registry.Scalar("failure_reason"))
    registry.bind_schema(schema)
    fast_path(app).plans.clear()
    document = '{ organization(slug: "shop") { name contents(first: 5) { nodes { id title failureReason } } } }'
    try:
        for who, token in viewers(world).items():
            await gql(document, {}, token)
            async with statements(app) as seen:
                await gql(document, {}, token)
            assert "c__" not in compiled_statements(seen)[0], who
            assert len(parent_reads(seen)) == (0 if who in ("owner", "creator") else 1), (who, seen)
            await same_answer(app, gql, resolvers_only, document, {}, token)
    finally:
        monkeypatch.undo()
        registry.bind_schema(schema)
        fast_path(app).plans.clear()


# -- the parents equal the loaders' ----------------------------------------------------------------------

def assert_same(built: Any, loaded: Any, where: str) -> None:
    """Equal, and of the same Python types all the way down (an enum is not its string, a float not a Decimal)."""
    assert type(built) is type(loaded), (where, built, loaded)
    if isinstance(built, dict):
        assert built.keys() == loaded.keys(), where
        for key in built:
            assert_same(built[key], loaded[key], f"{where}.{key}")
    elif isinstance(built, list):
        assert len(built) == len(loaded), where
        for i, (a, b) in enumerate(zip(built, loaded, strict=True)):
            assert_same(a, b, f"{where}[{i}]")
    else:
        assert built == loaded, (where, built, loaded)
        if isinstance(built, datetime):
            assert built.utcoffset() == loaded.utcoffset(), where


def assert_same_parent(built: Any, loaded: Any) -> None:
    assert type(built) is type(loaded)
    for field in dataclasses.fields(built):
        if not field.init:  # a resolver's field
            continue
        a, b = getattr(built, field.name), getattr(loaded, field.name)
        if field.name == "row":  # the light row against the ORM model: every attribute the builder kept
            for column in dataclasses.fields(a):
                assert_same(getattr(a, column.name), getattr(b, column.name), f"row.{column.name}")
        else:
            assert_same(a, b, field.name)


ID_OF = {"Content": lambda p: p.row.id, "Organization": lambda p: p.organization_id,
         "Viewer": lambda p: p.user_id, "User": lambda p: from_global_id(p.id)[1]}


@pytest.fixture
def parents(monkeypatch) -> list[tuple[str, Any, Any]]:
    """Each graft's parent as built from the row, beside the one its by-id loader builds in the same request."""
    seen: list[tuple[str, Any, Any]] = []
    original = grafts.run

    async def compared(prepared: Any, data: Any) -> Any:
        ctx = prepared.executor.context_value
        for job in prepared.jobs:
            type_name = job.parent_type.name
            id_ = ID_OF[type_name](job.source)
            loaded = (await grafts.PARENTS[type_name](ctx, [id_]))[id_]
            seen.append((type_name, job.source, loaded))
        return await original(prepared, data)
    monkeypatch.setattr(grafts, "run", compared)
    return seen


@pytest.fixture
def undeclared(app, monkeypatch):
    """Take a compiled field away (test only), so that it is grafted."""
    def take(type_name: str, field: str) -> None:
        monkeypatch.delitem(registry.OBJECTS[type_name].fields, field)
        fast_path(app).plans.clear()
    yield take
    monkeypatch.undo()
    fast_path(app).plans.clear()


async def test_parents_built_from_rows_equal_the_loaders_for_every_position(app, gql, resolvers_only, world,
                                                                            admin_db, parents, undeclared):
    await admin_db.execute("""update content set media_info = '{"container": "mp4", "width": 640}'::jsonb,
        failure_reason = 'none', upload_expires_at = now() where title = 'Item 1'""")
    undeclared("User", "name")
    item = await content_id(admin_db, "Item 1")
    documents = {
        # Content: a catalogue page, the item page, a purchase's item, a best seller (read in an aggregated
        # list's anonymous records), the item behind `node`; the creator (User) of each.
        """query P($slug: String!) { organization(slug: $slug) { contents(first: 20) { nodes { id
             media { container } creator { id name } } } } }""": {"slug": "shop"},
        """query I($id: ID!) { content(id: $id) { title media { width } creator { name } } }""": {"id": item},
        """query N($id: ID!) { node(id: $id) { ... on Content { title failureReason } } }""": {"id": item},
        """{ viewer { purchases(first: 20) { nodes { content { title media { container } } } } } }""": {},
        """query T($slug: String!) { organization(slug: $slug) { analytics { topContent(limit: 5) { purchases
             content { title media { container } } } } } }""": {"slug": "shop"},
        # Organization (its purchases are not compiled) and the signed-in Viewer (memberships neither).
        """query O($slug: String!) { organization(slug: $slug) { name purchases(first: 1) { totalCount } } }""":
            {"slug": "shop"},
        """{ viewer { name memberships { role } } }""": {},
    }
    for document, variables in documents.items():
        assert graft_sites(app, document), document
        for token in (world["owner"].token, world["customer"].token):
            await same_answer(app, gql, resolvers_only, document, variables, token)
    assert {type_name for type_name, _, _ in parents} == {"Content", "Organization", "Viewer", "User"}
    for _, built, loaded in parents:
        assert_same_parent(built, loaded)
    contents = [built for type_name, built, _ in parents if type_name == "Content"]
    assert all(isinstance(c.kind, ContentKind) and isinstance(c.row.status, ContentStatus) for c in contents)
    assert any(c.row.media_info == {"container": "mp4", "width": 640} and c.tags for c in contents)
    assert all(isinstance(c.row.thumbnails, list) and c.row.created_at.tzinfo is not None for c in contents)


async def test_a_type_without_rows_keeps_its_loader(app, gql, resolvers_only, world, monkeypatch):
    """Without ``from_row``, the parents are read by id, one batch per type (and a parent gone meanwhile sends
    the document to the resolvers)."""
    document = """query S($slug: String!) { organization(slug: $slug) { contents(first: 8) { nodes { title
      media { container } } } } }"""
    monkeypatch.delitem(grafts.FROM_ROW, "Content")
    fast_path(app).plans.clear()
    token = world["owner"].token
    await gql.ok(document, {"slug": "shop"}, token)
    async with statements(app) as seen:
        await gql.ok(document, {"slug": "shop"}, token)
    assert len(parent_reads(seen)) == 1 and "c__" not in compiled_statements(seen)[0], seen
    await same_answer(app, gql, resolvers_only, document, {"slug": "shop"}, token)

    async def gone(ctx: Any, ids: list[Any]) -> dict[Any, Any]:
        return {}
    monkeypatch.setitem(grafts.PARENTS, "Content", gone)
    body = await same_answer(app, gql, resolvers_only, document, {"slug": "shop"}, token)
    assert "errors" not in body
    monkeypatch.undo()
    fast_path(app).plans.clear()


async def test_a_builder_that_fails_leaves_the_document_to_the_resolvers(app, gql, resolvers_only, world, monkeypatch,
                                                                       caplog):
    def broken(values: tuple[Any, ...]) -> Any:
        raise AttributeError("no such column")

    declared = grafts.FROM_ROW["Content"]
    monkeypatch.setitem(grafts.FROM_ROW, "Content", grafts.FromRow(declared.columns, broken))
    body = await same_answer(app, gql, resolvers_only, STOREFRONT_MEDIA, {"slug": "shop", "first": 3},
                             world["owner"].token)
    assert "errors" not in body
    failures = [r for r in caplog.get_records("call") if r.levelname == "ERROR" and "from its row" in r.getMessage()]
    assert len(failures) == 1 and failures[0].exc_info is not None
    caplog.clear()  # logged on purpose: compiled_execution_never_fails would take it for a defect


# -- rows_of ------------------------------------------------------------------------------------------------

def test_rows_of_converts_as_the_orm_does():
    built: list[Any] = []
    content = graft_parents.rows_of(ContentModel, built.append)
    names = [name for name, _ in content.columns]
    assert sorted(names) == sorted(column.name for column in ContentModel.__table__.columns)
    sql = dict(content.columns)
    assert sql["tags"] == "array_to_json({t}.tags)::text" and sql["thumbnails"] == "({t}.thumbnails)::text"
    assert sql["kind"] == "{t}.kind"
    values: dict[str, Any] = dict.fromkeys(names)
    values |= {"kind": "AUDIO", "status": "PUBLISHED", "tags": '["a", "b"]', "thumbnails": '[{"width": 320}]',
               "media_info": "{}", "duration_seconds": 1.5}
    content.build(tuple(values[name] for name in names))
    row = built[0]
    assert row.kind is ContentKind.AUDIO and row.status is ContentStatus.PUBLISHED
    assert row.tags == ["a", "b"] and row.thumbnails == [{"width": 320}] and row.media_info == {}
    assert row.duration_seconds == 1.5 and row.failure_reason is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.title = "changed"
    with pytest.raises(AttributeError):
        row.password_hash  # noqa: B018  (only the model's columns)


def test_rows_of_reads_only_what_is_asked_and_refuses_what_it_cannot_read():
    from codex_graphql.accounts.models import User as UserModel
    from codex_graphql.accounts.types import User

    user = graft_parents.rows_of(UserModel, User.from_model, ("id", "name", "created_at"))
    assert sorted(name for name, _ in user.columns) == ["created_at", "id", "name"]
    assert "password_hash" not in {name for name, _ in grafts.FROM_ROW["Viewer"].columns}
    with pytest.raises(ValueError, match="no columns"):
        graft_parents.rows_of(UserModel, User.from_model, ("id", "nickname"))

    class Numbers:  # a mapped model with an array of integers (read as JSON text they would not come back)
        __mapper__ = SimpleNamespace(column_attrs=[SimpleNamespace(key="values",
                                                                    columns=[Column("values", ARRAY(Integer))])])

    with pytest.raises(ValueError, match="only arrays of text"):
        graft_parents.rows_of(Numbers, lambda row: row)
