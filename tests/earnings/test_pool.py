"""The subscription pool (earnings/pool.py): the pure division over generated periods (parts add up to the
revenue, each creator gets the floor of their exact share), then a month closed against real PostgreSQL: two
creators and a co-creator, plays by subscribers, a lapsed subscriber and a buyer who never subscribed, two
currencies; the ledger's SUBSCRIPTION rows, the period row and the summaries the triggers keep; a second run,
sequential or concurrent, writes nothing; unfinished months and organizations without a pool are not closed."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codex_graphql.authz import OrgRole
from codex_graphql.cli import main as cli_main
from codex_graphql.earnings import pool
from codex_graphql.earnings.pool import PoolItem, divide_pool
from codex_graphql.earnings.service import set_platform_fee
from codex_graphql.relay import decode_id
from tests.support import Factory, Person
from tests.support.commerce import insert_content

USERS = [uuid.UUID(int=n) for n in range(1, 7)]
ITEMS = [uuid.UUID(int=100 + n) for n in range(8)]

SETTINGS = """mutation($input: UpdateOrganizationSettingsInput!) { updateOrganizationSettings(input: $input) {
  errors { code field message } settings { creatorPoolPercent } } }"""


@st.composite
def pool_items(draw: st.DrawFn) -> list[PoolItem]:
    items = []
    for content_id in draw(st.lists(st.sampled_from(ITEMS), unique=True, max_size=6)):
        co_creators = draw(st.lists(st.sampled_from(USERS), unique=True, max_size=3))
        percents, left = [], 100
        for _ in co_creators:
            if left == 0:
                break
            percent = draw(st.integers(1, left))
            percents.append(percent)
            left -= percent
        items.append(PoolItem(content_id, draw(st.integers(0, 10_000)), draw(st.sampled_from([*USERS, None])),
                              tuple(zip(co_creators, percents, strict=False))))
    return items


def exact_shares(pool_cents: int, items: list[PoolItem]) -> dict[tuple[uuid.UUID, uuid.UUID], Fraction]:
    """Each (creator, item)'s exact share of the pool, from the percentages (independently of split.weights)."""
    total = sum(i.plays for i in items)
    found: dict[tuple[uuid.UUID, uuid.UUID], Fraction] = {}
    for item in items:
        if not total or not item.plays:
            continue
        share = Fraction(pool_cents * item.plays, total)
        given_away = 0
        for user_id, percent in item.contributors:
            key = (user_id, item.content_id)
            found[key] = found.get(key, Fraction(0)) + share * Fraction(percent, 100)
            given_away += percent
        if item.creator_id is not None and given_away < 100:
            key = (item.creator_id, item.content_id)
            found[key] = found.get(key, Fraction(0)) + share * Fraction(100 - given_away, 100)
    return found


@settings(max_examples=2000, deadline=None)
@given(revenue=st.integers(0, 10**9), fee=st.integers(0, 100), percent=st.integers(0, 100), items=pool_items())
def test_the_division_adds_up_and_rounds_each_creator_down(revenue, fee, percent, items):
    division = divide_pool(revenue, fee, percent, items)
    assert division.platform_cents == revenue * fee // 100
    assert division.pool_cents == (revenue - division.platform_cents) * percent // 100
    assert division.platform_cents + division.organization_cents + sum(division.creators.values()) == revenue
    exact = exact_shares(division.pool_cents, items)
    assert division.creators == {key: int(share) for key, share in exact.items() if int(share) > 0}
    assert all(cents > 0 for cents in division.creators.values())
    # The organization keeps at least its own part: what the creators get never exceeds the pool.
    assert division.organization_cents >= revenue - division.platform_cents - division.pool_cents >= 0
    if not any(i.plays for i in items):
        assert division.creators == {} and division.organization_cents == revenue - division.platform_cents


def test_bad_terms_are_refused():
    with pytest.raises(ValueError):
        divide_pool(-1, 0, 0, [])
    with pytest.raises(ValueError):
        divide_pool(100, 101, 0, [])
    with pytest.raises(ValueError):
        divide_pool(100, 0, 101, [])


def test_months():
    assert pool.previous_month(date(2026, 1, 1)) == date(2025, 12, 1)
    assert pool.next_month(date(2025, 12, 1)) == date(2026, 1, 1)
    assert pool.month_start(datetime(2026, 3, 31, 23, tzinfo=UTC)) == date(2026, 3, 1)


# --- a month closed in PostgreSQL ------------------------------------------------------------------------

MARCH = date(2025, 3, 1)


def at(day: int, hour: int = 12, month: int = 3) -> datetime:
    return datetime(2025, month, day, hour, tzinfo=UTC)


class PoolShop:
    def __init__(self, factory: Factory, admin_db: Any) -> None:
        self.factory, self.admin_db = factory, admin_db

    async def build(self) -> PoolShop:
        f = self.factory
        self.owner = await f.user(name="Owner")
        self.org = await f.organization(self.owner)
        self.ann, self.ben, self.cora = await f.user(name="Ann"), await f.user(name="Ben"), await f.user(name="Cora")
        for person in (self.ann, self.ben, self.cora):
            await f.member(self.org, person, OrgRole.CREATOR)
        db = f.db
        self.film = decode_id(await insert_content(db, self.org, self.ann.user_id, "Ann's film", 0), "Content")
        self.song = decode_id(await insert_content(db, self.org, self.ben.user_id, "Ben's song", 0), "Content")
        self.quiet = decode_id(await insert_content(db, self.org, self.ann.user_id, "Nobody played it", 0), "Content")
        await self.admin_db.execute("insert into content_contributor (content_id, user_id, organization_id, "
                                    "share_percent) values ($1, $2, $3, 30)", self.film, self.cora.user_id, self.org)
        return self

    async def invoice(self, person: Person, amount: int, tax: int, paid_at: datetime, currency: str = "USD",
                      org: uuid.UUID | None = None) -> None:
        await self.admin_db.execute(
            "insert into subscription_invoice (id, organization_id, user_id, stripe_invoice_id, amount_paid_cents, "
            "tax_cents, currency, paid_at) values ($1, $2, $3, $4, $5, $6, $7, $8)", uuid.uuid4(), org or self.org,
            person.user_id, f"in_{uuid.uuid4().hex}", amount, tax, currency, paid_at)

    async def play(self, person: Person, content_id: uuid.UUID, hour: datetime, org: uuid.UUID | None = None) -> None:
        await self.admin_db.execute("insert into content_view (content_id, user_id, hour, organization_id, created_at) "
                                    "values ($1, $2, $3, $4, $3)", content_id, person.user_id, hour, org or self.org)

    async def set_pool(self, gql: Any, percent: int) -> dict[str, Any]:
        body = await gql(SETTINGS, {"input": {"creatorPoolPercent": percent}}, self.owner.token,
                         headers={"x-codex-organization": str(self.org)})
        return body["data"]["updateOrganizationSettings"]

    async def pool_rows(self) -> list[tuple[Any, ...]]:
        rows = await self.admin_db.fetch(
            "select party, user_id, content_id, currency, amount_cents, basis_cents, period_start from earning_entry "
            "where kind = 'SUBSCRIPTION' and organization_id = $1 order by currency, party, user_id, content_id",
            self.org)
        return [tuple(r) for r in rows]


@pytest.fixture
async def march(factory, admin_db, db, gql) -> Any:
    """10 % platform fee, a 50 % pool; March 2025: subscribers Sam (900 USD net) and Sue (2500 USD), Eve (EUR 1000);
    Lou paid in February only; Bob never subscribed."""
    await set_platform_fee(db, 10)
    shop = await PoolShop(factory, admin_db).build()
    assert await shop.set_pool(gql, 50) == {"errors": [], "settings": {"creatorPoolPercent": 50}}
    sam, sue, eve, lou, bob = [await factory.user(name=n) for n in ("Sam", "Sue", "Eve", "Lou", "Bob")]
    await shop.invoice(sam, 1000, 100, at(3))
    await shop.invoice(sue, 2500, 0, at(31, 23))
    await shop.invoice(eve, 1000, 0, at(10), "EUR")
    await shop.invoice(lou, 5000, 0, at(10, month=2))
    await shop.invoice(sam, 7000, 0, at(1, 0, month=4))  # April: another period
    for hour in (1, 2, 3):
        await shop.play(sam, shop.film, at(5, hour))
    await shop.play(sue, shop.film, at(6))
    await shop.play(sue, shop.song, at(7))
    await shop.play(eve, shop.song, at(8))
    for hour in range(5):
        await shop.play(bob, shop.song, at(9, hour))  # never subscribed: not counted
        await shop.play(lou, shop.song, at(9, hour))  # lapsed in February: not counted
    await shop.play(sam, shop.song, at(2, month=4))  # April
    await shop.play(sam, shop.song, at(28, 23, month=2))  # February
    yield shop
    await set_platform_fee(db, 0)


def expected_rows(shop: PoolShop) -> list[tuple[Any, ...]]:
    # USD: R = 900 + 2500 = 3400; platform 340; pool 50 % of 3060 = 1530 over 5 plays (film 4, song 1).
    # Film: 1224, Cora 30 % = 367.2 -> 367, Ann 70 % = 856.8 -> 856; song: 306 to Ben; organization 1531.
    # EUR: R = 1000; platform 100; pool 450, one play of the song: Ben 450; organization 450.
    usd = [("CREATOR", shop.ann.user_id, shop.film, "USD", 856), ("CREATOR", shop.ben.user_id, shop.song, "USD", 306),
           ("CREATOR", shop.cora.user_id, shop.film, "USD", 367), ("ORGANIZATION", None, None, "USD", 1531),
           ("PLATFORM", None, None, "USD", 340)]
    eur = [("CREATOR", shop.ben.user_id, shop.song, "EUR", 450), ("ORGANIZATION", None, None, "EUR", 450),
           ("PLATFORM", None, None, "EUR", 100)]
    rows = [(*row, 1000 if row[3] == "EUR" else 3400, MARCH) for row in eur + usd]
    return sorted(rows, key=lambda r: (r[3], r[0], str(r[1] or ""), str(r[2] or "")))


async def test_a_month_is_divided_by_subscribers_plays_cent_for_cent(march, db, admin_db):
    shop = march
    closed = await pool.close_month(db, MARCH)
    assert sorted((c.organization_id, c.currency) for c in closed) == [(shop.org, "EUR"), (shop.org, "USD")]
    rows = await shop.pool_rows()
    assert sorted(rows, key=lambda r: (r[3], r[0], str(r[1] or ""), str(r[2] or ""))) == expected_rows(shop)
    for currency, revenue in (("USD", 3400), ("EUR", 1000)):
        assert sum(r[4] for r in rows if r[3] == currency) == revenue
    periods = [tuple(r) for r in await admin_db.fetch(
        "select period_start, currency, revenue_cents, platform_cents, pool_cents, plays from creator_pool_period "
        "where organization_id = $1 order by currency", shop.org)]
    assert periods == [(MARCH, "EUR", 1000, 100, 450, 1), (MARCH, "USD", 3400, 340, 1530, 5)]
    summary = {(r["user_id"], r["currency"]): r["pool_cents"] for r in await admin_db.fetch(
        "select user_id, currency, pool_cents from creator_earning_summary where organization_id = $1", shop.org)}
    assert summary == {(shop.ann.user_id, "USD"): 856, (shop.cora.user_id, "USD"): 367,
                       (shop.ben.user_id, "USD"): 306, (shop.ben.user_id, "EUR"): 450}
    daily = {(r["user_id"], r["content_id"], r["currency"]): r["pool_cents"] for r in await admin_db.fetch(
        "select user_id, content_id, currency, sum(pool_cents) as pool_cents from creator_item_daily "
        "where organization_id = $1 group by 1, 2, 3", shop.org)}
    assert daily == {(shop.ann.user_id, shop.film, "USD"): 856, (shop.cora.user_id, shop.film, "USD"): 367,
                     (shop.ben.user_id, shop.song, "USD"): 306, (shop.ben.user_id, shop.song, "EUR"): 450}

    # A second run (the periodic job in April, once its delay passed, then by hand) writes nothing and changes no
    # summary.
    assert await pool.close_finished_months(db, now=datetime(2025, 4, 5, tzinfo=UTC)) == []
    assert await pool.close_month(db, MARCH) == []
    assert sorted(await shop.pool_rows(), key=lambda r: (r[3], r[0], str(r[1] or ""), str(r[2] or ""))) \
        == expected_rows(shop)
    assert await admin_db.fetchval("select sum(pool_cents) from creator_earning_summary where organization_id = $1",
                                   shop.org) == 856 + 367 + 306 + 450


async def test_concurrent_closers_close_a_month_once(march, db, admin_db):
    shop = march
    outcomes = await asyncio.gather(*(pool.close_finished_months(db, now=datetime(2025, 4, 4, 0, 5, tzinfo=UTC))
                                      for _ in range(4)))
    assert sorted(len(o) for o in outcomes) == [0, 0, 0, 2]
    rows = await shop.pool_rows()
    assert sorted(rows, key=lambda r: (r[3], r[0], str(r[1] or ""), str(r[2] or ""))) == expected_rows(shop)
    assert await admin_db.fetchval("select count(*) from creator_pool_period where organization_id = $1", shop.org) == 2


async def test_with_no_plays_the_whole_pool_stays_with_the_organization(factory, admin_db, db, gql):
    shop = await PoolShop(factory, admin_db).build()
    assert (await shop.set_pool(gql, 100))["errors"] == []
    subscriber = await factory.user()
    await shop.invoice(subscriber, 999, 0, at(4))
    await pool.close_month(db, MARCH)
    assert [(r[0], r[4]) for r in await shop.pool_rows()] == [("ORGANIZATION", 999)]  # no fee, no plays


async def test_unfinished_months_and_organizations_without_a_pool_are_not_closed(march, factory, admin_db, db, gql):
    shop = march
    with pytest.raises(pool.MonthNotOver):
        await pool.close_month(db, date(2025, 4, 1), now=datetime(2025, 4, 30, 23, 59, tzinfo=UTC))
    other = await PoolShop(factory, admin_db).build()  # its pool is off (the default, 0)
    await other.invoice(await factory.user(), 5000, 0, at(4))
    closed = await pool.close_month(db, MARCH)
    assert {c.organization_id for c in closed} == {shop.org}
    assert await other.pool_rows() == []
    assert await admin_db.fetchval("select count(*) from creator_pool_period where organization_id = $1",
                                   other.org) == 0


async def test_bad_pool_percentages_are_refused(march, gql, admin_db):
    shop = march
    for percent in (-1, 101):
        answer = await shop.set_pool(gql, percent)
        assert [(e["code"], e["field"]) for e in answer["errors"]] == [("INVALID_INPUT", ["input", "creatorPoolPercent"])]
    assert await admin_db.fetchval("select settings->>'creator_pool_percent' from organization where id = $1",
                                   shop.org) == "50"


async def test_the_cli_closes_a_month_of_one_organization(march, admin_db, api_database_url, monkeypatch, capsys):
    shop = march
    slug = await admin_db.fetchval("select slug from organization where id = $1", shop.org)
    monkeypatch.setenv("DATABASE_URL", api_database_url)
    monkeypatch.setattr("codex_graphql.cli._configure_logging", lambda settings: None)  # keep pytest's handlers
    assert await asyncio.to_thread(cli_main, ["close-creator-pool", "--month", "2025-03", "--organization", slug]) == 0
    assert "2 period(s) closed now" in capsys.readouterr().out
    assert len(await shop.pool_rows()) == 8
    assert await asyncio.to_thread(cli_main, ["close-creator-pool", "--month", "2025-03"]) == 0
    assert "0 period(s) closed now" in capsys.readouterr().out
    assert await asyncio.to_thread(cli_main, ["close-creator-pool", "--month", "2999-01"]) == 2
    assert await asyncio.to_thread(cli_main, ["close-creator-pool", "--month", "March"]) == 2
    assert len(await shop.pool_rows()) == 8
