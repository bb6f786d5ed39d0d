"""The database side of preview links (migration 0030): the holder's one read is ``codex_content_preview``, a
SECURITY DEFINER function that works under row-level security when its owner is not a superuser (as in
production: the tables' owner, under FORCE ROW LEVEL SECURITY), and the ``preview_by_token`` policy admits no
role the API runs as, whatever setting an injected statement makes."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from codex_graphql.db import APP_ROLE, TenantScope
from tests.conftest import API_ROLE
from tests.previews.support import created, draft, item_id, preview, sha256
from tests.support import make_actors

CALL = "select link_id, (item).id, (item).title, (item).status from public.codex_content_preview(:h)"


@pytest.fixture
async def shop(gql, factory, db):  # type: ignore[no-untyped-def]
    actors = await make_actors(factory)
    item = await draft(db, actors.org, actors.staff_with.user_id)
    made = await created(gql, actors.staff_with.token, item)
    return actors, item, made["token"]


async def test_the_function_is_definer_with_a_fixed_search_path_and_only_the_app_may_run_it(admin_db):
    row = await admin_db.fetchrow("select prosecdef, proconfig from pg_proc where proname = 'codex_content_preview'")
    assert row["prosecdef"] is True and row["proconfig"] == ["search_path=pg_catalog, pg_temp"]
    may = await admin_db.fetch("select r.rolname, has_function_privilege(r.oid, 'public.codex_content_preview(text)', "
                               "'EXECUTE') as may from pg_roles r where r.rolname in ($1, $2, 'pg_read_all_data')",
                               APP_ROLE, API_ROLE)
    assert {r["rolname"]: r["may"] for r in may} == {APP_ROLE: True, API_ROLE: False, "pg_read_all_data": False}


async def test_an_api_transaction_reads_one_live_item_and_nothing_else(db, shop):
    actors, item, token = shop
    async with db.transaction(TenantScope()) as session:  # the holder: no scope at all
        rows = (await session.execute(text(CALL), {"h": sha256(token)})).all()
        assert [(r[1], r[2], r[3]) for r in rows] == [(item_id(item), "Draft film", "READY")]
        for other in ("0" * 64, sha256(token).upper(), sha256(token)[:63], "", "' or true --"):
            assert (await session.execute(text(CALL), {"h": other})).all() == [], other
        # The draft itself, and the link row, stay out of reach of this transaction.
        assert (await session.execute(text("select count(*) from content where id = :i"),
                                      {"i": item_id(item)})).scalar_one() == 0
        assert (await session.execute(text("select count(*) from content_preview_link"))).scalar_one() == 0


async def test_an_injected_token_setting_admits_the_api_roles_to_nothing(db, shop):
    """``preview_by_token`` reads a plain setting, which any statement may make: it admits only roles other
    than the API's (the function's owner), so an API transaction setting the hash still sees no link."""
    actors, item, token = shop
    for scope in (TenantScope(), TenantScope(user_id=actors.customer.user_id),
                  TenantScope(user_id=actors.other_staff.user_id, organization_id=actors.other_org)):
        async with db.transaction(scope) as session:
            await session.execute(text("select set_config('codex.preview_token_hash', :h, true), "
                                       "set_config('codex.organization_id', :o, true)"),
                                  {"h": sha256(token), "o": str(actors.org)})
            assert (await session.execute(text("select count(*) from content_preview_link"))).scalar_one() == 0
            assert (await session.execute(text("select count(*) from content where id = :i"),
                                          {"i": item_id(item)})).scalar_one() == 0


async def test_the_function_puts_the_settings_it_changes_back(db, shop):
    actors, _, token = shop
    async with db.transaction(TenantScope(user_id=actors.staff_with.user_id, organization_id=actors.org)) as session:
        await session.execute(text("select set_config('codex.preview_token_hash', 'before', true)"))
        assert len((await session.execute(text(CALL), {"h": sha256(token)})).all()) == 1
        settings = (await session.execute(text(
            "select current_setting('codex.organization_id', true), current_setting('codex.preview_token_hash', true), "
            "codex_current_org()"))).one()
        assert tuple(settings) == (str(actors.org), "before", actors.org)


async def test_the_api_role_cannot_write_around_the_rules(db, shop):
    """Links are never deleted by the app (they go with their item), and never moved to another organization."""
    actors, _, _ = shop
    scope = TenantScope(user_id=actors.staff_with.user_id, organization_id=actors.org)
    with pytest.raises(DBAPIError, match="permission denied"):
        async with db.transaction(scope) as session:
            await session.execute(text("delete from content_preview_link"))
    with pytest.raises(DBAPIError, match="row-level security"):
        async with db.transaction(scope) as session:
            await session.execute(text("update content_preview_link set organization_id = :o"),
                                  {"o": actors.other_org})


async def test_a_non_superuser_owner_reads_through_the_policies(gql, admin_db, shop):
    """Production's owner is not a superuser and forced row-level security applies to it: the function must
    admit itself to the one link (``preview_by_token``) and to its organization's item (the plain organization
    setting). Here a role without BYPASSRLS owns the function; without the policy it would find nothing."""
    actors, item, token = shop
    role = f"codex_preview_owner_{uuid.uuid4().hex[:8]}"
    superuser = await admin_db.fetchval("select current_user")
    await admin_db.execute(f"CREATE ROLE {role} NOLOGIN NOSUPERUSER NOBYPASSRLS")
    try:
        assert await admin_db.fetchval("select rolbypassrls or rolsuper from pg_roles where rolname = $1", role) is False
        await admin_db.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
        await admin_db.execute(f"ALTER FUNCTION public.codex_content_preview(text) OWNER TO {role}")
        shown = await preview(gql, token)
        assert shown is not None and shown["title"] == "Draft film" and shown["status"] == "READY"
        assert await preview(gql, token[:-1] + ("A" if token[-1] != "A" else "B")) is None
        # The policy is what admits the owner to the link: without it the same call finds nothing.
        await admin_db.execute("ALTER POLICY preview_by_token ON content_preview_link USING (false)")
        assert await preview(gql, token) is None
    finally:
        await admin_db.execute(f"ALTER FUNCTION public.codex_content_preview(text) OWNER TO {superuser}")
        await admin_db.execute(f"DROP OWNED BY {role}")
        await admin_db.execute(f"DROP ROLE {role}")
