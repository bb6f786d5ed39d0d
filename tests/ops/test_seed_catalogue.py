"""The demo catalogue seed: real ffmpeg media through storage, processing, publishing, a local-checkout
purchase and a free claim, against a real database; idempotent; empty (with a log line) without ffmpeg."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path

import asyncpg
import pytest

from codex_graphql.db import Database
from codex_graphql.seed import (
    CUSTOMER_EMAIL,
    DEFAULT_DEMO_PASSWORD,
    DEMO_CATALOGUE,
    DEMO_CLAIM_TITLE,
    DEMO_PURCHASE_TITLE,
    DEMO_RESUME_SECONDS,
    seed_demo,
)
from codex_graphql.settings import Settings
from codex_graphql.storage.factory import build_storage
from tests.support import GraphQLClient

pytestmark = pytest.mark.timeout(110)

# Tables the seed writes, directly or through the services it calls.
TABLES = ("user_account", "organization", "organization_membership", "content", "content_entitlement",
          "checkout_session", "purchase", "playback_position", "stripe_event", "outbox_message",
          "audit_log_entry", "content_sales_summary", "customer_summary", "purchase_daily_stats")

STOREFRONT = """query {
  organization(slug: "demo") {
    contents(first: 50) {
      totalCount
      nodes { title kind status priceCents tags thumbnailUrl durationSeconds viewerHasAccess
              playbackPosition playback { url } }
    }
  }
  viewer { purchases(first: 10) { totalCount nodes { kind status amountCents } } }
}"""

ANALYTICS = """query {
  organization(slug: "demo") {
    analytics { purchaseCount customerCount totalRevenueCents revenueThisMonthCents
                topContent { revenueCents purchases content { title } } }
  }
}"""


async def seed(db: Database, settings: Settings):  # type: ignore[no-untyped-def]
    storage = build_storage(settings)
    try:
        return await seed_demo(db, storage=storage, settings=settings)
    finally:
        await storage.close()


async def snapshot(conn: asyncpg.Connection) -> dict[str, object]:
    counts = {table: await conn.fetchval(f"select count(*) from {table}") for table in TABLES}  # noqa: S608
    content = [tuple(r) for r in await conn.fetch(
        "select id, status, updated_at, published_at, thumbnails::text, duration_seconds from content order by id")]
    positions = [tuple(r) for r in await conn.fetch("select content_id, updated_at from playback_position order by 1")]
    return {"counts": counts, "content": content, "positions": positions}


async def login(gql: GraphQLClient, email: str) -> str:
    data = await gql.ok("mutation($e:String!,$p:String!){login(input:{email:$e,password:$p}){token errors{code}}}",
                        {"e": email, "p": DEFAULT_DEMO_PASSWORD})
    return data["login"]["token"]


async def test_seed_makes_a_catalogue_that_sells_and_runs_again_without_changes(settings, db, admin_db, gql, http):
    report = await seed(db, settings)
    assert report.problems == [] and not report.ffmpeg_missing
    created_content = [line for line in report.created if line.startswith("content ")]
    assert len(created_content) == len(DEMO_CATALOGUE) >= 6

    rows = await admin_db.fetch("select c.* from content c join organization o on o.id = c.organization_id "
                                "where o.slug = 'demo' and c.deleted_at is null")
    assert len(rows) == len(DEMO_CATALOGUE)
    assert {r["status"] for r in rows} == {"PUBLISHED"}
    assert {r["kind"] for r in rows} == {"VIDEO", "AUDIO"}
    assert any(r["price_cents"] == 0 for r in rows) and any(r["price_cents"] > 0 for r in rows)
    assert all(r["tags"] and r["published_at"] for r in rows)
    # Durations are ffprobe's (5-10 s files), not declared by the seed.
    assert all(5 <= r["duration_seconds"] <= 10 for r in rows), [r["duration_seconds"] for r in rows]
    assert all(json.loads(r["media_info"])["container"] for r in rows)
    storage = build_storage(settings)
    try:
        for row in rows:
            assert (await storage.head(row["storage_key"])).size == row["size_bytes"]
            # Processing makes thumbnails from a video frame or an audio file's cover art; they are in storage.
            thumbnails = json.loads(row["thumbnails"])
            if row["kind"] == "VIDEO":
                assert sorted(t["width"] for t in thumbnails) == [320, 320]  # 320 px sources are never upscaled
            else:
                assert sorted(t["width"] for t in thumbnails) == [320, 480]  # 480 px cover art
            for thumb in thumbnails:
                assert await storage.head(thumb["key"]) is not None
    finally:
        await storage.close()
    # Generated media lived in a temporary folder under DATA_DIR and is gone.
    assert not [p for p in Path(settings.data_dir).glob("demo-media-*")]

    # The customer: one paid purchase through the local checkout's webhook path, one free claim.
    purchases = await admin_db.fetch(
        "select p.kind, p.status, p.amount_cents, p.provider, p.payment_intent_id, p.content_title "
        "from purchase p join user_account u on u.id = p.user_id where u.email = $1 order by p.kind", CUSTOMER_EMAIL)
    assert [(p["kind"], p["status"], p["content_title"]) for p in purchases] == [
        ("FREE", "COMPLETED", DEMO_CLAIM_TITLE), ("PAID", "COMPLETED", DEMO_PURCHASE_TITLE)]
    paid = purchases[1]
    assert paid["provider"] == "local" and paid["payment_intent_id"].startswith("pi_local_")
    assert paid["amount_cents"] == next(i.price_cents for i in DEMO_CATALOGUE if i.title == DEMO_PURCHASE_TITLE)
    handled = await admin_db.fetchrow("select type, outcome, processed_at from stripe_event "
                                      "where type = 'checkout.session.completed'")
    assert (handled["type"], handled["outcome"]) == ("checkout.session.completed", "purchase_created")
    assert await admin_db.fetchval(
        "select count(*) from content_entitlement e join user_account u on u.id = e.user_id "
        "where u.email = $1 and e.revoked_at is null", CUSTOMER_EMAIL) == 2

    # GraphQL as the customer: the storefront, playback of the two owned items, the purchase history.
    customer = await login(gql, CUSTOMER_EMAIL)
    body = await gql(STOREFRONT, token=customer)
    data = body["data"]
    nodes = data["organization"]["contents"]["nodes"]
    assert data["organization"]["contents"]["totalCount"] == len(DEMO_CATALOGUE)
    assert all(n["durationSeconds"] and n["tags"] for n in nodes)
    assert all(n["thumbnailUrl"] for n in nodes)
    owned = {n["title"]: n for n in nodes if n["viewerHasAccess"]}
    assert set(owned) == {DEMO_PURCHASE_TITLE, DEMO_CLAIM_TITLE}
    assert owned[DEMO_PURCHASE_TITLE]["playbackPosition"] == DEMO_RESUME_SECONDS
    # Playback of the others is null with a FORBIDDEN error each, and nothing else went wrong.
    assert all(n["playback"] is None for n in nodes if not n["viewerHasAccess"])
    assert sorted((e["path"][3], e["path"][4], e["extensions"]["code"]) for e in body["errors"]) == sorted(
        (i, "playback", "FORBIDDEN") for i, n in enumerate(nodes) if not n["viewerHasAccess"])
    media = await http.get(owned[DEMO_PURCHASE_TITLE]["playback"]["url"])
    assert media.status_code == 200 and media.content[4:8] == b"ftyp"  # an MP4 as stored
    history = data["viewer"]["purchases"]
    assert history["totalCount"] == 2
    assert sorted(p["kind"] for p in history["nodes"]) == ["FREE", "PAID"]

    # Analytics of the demo organization are not empty on the first start.
    owner = await login(gql, "owner@codex.local")
    stats = (await gql.ok(ANALYTICS, token=owner, headers={"x-codex-organization": "demo"}))["organization"]["analytics"]
    assert stats["purchaseCount"] == 2 and stats["customerCount"] == 1
    assert stats["totalRevenueCents"] == paid["amount_cents"] == stats["revenueThisMonthCents"]
    assert stats["topContent"][0]["content"]["title"] == DEMO_PURCHASE_TITLE

    # Running it again creates nothing and touches nothing.
    before = await snapshot(admin_db)
    again = await seed(db, settings)
    assert again.created == [] and again.problems == []
    assert await snapshot(admin_db) == before


async def test_seed_resumes_an_interrupted_run(settings, db, admin_db):
    """A run stopped after creating rows (an upload never completed, an item still PROCESSING) is finished
    by the next run, with exactly one live item per title and still exactly two customer items."""
    await seed(db, settings)
    await admin_db.execute("update content set status = 'UPLOADING' where title = $1", "Game of Life")
    await admin_db.execute("update content set status = 'PROCESSING', thumbnails = '[]', duration_seconds = null, "
                           "published_at = null where title = $1", "Pink Noise for Focus")
    report = await seed(db, settings)
    assert report.created == ["content 'Game of Life' (VIDEO, 299 cents)"], report.created
    live = await admin_db.fetch("select title, status, duration_seconds from content where deleted_at is null")
    assert sorted(r["title"] for r in live) == sorted(i.title for i in DEMO_CATALOGUE)
    assert {r["status"] for r in live} == {"PUBLISHED"} and all(r["duration_seconds"] for r in live)
    assert await admin_db.fetchval("select count(*) from content where deleted_at is not null") == 1
    assert await admin_db.fetchval("select count(*) from purchase") == 2


async def test_seed_does_not_republish_or_rebuy_what_staff_changed(settings, db, admin_db):
    """Unpublishing a demo item or refunding the demo purchase sticks: the next start keeps it that way."""
    await seed(db, settings)
    await admin_db.execute("update content set status = 'READY' where title = $1", "Major Third Chime")
    await admin_db.execute("update purchase set status = 'REFUNDED', refunded_at = now() where kind = 'PAID'")
    await admin_db.execute("update content_entitlement set revoked_at = now() where source = 'PURCHASE'")
    report = await seed(db, settings)
    assert report.created == []
    assert await admin_db.fetchval("select status from content where title = $1", "Major Third Chime") == "READY"
    assert await admin_db.fetchval("select count(*) from purchase") == 2


async def test_seed_without_ffmpeg_logs_and_leaves_the_catalogue_empty(settings, db, admin_db, tmp_path, monkeypatch,
                                                                       caplog):
    bare_bin = tmp_path / "bin-without-ffmpeg"
    bare_bin.mkdir()
    monkeypatch.setenv("PATH", str(bare_bin))
    caplog.set_level(logging.INFO, logger="codex_graphql.seed")
    report = await seed(db, settings)
    assert report.ffmpeg_missing
    messages = [r.getMessage() for r in caplog.records if r.name == "codex_graphql.seed"]
    assert messages == ["seed: ffmpeg/ffprobe not found on PATH, so the demo catalogue stays empty; "
                        "install ffmpeg and run `codex-graphql seed` again"]
    assert await admin_db.fetchval("select count(*) from content") == 0
    assert await admin_db.fetchval("select count(*) from purchase") == 0
    # The rest of the seed still ran: accounts, organization, memberships.
    assert await admin_db.fetchval("select count(*) from user_account") == 3
    assert await admin_db.fetchval("select count(*) from organization_membership") == 2
    assert not Path(settings.data_dir).exists() or not list(Path(settings.data_dir).glob("demo-media-*"))
    assert os.environ["PATH"] == str(bare_bin)



async def test_an_item_ffmpeg_cannot_make_is_reported_and_the_rest_is_seeded(settings, db, admin_db, monkeypatch):
    from codex_graphql import seed as seed_module

    good = next(i for i in DEMO_CATALOGUE if i.title == DEMO_CLAIM_TITLE)
    broken = dataclasses.replace(good, title="Broken Item", filename="broken.mp3",
                                 ffmpeg_args=("-f", "lavfi", "-i", "no_such_filter=1"))
    monkeypatch.setattr(seed_module, "DEMO_CATALOGUE", (broken, good))
    report = await seed(db, settings)
    assert len(report.problems) == 1 and report.problems[0].startswith("content 'Broken Item': ffmpeg could not make")
    rows = await admin_db.fetch("select title, status from content")
    assert [(r["title"], r["status"]) for r in rows] == [(DEMO_CLAIM_TITLE, "PUBLISHED")]
    assert await admin_db.fetchval("select count(*) from purchase where kind = 'FREE'") == 1
