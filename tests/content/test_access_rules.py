"""content.access states each rule in three forms (plain values, SQLAlchemy conditions, SQL text); this
evaluates all of them on every combination of status, listing, deletion, entitlement and viewer and
requires the same answer, so a rule changed in one form and not another fails here."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from sqlalchemy import select
from sqlalchemy.dialects import postgresql

from codex_graphql.authz import Membership, OrgRole, Viewer
from codex_graphql.content import access
from codex_graphql.content.models import Content, ContentEntitlement, ContentStatus
from tests.conftest import module_database

database_url = module_database("access_rules")

ORG, OTHER_ORG = uuid.uuid4(), uuid.uuid4()
BUYER, STAFF, STRANGER = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
SUBSCRIBER, LAPSED = uuid.uuid4(), uuid.uuid4()  # a live subscription to a tier of one category; an ended one
SERIES_BUYER = uuid.uuid4()  # holds the offer of a series of the unlisted items without entitlements
# A CONFIRMED booking of an offering whose portal holds the items with revoked entitlements; a cancelled one.
PARTICIPANT, FORMER_PARTICIPANT = uuid.uuid4(), uuid.uuid4()
OFFERING, OFFERING_SESSION, PARTICIPANT_BOOKING = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
TIER, SHELF, SERIES, OFFER = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
VIEWERS = {
    "anonymous": Viewer(),
    "buyer": Viewer(user_id=BUYER),
    "subscriber": Viewer(user_id=SUBSCRIBER),
    "lapsed_subscriber": Viewer(user_id=LAPSED),
    "series_buyer": Viewer(user_id=SERIES_BUYER),
    "participant": Viewer(user_id=PARTICIPANT),
    "former_participant": Viewer(user_id=FORMER_PARTICIPANT),
    "stranger": Viewer(user_id=STRANGER),
    "staff": Viewer(user_id=STAFF, memberships=(Membership(ORG, OrgRole.ADMIN),), active_organization_id=ORG),
    "staff_elsewhere_active": Viewer(user_id=STAFF, memberships=(Membership(ORG, OrgRole.ADMIN),),
                                     active_organization_id=OTHER_ORG),
    "member": Viewer(user_id=STAFF, memberships=(Membership(ORG, OrgRole.MEMBER),), active_organization_id=ORG),
}


def literal_sql(clause: Any) -> str:
    return str(clause.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))


@pytest.fixture(scope="module")
async def items(database_url: str) -> list[dict[str, Any]]:
    """One item per combination; the buyer holds an active entitlement to half of them (and a revoked one
    to others). Listed items are in the category SHELF, which the tier TIER grants; SUBSCRIBER's subscription
    to it grants access now, LAPSED's no longer."""
    conn = await asyncpg.connect(database_url)
    rows: list[dict[str, Any]] = []
    try:
        for user_id, email in ((BUYER, "b"), (STAFF, "s"), (STRANGER, "x"), (SUBSCRIBER, "u"), (LAPSED, "l"),
                               (SERIES_BUYER, "z"), (PARTICIPANT, "p"), (FORMER_PARTICIPANT, "f")):
            await conn.execute("INSERT INTO user_account (id, email, password_hash, platform_role) "
                               "VALUES ($1, $2, 'x', 'CUSTOMER')", user_id, f"{email}-{user_id.hex[:6]}@example.com")
        for organization_id in (ORG, OTHER_ORG):
            await conn.execute("INSERT INTO organization (id, slug, name) VALUES ($1, $2, 'Org')",
                               organization_id, f"org-{organization_id.hex[:8]}")
        await conn.execute("INSERT INTO category (id, organization_id, name, slug) VALUES ($1, $2, 'Shelf', 'shelf')",
                           SHELF, ORG)
        await conn.execute("INSERT INTO subscription_tier (id, organization_id, name, status) VALUES ($1, $2, 'T', "
                           "'PUBLISHED')", TIER, ORG)
        await conn.execute("INSERT INTO subscription_tier_category (tier_id, category_id, organization_id) "
                           "VALUES ($1, $2, $3)", TIER, SHELF, ORG)
        for user_id, until in ((SUBSCRIBER, "now() + interval '1 day'"), (LAPSED, "now() - interval '1 second'")):
            await conn.execute(
                "INSERT INTO subscription (id, organization_id, user_id, tier_id, interval, status, checkout_key, "
                f"access_until) VALUES ($1, $2, $3, $4, 'MONTH', 'ACTIVE', 'k', {until})",  # noqa: S608
                uuid.uuid4(), ORG, user_id, TIER)
        # The series' offer: not listed, not playable, deleted, so only the entitlement rules see it.
        await conn.execute(
            "INSERT INTO content (id, organization_id, creator_id, kind, status, title, storage_key, mime_type, "
            "original_filename, size_bytes, listed, deleted_at) VALUES ($1, $2, $3, 'BUNDLE', 'UPLOADING', 'o', '', "
            "'x', '', 0, false, now())", OFFER, ORG, STAFF)
        await conn.execute("INSERT INTO series (id, organization_id, title, status, offer_content_id, for_sale) "
                           "VALUES ($1, $2, 's', 'PUBLISHED', $3, true)", SERIES, ORG, OFFER)
        await conn.execute("INSERT INTO content_entitlement (id, organization_id, user_id, content_id, source) "
                           "VALUES ($1, $2, $3, $4, 'PURCHASE')", uuid.uuid4(), ORG, SERIES_BUYER, OFFER)
        await conn.execute("INSERT INTO offering (id, organization_id, type, status, title, currency, capacity, "
                           "time_zone, created_by) VALUES ($1, $2, 'EVENT', 'PUBLISHED', 'o', 'EUR', 5, 'UTC', $3)",
                           OFFERING, ORG, STAFF)
        await conn.execute("INSERT INTO offering_session (id, organization_id, offering_id, starts_at, ends_at, "
                           "capacity, seats_taken) VALUES ($1, $2, $3, now() + interval '1 day', now() + interval "
                           "'2 days', 5, 1)", OFFERING_SESSION, ORG, OFFERING)
        for booking_id, user_id, status in ((PARTICIPANT_BOOKING, PARTICIPANT, "CONFIRMED"),
                                            (uuid.uuid4(), FORMER_PARTICIPANT, "CANCELLED")):
            await conn.execute("INSERT INTO booking (id, organization_id, offering_id, session_id, user_id, status, "
                               "pay_with, idempotency_key) VALUES ($1, $2, $3, $4, $5, $6, 'PURCHASE', 'k')",
                               booking_id, ORG, OFFERING, OFFERING_SESSION, user_id, status)
        position = 0
        combinations = itertools.product(list(ContentStatus), (True, False), (True, False), ("active", "revoked", None))
        for status, listed, deleted, entitlement in combinations:
            item = {"id": uuid.uuid4(), "status": status.value, "listed": listed, "deleted": deleted,
                    "entitled": entitlement == "active"}
            await conn.execute(
                "INSERT INTO content (id, organization_id, creator_id, kind, status, title, storage_key, mime_type, "
                "original_filename, size_bytes, listed, deleted_at) VALUES ($1, $2, $3, 'VIDEO', $4, 't', 'k', "
                "'video/mp4', 'f.mp4', 1, $5, $6)",
                item["id"], ORG, STAFF, item["status"], listed, datetime.now(UTC) if deleted else None)
            if listed:
                await conn.execute("INSERT INTO content_category (content_id, category_id, organization_id) "
                                   "VALUES ($1, $2, $3)", item["id"], SHELF, ORG)
            if entitlement is not None:
                await conn.execute(
                    "INSERT INTO content_entitlement (id, organization_id, user_id, content_id, source, revoked_at) "
                    "VALUES ($1, $2, $3, $4, 'GRANT', $5)", uuid.uuid4(), ORG, BUYER, item["id"],
                    datetime.now(UTC) if entitlement == "revoked" else None)
            if entitlement is None and not listed:
                await conn.execute("INSERT INTO series_item (series_id, content_id, organization_id, position) "
                                   "VALUES ($1, $2, $3, $4)", SERIES, item["id"], ORG, position)
                position += 1
            item["in_series"] = entitlement is None and not listed
            item["in_portal"] = entitlement == "revoked"  # every status, listing and deletion
            if item["in_portal"]:
                await conn.execute("INSERT INTO offering_portal_item (id, organization_id, offering_id, kind, "
                                   "content_id) VALUES ($1, $2, $3, 'CONTENT', $4)", uuid.uuid4(), ORG, OFFERING,
                                   item["id"])
            rows.append(item)
    finally:
        await conn.close()
    return rows


async def ids(database_url: str, sql: str, *args: Any) -> set[uuid.UUID]:
    conn = await asyncpg.connect(database_url)
    try:
        return {row[0] for row in await conn.fetch(sql, *args)}
    finally:
        await conn.close()


def entitled_for(viewer: Viewer, item: dict[str, Any]) -> bool:
    if viewer.user_id == SERIES_BUYER:  # every item of the bought series, whatever its state
        return bool(item["in_series"])
    if viewer.user_id == PARTICIPANT:  # every item of the offering's portal, whatever its state
        return bool(item["in_portal"])
    if viewer.user_id == SUBSCRIBER:  # the tier's category, while the item is on sale (published and live)
        return item["listed"] and item["status"] == ContentStatus.PUBLISHED.value and not item["deleted"]
    return viewer.user_id == BUYER and item["entitled"]


def staff_organization(viewer: Viewer) -> uuid.UUID | None:
    active = viewer.active_organization_id
    return active if active is not None and access.is_staff(viewer, active) else None


@pytest.mark.parametrize("name", VIEWERS)
async def test_listing_rule_is_the_same_in_every_form(database_url: str, items: list[dict[str, Any]], name: str) -> None:
    viewer = VIEWERS[name]
    expected = {item["id"] for item in items
                if access.is_listed(viewer, item["status"], item["listed"], item["deleted"], ORG)}
    staff = access.is_staff(viewer, ORG)
    clause = select(Content.id).where(Content.organization_id == ORG, access.listed_clause(staff))
    assert await ids(database_url, literal_sql(clause)) == expected
    text = f"SELECT c.id FROM content c WHERE c.organization_id = $1 AND {access.listed_sql('c', '$2')}"  # noqa: S608
    assert await ids(database_url, text, ORG, staff_organization(viewer)) == expected
    assert expected  # every viewer lists something (the published, listed, live items)


@pytest.mark.parametrize("name", VIEWERS)
async def test_entitlement_and_playing_rules_are_the_same_in_every_form(
        database_url: str, items: list[dict[str, Any]], name: str) -> None:
    viewer = VIEWERS[name]
    entitled = {item["id"] for item in items if entitled_for(viewer, item)}
    offer = {OFFER} if viewer.user_id == SERIES_BUYER else set()  # the offer item itself, directly entitled
    text = f"SELECT c.id FROM content c WHERE {access.entitled_sql('c', '$1')}"  # noqa: S608
    assert await ids(database_url, text, viewer.user_id) == entitled | offer
    if viewer.user_id is not None:
        clause = select(Content.id).where(access.entitled_content_clause(viewer.user_id))
        assert await ids(database_url, literal_sql(clause)) == entitled | offer
        owned = select(ContentEntitlement.content_id).where(access.entitled_clause(viewer.user_id))
        assert await ids(database_url, literal_sql(owned)) == (entitled if viewer.user_id == BUYER else offer)
    if name == "series_buyer":  # unpublished and deleted items of the series included, nothing else
        assert entitled == {item["id"] for item in items if item["in_series"]} and len(entitled) > 4
    if name == "subscriber":
        assert entitled and entitled < {item["id"] for item in items if item["listed"]}
    if name == "participant":  # unpublished, unlisted and deleted portal items included, nothing else
        assert entitled == {item["id"] for item in items if item["in_portal"]} and len(entitled) > 4
    if name == "former_participant":  # a cancelled booking admits nothing
        assert entitled == set()

    plays = {item["id"] for item in items
             if access.may_play(viewer, item["status"], item["deleted"], ORG, entitled_for(viewer, item))}
    text = f"SELECT c.id FROM content c WHERE {access.plays_sql('c', '$1', '$2')}"  # noqa: S608
    assert await ids(database_url, text, viewer.user_id, staff_organization(viewer)) == plays
    # The compiled path's form: the viewer's standing taken once, then only the row's values.
    standing = access.staff_organization(viewer)
    assert {item["id"] for item in items if access.plays(standing, item["status"], item["deleted"], ORG,
                                                         entitled_for(viewer, item))} == plays
    if name == "buyer":  # entitled items play even when deleted or unpublished, once ready
        assert any(item["deleted"] for item in items if item["id"] in plays)
    if name == "anonymous":
        assert plays == set()


@pytest.mark.parametrize("name", VIEWERS)
def test_reading_admits_what_listing_admits_and_entitlements_add(items: list[dict[str, Any]], name: str) -> None:
    viewer = VIEWERS[name]
    for item in items:
        entitled = entitled_for(viewer, item)
        readable = access.may_read(viewer, item["status"], item["deleted"], ORG, entitled)
        if access.is_listed(viewer, item["status"], item["listed"], item["deleted"], ORG):
            assert readable, item
        if entitled:
            assert readable, item
        if access.may_play(viewer, item["status"], item["deleted"], ORG, entitled):
            assert readable, item
        # The compiled path's form of the reading rule answers alike, here and in another organization.
        standing = access.staff_organization(viewer)
        for organization in (ORG, OTHER_ORG):
            assert access.reads(standing, item["status"], item["deleted"], organization, entitled) == \
                access.may_read(viewer, item["status"], item["deleted"], organization, entitled), (item, organization)
            assert access.plays(standing, item["status"], item["deleted"], organization, entitled) == \
                access.may_play(viewer, item["status"], item["deleted"], organization, entitled), (item, organization)


@pytest.mark.parametrize("name", [name for name, viewer in VIEWERS.items() if viewer.user_id is not None])
async def test_the_admitting_source_is_named_exactly_for_entitled_items(
        database_url: str, items: list[dict[str, Any]], name: str) -> None:
    """``admitting_source`` (what download counters are keyed by) names a row exactly when the viewer is
    entitled: the buyer's entitlement row, the subscriber's subscription, the participant's confirmed booking,
    nothing for anyone else."""
    viewer = VIEWERS[name]
    assert viewer.user_id is not None
    conn = await asyncpg.connect(database_url)
    try:
        subscription = await conn.fetchval("SELECT id FROM subscription WHERE user_id = $1", viewer.user_id)
        for item in items:
            row = await conn.fetchrow(literal_sql(access.admitting_source(viewer.user_id, item["id"])))
            assert row is not None and row["organization_id"] == ORG
            expected: tuple[Any, Any, Any] = (None, None, None)
            if entitled_for(viewer, item) and viewer.user_id == BUYER:
                entitlement = await conn.fetchval(
                    "SELECT id FROM content_entitlement WHERE content_id = $1 AND revoked_at IS NULL", item["id"])
                assert entitlement is not None
                expected = (entitlement, None, None)
            elif entitled_for(viewer, item) and viewer.user_id == SERIES_BUYER:  # the series' entitlement
                expected = (await conn.fetchval(
                    "SELECT id FROM content_entitlement WHERE content_id = $1", OFFER), None, None)
            elif entitled_for(viewer, item) and viewer.user_id == PARTICIPANT:  # the confirmed booking
                expected = (None, None, PARTICIPANT_BOOKING)
            elif entitled_for(viewer, item):
                assert subscription is not None
                expected = (None, subscription, None)
            assert (row["entitlement_id"], row["subscription_id"], row["booking_id"]) == expected, (name, item)
    finally:
        await conn.close()
    if name in ("buyer", "subscriber", "participant"):
        assert any(entitled_for(viewer, item) for item in items)
