"""GraphQL types of series: ``Series``, ``node(id:)`` for one, and the series' fields on ``Content`` and
``Organization`` (attached by schema assembly)."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime

import strawberry

from codex_graphql.commerce import loaders as commerce_loaders
from codex_graphql.content import access
from codex_graphql.content import loaders as content_loaders
from codex_graphql.content.models import Content as ContentModel
from codex_graphql.content.types import AfterArg, Content, FirstArg
from codex_graphql.context import Context
from codex_graphql.pagination import invalid_cursor
from codex_graphql.relay import Connection, Node, Page, build_connection, check_first, register_node
from codex_graphql.row_types import from_row
from codex_graphql.series import loaders, repository, service
from codex_graphql.series.models import Series as SeriesModel
from codex_graphql.series.models import SeriesStatus


def _position_cursor(position: int) -> str:
    return base64.urlsafe_b64encode(f"p|{position}".encode()).decode()


def _after_position(after: str | None) -> int:
    if after is None:
        return -1
    try:
        tag, _, raw = base64.urlsafe_b64decode(after.encode()).decode().partition("|")
        position = int(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise invalid_cursor() from error
    if tag != "p" or not 0 <= position <= service.MAX_ITEMS:
        raise invalid_cursor()
    return position


async def _contents(ctx: Context, ids: list[uuid.UUID]) -> list[Content]:
    rows = await commerce_loaders.purchased_content(ctx).load_many(ids)
    return [Content.from_model(row) for row in rows if row is not None]


@strawberry.type(description="An ordered sequence of an organization's items (a course, a season). Its items show "
                 "where the catalogue would show them: published, listed, live ones for everyone; every live one "
                 "for the organization's staff.")
class Series(Node):
    title: str = strawberry.field(description="Title, 1 to 200 characters.")
    description: str = strawberry.field(description="Description (plain text); may be empty.")
    status: SeriesStatus = strawberry.field(description="DRAFT (staff only) or PUBLISHED.")
    created_at: datetime = strawberry.field(description="When the series was created.")
    updated_at: datetime = strawberry.field(description="When the series or its items last changed.")
    row: strawberry.Private[SeriesModel]

    @classmethod
    def from_model(cls, series: SeriesModel) -> Series:
        return from_row(cls, series, "Series", row=series)

    @property
    def organization_id(self) -> uuid.UUID:
        return self.row.organization_id

    @strawberry.field(description="The items the viewer may see, in the series' order.")
    async def items(self, info: strawberry.Info, first: FirstArg = None, after: AfterArg = None) -> Connection[Content]:
        ctx: Context = info.context
        size = check_first(first)
        start = _after_position(after)
        staff = access.staff_organization(ctx.viewer)
        found = await repository.listed_items(ctx.db, self.row.id, staff, start, size + 1)
        shown = found[:size]
        contents = {c.row.id: c for c in await _contents(ctx, [content_id for content_id, _ in shown])}
        pairs = [(contents[content_id], position) for content_id, position in shown if content_id in contents]
        page = Page(items=[c for c, _ in pairs], cursors=[_position_cursor(p) for _, p in pairs],
                    has_next_page=len(found) > size, has_previous_page=start >= 0)
        return build_connection(page, lambda item: item, lambda: self._count(ctx, staff))

    async def _count(self, ctx: Context, staff: uuid.UUID | None) -> int:
        return (await repository.listed_count(ctx.db, [self.row.id], staff)).get(self.row.id, 0)

    @strawberry.field(description="Whether the series is sold as a whole (it has a price and selling is on); it is "
                      "on sale while published.")
    def for_sale(self) -> bool:
        return self.row.offer_content_id is not None and self.row.for_sale

    @strawberry.field(description="What the series is sold as: an item of kind BUNDLE, bought like any item "
                      "(`startCheckout(input: {contentId: offer.id})`, or `claimFree` at 0). Buying it entitles "
                      "every item of the series, the ones added later too. Null when the series has no price; "
                      "visible to customers while on sale.")
    async def offer(self, info: strawberry.Info) -> Content | None:
        if self.row.offer_content_id is None:
            return None
        found = await _contents(info.context, [self.row.offer_content_id])
        return found[0] if found else None

    @strawberry.field(description="Whether the signed-in viewer bought (or was granted) the whole series.")
    async def viewer_owns(self, info: strawberry.Info) -> bool:
        if self.row.offer_content_id is None or info.context.viewer.user_id is None:
            return False
        return bool(await content_loaders.entitlements(info.context).load(self.row.offer_content_id))

    @strawberry.field(description="How many items the viewer may see in it.")
    async def item_count(self, info: strawberry.Info) -> int:
        ctx: Context = info.context
        staff = access.staff_organization(ctx.viewer)
        return (await repository.listed_count(ctx.db, [self.row.id], staff)).get(self.row.id, 0)


def visible(ctx: Context, row: SeriesModel | None) -> Series | None:
    if row is None:
        return None
    if row.status is SeriesStatus.PUBLISHED or service.sees_every_series(ctx.viewer, row.organization_id):
        return Series.from_model(row)
    return None


@register_node("Series")
async def visible_series(ctx: Context, series_id: uuid.UUID) -> Series | None:
    return visible(ctx, await repository.by_id(ctx.db, series_id))


async def _place(info: strawberry.Info, row: ContentModel) -> tuple[object, ...] | None:
    return await loaders.places(info.context).load(row.id)


@strawberry.type(description="Series' fields of `Content` (never served as a type of its own).")
class ContentSeries:
    row: strawberry.Private[ContentModel]  # ``self`` is the Content object being resolved

    @strawberry.field(description="The series this item is in, when the viewer may see it (published, or the "
                      "organization's staff); null otherwise.")
    async def series(self, info: strawberry.Info) -> Series | None:
        place = await _place(info, self.row)
        if place is None:
            return None
        return visible(info.context, await loaders.series(info.context).load(place[0]))  # type: ignore[arg-type]

    @strawberry.field(description="The item's place in its series, counted from 1 over every item of the series; "
                      "null when it is in none the viewer may see.")
    async def series_position(self, info: strawberry.Info) -> int | None:
        place = await _place(info, self.row)
        return int(place[1]) + 1 if place is not None else None  # type: ignore[call-overload]

    @strawberry.field(description="The next item of its series that the viewer may see; null at the end.")
    async def next_in_series(self, info: strawberry.Info) -> Content | None:
        place = await _place(info, self.row)
        if place is None or place[2] is None:
            return None
        found = await _contents(info.context, [place[2]])  # type: ignore[list-item]
        return found[0] if found else None

    @strawberry.field(description="The previous item of its series that the viewer may see; null at the start.")
    async def previous_in_series(self, info: strawberry.Info) -> Content | None:
        place = await _place(info, self.row)
        if place is None or place[3] is None:
            return None
        found = await _contents(info.context, [place[3]])  # type: ignore[list-item]
        return found[0] if found else None


@strawberry.type(description="Series' fields of `Organization` (never served as a type of its own).")
class OrganizationSeries:
    organization_id: strawberry.Private[uuid.UUID]  # ``self`` is the Organization object being resolved

    @strawberry.field(description="The organization's series, newest first: the published ones for everyone, every "
                      "one for its staff (CONTENT_READ).")
    async def series(self, info: strawberry.Info, first: FirstArg = None, after: AfterArg = None) -> Connection[Series]:
        ctx: Context = info.context
        staff = service.sees_every_series(ctx.viewer, self.organization_id)
        page = await repository.page(ctx.db, self.organization_id, staff, check_first(first), after)
        return build_connection(page, Series.from_model,
                                lambda: repository.count(ctx.db, self.organization_id, staff))
