"""Row-level security under every repository and loader, not only under one query (issue 14, item 5).

Two organizations, A and B, each get rows in every tenant table (``tests/support/rls.py``: direct
inserts as the table owner). Then, through the app's own session (``services.db.session(viewer.scope)``,
the path every request and job takes), as three viewers (staff of A, a customer of A, anonymous):

(a) every tenant table is read with an unfiltered ``SELECT *``: each row that comes back must be the
    viewer's organization's, the viewer's own (``user_id``), or public by design (``PUBLIC_BY_DESIGN``);
(b) every public function of every repository module, and every loader of every loaders module, is
    called with organization B's ids: it must return nothing more than an anonymous visitor gets, and
    no row of B that is not public by design.

The lists below are the test's map. A table without forced RLS and a policy, a tenant table this file
does not seed, or a repository function / loader it neither calls nor lists in ``NOT_READS`` (with
the reason) fails the test: add the case here when you add the table or the function.
"""

from __future__ import annotations

import dataclasses
import enum
import glob
import importlib
import inspect
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import asyncpg
import pytest
from aiodataloader import DataLoader
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import text

from codex_graphql.audit.repository import AuditFilter
from codex_graphql.authz import Membership, OrgRole, Viewer
from codex_graphql.content.filters import CatalogueFilter
from codex_graphql.db import Base, driver_connection
from codex_graphql.reviews.models import ReviewStatus
from codex_graphql.subscriptions.models import BillingInterval
from tests.conftest import module_database
from tests.support.rls import (
    Tenant,
    credit_id,
    preview_link_id,
    preview_token_hash,
    seed_tenant,
    subscription_id,
    tier_id,
)

ROOT = Path(__file__).resolve().parents[2]

# One database for the module: the seed is read-only for every test below (each call is rolled back).
database_url = module_database("rls_every")

# Tables without row-level security, and why. Any other table must have RLS enabled, forced and a policy.
NO_RLS_BY_DESIGN = {
    "alembic_version": "migration bookkeeping, no rows of anyone",
    "user_account": "platform identities: a user belongs to no organization (customers buy from many)",
    "user_session": "platform sign-in sessions, looked up by token hash before any tenant scope exists",
    "email_token": "platform email verification / password reset tokens, looked up by token hash",
    "processed_message": "consumer dedupe of event ids; holds ids only, no tenant data",
}


def _published_live(row: dict[str, Any], ctx: dict[str, Any]) -> bool:
    return row["status"] == "PUBLISHED" and row["deleted_at"] is None


# Rows another organization's viewer may see on purpose (the policy says so), per table.
PUBLIC_BY_DESIGN: dict[str, Callable[[dict[str, Any], dict[str, Any]], bool]] = {
    # The catalogue: published live items, and the items the viewer is entitled to (bought or granted).
    "content": lambda row, ctx: _published_live(row, ctx) or row["id"] in ctx["entitled"],
    # Offerings that are not drafts are public, with their sessions, categories and availability.
    "offering": lambda row, ctx: row["status"] != "DRAFT",
    **{table: lambda row, ctx: row["offering_id"] != uuid.uuid5(row["organization_id"], "offering-draft")
       for table in ("offering_session", "offering_category")},
    "offering_availability": lambda row, ctx: row["offering_id"] != uuid.uuid5(row["organization_id"],
                                                                               "offering-draft-service"),
    # An offering's portal items and announcements are its participants' (a CONFIRMED booking of theirs).
    **{table: lambda row, ctx: row["offering_id"] in ctx.get("participating", ())
       for table in ("offering_portal_item", "offering_announcement")},
    # A session's meeting (its join URL) is readable by the people holding a confirmed seat in it (participant_read).
    "offering_meeting": lambda row, ctx: row["offering_id"] in ctx.get("participating", ()),
    # Rating summaries of items are public (the published catalogue shows them).
    "content_rating": lambda row, ctx: True,
    # Published reviews are public.
    "review": lambda row, ctx: row["status"] == "PUBLISHED",
    # Access granted to an email address is readable by that address's account (to claim it).
    "pending_grant": lambda row, ctx: ctx["email"] is not None and row["email"] == ctx["email"],
    # An item's categories are readable with the item; a category, when it holds an item the viewer may read.
    "content_category": lambda row, ctx: row["content_id"] in ctx.get("readable_content", ()),
    # A published series and its item rows are public (the items themselves follow content's policy).
    "series": lambda row, ctx: row["status"] == "PUBLISHED",
    "series_item": lambda row, ctx: row["series_id"] in ctx.get("published_series", ()),
    # An article's body row is visible exactly where its item is (the API serves its HTML by the access rule).
    "article_body": lambda row, ctx: row["content_id"] in ctx.get("readable_content", ()),
    "category": lambda row, ctx: row["id"] in ctx.get("shelved", ()),
    # The search vectors of the public catalogue (published, listed, live items): the triggers of migration 0032 put
    # nothing else there (tests/search/test_search_visibility.py), so everyone may read them.
    "content_search_public": lambda row, ctx: row["content_id"] in ctx.get("readable_content", ()),
    # PUBLISHED subscription tiers are on the storefront, with their prices and category links.
    "subscription_tier": lambda row, ctx: row["status"] == "PUBLISHED",
    "subscription_tier_price": lambda row, ctx: row["tier_id"] in ctx.get("published_tiers", ()),
    "subscription_tier_category": lambda row, ctx: row["tier_id"] in ctx.get("published_tiers", ()),
    # The platform's one settings row (the platform fee) is read by everyone; only the platform scope writes it.
    "platform_settings": lambda row, ctx: True,
    # The audit entries of no organization are their actor's.
    "audit_log_entry": lambda row, ctx: row["organization_id"] is None and row["actor_user_id"] == ctx["user_id"],
}
# Tenant tables that are entirely public to read: nothing in them may be hidden, so nothing to check.
ENTIRELY_PUBLIC = {"content_rating", "content_search_public", "platform_settings"}


# -- the seed (tests/support/rls.py) ------------------------------------------------------------


@pytest.fixture(scope="module")
async def seeded(database_url: str) -> dict[str, Tenant]:
    conn = await asyncpg.connect(database_url)
    try:
        # The summaries (purchase_daily_stats, customer_summary, content_sales_summary) follow from the
        # purchases through the analytics triggers.
        return {"a": await seed_tenant(conn, "a"), "b": await seed_tenant(conn, "b")}
    finally:
        await conn.close()


@pytest.fixture
async def admin(database_url: str):
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()


# -- the viewers ---------------------------------------------------------------------------------

VIEWERS = ("staff_of_a", "customer_of_a", "anonymous")


def _viewer(name: str, a: Tenant) -> Viewer:
    if name == "staff_of_a":
        return Viewer(user_id=a.owner, memberships=(Membership(a.org, OrgRole.OWNER),), active_organization_id=a.org)
    if name == "customer_of_a":
        return Viewer(user_id=a.customer)
    return Viewer()


async def _expectations(admin: asyncpg.Connection, viewer: Viewer) -> dict[str, Any]:
    entitled: set[uuid.UUID] = set()
    email = None
    if viewer.user_id is not None:
        entitled = {r[0] for r in await admin.fetch(
            "select content_id from content_entitlement where user_id = $1 and revoked_at is null", viewer.user_id)}
        email = await admin.fetchval("select email from user_account where id = $1", viewer.user_id)
    readable = entitled | {r[0] for r in await admin.fetch(
        "select id from content where status = 'PUBLISHED' and deleted_at is null")}
    shelved = {r[0] for r in await admin.fetch(
        "select category_id from content_category where content_id = any($1::uuid[])", list(readable))}
    published_tiers = {r[0] for r in await admin.fetch("select id from subscription_tier where status = 'PUBLISHED'")}
    published_series = {r[0] for r in await admin.fetch("select id from series where status = 'PUBLISHED'")}
    participating = {r[0] for r in await admin.fetch(
        "select offering_id from booking where user_id = $1 and status = 'CONFIRMED'", viewer.user_id)}
    return {"user_id": viewer.user_id, "organization_id": viewer.scope.organization_id, "entitled": entitled,
            "email": email, "readable_content": readable, "shelved": shelved, "published_tiers": published_tiers,
            "published_series": published_series, "participating": participating}


def _allowed(table: str, row: dict[str, Any], ctx: dict[str, Any]) -> bool:
    """May this viewer see this row: its organization's, its own, or public by design."""
    if table == "organization":
        return True  # names, slugs and storefront settings of every organization are public
    if ctx["organization_id"] is not None and row.get("organization_id") == ctx["organization_id"]:
        return True
    if ctx["user_id"] is not None and row.get("user_id") == ctx["user_id"]:
        return True
    public = PUBLIC_BY_DESIGN.get(table)
    return bool(public and public(row, ctx))


async def _tables(admin: asyncpg.Connection) -> dict[str, tuple[bool, bool, int, bool]]:
    """Every table of the public schema: (RLS enabled, forced, policies, has organization_id)."""
    rows = await admin.fetch(
        """
        select c.relname, c.relrowsecurity, c.relforcerowsecurity,
               (select count(*) from pg_policies p where p.schemaname = 'public' and p.tablename = c.relname),
               exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'organization_id'
                       and not a.attisdropped)
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'public' and c.relkind in ('r', 'p')
        """
    )
    return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}


# -- (a) every tenant table, unfiltered ----------------------------------------------------------


async def test_every_table_has_forced_rls_and_a_policy_or_a_reason(admin, seeded):
    tables = await _tables(admin)
    for name, (enabled, forced, policies, has_org) in sorted(tables.items()):
        if name in NO_RLS_BY_DESIGN:
            assert not has_org, f"{name} has organization_id: it needs row-level security, not an exemption"
            continue
        assert enabled and forced, f"{name}: row-level security is not enabled and forced (or list it in NO_RLS_BY_DESIGN)"
        assert policies > 0, f"{name}: row-level security without a policy"
    assert set(NO_RLS_BY_DESIGN) <= set(tables), "NO_RLS_BY_DESIGN names a table that no longer exists"
    # Every table with an organization_id has RLS enabled and forced, without exception.
    assert all(enabled and forced for enabled, forced, _, has_org in tables.values() if has_org)


async def test_every_tenant_table_is_seeded_for_both_organizations(admin, seeded):
    """The checks below are only as good as the seed: each tenant table holds rows of A and of B, and
    (unless the table is entirely public) rows of B that a viewer of A must not see."""
    tables = await _tables(admin)
    b = seeded["b"]
    outsider = {"user_id": uuid.uuid4(), "organization_id": seeded["a"].org, "entitled": set(), "email": None}
    for name in sorted(set(tables) - set(NO_RLS_BY_DESIGN)):
        rows = [dict(r) for r in await admin.fetch(f'select * from "{name}"')]
        if tables[name][3]:
            for tenant in seeded.values():
                assert any(r["organization_id"] == tenant.org for r in rows), f"seed {name} for organization {tenant.label}"
        else:
            assert rows, f"seed {name}"
        if name in ENTIRELY_PUBLIC or name == "organization":
            continue
        # Tables of no organization (a person's payout account) hide everything but the viewer's own rows.
        of_b = [r for r in rows if r.get("organization_id", b.org) == b.org]
        hidden = [r for r in of_b if not _allowed(name, r, outsider)]
        assert hidden, f"{name}: seed a row of B that a viewer of A must not see"


@pytest.mark.parametrize("who", VIEWERS)
async def test_unfiltered_select_on_every_tenant_table_returns_only_allowed_rows(app, admin, seeded, who):
    database = app.state.runtime["services"].db
    viewer = _viewer(who, seeded["a"])
    ctx = await _expectations(admin, viewer)
    tables = await _tables(admin)
    b = seeded["b"]
    seen_any = False
    for name in sorted(set(tables) - set(NO_RLS_BY_DESIGN)):
        session = database.session(viewer.scope)
        try:
            # Deliberately no filter at all: row-level security is the only thing scoping this statement.
            rows = [dict(r) for r in (await session.execute(text(f'select * from "{name}"'))).mappings().all()]
        finally:
            await session.rollback()
            await session.close()
        seen_any = seen_any or bool(rows)
        leaked = [r for r in rows if not _allowed(name, r, ctx)]
        assert not leaked, f"{who} sees rows of {name} it must not: {leaked}"
        if tables[name][3] and name not in ENTIRELY_PUBLIC:
            of_b = [r for r in rows if r["organization_id"] == b.org]
            assert all(name in PUBLIC_BY_DESIGN and PUBLIC_BY_DESIGN[name](r, ctx) for r in of_b), (who, name, of_b)
    assert seen_any  # the session really read something (the organizations, the public catalogue)


# -- (b) every repository function and loader, with organization B's ids -------------------------

REPOSITORY_FILES = sorted(glob.glob(str(ROOT / "codex_graphql" / "**" / "*repository.py"), recursive=True))
LOADER_FILES = sorted(glob.glob(str(ROOT / "codex_graphql" / "**" / "loaders.py"), recursive=True))
STATUSES = tuple(ReviewStatus)
FAR = datetime(2999, 1, 1, tzinfo=UTC)
Args = Callable[[Tenant], list[dict[str, Any]]]  # organization B -> the calls (keyword arguments) to make


def _in_b(**kwargs: Any) -> Args:
    """One call in organization B."""
    return _one(organization_id=lambda b: b.org, **kwargs)


def _one(**kwargs: Any) -> Args:
    return lambda b: [{k: v(b) if callable(v) else v for k, v in kwargs.items()}]


# "<domain>.<function>" (of <domain>/repository.py; other modules by their path) -> how to call it with
# B's ids (one call per dict). Every read on a tenant table.
READS: dict[str, Args] = {
    # accounts: platform tables without RLS (NO_RLS_BY_DESIGN); called so that a tenant table joined in later is seen.
    "accounts.user_by_email": _one(email=lambda b: b.customer_email),
    "accounts.user_by_id": _one(user_id=lambda b: b.customer),
    "accounts.users_by_ids": _one(ids=lambda b: [b.owner, b.customer]),
    "accounts.session_ips_for_agent": _one(user_id=lambda b: b.customer, user_agent="ua"),
    "accounts.has_sessions": _one(user_id=lambda b: b.customer),
    "accounts.live_session": _one(token_hash="no-such-token"),
    "accounts.live_session_status": _one(token_hash="no-such-token"),
    "accounts.consume_email_token": _one(token_hash="no-such-token", purpose="verify"),
    # articles
    "articles.bodies": _one(content_ids=lambda b: [b.published, b.draft]),
    # series
    "series.for_update": _in_b(series_id=lambda b: uuid.uuid5(b.org, "series-draft")),
    "series.by_id": lambda b: [{"series_id": uuid.uuid5(b.org, w)} for w in ("series-draft", "series-published")],
    "series.by_ids": _one(series_ids=lambda b: [uuid.uuid5(b.org, "series-draft"), uuid.uuid5(b.org, "series-published")]),
    "series.page": lambda b: [{"organization_id": b.org, "staff": staff, "first": 10, "after": None}
                              for staff in (True, False)],
    "series.count": lambda b: [{"organization_id": b.org, "staff": staff} for staff in (True, False)],
    "series.item_ids": _in_b(series_id=lambda b: uuid.uuid5(b.org, "series-draft")),
    "series.series_of_items": _in_b(content_ids=lambda b: [b.published, b.draft]),
    "series.live_items_of": _in_b(content_ids=lambda b: [b.published, b.draft]),
    "series.listed_items": lambda b: [{"series_id": uuid.uuid5(b.org, w), "staff_organization": None,
                                       "after_position": -1, "limit": 10} for w in ("series-draft", "series-published")],
    "series.listed_count": _one(series_ids=lambda b: [uuid.uuid5(b.org, "series-draft"),
                                                      uuid.uuid5(b.org, "series-published")], staff_organization=None),
    "series.places": _one(content_ids=lambda b: [b.published, b.draft], staff_organization=None),
    # revisions
    "earnings.contributors": _in_b(content_id=lambda b: b.published),
    "earnings.dashboard_repository.dashboard_totals": _one(user_id=lambda b: b.owner, start=date(2000, 1, 1),
                                                           end=date(2999, 1, 1)),
    "earnings.dashboard_repository.dashboard_items": _one(user_id=lambda b: b.owner, start=date(2000, 1, 1),
                                                          end=date(2999, 1, 1)),
    "earnings.dashboard_repository.organization_earnings": lambda b: [
        {"organization_id": b.org, "user_id": user} for user in (None, b.owner)],
    # earnings: payouts (a person's connected account is theirs; payouts and balances the organization's and the creator's)
    "earnings.payout_repository.account_of": _one(user_id=lambda b: b.owner),
    "earnings.payout_repository.account_by_provider_id_for_update": _one(account_id=lambda b: f"acct_{b.tag}"),
    "earnings.payout_repository.organizations_to_pay": _one(slug=lambda b: b.slug),
    "earnings.payout_repository.pending_payouts": _in_b(),
    "earnings.payout_repository.waiting_without_transfers": _in_b(period_start=date(2026, 12, 1), minimum=0,
                                                                  provider="stripe",
                                                                  held_since=datetime(2026, 12, 1, tzinfo=UTC)),
    "earnings.payout_repository.payout_by_id": _one(payout_id=lambda b: uuid.uuid5(b.org, "payout")),
    "earnings.payout_repository.user_payouts_page": _one(user_id=lambda b: b.owner, first=10, after=None),
    "earnings.payout_repository.user_payouts_count": _one(user_id=lambda b: b.owner),
    "earnings.payout_repository.organization_payouts_page": _in_b(first=10, after=None),
    "earnings.payout_repository.organization_payouts_count": _in_b(),
    "earnings.payout_repository.user_balances": _one(user_id=lambda b: b.owner),
    # earnings: the subscription pool (B's pool is off, its invoices, plays and closed period B's own)
    "earnings.pool_repository.organizations_with_pool": _one(slug=lambda b: b.slug),
    "earnings.pool_repository.platform_fee_percent": _one(),
    "earnings.pool_repository.revenue_by_currency": _in_b(start=datetime(2000, 1, 1, tzinfo=UTC), end=FAR),
    "earnings.pool_repository.subscriber_plays": _in_b(start=datetime(2000, 1, 1, tzinfo=UTC), end=FAR,
                                                       currency="USD"),
    "earnings.pool_repository.contributors_of": _in_b(content_ids=lambda b: [b.published, b.draft]),
    "earnings.pool_repository.is_closed": _in_b(period_start=date(2026, 11, 1), currency="USD"),
    # earnings: statements (the creator's own, and the organization's)
    "earnings.statement_repository.has_creator_rows": _in_b(user_id=lambda b: b.owner),
    "earnings.statement_repository.lock": _in_b(user_id=lambda b: b.owner, month=date(2026, 11, 1)),
    "earnings.statement_repository.by_id": _one(statement_id=lambda b: uuid.uuid5(b.org, "statement")),
    "earnings.statement_repository.for_job": _in_b(statement_id=lambda b: uuid.uuid5(b.org, "statement")),
    "earnings.statement_repository.own_page": _one(user_id=lambda b: b.owner, first=10, after=None),
    "earnings.statement_repository.own_count": _one(user_id=lambda b: b.owner),
    # devices (a customer's playback devices: theirs and their organization's staff's)
    "devices.active": _in_b(user_id=lambda b: b.customer),
    "devices.of_customers": _in_b(user_ids=lambda b: [b.customer, b.owner]),
    "devices.of_user": lambda b: [{"user_id": b.customer, "organization_id": o} for o in (b.org, None)],
    "devices.by_id": lambda b: [{"device_id": uuid.uuid5(b.org, "device"), "for_update": f} for f in (False, True)],
    "devices.removals_by_owner_since": _in_b(user_id=lambda b: b.customer, since=datetime(2000, 1, 1, tzinfo=UTC)),
    "devices.is_active": _one(device_id=lambda b: uuid.uuid5(b.org, "device"), user_id=lambda b: b.customer),
    # offerings (drafts are the organization's; published offerings, their sessions and availability public)
    "offerings.for_update": lambda b: [{"organization_id": b.org, "offering_id": uuid.uuid5(b.org, n)}
                                       for n in ("offering-draft", "offering-event")],
    "offerings.by_id": lambda b: [{"offering_id": uuid.uuid5(b.org, n)} for n in ("offering-draft", "offering-event")],
    "offerings.by_ids": _one(offering_ids=lambda b: [uuid.uuid5(b.org, n) for n in ("offering-draft",
                                                                                    "offering-event")]),
    "offerings.category_ids_of": _one(offering_ids=lambda b: [uuid.uuid5(b.org, n) for n in ("offering-draft",
                                                                                             "offering-event")]),
    "offerings.page": lambda b: [{"organization_id": b.org, "staff": staff, "offering_type": None, "start": None,
                                  "end": None, "first": 10, "after": None} for staff in (True, False)],
    "offerings.count": lambda b: [{"organization_id": b.org, "staff": staff, "offering_type": None, "start": None,
                                   "end": None} for staff in (True, False)],
    "offerings.session_exists_at": _in_b(offering_id=lambda b: uuid.uuid5(b.org, "offering-draft"),
                                         starts_at=datetime(2000, 1, 1, tzinfo=UTC)),
    "offerings.sessions_of": _one(offering_ids=lambda b: [uuid.uuid5(b.org, n) for n in ("offering-draft",
                                                                                         "offering-event")]),
    "offerings.live_session_count": _in_b(offering_id=lambda b: uuid.uuid5(b.org, "offering-draft"),
                                          after=datetime(2000, 1, 1, tzinfo=UTC)),
    "offerings.has_availability": _in_b(offering_id=lambda b: uuid.uuid5(b.org, "offering-service")),
    "offerings.session_at": _one(offering_id=lambda b: uuid.uuid5(b.org, "offering-draft"),
                                 starts_at=datetime(2000, 1, 1, tzinfo=UTC)),
    "offerings.availability_repository.get": lambda b: [{"organization_id": b.org, "offering_id": uuid.uuid5(b.org, n)}
                                                        for n in ("offering-service", "offering-draft-service")],
    "offerings.availability_repository.of_offerings": _in_b(offering_ids=lambda b: [
        uuid.uuid5(b.org, n) for n in ("offering-service", "offering-draft-service")]),
    "offerings.availability_repository.busy": _in_b(offering_id=lambda b: uuid.uuid5(b.org, "offering-event"),
                                                    start=datetime(2000, 1, 1, tzinfo=UTC), end=FAR),
    "offerings.booking_repository.by_key": _one(user_id=lambda b: b.customer, idempotency_key=lambda b: f"b-{b.tag}"),
    "offerings.booking_repository.live_for": _in_b(session_id=lambda b: uuid.uuid5(b.org, "session-event"),
                                                   user_id=lambda b: b.customer),
    "offerings.booking_repository.by_id": _one(booking_id=lambda b: uuid.uuid5(b.org, "booking")),
    "offerings.booking_repository.for_update": _one(booking_id=lambda b: uuid.uuid5(b.org, "booking")),
    "offerings.booking_repository.lock_sessions": _in_b(session_ids=lambda b: [uuid.uuid5(b.org, "session-event"),
                                                                              uuid.uuid5(b.org, "session-draft")]),
    "offerings.booking_repository.cohort_session_ids": _in_b(offering_id=lambda b: uuid.uuid5(b.org, "offering-draft")),
    "offerings.booking_repository.first_waiting": _in_b(session_id=lambda b: uuid.uuid5(b.org, "session-event")),
    "offerings.booking_repository.live_of_offering": _in_b(offering_id=lambda b: uuid.uuid5(b.org, "offering-event")),
    "offerings.booking_repository.own_page": _one(user_id=lambda b: b.customer, first=10, after=None),
    "offerings.booking_repository.own_count": _one(user_id=lambda b: b.customer),
    "offerings.booking_repository.for_update_in": _in_b(booking_id=lambda b: uuid.uuid5(b.org, "booking")),
    "offerings.booking_repository.by_purchase": _in_b(purchase_id=lambda b: b.purchase),
    "offerings.booking_repository.lapsed_card_booking": _in_b(session_id=lambda b: uuid.uuid5(b.org, "session-event"),
                                                              user_id=lambda b: b.customer,
                                                              since=lambda b: datetime(2000, 1, 1, tzinfo=UTC)),
    "offerings.stats_repository.figures_of": _in_b(offering_ids=lambda b: [uuid.uuid5(b.org, n) for n in (
        "offering-draft", "offering-event")]),
    "offerings.calendar_repository.feed_version": _one(user_id=lambda b: b.customer),
    "offerings.calendar_repository.booked_sessions": _one(user_id=lambda b: b.customer,
                                                          ending_after=datetime(2000, 1, 1, tzinfo=UTC), limit=100),
    "offerings.participants_export_repository.batch": _in_b(offering_id=lambda b: uuid.uuid5(b.org, "offering-event"),
                                                            after=None, limit=100),
    "offerings.portal_repository.content_item": _in_b(offering_id=lambda b: uuid.uuid5(b.org, "offering-event"),
                                                      content_id=lambda b: b.draft),
    "offerings.portal_repository.item_by_id": _one(item_id=lambda b: uuid.uuid5(b.org, "portal-content")),
    "offerings.portal_repository.item_for_update": _in_b(item_id=lambda b: uuid.uuid5(b.org, "portal-file")),
    "offerings.portal_repository.item_count": _in_b(offering_id=lambda b: uuid.uuid5(b.org, "offering-event")),
    "offerings.portal_repository.items_of_offerings": _one(offering_ids=lambda b: [uuid.uuid5(b.org, "offering-event")]),
    "offerings.portal_repository.announcements_of_offerings": _one(
        offering_ids=lambda b: [uuid.uuid5(b.org, "offering-event")]),
    "offerings.portal_repository.announcement_by_id": _in_b(
        announcement_id=lambda b: uuid.uuid5(b.org, "announcement")),
    "offerings.portal_repository.participating": _one(user_id=lambda b: b.customer,
                                                      offering_ids=lambda b: [uuid.uuid5(b.org, "offering-event")]),
    "offerings.portal_repository.participants": _in_b(offering_id=lambda b: uuid.uuid5(b.org, "offering-event")),
    "offerings.portal_repository.unsent_count": _in_b(announcement_id=lambda b: uuid.uuid5(b.org, "announcement")),
    "offerings.booking_repository.of_offering": lambda b: [
        {"organization_id": b.org, "offering_id": uuid.uuid5(b.org, "offering-event"), "session_id": s}
        for s in (None, uuid.uuid5(b.org, "session-event"))],
    # media (HLS processing progress)
    "media.get": _in_b(content_id=lambda b: b.draft),
    "media.processing_of": _in_b(content_ids=lambda b: [b.published, b.draft]),
    "media.item_exists": _in_b(content_id=lambda b: b.draft),
    "media.chunk_repository.lock_ladder": _in_b(content_id=lambda b: b.draft),
    "media.chunk_repository.chunk": _in_b(content_id=lambda b: b.draft, chunk_index=0),
    "media.chunk_repository.chunks_of": _in_b(content_id=lambda b: b.draft,
                                              prefix=lambda b: f"hls/{b.org}/{b.draft}/v1/"),
    "media.chunk_repository.pending_count": _in_b(content_id=lambda b: b.draft,
                                                  prefix=lambda b: f"hls/{b.org}/{b.draft}/v1/"),
    "revisions.category_ids": _in_b(content_id=lambda b: b.published),
    "revisions.page": _in_b(content_id=lambda b: b.published, first=10, after=None),
    "revisions.count": _in_b(content_id=lambda b: b.published),
    "revisions.by_id": _in_b(revision_id=lambda b: uuid.uuid5(b.org, "revision")),
    # analytics
    "analytics.view_counts": _in_b(content_ids=lambda b: [b.published, b.draft]),
    "analytics.sales": _in_b(content_ids=lambda b: [b.published]),
    "analytics.days": _in_b(start=date(2000, 1, 1), end=date(2999, 1, 1)),
    "analytics.month_revenue": _in_b(start=date(2000, 1, 1), end=date(2999, 1, 1)),
    "analytics.customer_count": _in_b(),
    "analytics.subscription_totals": _in_b(),
    "analytics.tier_figures": _in_b(),
    "analytics.top_content": _in_b(limit=10),
    "analytics.recent_purchases": _in_b(limit=10),
    "analytics.customers_page": _in_b(first=10, after=None, search=None,
                                                content_id=None, field="TOTAL_SPENT", descending=True),
    "analytics.customers_count": _in_b(search=None, content_id=None),
    "analytics.customer_purchases": _in_b(user_ids=lambda b: [b.customer], first=10, after=None),
    "analytics.owned_content_ids": _in_b(user_ids=lambda b: [b.customer]),
    "analytics.customer_purchase_counts": _in_b(user_ids=lambda b: [b.customer]),
    # audit
    "audit.organization_page": _in_b(where=AuditFilter(), first=10, after=None),
    "audit.organization_count": _in_b(where=AuditFilter()),
    # categories
    "categories.of_organization": lambda b: [{"organization_id": b.org, "staff": staff} for staff in (True, False)],
    "categories.count_in_organization": _in_b(),
    "categories.for_update": lambda b: [{"organization_id": b.org, "category_id": c}
                                        for c in (b.shelf_category, b.secret_category)],
    "categories.slug_taken": lambda b: [{"organization_id": b.org, "slug": s} for s in ("shelf", "secret")],
    "categories.ids_in_organization": _in_b(category_ids=lambda b: [b.shelf_category, b.secret_category]),
    "categories.categories_of": _one(content_ids=lambda b: [b.published, b.draft]),
    "categories.listed_counts": lambda b: [
        {"category_ids": [b.shelf_category, b.secret_category], "organization_id": b.org, "staff": staff}
        for staff in (True, False)],
    "categories.by_id": lambda b: [{"category_id": c} for c in (b.shelf_category, b.secret_category)],
    # credits
    "credits.balance_of": _in_b(user_id=lambda b: b.customer),
    "credits.by_id": _in_b(transaction_id=credit_id),
    "credits.by_key": _in_b(key=lambda b: f"credit_{b.tag}"),
    "credits.own_by_id": _one(user_id=lambda b: b.customer, transaction_id=credit_id),
    "credits.live_lots": _in_b(user_id=lambda b: b.customer),
    "credits.lots_by_id": _in_b(lot_ids=lambda b: [credit_id(b)]),
    "credits.user_page": lambda b: [{"organization_id": org, "user_id": b.customer, "first": 10, "after": None}
                                    for org in (b.org, None)],
    "credits.user_count": lambda b: [{"organization_id": org, "user_id": b.customer} for org in (b.org, None)],
    # subscriptions (tiers)
    "subscriptions.of_organization": lambda b: [{"organization_id": b.org, "staff": staff} for staff in (True, False)],
    "subscriptions.count_unarchived": _in_b(),
    "subscriptions.for_update": lambda b: [{"organization_id": b.org, "tier_id": tier_id(b, w)}
                                           for w in ("published", "draft")],
    "subscriptions.by_creation_key": _in_b(key="k"),
    "subscriptions.by_id": lambda b: [{"tier_id": tier_id(b, w)} for w in ("published", "draft")],
    "subscriptions.in_organization_by_id": lambda b: [{"organization_id": b.org, "tier_id": tier_id(b, w)}
                                                      for w in ("published", "draft")],
    "subscriptions.prices_of": _in_b(tier_ids=lambda b: [tier_id(b, "published"), tier_id(b, "draft")]),
    "subscriptions.categories_of": _in_b(tier_ids=lambda b: [tier_id(b, "published"), tier_id(b, "draft")]),
    "subscriptions.category_ids_of": lambda b: [{"organization_id": b.org, "tier_id": tier_id(b, w)}
                                                for w in ("published", "draft")],
    # subscriptions (customers' subscriptions)
    "subscriptions.billing_repository.lock": _in_b(subscription_id=subscription_id),
    "subscriptions.billing_repository.by_checkout_key": _in_b(user_id=lambda b: b.customer,
                                                              key=lambda b: f"sub_key_{b.tag}"),
    "subscriptions.billing_repository.live_for_tier": _in_b(user_id=lambda b: b.customer,
                                                            tier_id=lambda b: tier_id(b, "published")),
    "subscriptions.billing_repository.own": _one(user_id=lambda b: b.customer, subscription_id=subscription_id),
    "subscriptions.billing_repository.user_page": lambda b: [
        {"organization_id": org, "user_id": b.customer, "first": 10, "after": None} for org in (b.org, None)],
    "subscriptions.billing_repository.user_count": lambda b: [
        {"organization_id": org, "user_id": b.customer} for org in (b.org, None)],
    "subscriptions.billing_repository.customer_id_of": _in_b(user_id=lambda b: b.customer),
    "subscriptions.billing_repository.in_organization_by_id": _in_b(subscription_id=subscription_id),
    "subscriptions.billing_repository.subscriber_counts": _in_b(
        tier_ids=lambda b: [tier_id(b, "published"), tier_id(b, "draft")]),
    "subscriptions.billing_repository.price_by_provider_id": _in_b(provider_price_id=lambda b: f"price_pub_{b.tag}"),
    "subscriptions.reconcile_repository.tier_price": lambda b: [
        {"organization_id": b.org, "price_id": uuid.uuid5(tier_id(b, w), "price")} for w in ("published", "draft")],
    "subscriptions.reconcile_repository.count_on_older_price": _in_b(
        tier_id=lambda b: tier_id(b, "published"), interval=BillingInterval.MONTH, provider_price_id="price_new"),
    "subscriptions.reconcile_repository.on_older_price": _in_b(
        tier_id=lambda b: tier_id(b, "published"), interval=BillingInterval.MONTH, provider_price_id="price_new",
        after=None, limit=10),
    "subscriptions.dunning_repository.lock_for_grace_change": _in_b(),
    # commerce
    "commerce.checkout_by_provider_id": _in_b(provider_session_id=lambda b: f"cs_{b.tag}"),
    "commerce.checkout_by_id": _one(checkout_id=lambda b: b.checkout),
    "commerce.checkout_for_booking": _in_b(booking_id=lambda b: uuid.uuid5(b.org, "booking")),
    "subscriptions.includes_offerings": _in_b(user_id=lambda b: b.customer, now=lambda b: datetime.now(UTC)),
    "commerce.purchase_for_update": _in_b(purchase_id=lambda b: b.purchase),
    "commerce.purchase_by_payment_intent": _in_b(payment_intent=lambda b: f"pi_{b.tag}"),
    "commerce.purchase_by_id": _one(purchase_id=lambda b: b.purchase),
    "commerce.active_purchase": _in_b(user_id=lambda b: b.customer,
                                                content_id=lambda b: b.published),
    "commerce.checkout_to_complete": _in_b(provider_session_id=lambda b: f"cs_{b.tag}",
                                                     payment_intent_id=lambda b: f"pi_{b.tag}"),
    "commerce.user_purchases_page": _one(user_id=lambda b: b.customer, first=10, after=None),
    "commerce.user_purchases_count": _one(user_id=lambda b: b.customer),
    "commerce.organization_purchases_page": _in_b(first=10, after=None),
    "commerce.organization_purchases_count": _in_b(),
    "commerce.revenue_by_content": _in_b(content_ids=lambda b: [b.published]),
    "commerce.refund_by_key": _in_b(key=lambda b: f"r_{b.tag}"),
    "commerce.refund_for_update": _in_b(refund_id=lambda b: b.refund),
    "commerce.refund_by_provider_id": _in_b(provider_refund_id=lambda b: f"re_{b.tag}"),
    "commerce.pending_refund_total": _in_b(purchase_id=lambda b: b.purchase),
    "commerce.organization_ids_after": _one(after=None, limit=1000),
    "commerce.stale_api_refunds": _in_b(before=FAR, limit=10),
    "commerce.idempotency_record": _one(user_id=lambda b: b.customer, operation="startCheckout",
                                                   key=lambda b: f"k_{b.tag}"),
    "commerce.lock_event": _one(event_id=lambda b: f"evt_{b.tag}"),
    "commerce.checkout_event_for_payment": _one(payment_intent=lambda b: f"pi_{b.tag}"),
    "commerce.lock_idempotency_key": _one(user_id=lambda b: b.customer, operation="startCheckout",
                                                     key=lambda b: f"k_{b.tag}"),
    "commerce.receipt_details": _in_b(purchase_id=lambda b: b.purchase),
    "commerce.open_pending_grant": _in_b(content_id=lambda b: b.published,
                                                   email=lambda b: b.grant_email),
    "commerce.pending_grant_for_update": _in_b(grant_id=lambda b: b.grant),
    "commerce.pending_grant_by_id": _in_b(grant_id=lambda b: b.grant),
    "commerce.pending_grants_addressed_to": _one(email=lambda b: b.grant_email),
    "commerce.pending_grant_details": _in_b(grant_id=lambda b: b.grant),
    # content
    "content.catalogue_page": lambda b: [
        {"organization_id": b.org, "staff": staff, "first": 10, "after": None, "kind": None, "tag": None,
         "search": None, "status": None} for staff in (True, False)],
    "content.catalogue_count": lambda b: [
        {"organization_id": b.org, "staff": staff, "kind": None, "tag": None, "search": None, "status": None}
        for staff in (True, False)],
    "content.by_id": lambda b: [{"content_id": c} for c in (b.published, b.draft, b.deleted, b.uploading)],
    "content.readable_by_id": lambda b: [{"content_id": c} for c in (b.published, b.draft, b.deleted)],
    "content.for_update": lambda b: [{"organization_id": b.org, "content_id": c} for c in (b.published, b.draft)],
    "content.abandoned_uploads": _in_b(now=FAR, limit=10),
    "content.entitled_content_ids": _one(user_id=lambda b: b.customer, content_ids=lambda b: [b.published, b.draft]),
    "content.positions": _one(user_id=lambda b: b.customer, content_ids=lambda b: [b.published]),
    "content.by_ids_for_history": _one(content_ids=lambda b: [b.published, b.draft, b.deleted]),
    "content.purgeable": _in_b(deleted_before=FAR, limit=10),
    "content.download_repository.current": _one(user_id=lambda b: b.customer, content_id=lambda b: b.published),
    "content.scheduling_repository.schedules_of": _in_b(content_ids=lambda b: [b.published, b.draft]),
    "content.scheduling_repository.lock_due": _in_b(now=FAR, limit=10),
    # search (the vectors' rows are seeded by the triggers with the content rows)
    "search.search_page": lambda b: [
        {"organization_id": b.org, "staff": staff, "words": words, "fuzzy": fuzzy, "narrow": CatalogueFilter(),
         "free": None, "first": 10, "after": None}
        for staff in (True, False) for words in ("published", "ready", "uploadin") for fuzzy in (True, False)],
    "search.search_count": lambda b: [
        {"organization_id": b.org, "staff": staff, "words": words, "fuzzy": True, "narrow": CatalogueFilter(),
         "free": None} for staff in (True, False) for words in ("published", "ready")],
    # previews (links of the organization's items; the holder's read is in TOKEN_READS)
    "previews.for_update": _in_b(link_id=preview_link_id),
    "previews.by_id": _one(link_id=preview_link_id),
    "previews.live_count": _in_b(content_id=lambda b: b.draft, now=lambda b: datetime.now(UTC)),
    "previews.links_of": lambda b: [
        {"organization_id": b.org, "content_ids": [b.draft, b.published], "include_inactive": every,
         "now": datetime.now(UTC), "limit": 50} for every in (True, False)],
    # org_settings: the organization row itself (public to read, like the organization table)
    "org_settings.for_update": _in_b(),
    "org_settings.settings_of": _in_b(),
    # organizations
    "organizations.by_slug": _one(slug=lambda b: b.slug),
    "organizations.by_id": _in_b(),
    "organizations.by_ids": _one(ids=lambda b: [b.org]),
    "organizations.memberships_of_user": _one(user_id=lambda b: b.owner),
    "organizations.membership": _in_b(user_id=lambda b: b.owner),
    "organizations.member_ids_among": _in_b(user_ids=lambda b: [b.owner, b.customer]),
    "organizations.members_page": _in_b(first=10, after=None),
    "organizations.members_count": _in_b(),
    "organizations.user_ids_of_members": _in_b(),
    "organizations.user_by_email": _one(email=lambda b: b.owner_email),
    "organizations.membership_by_id": _one(membership_id=lambda b: b.membership),
    "organizations.all_ids": _one(),
    "organizations.lock_owners": _in_b(),
    "organizations.lock_membership": _in_b(membership_id=lambda b: b.membership),
    "organizations.lock_pending_invitation": _in_b(email=lambda b: b.invitation_email),
    "organizations.lock_invitation": _in_b(invitation_id=lambda b: b.invitation),
    "organizations.invitations_page": _in_b(pending_only=False, first=10, after=None),
    "organizations.invitations_count": _in_b(pending_only=False),
    "organizations.invitation_by_id": _one(invitation_id=lambda b: b.invitation),
    # reviews
    "reviews.own_for_update": _in_b(content_id=lambda b: b.published, user_id=lambda b: b.owner),
    "reviews.for_update": _in_b(review_id=lambda b: b.pending_review),
    "reviews.by_id": lambda b: [{"review_id": r} for r in (b.published_review, b.pending_review)],
    "reviews.summaries": _one(content_ids=lambda b: [b.published]),
    "reviews.own_reviews": _one(user_id=lambda b: b.owner, content_ids=lambda b: [b.published]),
    "reviews.pages": _one(content_ids=lambda b: [b.published], statuses=STATUSES, first=10, after=None),
    "reviews.counts": _one(content_ids=lambda b: [b.published], statuses=STATUSES),
    # conferencing
    "conferencing.connection": _in_b(),
    "conferencing.session_with_offering": lambda b: [{"organization_id": b.org, "session_id": uuid.uuid5(b.org, n)}
                                                     for n in ("session-event", "session-draft")],
    "conferencing.for_update": _in_b(session_id=lambda b: uuid.uuid5(b.org, "session-event")),
    "conferencing.of_session": _in_b(session_id=lambda b: uuid.uuid5(b.org, "session-event")),
    "conferencing.live_session_ids": _in_b(offering_id=lambda b: uuid.uuid5(b.org, "offering-event")),
    "conferencing.by_provider_id": _one(provider="ZOOM", provider_meeting_id=lambda b: f"zoom-{b.tag}"),
    "conferencing.join_urls_of": _one(session_ids=lambda b: [uuid.uuid5(b.org, "session-event")]),
    "conferencing.event_for_update": _in_b(event_id=lambda b: uuid.uuid5(b.org, "zoom-event")),
    "conferencing.meeting_by_id": lambda b: [{"organization_id": b.org, "meeting_id": uuid.uuid5(b.org, "meeting"),
                                              "lock": lock} for lock in (False, True)],
}

# Reads by design open to whoever holds a secret: compared with the anonymous result only.
TOKEN_READS: dict[str, tuple[Args, str]] = {
    "organizations.invitation_by_token_hash": (
        _one(hashed=lambda b: f"hash-{b.tag}"),
        "the mailed token's holder reads the invitation whatever their organization (policy invitation_by_token)"),
    "previews.preview": (
        _one(token_hash=preview_token_hash),
        "the preview link's holder reads its item, a draft, whatever their scope (codex_content_preview, SECURITY "
        "DEFINER, migration 0030)"),
    "previews.preview_body": (
        _one(token_hash=preview_token_hash),
        "the preview link's holder reads its article body (codex_content_preview, as previews.preview)"),
}

# Writes are out of this test's reach (it commits nothing): the policies' USING / WITH CHECK on writes are
# shown in tests/db/test_rls.py (memberships) and tests/db/test_platform_scope.py (the platform tables).
WRITE = "a write, not a read"
# Public functions of repository modules this test does not call, and why.
NOT_READS: dict[str, str] = {
    **{f"accounts.{n}": "writes to a platform table without RLS (NO_RLS_BY_DESIGN)" for n in (
        "revoke_session", "revoke_user_sessions", "set_session_organization", "mark_tokens_used")},
    "analytics.record_views": WRITE,
    "analytics.rebuild_daily": "SECURITY DEFINER rebuild; refused for another organization (tests/db/test_db_role.py)",
    "analytics.rebuild_all": "SECURITY DEFINER rebuild; refused for another organization (tests/db/test_db_role.py)",
    "analytics.encode_customer_cursor": "pure function, no SQL",
    "analytics.decode_customer_cursor": "pure function, no SQL",
    **{f"commerce.{n}": WRITE for n in (
        "claim_event", "mark_event_handled", "complete_checkout", "grant_entitlement", "revoke_entitlement",
        "store_event", "store_malformed_event", "delete_expired_idempotency", "add_pending_grant")},
    **{f"categories.{n}": WRITE for n in ("add", "remove", "replace_links")},
    **{f"credits.{n}": WRITE for n in ("set_balance", "insert_transaction", "insert_lot", "set_lot_remaining")},
    **{f"subscriptions.{n}": WRITE for n in (
        "add", "deactivate_price", "replace_categories", "set_product_id", "set_price_id",
        "mark_price_archived_at_provider", "mark_product_archived_at_provider")},
    "subscriptions.billing_ready_clause": "builds a SQL clause, runs nothing",
    "subscriptions.billing_repository.add": WRITE,
    "subscriptions.billing_repository.record_invoice": WRITE,
    "articles.save": WRITE,
    **{f"conferencing.{n}": WRITE for n in ("save_connection", "update_tokens", "delete_connection", "reserve",
                                            "add_event")},
    "revisions.add": WRITE,
    **{f"media.{n}": WRITE for n in ("start", "set_progress", "add_done", "record_download")},
    **{f"media.chunk_repository.{n}": WRITE for n in ("plan_chunks", "mark_done")},
    "earnings.replace_contributors": WRITE,
    **{f"offerings.{n}": WRITE for n in ("add", "replace_categories", "add_session", "add_slot_session")},
    **{f"offerings.booking_repository.{n}": WRITE for n in ("move_seats", "add")},
    "offerings.booking_repository.lock_person": "advisory lock on a key, reads no row",
    "offerings.availability_repository.put": WRITE,
    **{f"offerings.portal_repository.{n}": WRITE for n in ("add_item", "add_content_item", "delete_item",
                                                           "add_announcement", "finish_delivery")},
    "offerings.portal_repository.claim_delivery": WRITE + " (an upsert of the organization's delivery row, in its "
                                                  "scope: offerings/portal_jobs.py; tests/offerings)",
    "offerings.booking_repository.waitlist_position": "counts the waitlist ahead of a booking row already read in "
                                                      "its viewer's scope (Booking.waitlistPosition; "
                                                      "tests/offerings)",
    "offerings.booking_repository.holds_expired": "platform scope only (the hold-expiry job, offerings/jobs.py; "
                                                  "tests/offerings)",
    "offerings.calendar_repository.rotate": WRITE,
    "offerings.reminder_repository.claim_due": "claims (inserts) the due reminders of the organization it is given, "
                                               "in that organization's scope (offerings/reminders.py; tests/offerings)",
    "offerings.reminder_repository.organizations_due": "platform scope only (the reminder job, "
                                                       "offerings/reminders.py; tests/offerings)",
    **{f"devices.{n}": WRITE for n in ("touch", "add", "remove")},
    "devices.lock_customer": "advisory lock on a key, reads no row",
    **{f"earnings.payout_repository.{n}": WRITE for n in ("add_account", "retry_failed", "reserve",
                                                         "record_outcome")},
    "earnings.payout_repository.lock_payout_run": "advisory lock on a key, reads no row",
    **{f"earnings.pool_repository.{n}": WRITE for n in ("claim_period", "add_pool_entries")},
    **{f"earnings.statement_repository.{n}": WRITE for n in ("insert_pending", "restart", "mark_ready",
                                                            "mark_failed")},
    "earnings.statement_repository.entries": "a streamed read (async generator) of the statement job in the "
                                             "statement's organization scope, in_organization-scoped "
                                             "(tests/earnings/test_statements.py)",
    "series.add": WRITE,
    "series.add_offer": WRITE,
    "series.offer_for_update": "locks the offer item a series row (already read in its organization's scope) names; "
                               "in_organization-scoped (series.service._sell; tests/series/test_series_offers.py)",
    "series.replace_items": WRITE,
    "offerings.add_offer": WRITE,
    "offerings.offer_for_update": "locks the offer item an offering row (already read in its organization's scope) "
                                  "names; in_organization-scoped (offerings.paid.sync_offer; "
                                  "tests/offerings/test_paid_bookings.py)",
    "revisions.body_as_of": "reads one item's revisions by a revision row already read in its organization's scope "
                            "(revisions.service.restore; tests/revisions)",
    "subscriptions.dunning_repository.claim_reminders": WRITE + " (an UPDATE of the organization's rows)",
    "subscriptions.dunning_repository.organizations_due": "platform scope only (the dunning-reminders job, "
                                                          "subscriptions/dunning.py; tests/subscriptions/"
                                                          "test_dunning_reminders.py)",
    "subscriptions.reconcile_repository.possibly_stale": "platform scope only (the subscription reconciliation "
                                                         "job, subscriptions/jobs.py; tests/subscriptions/"
                                                         "test_subscription_reconciliation.py)",
    "subscriptions.with_pending_work": "platform scope only (the tier reconciliation job, subscriptions/jobs.py; "
                                       "tests/subscriptions/test_tiers_stripe.py)",
    "credits.lock_balance": WRITE + " (makes the balance row at 0, then locks it)",
    "credits.due_owners": "platform scope only (the credit-expiry job, credits/jobs.py; tests/credits/test_ledger.py)",
    "commerce.lock_access": "advisory lock on a key, reads no row",
    "subscriptions.billing_repository.lock_checkout": "advisory lock on a key, reads no row",
    "commerce.lock_grant_email": "advisory lock on a key, reads no row",
    **{f"content.{n}": WRITE for n in ("save_position", "set_status")},
    **{f"content.download_repository.{n}": WRITE for n in ("ensure_counter", "take")},
    **{f"content.scheduling_repository.{n}": WRITE for n in ("put", "remove", "claim")},
    "content.scheduling_repository.organizations_due": "platform scope only (the scheduled-publishing job, "
                                                       "content/scheduling_jobs.py; tests/content/"
                                                       "test_scheduled_publishing_job.py)",
    "organizations.delete_membership": WRITE,
    "previews.add": WRITE,
    **{f"reviews.{n}": WRITE for n in ("insert_if_absent", "add_to_summary")},
    "storage.schedule": WRITE,
    "storage.take_back": WRITE + " (reads only rows it then deletes)",
    "storage.claim_due": "platform scope only (the hygiene job; tests/db/test_platform_scope.py)",
    "storage.forget": "platform scope only (the hygiene job; tests/db/test_platform_scope.py)",
}

# Raw driver connection (db.driver_connection), not the session.
ON_DRIVER_CONNECTION = {"commerce.checkout_to_complete"}

# "<module>.<Loader>" -> the keys to load for B.
LOADERS: dict[str, Callable[[Tenant], list[Any]]] = {
    "accounts.loaders.UserLoader": lambda b: [b.owner, b.customer],
    "analytics.loaders.CustomerPurchasesLoader": lambda b: [(b.customer, 10, None)],
    "analytics.loaders.OwnedContentLoader": lambda b: [b.customer],
    "categories.loaders.ContentCategoriesLoader": lambda b: [b.published, b.draft],
    "articles.loaders.ArticleBodyLoader": lambda b: [b.published, b.draft],
    "series.loaders.PlaceLoader": lambda b: [b.published, b.draft],
    "series.loaders.SeriesLoader": lambda b: [uuid.uuid5(b.org, "series-draft"), uuid.uuid5(b.org, "series-published")],
    "categories.loaders.ListedCountLoader": lambda b: [(c, b.org, staff) for c in (b.shelf_category, b.secret_category)
                                                       for staff in (True, False)],
    "commerce.loaders.RevenueLoader": lambda b: [b.published],
    "commerce.loaders.PurchasedContentLoader": lambda b: [b.published, b.draft, b.deleted],
    "content.loaders.EntitlementLoader": lambda b: [b.published, b.draft],
    "content.loaders.PositionLoader": lambda b: [b.published],
    "content.scheduling_loaders.ScheduleLoader": lambda b: [b.published, b.draft],
    "media.loaders.ProcessingLoader": lambda b: [b.published, b.draft],
    "devices.loaders.CustomerDevicesLoader": lambda b: [b.customer, b.owner],
    "offerings.loaders.AvailabilityLoader": lambda b: [(uuid.uuid5(b.org, n), b.org)
                                                       for n in ("offering-service", "offering-draft-service")],
    "offerings.loaders.PortalItemsLoader": lambda b: [uuid.uuid5(b.org, "offering-event")],
    "offerings.loaders.AnnouncementsLoader": lambda b: [uuid.uuid5(b.org, "offering-event")],
    "offerings.loaders.FiguresLoader": lambda b: [(uuid.uuid5(b.org, n), b.org) for n in ("offering-draft",
                                                                                       "offering-event")],
    "offerings.loaders.ParticipatingLoader": lambda b: [uuid.uuid5(b.org, "offering-event")],
    "offerings.loaders.OfferingLoader": lambda b: [uuid.uuid5(b.org, n) for n in ("offering-draft", "offering-event")],
    "offerings.loaders.SessionsLoader": lambda b: [uuid.uuid5(b.org, n) for n in ("offering-draft", "offering-event")],
    "offerings.loaders.CategoryIdsLoader": lambda b: [uuid.uuid5(b.org, n) for n in ("offering-draft",
                                                                                     "offering-event")],
    "organizations.loaders.OrganizationLoader": lambda b: [b.org],
    "conferencing.loaders.JoinUrlLoader": lambda b: [uuid.uuid5(b.org, n) for n in ("session-event", "session-draft")],
    "previews.loaders.PreviewLinksLoader": lambda b: [(b.draft, True), (b.draft, False), (b.published, True)],
    "reviews.loaders.SummaryLoader": lambda b: [b.published],
    "reviews.loaders.OwnReviewLoader": lambda b: [b.published],
    "reviews.loaders.PageLoader": lambda b: [(b.published, STATUSES, 10, None)],
    "reviews.loaders.CountLoader": lambda b: [(b.published, STATUSES)],
    "analytics.stats.StatsLoader": lambda b: [b.published, b.draft],
    "subscriptions.loaders.SubscriberCountLoader": lambda b: [tier_id(b, "published"), tier_id(b, "draft")],
}
LOADERS_NOT_LOADED = {
    "analytics.stats.ViewRecorder": "writes the viewer's own views (record_views); " + WRITE,
}


def _module_name(path: str) -> str:
    return ".".join(Path(path).relative_to(ROOT).with_suffix("").parts)


def _short(module: str) -> str:
    return module.removeprefix("codex_graphql.").removesuffix(".repository")


def _repository_functions() -> dict[str, Callable[..., Any]]:
    found = {}
    for path in REPOSITORY_FILES:
        module = importlib.import_module(_module_name(path))
        for name, obj in inspect.getmembers(module, inspect.isfunction):
            if obj.__module__ == module.__name__ and not name.startswith("_"):
                found[f"{_short(module.__name__)}.{name}"] = obj
    return found


def _loader_classes() -> dict[str, type[DataLoader]]:
    """The loaders of every ``loaders.py``, and those the request's typed loaders object (the top-level
    ``codex_graphql/loaders.py``) gathers from elsewhere (e.g. ``analytics.stats``)."""
    found = {}
    for path in LOADER_FILES:
        module = importlib.import_module(_module_name(path))
        for _, obj in inspect.getmembers(module, inspect.isclass):
            # the generic bases of codex_graphql/batching.py (KeyedLoader, ...) are not loaders themselves
            if issubclass(obj, DataLoader) and obj is not DataLoader and obj.__module__ != "codex_graphql.batching":
                found[f"{_short(obj.__module__)}.{obj.__name__}"] = obj
    return found


def test_every_repository_function_and_loader_is_exercised_or_listed():
    functions = _repository_functions()
    assert len(REPOSITORY_FILES) >= 9 and len(functions) > 80  # the glob really found the repositories
    listed = set(READS) | set(TOKEN_READS) | set(NOT_READS)
    assert not set(READS) & set(NOT_READS)
    missing = sorted(set(functions) - listed)
    assert not missing, f"call these in READS (with B's ids) or list them in NOT_READS with the reason: {missing}"
    assert not sorted(listed - set(functions)), "listed functions that no longer exist"
    for name, fn in functions.items():
        if name in READS or name in TOKEN_READS:
            assert inspect.iscoroutinefunction(fn), name
            for call in (READS.get(name) or TOKEN_READS[name][0])(_FAKE_B):
                inspect.signature(fn).bind(None, **call)  # the arguments still fit (a TypeError says which)
    loaders = _loader_classes()
    assert len(loaders) >= 10
    assert sorted(loaders) == sorted({*LOADERS, *LOADERS_NOT_LOADED}), "add the loader to LOADERS with B's keys"


_FAKE_B = Tenant(**{f.name: (uuid.uuid4() if f.type in ("uuid.UUID", uuid.UUID) else "x")
                    for f in dataclasses.fields(Tenant)})


def _table_of_row(obj: Any) -> tuple[str, dict[str, Any]] | None:
    """(table, columns) of a plain row holding every column of one table (a SQLAlchemy Row, or a named tuple
    such as ``content.repository.ContentRecord``), or None."""
    if not (hasattr(obj, "_fields") and hasattr(obj, "_asdict")):
        return None
    fields = set(obj._fields)
    for table in Base.metadata.tables.values():
        if fields == {c.key for c in table.columns}:
            columns = obj._asdict()
            return table.name, {k: v.value if isinstance(v, enum.Enum) else v for k, v in columns.items()}
    return None


def _row_of(obj: Any) -> tuple[str, dict[str, Any]] | None:
    """(table, columns) of an ORM instance or of a plain row of a whole table, or None."""
    whole = _table_of_row(obj)
    if whole is not None:
        return whole
    try:
        state = sa_inspect(obj)
    except Exception:
        return None
    mapper = getattr(state, "mapper", None)
    if mapper is None:
        return None
    columns = {c.key: getattr(obj, c.key) for c in mapper.column_attrs}
    return mapper.local_table.name, {k: v.value if isinstance(v, enum.Enum) else v for k, v in columns.items()}


def _normal(value: Any, rows: list[tuple[str, dict[str, Any]]]) -> Any:
    """A comparable form of a result; ORM rows found in it are collected in ``rows``."""
    found = _row_of(value)
    if found is not None:
        rows.append(found)
        table, columns = found
        return ("row", table, tuple(str(v) for k, v in sorted(columns.items()) if k in ("id", "user_id", "content_id")))
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return tuple(_normal(getattr(value, f.name), rows) for f in dataclasses.fields(value))
    if isinstance(value, dict):
        return sorted(((_normal(k, rows), _normal(v, rows)) for k, v in value.items()), key=repr)
    if isinstance(value, set | frozenset):
        return sorted((_normal(v, rows) for v in value), key=repr)
    if isinstance(value, list | tuple) or type(value).__name__ in ("Record", "Row"):
        return [_normal(v, rows) for v in value]
    if isinstance(value, uuid.UUID | str | int | float | bool | datetime | date) or value is None:
        return value
    raise AssertionError(f"teach _normal about {type(value)}: {value!r}")


async def _call(database: Any, viewer: Viewer, fn: Callable[..., Any], name: str, kwargs: dict[str, Any]) -> tuple[Any, list]:
    session = database.session(viewer.scope)
    rows: list[tuple[str, dict[str, Any]]] = []
    try:
        target = await driver_connection(session) if name in ON_DRIVER_CONNECTION else session
        return _normal(await fn(target, **kwargs), rows), rows
    finally:
        await session.rollback()
        await session.close()


async def _load(database: Any, viewer: Viewer, loader_class: type[DataLoader], keys: list[Any]) -> tuple[Any, list]:
    session = database.session(viewer.scope)
    rows: list[tuple[str, dict[str, Any]]] = []
    try:
        loader = loader_class(SimpleNamespace(db=session, viewer=viewer))
        return _normal(await loader.load_many(keys), rows), rows
    finally:
        await session.rollback()
        await session.close()


def _leaks(rows: list[tuple[str, dict[str, Any]]], ctx: dict[str, Any]) -> list[Any]:
    """Tenant rows the viewer may not see (rows of the platform tables in NO_RLS_BY_DESIGN are nobody's)."""
    return [(table, columns.get("id")) for table, columns in rows
            if table not in NO_RLS_BY_DESIGN and not _allowed(table, columns, ctx)]


@pytest.mark.parametrize("who", ["staff_of_a", "customer_of_a"])
async def test_every_repository_read_with_b_ids_returns_nothing_of_b(app, admin, seeded, who):
    database = app.state.runtime["services"].db
    a, b = seeded["a"], seeded["b"]
    viewer, anonymous = _viewer(who, a), Viewer()
    ctx, anonymous_ctx = await _expectations(admin, viewer), await _expectations(admin, anonymous)
    functions = _repository_functions()
    exercised = 0
    for name, args in [*READS.items(), *((n, spec[0]) for n, spec in TOKEN_READS.items())]:
        for kwargs in args(b):
            got, rows = await _call(database, viewer, functions[name], name, kwargs)
            baseline, baseline_rows = await _call(database, anonymous, functions[name], name, kwargs)
            # No more than an anonymous visitor gets with the same ids ...
            assert got == baseline, f"{name}({kwargs}) as {who} returns more than anonymously: {got} != {baseline}"
            if name in TOKEN_READS:
                continue
            # ... and nothing of B that is not public by design, for the viewer or the anonymous visitor.
            assert not _leaks(rows, ctx), f"{name}({kwargs}) as {who} returns {_leaks(rows, ctx)}"
            assert not _leaks(baseline_rows, anonymous_ctx), f"{name}({kwargs}) anonymously returns {_leaks(baseline_rows, anonymous_ctx)}"
            exercised += 1
    assert exercised >= len(READS)
    # The same calls with A's own ids do return A's rows to A's staff: the calls are meaningful.
    if who == "staff_of_a":
        for name in ("commerce.purchase_by_id", "organizations.lock_owners",
                     "audit.organization_count", "content.for_update",
                     "commerce.stale_api_refunds", "previews.for_update",
                     "content.scheduling_repository.schedules_of"):
            got, _ = await _call(database, viewer, functions[name], name, READS[name](a)[-1])
            assert got not in (None, [], 0), (name, got)


@pytest.mark.parametrize("who", ["staff_of_a", "customer_of_a"])
async def test_every_loader_with_b_keys_returns_nothing_of_b(app, admin, seeded, who):
    database = app.state.runtime["services"].db
    b = seeded["b"]
    viewer, anonymous = _viewer(who, seeded["a"]), Viewer()
    ctx = await _expectations(admin, viewer)
    loaders = _loader_classes()
    for name, keys in LOADERS.items():
        got, rows = await _load(database, viewer, loaders[name], keys(b))
        baseline, _ = await _load(database, anonymous, loaders[name], keys(b))
        assert got == baseline, f"{name} as {who} loads more than anonymously: {got} != {baseline}"
        assert not _leaks(rows, ctx), f"{name} as {who} loads {_leaks(rows, ctx)}"


async def test_the_anonymous_reads_see_the_public_catalogue_of_b(app, seeded):
    """The baseline is not empty by accident: anonymously, B's published item and its published review
    come back, its draft does not."""
    database = app.state.runtime["services"].db
    b, functions = seeded["b"], _repository_functions()
    found, _ = await _call(database, Viewer(), functions["content.by_ids_for_history"],
                           "content.by_ids_for_history", READS["content.by_ids_for_history"](b)[0])
    assert [r[2][0] for r in found] == [str(b.published)]
    review, _ = await _call(database, Viewer(), functions["reviews.by_id"], "reviews.by_id",
                            {"review_id": b.published_review})
    assert review is not None and review[2] == (str(b.published), str(b.published_review), str(b.customer))
    pending, _ = await _call(database, Viewer(), functions["reviews.by_id"], "reviews.by_id",
                             {"review_id": b.pending_review})
    assert pending is None
