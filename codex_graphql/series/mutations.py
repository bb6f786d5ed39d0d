"""createSeries, updateSeries, addToSeries, removeFromSeries and reorderSeries (staff with CONTENT_MANAGE_ALL: a
series spans every creator's items)."""

from __future__ import annotations

import strawberry

from codex_graphql.authz import Permission
from codex_graphql.context import Context
from codex_graphql.payloads import mutation_field
from codex_graphql.permissions import HasOrgPermission
from codex_graphql.relay import decode_id
from codex_graphql.series import service
from codex_graphql.series.types import Series

ITEMS = f"`Content` ids of live items of the organization; a series holds at most {service.MAX_ITEMS}."
PRICE = ("Sell the whole series at this price in minor units (0: free to claim): buying it entitles every item in "
         "it, the ones added later too. On sale while the series is published.")
RULE = " NOT_FOUND for a series id that is not the active organization's."
PAYLOAD = {"series": (Series, "The series after the change.")}


@strawberry.input(description="A new series of the active organization.")
class CreateSeriesInput:
    title: str = strawberry.field(description="1 to 200 characters.")
    description: str = strawberry.field(default="", description="Plain text, up to 10,000 characters.")
    published: bool = strawberry.field(default=False, description="True: public at once; false (default): DRAFT.")
    price_cents: int | None = strawberry.field(default=None, description=PRICE)


@strawberry.input(description="Changes to a series; omitted fields stay as they are.")
class UpdateSeriesInput:
    series_id: strawberry.ID = strawberry.field(description="The series, in the active organization.")
    title: str | None = strawberry.field(default=None, description="1 to 200 characters.")
    description: str | None = strawberry.field(default=None, description="Plain text, up to 10,000 characters.")
    published: bool | None = strawberry.field(default=None, description="Publish (true) or take back to DRAFT.")
    price_cents: int | None = strawberry.field(default=None, description=PRICE)
    for_sale: bool | None = strawberry.field(default=None, description="Stop (false) or resume (true) selling the "
                                             "series; buyers keep what they bought. INVALID_INPUT without a price.")


@strawberry.input(description="Items to put in a series.")
class AddToSeriesInput:
    series_id: strawberry.ID = strawberry.field(description="The series, in the active organization.")
    content_ids: list[strawberry.ID] = strawberry.field(description=ITEMS + " Items already in this series move.")
    position: int | None = strawberry.field(default=None, description="Where to put them, 0-based; omitted or past "
                                            "the end: at the end.")


@strawberry.input(description="Items to take out of a series.")
class RemoveFromSeriesInput:
    series_id: strawberry.ID = strawberry.field(description="The series, in the active organization.")
    content_ids: list[strawberry.ID] = strawberry.field(description="Items of the series (NOT_FOUND otherwise).")


@strawberry.input(description="A series' new order.")
class ReorderSeriesInput:
    series_id: strawberry.ID = strawberry.field(description="The series, in the active organization.")
    content_ids: list[strawberry.ID] = strawberry.field(description="Every item of the series, each once, in the new "
                                                        "order (INVALID_INPUT otherwise).")


def _ids(raw: list[strawberry.ID]) -> list:  # type: ignore[type-arg]
    return [decode_id(i, "Content") for i in raw]


@strawberry.type
class SeriesMutations:
    @mutation_field(HasOrgPermission(Permission.CONTENT_MANAGE_ALL), payload=PAYLOAD,
                    description="Create a series in the active organization. INVALID_INPUT for an empty or oversized "
                    "title or description.", input_description="Title, and optionally description and publication.")
    async def create_series(ctx: Context, input: CreateSeriesInput) -> dict:
        changes = service.SeriesChanges(title=input.title, description=input.description, published=input.published,
                                        price_cents=input.price_cents)
        return {"series": Series.from_model(await service.create(ctx.db, ctx.viewer, changes))}

    @mutation_field(HasOrgPermission(Permission.CONTENT_MANAGE_ALL), payload=PAYLOAD,
                    description="Rename, describe, publish or unpublish a series." + RULE,
                    input_description="The series and what to change.")
    async def update_series(ctx: Context, input: UpdateSeriesInput) -> dict:
        series = await service.managed(ctx.db, ctx.viewer, decode_id(input.series_id, "Series"))
        changes = service.SeriesChanges(title=input.title, description=input.description, published=input.published,
                                        price_cents=input.price_cents, for_sale=input.for_sale)
        return {"series": Series.from_model(await service.edit(ctx.db, ctx.viewer, series, changes))}

    @mutation_field(HasOrgPermission(Permission.CONTENT_MANAGE_ALL), payload=PAYLOAD,
                    description="Put items in a series, at a position or at the end. NOT_FOUND for an id that is not "
                    "a live item of the organization; ALREADY_EXISTS for an item in another series (an item is in at "
                    "most one); INVALID_INPUT for an empty list, a negative position or too many items." + RULE,
                    input_description="The series, the items and where.")
    async def add_to_series(ctx: Context, input: AddToSeriesInput) -> dict:
        series = await service.managed(ctx.db, ctx.viewer, decode_id(input.series_id, "Series"))
        return {"series": Series.from_model(await service.add_items(ctx.db, ctx.viewer, series, _ids(input.content_ids),
                                                                    input.position))}

    @mutation_field(HasOrgPermission(Permission.CONTENT_MANAGE_ALL), payload=PAYLOAD,
                    description="Take items out of a series (the others keep their order). NOT_FOUND when one of "
                    "them is not in it." + RULE, input_description="The series and the items.")
    async def remove_from_series(ctx: Context, input: RemoveFromSeriesInput) -> dict:
        series = await service.managed(ctx.db, ctx.viewer, decode_id(input.series_id, "Series"))
        return {"series": Series.from_model(await service.remove_items(ctx.db, ctx.viewer, series, _ids(input.content_ids)))}

    @mutation_field(HasOrgPermission(Permission.CONTENT_MANAGE_ALL), payload=PAYLOAD,
                    description="Give a series a new order: list every item once. INVALID_INPUT otherwise." + RULE,
                    input_description="The series and every item in the new order.")
    async def reorder_series(ctx: Context, input: ReorderSeriesInput) -> dict:
        series = await service.managed(ctx.db, ctx.viewer, decode_id(input.series_id, "Series"))
        return {"series": Series.from_model(await service.reorder(ctx.db, ctx.viewer, series, _ids(input.content_ids)))}
