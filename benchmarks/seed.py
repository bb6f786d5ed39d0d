"""Deterministic benchmark data for the performance harness (not part of the test suite).

    .venv/bin/python benchmarks/seed.py --scale small|medium|large \\
        --admin-url postgresql://postgres@127.0.0.1:55432/postgres [--database codex_bench_<scale>]

Drops and recreates the database, migrates it (``alembic upgrade head``), seeds it and writes
``benchmarks/.data/fixture-<scale>.json`` (the organization, tokens and ids the operations in
``workload.py`` need). ``seed_into(conn, scale)`` seeds an already-migrated database.

Everything comes from ``random.Random("codex-bench:<scale>")``: ids, tokens, titles, prices and times
(relative to ``ANCHOR``, spread over the year before it), so a scale always produces the same rows, and
the scales never share a token (a session cached in Redis by one scale cannot be mistaken for another).
Only the password hash differs between runs (argon2 salts itself); every account has ``PASSWORD``.

Rows go in with COPY (asyncpg ``copy_records_to_table``) as a superuser, so row-level security is not in
the way. The purchase insert trigger is disabled during the load; ``analytics_rebuild(org)`` then
computes the summaries per organization, the way ops would after any bulk import, and ``ANALYZE`` runs.

What is seeded: organizations with an OWNER, an ADMIN, three CREATORs and a MEMBER each; content (about
88% published and listed, some published unlisted, READY, PROCESSING or FAILED; videos with the two
thumbnails the media pipeline writes) made by the owner and creators; customers (most email-verified,
one live session each); purchases of published items (PAID, FREE for free items, some GRANTs, about 4% of
paid ones REFUNDED) with their entitlements as the commerce service writes them. The "bench customer"
owns 50 completed purchases across several organizations (10 of them among the 50 newest listed items of
the first organization, so ``viewerHasAccess`` is mixed on that storefront page) and 2 refunded ones.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import bisect
import json
import os
import random
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from codex_graphql.accounts.security import hash_password, token_hash  # noqa: E402
from codex_graphql.relay import to_global_id  # noqa: E402

ANCHOR = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
HISTORY = timedelta(days=365)
PASSWORD = "benchmark password 1"
DATA_DIR = Path(__file__).resolve().parent / ".data"
DEFAULT_ADMIN_URL = os.environ.get("BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:55432/postgres")
BATCH = 100_000


@dataclass(frozen=True)
class Scale:
    orgs: int
    content: int
    customers: int
    purchases: int


SCALES = {
    "small": Scale(orgs=1, content=200, customers=1_000, purchases=5_000),
    "medium": Scale(orgs=20, content=20_000, customers=10_000, purchases=100_000),
    "large": Scale(orgs=20, content=20_000, customers=10_000, purchases=1_000_000),
}

ORG_COLUMNS = ("id", "slug", "name", "timezone", "creator_share_percent", "created_at")
USER_COLUMNS = ("id", "email", "name", "password_hash", "platform_role", "email_verified_at", "created_at")
MEMBER_COLUMNS = ("id", "organization_id", "user_id", "role", "created_at")
CONTENT_COLUMNS = ("id", "organization_id", "creator_id", "kind", "status", "title", "description", "price_cents",
                   "currency", "tags", "failure_reason", "duration_seconds", "media_info", "thumbnails", "storage_key",
                   "mime_type", "original_filename", "size_bytes", "created_at", "updated_at", "published_at", "listed")
PURCHASE_COLUMNS = ("id", "organization_id", "user_id", "content_id", "creator_id", "content_title", "kind", "status",
                    "amount_cents", "tax_cents", "currency", "creator_share_cents", "provider", "provider_session_id",
                    "payment_intent_id", "customer_email", "refunded_at", "refund_reason", "refund_requested_at",
                    "granted_by_id", "note", "created_at", "updated_at")
ENTITLEMENT_COLUMNS = ("id", "organization_id", "user_id", "content_id", "source", "source_id", "revoked_at", "created_at")
SESSION_COLUMNS = ("id", "user_id", "token_hash", "expires_at", "active_organization_id", "user_agent", "ip_address",
                   "created_at")
POSITION_COLUMNS = ("user_id", "content_id", "organization_id", "position_seconds", "updated_at")

ORG_NAMES = ("Bench Studio", "Northwind Media", "Blue Heron Films", "Lumen Academy", "Copper Kettle Kitchen",
             "Tidewater Sound", "Granite Peak Fitness", "Paper Lantern Arts", "Quiet Hour Podcasts", "Redline Motors TV",
             "Saffron Yoga", "Orbit Code School", "Wildflower Music", "Harbor Light Docs", "Ember Craft Co",
             "Atlas Language Lab", "Velvet Room Comedy", "Cedar & Pine Woodworking", "Nimbus Photo", "Marigold Garden")
TIMEZONES = ("America/New_York", "Europe/Paris", "America/Los_Angeles", "UTC", "Asia/Tokyo", "Australia/Sydney",
             "America/Chicago", "Europe/London")
FIRST = ("Ada", "Ben", "Chloe", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemi", "Liam", "Maya",
         "Noor", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tara", "Uma", "Victor", "Wen", "Yusuf", "Zoe")
LAST = ("Okafor", "Lindqvist", "Moreau", "Tanaka", "Alvarez", "Novak", "Haddad", "Kowalski", "Brennan", "Silva",
        "Nakamura", "Osei", "Petrov", "Rahman", "Schmidt", "Walsh", "Yilmaz", "Zhang", "Dubois", "Costa")
ADJECTIVES = ("Practical", "Advanced", "Gentle", "Complete", "Essential", "Hidden", "Modern", "Classic", "Quick",
              "Deep", "Honest", "Unplugged", "Everyday", "Fearless", "Slow", "Bold")
TOPICS = ("Sourdough Baking", "Watercolor Landscapes", "Jazz Piano", "Python Testing", "Trail Running",
          "Home Recording", "Portrait Lighting", "Yoga for Runners", "Film Noir", "Small Business Bookkeeping",
          "Knife Skills", "Street Photography", "Modular Synths", "Spanish Conversation", "Woodturning",
          "Stand-up Writing", "Mountain Ecology", "Data Visualization", "Vocal Warmups", "Garden Design")
FORMATS = ("Masterclass", "Workshop", "Episode", "Session", "Lesson", "Live Set", "Interview", "Walkthrough")
EXTRA_TAGS = ("beginner", "intermediate", "advanced", "live", "tutorial", "behind-the-scenes", "q-and-a", "series",
              "short", "long-form", "premium", "community-favorite")
SENTENCES = ("A hands-on {topic} {format} that starts from the basics and ends with something you can use.",
             "Recorded in one take, with every mistake left in so you can see how to recover.",
             "Includes the worksheet and the full list of gear used.",
             "Part of an ongoing series; each episode stands on its own.",
             "We cover the three things that matter most in {topic} and skip the rest.",
             "Best watched with a notebook nearby.",
             "Filmed on location, with notes on everything that went wrong.")
PRICES = (199, 499, 499, 999, 999, 1499, 1999, 2999, 4999)


@dataclass(frozen=True, slots=True)
class Org:
    id: uuid.UUID
    slug: str
    name: str
    timezone: str
    share_percent: int
    owner_id: uuid.UUID
    creator_ids: tuple[uuid.UUID, ...]


@dataclass(frozen=True, slots=True)
class Item:
    """A published content item, what purchases need of it."""

    id: uuid.UUID
    number: int  # position in Generator.items
    org: int
    creator_id: uuid.UUID
    title: str
    price: int
    kind: str
    created_at: datetime
    published_at: datetime
    listed: bool
    has_thumbnails: bool


def url_token(rng: random.Random) -> str:
    return base64.urlsafe_b64encode(rng.randbytes(32)).rstrip(b"=").decode()


class Generator:
    """Builds every row of one scale from one seeded random stream. The base rows (organizations, people,
    content, sessions) are built on construction; purchases are drawn afterwards, batch by batch, from
    the same stream, so two generators of one scale give identical rows."""

    def __init__(self, scale: str, password_hash: str) -> None:
        self.scale_name = scale
        self.scale = SCALES[scale]
        self.rng = random.Random(f"codex-bench:{scale}")  # noqa: S311 (reproducible data, not secrets)
        self.password_hash = password_hash
        self.orgs_rows: list[tuple[Any, ...]] = []
        self.users: list[tuple[Any, ...]] = []
        self.members: list[tuple[Any, ...]] = []
        self.content: list[tuple[Any, ...]] = []
        self.sessions: list[tuple[Any, ...]] = []
        self.positions: list[tuple[Any, ...]] = []
        self.orgs: list[Org] = []
        self.items: list[Item] = []
        self.customers: list[tuple[uuid.UUID, str, datetime]] = []  # id, email, signed up
        self._build_orgs()
        self._build_customers()
        self._build_content()
        self._build_bench_customer()

    # --- helpers -------------------------------------------------------------------------------------------

    def uuid(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def moment(self, start: datetime, end: datetime) -> datetime:
        span = int((end - start) / timedelta(microseconds=1))
        return start + timedelta(microseconds=self.rng.randrange(max(1, span)))

    def person(self, email: str, created_at: datetime, verified: bool) -> uuid.UUID:
        user_id = self.uuid()
        name = f"{self.rng.choice(FIRST)} {self.rng.choice(LAST)}"
        verified_at = created_at + timedelta(minutes=self.rng.randrange(1, 600)) if verified else None
        self.users.append((user_id, email, name, self.password_hash, "CUSTOMER", verified_at, created_at))
        return user_id

    def session(self, user_id: uuid.UUID, created_at: datetime, active_org: uuid.UUID | None) -> str:
        token = url_token(self.rng)
        self.sessions.append((self.uuid(), user_id, token_hash(token), ANCHOR + timedelta(days=3650), active_org,
                              "codex-bench", "127.0.0.1", created_at))
        return token

    # --- base rows -----------------------------------------------------------------------------------------

    def _build_orgs(self) -> None:
        start = ANCHOR - HISTORY - timedelta(days=60)
        for n in range(self.scale.orgs):
            name = ORG_NAMES[n % len(ORG_NAMES)] + (f" {n // len(ORG_NAMES) + 1}" if n >= len(ORG_NAMES) else "")
            slug = "bench" if n == 0 else f"bench-{n:02d}"
            created = self.moment(start, start + timedelta(days=30))
            org_id = self.uuid()
            timezone = TIMEZONES[n % len(TIMEZONES)]
            share = self.rng.choice((100, 80, 70))
            self.orgs_rows.append((org_id, slug, name, timezone, share, created))
            email = "owner@bench.example" if n == 0 else f"owner@{slug}.bench.example"
            roles = [("OWNER", email), ("ADMIN", f"admin@{slug}.bench.example")]
            roles += [("CREATOR", f"creator{k}@{slug}.bench.example") for k in range(1, 4)]
            roles.append(("MEMBER", f"member@{slug}.bench.example"))
            staff: dict[str, list[uuid.UUID]] = {}
            for role, address in roles:
                user_id = self.person(address, created, verified=True)
                self.members.append((self.uuid(), org_id, user_id, role, created))
                staff.setdefault(role, []).append(user_id)
            owner = staff["OWNER"][0]
            self.orgs.append(Org(org_id, slug, name, timezone, share, owner, (owner, *staff["CREATOR"])))
        self.owner_token = self.session(self.orgs[0].owner_id, ANCHOR - timedelta(days=1), self.orgs[0].id)

    def _build_customers(self) -> None:
        # Everyone signed up before the year of sales, so sales do not bunch up towards the anchor as
        # buyers arrive (each item sells at a steady rate, see purchase_batches).
        start = ANCHOR - HISTORY - timedelta(days=180)
        for n in range(self.scale.customers):
            email = "customer@bench.example" if n == 0 else f"customer{n:05d}@bench.example"
            created = self.moment(start, ANCHOR - HISTORY)
            user_id = self.person(email, created, verified=n == 0 or self.rng.random() < 0.85)
            self.customers.append((user_id, email, created))
            if n == 0:
                self.customer_token = self.session(user_id, ANCHOR - timedelta(days=1), None)
            else:
                self.session(user_id, self.moment(created, ANCHOR), None)

    def _build_content(self) -> None:
        per_org, extra = divmod(self.scale.content, self.scale.orgs)
        for index, org in enumerate(self.orgs):
            for n in range(per_org + (1 if index < extra else 0)):
                self._content_row(index, org, n + 1)

    def _content_row(self, index: int, org: Org, number: int) -> None:
        rng = self.rng
        content_id = self.uuid()
        kind = "VIDEO" if rng.random() < 0.7 else "AUDIO"
        roll = rng.random()
        status, listed = ("PUBLISHED", True) if roll < 0.88 else ("PUBLISHED", False) if roll < 0.92 else \
            ("READY", True) if roll < 0.98 else ("PROCESSING", True) if roll < 0.99 else ("FAILED", True)
        topic = rng.choice(TOPICS)
        fmt = rng.choice(FORMATS)
        title = f"{rng.choice(ADJECTIVES)} {topic}: {fmt} {number}"
        description = " ".join(s.format(topic=topic.lower(), format=fmt.lower())
                               for s in rng.sample(SENTENCES, rng.randint(2, 3)))
        tags = [topic.lower().replace(" ", "-"), *rng.sample(EXTRA_TAGS, rng.randint(0, 3))]
        price = 0 if rng.random() < 0.1 else rng.choice(PRICES)
        created = self.moment(ANCHOR - HISTORY, ANCHOR - timedelta(hours=2))
        processed = status in ("READY", "PUBLISHED")
        duration = round(rng.uniform(60, 5400) if kind == "VIDEO" else rng.uniform(120, 3600), 3) if processed else None
        folder = f"orgs/{org.id}/content/{content_id}"
        extension, mime = ("mp4", "video/mp4") if kind == "VIDEO" else ("mp3", "audio/mpeg")
        bit_rate = rng.choice((2_500_000, 5_000_000, 8_000_000)) if kind == "VIDEO" else rng.choice((128_000, 192_000))
        size = int((duration or 600) * bit_rate / 8)
        thumbnails, media = [], {}
        if processed and kind == "VIDEO":
            thumbnails = [{"key": f"{folder}/thumb-320.jpg", "width": 320, "height": 180},
                          {"key": f"{folder}/thumb-1280.jpg", "width": 1280, "height": 720}]
            media = {"container": "mov,mp4,m4a,3gp,3g2,mj2", "video_codec": "h264", "audio_codec": "aac",
                     "width": 1920, "height": 1080, "bit_rate": bit_rate}
        elif processed:
            media = {"container": "mp3", "video_codec": None, "audio_codec": "mp3", "width": None, "height": None,
                     "bit_rate": bit_rate}
        published = created + timedelta(minutes=rng.randrange(10, 3 * 24 * 60)) if status == "PUBLISHED" else None
        if published is not None:
            published = min(published, ANCHOR - timedelta(hours=1))
        creator = rng.choice(org.creator_ids)
        filename = topic.lower().replace(" ", "_") + f"_{number}.{extension}"
        self.content.append((
            content_id, org.id, creator, kind, status, title, description, price, "USD", tags,
            "The media has no duration." if status == "FAILED" else None, duration, json.dumps(media),
            json.dumps(thumbnails), f"{folder}/original.{extension}", mime, filename, size, created,
            published or created, published, listed,
        ))
        if published is not None:
            self.items.append(Item(content_id, len(self.items), index, creator, title, price, kind, created, published,
                                   listed, bool(thumbnails)))

    def _build_bench_customer(self) -> None:
        """50 completed purchases across up to 8 organizations, 10 of them among the first storefront page
        (the 50 newest listed items of the first organization), and 2 refunded ones."""
        rng = self.rng
        front = sorted((i for i in self.items if i.org == 0 and i.listed), key=lambda i: (i.created_at, i.id),
                       reverse=True)[:50]
        self.entitled = next(i for i in front if i.kind == "VIDEO" and i.has_thumbnails)
        on_page = [self.entitled, *rng.sample([i for i in front if i is not self.entitled], 9)]
        page_ids = {i.id for i in front}
        elsewhere: dict[int, list[Item]] = {}
        for item in self.items:
            if item.id not in page_ids:
                elsewhere.setdefault(item.org, []).append(item)
        orgs = sorted(elsewhere)[:8]
        chosen: list[Item] = []
        for n in range(42):
            pool = elsewhere[orgs[n % len(orgs)]]
            chosen.append(pool.pop(rng.randrange(len(pool))))
        user_id, email, _ = self.customers[0]
        self.bench_rows: list[tuple[tuple[Any, ...], tuple[Any, ...]]] = []
        for n, item in enumerate(on_page + chosen):
            refunded = n >= 50
            kind = "FREE" if item.price == 0 else "PAID"
            self.bench_rows.append(self.purchase(user_id, email, item, self.moment(item.published_at, ANCHOR), kind,
                                                 refunded and kind == "PAID"))
        # Who bought what, as buyer * len(items) + item number (customer 0 is the bench customer).
        self.taken = {item.number for item in on_page + chosen}
        self.positions.append((user_id, self.entitled.id, self.orgs[0].id, 42.5, ANCHOR - timedelta(days=2)))

    # --- purchases -----------------------------------------------------------------------------------------

    def purchase(self, user_id: uuid.UUID, email: str, item: Item, created: datetime, kind: str,
                 refunded: bool) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        """One purchase row and its entitlement row, as checkout, claimFreeContent or grantAccess write them."""
        rng = self.rng
        org = self.orgs[item.org]
        purchase_id = self.uuid()
        amount = tax = share = 0
        provider = session_id = intent = customer_email = granted_by = note = None
        if kind == "PAID":
            tax = item.price * rng.choice((0, 0, 0, 8, 20)) // 100
            amount = item.price + tax
            share = min(amount, (amount - tax) * org.share_percent // 100)
            provider, customer_email = "local", email
            session_id, intent = f"cs_bench_{purchase_id.hex}", f"pi_bench_{purchase_id.hex}"
        elif kind == "GRANT":
            granted_by, note = org.owner_id, "Complimentary access"
        refunded_at = None
        if refunded:  # within 30 days of the purchase, and before the anchor
            window = min(30 * 86400, int((ANCHOR - created).total_seconds()))
            refunded_at = created + timedelta(seconds=rng.randrange(max(1, window)))
        row = (purchase_id, org.id, user_id, item.id, item.creator_id, item.title, kind,
               "REFUNDED" if refunded else "COMPLETED", amount, tax, "USD", share, provider, session_id, intent,
               customer_email, refunded_at, "requested_by_customer" if refunded else None, refunded_at, granted_by,
               note, created, refunded_at or created)
        source = {"PAID": "PURCHASE", "FREE": "FREE", "GRANT": "GRANT"}[kind]
        entitlement = (self.uuid(), org.id, user_id, item.id, source, purchase_id, refunded_at, created)
        return row, entitlement

    def purchase_batches(self, size: int = BATCH) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
        """The bench customer's purchases, then the rest drawn at random, in batches of ``size``. Item
        popularity is skewed (``(rank + 50) ** -0.7``) and scaled by how long the item has been on sale, so
        each item sells at a steady rate from publication to the anchor; nobody buys the same item twice."""
        rng = self.rng
        yield [p for p, _ in self.bench_rows], [e for _, e in self.bench_rows]
        items = list(self.items)
        rng.shuffle(items)
        cumulative: list[float] = []
        total = 0.0
        for rank, item in enumerate(items):
            total += (rank + 50) ** -0.7 * ((ANCHOR - item.published_at) / HISTORY)
            cumulative.append(total)
        buyers = self.customers
        taken, width = self.taken, len(self.items)
        remaining = self.scale.purchases - len(self.bench_rows)
        while remaining > 0:
            rows: list[tuple[Any, ...]] = []
            entitlements: list[tuple[Any, ...]] = []
            for _ in range(min(size, remaining)):
                while True:
                    item = items[bisect.bisect(cumulative, rng.random() * total)]
                    buyer = 1 + rng.randrange(len(buyers) - 1)
                    key = buyer * width + item.number
                    if key not in taken:
                        break
                taken.add(key)
                user_id, email, signed_up = buyers[buyer]
                roll = rng.random()
                kind = "GRANT" if roll < 0.03 else "FREE" if item.price == 0 else "PAID"
                refunded = kind == "PAID" and rng.random() < 0.045
                created = self.moment(max(item.published_at, signed_up), ANCHOR)
                row, entitlement = self.purchase(user_id, email, item, created, kind, refunded)
                rows.append(row)
                entitlements.append(entitlement)
            remaining -= len(rows)
            yield rows, entitlements

    def fixture(self, database_name: str, database_url: str) -> dict[str, Any]:
        anchor_day = ANCHOR.date()
        return {
            "scale": self.scale_name,
            "database_name": database_name,
            "database_url": database_url,
            "org_slug": self.orgs[0].slug,
            "customer_token": self.customer_token,
            "owner_token": self.owner_token,
            "entitled_content_id": to_global_id("Content", self.entitled.id),
            "dashboard_range": {"from": (anchor_day - timedelta(days=29)).isoformat(), "to": anchor_day.isoformat()},
            "anchor": ANCHOR.isoformat(),
            "counts": {"orgs": self.scale.orgs, "content": self.scale.content, "customers": self.scale.customers,
                       "purchases": self.scale.purchases},
            "customer_email": self.customers[0][1],
            "owner_email": "owner@bench.example",
            "password": PASSWORD,
            "customer_purchases": len(self.bench_rows),
        }


async def _enable_statement_stats(conn: asyncpg.Connection) -> None:
    """pg_stat_statements for the harness, where it can work (the benchmark cluster preloads it)."""
    available = await conn.fetchval("select count(*) from pg_available_extensions where name = 'pg_stat_statements'")
    if available:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")


def _url_of(conn: asyncpg.Connection, database: str) -> str:
    # asyncpg keeps the address and user only in private attributes; callers that know the URL pass it.
    host, port = conn._addr if isinstance(conn._addr, tuple) else ("127.0.0.1", 5432)
    return f"postgresql://{conn._params.user}@{host}:{port}/{database}"


async def seed_into(conn: asyncpg.Connection, scale: str, *, database_url: str | None = None,
                    timings: dict[str, float] | None = None) -> dict[str, Any]:
    """Seed ``scale`` into the migrated, empty database ``conn`` (a superuser connection) is on and return
    the fixture. ``timings`` (if given) receives the seconds spent per phase."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; use one of {', '.join(SCALES)}")
    if await conn.fetchval("select count(*) from organization"):
        raise RuntimeError("the database already has organizations; seed an empty one")
    timings = timings if timings is not None else {}
    started = time.perf_counter()
    data = Generator(scale, await hash_password(PASSWORD))
    timings["generate_base"] = time.perf_counter() - started
    await _enable_statement_stats(conn)
    started = time.perf_counter()
    async with conn.transaction():
        for table, columns, records in (("organization", ORG_COLUMNS, data.orgs_rows),
                                        ("user_account", USER_COLUMNS, data.users),
                                        ("organization_membership", MEMBER_COLUMNS, data.members),
                                        ("content", CONTENT_COLUMNS, data.content),
                                        ("user_session", SESSION_COLUMNS, data.sessions),
                                        ("playback_position", POSITION_COLUMNS, data.positions)):
            await conn.copy_records_to_table(table, columns=columns, records=records)
        await conn.execute("ALTER TABLE purchase DISABLE TRIGGER analytics_purchase_inserted")
        for purchases, entitlements in data.purchase_batches():
            await conn.copy_records_to_table("purchase", columns=PURCHASE_COLUMNS, records=purchases)
            await conn.copy_records_to_table("content_entitlement", columns=ENTITLEMENT_COLUMNS, records=entitlements)
        await conn.execute("ALTER TABLE purchase ENABLE TRIGGER analytics_purchase_inserted")
        timings["load"] = time.perf_counter() - started
        started = time.perf_counter()
        for org in data.orgs:
            # The rebuild function checks the transaction's organization (it runs as the tables' owner).
            await conn.execute("select set_config('codex.organization_id', $1, true)", str(org.id))
            await conn.execute("select analytics_rebuild($1)", org.id)
        timings["rebuild"] = time.perf_counter() - started
    started = time.perf_counter()
    await conn.execute("ANALYZE")
    timings["analyze"] = time.perf_counter() - started
    database = await conn.fetchval("select current_database()")
    return data.fixture(database, database_url or _url_of(conn, database))


def fixture_path(scale: str) -> Path:
    return DATA_DIR / f"fixture-{scale}.json"


async def create_database(admin_url: str, name: str) -> str:
    """Drop and recreate ``name`` next to ``admin_url``'s database and migrate it; returns its URL."""
    from alembic import command
    from alembic.config import Config

    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = admin_url.rpartition("/")[0] + "/" + name
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["url"] = url
    config.attributes["skip_logging"] = True
    await asyncio.to_thread(command.upgrade, config, "head")
    return url


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=tuple(SCALES), required=True)
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL, help="superuser URL (default %(default)s)")
    parser.add_argument("--database", help="database to (re)create (default codex_bench_<scale>)")
    parser.add_argument("--fixture", type=Path, help="where to write the fixture (default benchmarks/.data/fixture-<scale>.json)")
    args = parser.parse_args()
    name = args.database or f"codex_bench_{args.scale}"
    if not name.replace("_", "").isalnum():
        parser.error("--database: letters, digits and underscores only")
    began = time.perf_counter()
    url = await create_database(args.admin_url, name)
    timings = {"create_and_migrate": time.perf_counter() - began}
    conn = await asyncpg.connect(url)
    try:
        fixture = await seed_into(conn, args.scale, database_url=url, timings=timings)
    finally:
        await conn.close()
    timings["total"] = time.perf_counter() - began
    target = args.fixture or fixture_path(args.scale)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(fixture, indent=2) + "\n")
    print(f"seeded {args.scale} into {url}: " + ", ".join(f"{k} {v:,}" for k, v in fixture["counts"].items()))
    print("timings (s): " + "  ".join(f"{k} {v:.1f}" for k, v in timings.items()))
    print(f"fixture: {target}")


if __name__ == "__main__":
    asyncio.run(main())
