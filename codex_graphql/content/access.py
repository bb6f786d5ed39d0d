"""Who may see and who may play a content item: the rule, on plain values and in SQL, declared once.

Access comes from entitlements, of two sources, or from a staff role in the item's organization:

- ``content_entitlement``: one active row per user and item, written in the transaction of the purchase,
  grant or free claim and revoked by a full refund or a revoked grant;
- a subscription (``subscription``, migration 0024) whose ``access_until`` is still ahead, to a tier that
  grants every item of the organization or the item's categories. It covers PUBLISHED, live items only
  (what the tier sells now; a bought item is kept after unpublishing, a subscribed one is not), and the
  subscription service maintains ``access_until`` (period end, grace when PAST_DUE, null once ended).

- a bought series (``series.offer_content_id``, migration 0034): an active entitlement to a series' offer item
  (kind BUNDLE, bought like any item) entitles every item in the series, the ones added after the purchase
  too; no row is copied per item.

- an offering's portal (``offering_portal_item``, migration 0044): an item attached to the portal of an offering
  entitles the people holding a CONFIRMED booking of it (``entitled_set_sql``), whatever the item's state, like a
  bought series; the booking is the source, so cancelling it ends the access with no row to revoke.

A source is one more branch of ``entitled_set_sql`` (a term of ``entitled_sql`` where it is not a set of rows),
one more term of ``entitled_content_clause`` and of ``admitting_source`` (which names
the row that admits a viewer, for what is counted per access: download counters, one per source row and item);
nothing else here changes.

- Reading an item by id (``content(id:)``, ``node(id:)``, a purchase's ``content``): staff of its
  organization while it is not deleted, anyone while it is published and not deleted, and an entitled
  viewer always: buyers keep what they paid for after the item is unpublished or deleted.
- Listing: only published, listed, live items for everyone; every live item for staff. Entitlements
  never put an unpublished or deleted item back into a list or a search.
- Playing: the media must be ready; then an entitled viewer, or staff while the item is not deleted.

Each rule stands here in the forms its callers need, side by side: on plain values (``may_read``,
``may_play``, ``is_listed``: the resolvers; ``reads``, ``plays``: the compiled path's shaping, over the
viewer's ``staff_organization`` computed once per request), as SQLAlchemy conditions
(``listed_clause``, ``entitled_clause``: the repositories) and as SQL text (``entitled_sql``,
``plays_sql``, ``listed_sql``: the compiled statements). ``tests/content/test_access_rules.py`` evaluates
every form on every combination of status, listing, deletion, staff and entitlement and requires the same
answer. The row-level security policy on ``content`` (migration 0008) admits the same rows: the
organization's, the published live ones (which include every subscription-entitled one), and the viewer's
entitled ones.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Boolean, ColumnElement, Select, and_, case, exists, func, literal, or_, select
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import aliased

from codex_graphql.authz import Permission, Viewer
from codex_graphql.content.models import Content, ContentEntitlement, ContentStatus
from codex_graphql.offerings.models import Booking, BookingStatus
from codex_graphql.offerings.portal_models import PortalItem
from codex_graphql.series.models import Series, SeriesItem

PLAYABLE = (ContentStatus.READY, ContentStatus.PUBLISHED)


def entitled_sql(table: str, user: str) -> str:
    """SQL: the viewer ``user`` (a parameter or expression of the statement, never of ``table``'s row; NULL when
    anonymous) is entitled to the row of ``table``: its id is in the viewer's entitled set (``entitled_set_sql``:
    active entitlement rows, bought series, offering portals), or a subscription covers it (``subscribed_sql``)."""
    return f"({table}.id IN ({entitled_set_sql(user)}) OR {subscribed_sql(table, user)})"


def entitled_set_sql(user: str) -> str:
    """SQL: the ids of the items ``user`` holds through a row of their own: an active entitlement, an item of a
    series whose offer (``series.offer_content_id``) they hold an active entitlement to (buying a series entitles
    every item in it, the ones added later too), or an item attached to the portal of an offering they hold a
    CONFIRMED booking of (a cancelled, waitlisted or held booking admits nobody).

    Not correlated with the row tested: PostgreSQL reads the set once per statement (a hashed subplan) and probes
    it per row, where one EXISTS per source and row read three indexes, each under its table's policies, for every
    row of a page (a quarter of the storefront statement's time under the app role, measured). No branch yields a
    NULL (a portal's file items have none), so ``IN`` is true or false, never unknown."""
    confirmed = BookingStatus.CONFIRMED.value
    # The names come from the compiled path's own constants, never from a request.
    return (f"SELECT e.content_id FROM content_entitlement e WHERE e.user_id = {user} "  # noqa: S608
            f"AND e.revoked_at IS NULL UNION ALL SELECT si.content_id FROM series_item si JOIN series s ON "
            f"s.id = si.series_id JOIN content_entitlement se ON se.content_id = s.offer_content_id WHERE "
            f"se.user_id = {user} AND se.revoked_at IS NULL UNION ALL SELECT pi.content_id FROM "
            f"offering_portal_item pi JOIN booking pb ON pb.offering_id = pi.offering_id WHERE pb.user_id = {user} "
            f"AND pb.status = '{confirmed}' AND pi.content_id IS NOT NULL")


def subscribed_sql(table: str, user: str) -> str:
    """SQL: the row of ``table`` is PUBLISHED and live, and ``user`` holds a subscription in its organization,
    with access still ahead, to a tier granting every item or one of the row's categories. The subscription
    part runs in the functions of migration 0024 (the same condition over the same policies, kept out of the
    statement's plan): once per statement whether the viewer subscribes at all, per row only if so."""
    published = ContentStatus.PUBLISHED.value
    return (f"({table}.status = '{published}' AND {table}.deleted_at IS NULL "  # noqa: S608
            f"AND (SELECT codex_has_subscription({user})) "
            f"AND codex_subscribed({user}, {table}.organization_id, {table}.id))")


def plays_sql(table: str, user: str, staff_organization: str) -> str:
    """SQL form of ``may_play``; ``staff_organization`` is the viewer's active organization when they
    are staff there (``is_staff``), else NULL."""
    return plays_of_columns(f"{table}.status", f"{table}.deleted_at", f"{table}.organization_id",
                            entitled_sql(table, user), staff_organization)


def plays_of_columns(status: str, deleted_at: str, organization_id: str, entitled: str,
                     staff_organization: str) -> str:
    """``plays_sql`` over values read already (a row's columns and its ``entitled_sql``, e.g. a CTE's), so a
    statement that shows whether the viewer is entitled and also acts on whether they may play evaluates the
    entitlement once."""
    playable = ", ".join(f"'{value.value}'" for value in PLAYABLE)
    return (f"{status} IN ({playable}) AND ({entitled} OR ({deleted_at} IS NULL "
            f"AND {organization_id} IS NOT DISTINCT FROM {staff_organization}))")


def is_staff(viewer: Viewer, organization_id: uuid.UUID) -> bool:
    return viewer.can(Permission.CONTENT_READ, organization_id)


def staff_organization(viewer: Viewer) -> uuid.UUID | None:
    """The viewer's active organization when they are staff there, else None: the value the SQL forms
    (``plays_sql``, ``listed_sql``, ``filters.filter_sql``) take as ``staff_organization``."""
    active = viewer.active_organization_id
    return active if active is not None and is_staff(viewer, active) else None


def readable_without_entitlement(viewer: Viewer, status: str, deleted: bool, organization_id: uuid.UUID) -> bool:
    """``may_read`` for a viewer without an entitlement; when False, only an entitlement admits them."""
    if deleted:
        return False
    return status == ContentStatus.PUBLISHED or is_staff(viewer, organization_id)


def may_read(viewer: Viewer, status: str, deleted: bool, organization_id: uuid.UUID, entitled: bool) -> bool:
    return entitled or readable_without_entitlement(viewer, status, deleted, organization_id)


def may_play(viewer: Viewer, status: str, deleted: bool, organization_id: uuid.UUID, entitled: bool) -> bool:
    if status not in PLAYABLE:
        return False
    if entitled:
        return True
    return not deleted and is_staff(viewer, organization_id)


# The values of PLAYABLE, for rows read as text (a StrEnum member hashes and compares as its value).
PLAYABLE_VALUES = frozenset(status.value for status in PLAYABLE)


def plays(staff_organization: uuid.UUID | None, status: str, deleted: bool, organization_id: uuid.UUID,
          entitled: bool) -> bool:
    """``may_play`` with the viewer's standing taken once per request (``staff_organization(viewer)``),
    as ``plays_sql`` takes it: the compiled path's per-row form."""
    if status not in PLAYABLE_VALUES:
        return False
    return entitled or (not deleted and staff_organization is not None and organization_id == staff_organization)


def reads(staff_organization: uuid.UUID | None, status: str, deleted: bool, organization_id: uuid.UUID,
          entitled: bool) -> bool:
    """``may_read`` with the viewer's standing taken once per request, like ``plays``."""
    if entitled:
        return True
    return not deleted and (status == ContentStatus.PUBLISHED or (
        staff_organization is not None and organization_id == staff_organization))


def listed_sql(table: str, staff_organization: str) -> str:
    """SQL form of the listing rule: the row of ``table`` is live, and published and listed unless the
    viewer is staff of its organization (``staff_organization`` as in ``plays_sql``)."""
    published = ContentStatus.PUBLISHED.value
    return (f"{table}.deleted_at IS NULL AND CASE WHEN {table}.organization_id = {staff_organization} THEN true "
            f"ELSE {table}.status = '{published}' AND {table}.listed END")


def is_listed(viewer: Viewer, status: str, listed: bool, deleted: bool, organization_id: uuid.UUID) -> bool:
    """The listing rule on plain values: what ``listed_clause`` and ``listed_sql`` select."""
    if deleted:
        return False
    return is_staff(viewer, organization_id) or (status == ContentStatus.PUBLISHED and listed)


def listed_clause(staff: bool) -> ColumnElement[bool]:
    """The listing rule as a condition on ``Content`` for one organization's list (the caller scopes the
    organization and knows whether the viewer is staff there)."""
    live = Content.deleted_at.is_(None)
    if staff:
        return live
    # Unlisted (PRIVATE) items stay reachable by id but are left out of the public list.
    return and_(live, Content.status == ContentStatus.PUBLISHED, Content.listed.is_(True))


def active_entitlement() -> ColumnElement[bool]:
    """``ContentEntitlement`` rows that still give access (not revoked by a full refund or by staff)."""
    return ContentEntitlement.revoked_at.is_(None)


def entitled_clause(user_id: uuid.UUID) -> ColumnElement[bool]:
    """``ContentEntitlement`` rows that admit ``user_id`` (the first source of ``entitled_content_clause``)."""
    return and_(ContentEntitlement.user_id == user_id, active_entitlement())


def subscribed_clause(user_id: uuid.UUID) -> ColumnElement[bool]:
    """``Content`` rows a subscription of ``user_id`` covers: the condition ``subscribed_sql`` states in SQL."""
    user = user_id if isinstance(user_id, ColumnElement) else literal(user_id, UUID(as_uuid=True))
    return and_(Content.status == ContentStatus.PUBLISHED, Content.deleted_at.is_(None),
                select(func.codex_has_subscription(user, type_=Boolean)).scalar_subquery(),
                func.codex_subscribed(user, Content.organization_id, Content.id, type_=Boolean))


def bought_series_clause(user_id: uuid.UUID) -> ColumnElement[bool]:
    """``Content`` rows in a series ``user_id`` bought: the condition ``entitled_set_sql`` states."""
    offer = aliased(ContentEntitlement)
    return exists(select(SeriesItem.content_id).join(Series, Series.id == SeriesItem.series_id).join(
        offer, offer.content_id == Series.offer_content_id).where(
        SeriesItem.content_id == Content.id, offer.user_id == user_id, offer.revoked_at.is_(None)))


def _portal_bookings(user_id: uuid.UUID) -> Select[Any]:
    """The confirmed bookings of ``user_id`` whose offering's portal holds the ``Content`` row (correlated)."""
    return select(Booking.id).select_from(PortalItem).join(Booking, Booking.offering_id == PortalItem.offering_id).where(
        PortalItem.content_id == Content.id, Booking.user_id == user_id, Booking.status == BookingStatus.CONFIRMED)


def portal_clause(user_id: uuid.UUID) -> ColumnElement[bool]:
    """``Content`` rows attached to the portal of an offering ``user_id`` participates in: ``entitled_set_sql``."""
    return exists(_portal_bookings(user_id))


def entitled_content_clause(user_id: uuid.UUID) -> ColumnElement[bool]:
    """``Content`` rows ``user_id`` is entitled to, from every source: the condition ``entitled_sql`` states."""
    owned = exists(select(ContentEntitlement.id).where(ContentEntitlement.content_id == Content.id,
                                                       entitled_clause(user_id)))
    return or_(owned, bought_series_clause(user_id), portal_clause(user_id), subscribed_clause(user_id))


def admitting_source(user_id: uuid.UUID, content_id: uuid.UUID) -> Select[Any]:
    """The row that admits ``user_id`` to the item, for what is counted per access (download counters): one row
    (``organization_id``, ``entitlement_id``, ``subscription_id``) naming the active entitlement row when there is
    one, else the entitlement to a bought series holding the item (its counters are per item), else the
    subscription covering the item (``subscribed_clause``; ``codex_covering_subscription`` of
    migration 0026 names it, the oldest when several do), else (``booking_id``) the confirmed booking of an offering
    whose portal holds the item (``portal_clause``). Every id is null when no source admits the viewer (staff
    access is no source)."""
    user = literal(user_id, UUID(as_uuid=True))
    covering = func.codex_covering_subscription(user, Content.organization_id, Content.id, type_=UUID(as_uuid=True))
    offer = aliased(ContentEntitlement)
    bought_series = select(offer.id).select_from(SeriesItem).join(Series, Series.id == SeriesItem.series_id).join(
        offer, offer.content_id == Series.offer_content_id).where(
        SeriesItem.content_id == Content.id, offer.user_id == user_id, offer.revoked_at.is_(None)).limit(1)
    entitlement = func.coalesce(ContentEntitlement.id, bought_series.scalar_subquery())
    subscription = case((and_(entitlement.is_(None), subscribed_clause(user_id)), covering))
    booking = case((and_(entitlement.is_(None), subscription.is_(None)),
                    _portal_bookings(user_id).order_by(Booking.id).limit(1).scalar_subquery()))
    return (
        select(Content.organization_id, entitlement.label("entitlement_id"), subscription.label("subscription_id"),
               booking.label("booking_id"))
        .select_from(Content)
        # At most one active entitlement per user and item (index uq_content_entitlement_active).
        .outerjoin(ContentEntitlement, and_(ContentEntitlement.content_id == Content.id, entitled_clause(user_id)))
        .where(Content.id == content_id)
    )
