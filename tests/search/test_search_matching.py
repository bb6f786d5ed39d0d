"""Organization.search: what matches and in which order. Weights (title over tags and creator over description
over article text), stemming in the organization's search language (and its change rebuilding the vectors),
typo tolerance for short queries, article text and creator names (and a creator's new name), snippets."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from tests.search.support import insert, search, titles

SETTINGS = """mutation($input: UpdateOrganizationSettingsInput!) { updateOrganizationSettings(input: $input) {
  errors { code field message } settings { searchLanguage } } }"""


async def test_title_outranks_tags_and_creator_outrank_description_outranks_article_text(db, gql, shop, factory):
    owner = shop["owner"]
    named = await factory.user(name="Yoga Yogananda")
    await insert(db, shop["org"], owner.user_id, [
        {"title": "Body match", "body": "A long article. " * 30 + "Then yoga, yoga and more yoga at the end."},
        {"title": "Description match", "description": "Gentle yoga for every morning."},
        {"title": "Tag match", "tags": ["yoga"]},
        {"title": "Morning Yoga", "description": "Stretching."},
        {"title": "Unrelated", "description": "Kettlebell swings."},
    ])
    await insert(db, shop["org"], named.user_id, [{"title": "Creator match", "description": "By a teacher."}])
    found = await search(gql, None, "yoga")
    assert titles(found)[0] == "Morning Yoga"
    assert set(titles(found)[1:3]) == {"Tag match", "Creator match"}
    assert titles(found)[3:] == ["Description match", "Body match"]
    ranks = [edge["node"]["rank"] for edge in found["edges"]]
    assert ranks == sorted(ranks, reverse=True) and ranks[0] > ranks[1] and ranks[2] > ranks[3] > ranks[4] > 0
    assert found["totalCount"] == 5


async def test_english_stemming_and_the_search_language_setting(db, gql, shop):
    owner = shop["owner"]
    await insert(db, shop["org"], owner.user_id, [{"title": "Run faster"}, {"title": "Swimming drills"}])
    assert titles(await search(gql, None, "running")) == ["Run faster"]  # english by default: running -> run
    assert titles(await search(gql, None, "swim")) == ["Swimming drills"]
    assert titles(await search(gql, None, "the drills")) == ["Swimming drills"]  # "the" is ignored
    assert (await search(gql, None, "the"))["edges"] == []  # only ignored words: nothing to find
    changed = await gql.ok(SETTINGS, {"input": {"searchLanguage": "SIMPLE"}}, owner.token)
    assert changed["updateOrganizationSettings"] == {"errors": [], "settings": {"searchLanguage": "SIMPLE"}}
    # The vectors were rebuilt in the organization's new configuration: words match as written.
    assert titles(await search(gql, None, "running")) == []
    assert titles(await search(gql, None, "run")) == ["Run faster"]
    assert titles(await search(gql, None, "swimming")) == ["Swimming drills"]
    await gql.ok(SETTINGS, {"input": {"searchLanguage": "ENGLISH"}}, owner.token)
    assert titles(await search(gql, None, "running")) == ["Run faster"]


async def test_language_enum_and_sql_mapping_agree():
    """Every SearchLanguage has a configuration in migration 0032's codex_search_config, under its lower-cased name."""
    import importlib.util
    from pathlib import Path

    from codex_graphql.org_settings.models import SearchLanguage

    path = next(Path(__file__).resolve().parents[2].glob("migrations/versions/*-0032_content_search.py"))
    spec = importlib.util.spec_from_file_location("migration_0032", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert list(module.LANGUAGES) == [language.value for language in SearchLanguage]
    for language in SearchLanguage:
        assert f"WHEN '{language.value}' THEN 'pg_catalog.{language.value.lower()}'::regconfig" in module.CONFIG


async def test_search_language_config_exists_for_every_language(admin_db):
    from codex_graphql.org_settings.models import SearchLanguage

    for language in SearchLanguage:
        config = await admin_db.fetchval("select codex_search_config(jsonb_build_object('search_language', $1::text))"
                                         "::text", language.value)
        assert config == language.value.lower()
    assert await admin_db.fetchval("select codex_search_config('{}'::jsonb)::text") == "english"


async def test_short_queries_tolerate_typos_only_when_nothing_matches(db, gql, shop):
    await insert(db, shop["org"], shop["owner"].user_id, [
        {"title": "Morning yoga flow"}, {"title": "Kettlebell basics"}, {"title": "Pilates", "tags": ["core"]}])
    for typo in ("yogaa", "yoda", "Yoga flw", "kettlebel"):
        found = await search(gql, None, typo)
        assert titles(found) and titles(found)[0] in ("Morning yoga flow", "Kettlebell basics"), typo
        assert "Pilates" not in titles(found), typo
        assert all(0.4 <= edge["node"]["rank"] <= 1 for edge in found["edges"]), found
    assert titles(await search(gql, None, "yogaa")) == ["Morning yoga flow"]
    # Long queries and queries with search syntax are not retried.
    assert titles(await search(gql, None, "yogaa flow for every single morning")) == []
    assert titles(await search(gql, None, '"yogaa"')) == []
    assert titles(await search(gql, None, "yogaa -pilates")) == []
    # An exact match wins alone: a Yoda item hides the typo fallback for "yoda".
    await insert(db, shop["org"], shop["owner"].user_id, [{"title": "Yoda figurine"}])
    assert titles(await search(gql, None, "yoda")) == ["Yoda figurine"]


async def test_article_text_and_creator_names_are_searched_and_kept_current(db, gql, shop, factory):
    author = await factory.user(name="Zanzibar Quokka")
    [article] = await insert(db, shop["org"], author.user_id, [
        {"title": "Field notes", "body": "We watched the axolotl regenerate."}])
    assert titles(await search(gql, None, "axolotl")) == ["Field notes"]
    assert titles(await search(gql, None, "quokka")) == ["Field notes"]
    # The creator's new name replaces the old one in every vector (trigger on user_account).
    async with db.transaction() as session:
        await session.execute(text("update user_account set name = 'Marmoset Jones' where id = :id"),
                              {"id": author.user_id})
    assert titles(await search(gql, None, "quokka")) == []
    assert titles(await search(gql, None, "marmoset")) == ["Field notes"]
    # A new body replaces the old text (trigger on article_body).
    await _set_body(db, shop["org"], article, "Now about the pangolin.")
    assert titles(await search(gql, None, "axolotl")) == []
    assert titles(await search(gql, None, "pangolin")) == ["Field notes"]


async def _set_body(db: Any, org: Any, content_id: Any, body: str) -> None:
    from sqlalchemy import update

    from codex_graphql.articles.models import ArticleBody
    from codex_graphql.db import TenantScope

    async with db.transaction(TenantScope(organization_id=org)) as session:
        await session.execute(update(ArticleBody).where(ArticleBody.content_id == content_id)
                              .values(plain_text=body))


async def test_headlines_mark_matches_and_escape_everything_else(db, gql, shop):
    owner = shop["owner"]
    await insert(db, shop["org"], owner.user_id, [
        {"title": "Unsafe", "description": 'Use 5 < 6 & <img src=x onerror=alert(1)> yoga "quoted" \ue000fake\ue001 <mark>'},
        {"title": "Yoga in the title only"},
        {"title": "Paywalled", "body": "The secret yoga sequence is sun, moon, star."},
    ])
    found = {edge["node"]["content"]["title"]: edge["node"]["headline"] for edge in (await search(gql, None, "yoga"))["edges"]}
    unsafe = found["Unsafe"]
    assert "<mark>yoga</mark>" in unsafe
    assert "5 &lt; 6 &amp; &lt;img src=x onerror=alert(1)&gt; <mark>yoga</mark> &quot;quoted&quot;" in unsafe
    assert unsafe.replace("<mark>", "").replace("</mark>", "").count("<") == 0  # no other tag
    assert "fake" in unsafe and unsafe.count("<mark>") == 1  # the marker characters in the text are dropped
    assert found["Yoga in the title only"] == "<mark>Yoga</mark> in the title only"
    # An article's text never appears in a snippet (it may be behind a paywall): its description, else its title.
    assert "secret" not in found["Paywalled"] and found["Paywalled"] == "Paywalled"
