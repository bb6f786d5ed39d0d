"""setContentRevenueSplit: an item's creators' share and co-creators (staff with SETTINGS_MANAGE)."""

from __future__ import annotations

import strawberry

from codex_graphql.authz import Permission
from codex_graphql.content.types import Content
from codex_graphql.context import Context
from codex_graphql.earnings import service
from codex_graphql.payloads import mutation_field
from codex_graphql.permissions import HasOrgPermission
from codex_graphql.relay import decode_id


@strawberry.input(description="A co-creator of an item.")
class ContributorInput:
    user_id: strawberry.ID = strawberry.field(description="A `User` id of a member of the organization.")
    share_percent: int = strawberry.field(description="Their percent of the item's creators' share, 1 to 100; the "
                                          "co-creators of an item take at most 100 together.")


@strawberry.input(description="How an item's sales are divided from its next sale on.")
class SetContentRevenueSplitInput:
    content_id: strawberry.ID = strawberry.field(description="A live item of the active organization.")
    creator_share_percent: int | None = strawberry.field(
        default=None, description="The creators' share of this item's sales, 0 to 100 percent of what remains after "
        "the platform fee; null or omitted: the organization's `defaultCreatorSharePercent`.")
    contributors: list[ContributorInput] = strawberry.field(
        default_factory=list, description="Every co-creator (the list replaces the item's; empty: none). The item's "
        "creator gets the part of the creators' share they leave.")


@strawberry.type
class EarningsMutations:
    @mutation_field(HasOrgPermission(Permission.SETTINGS_MANAGE),
                    payload={"content": (Content, "The item after the change (its `revenueSplit`).")},
                    description="Set an item's creators' share and co-creators. Sales completed from now on follow "
                    "them; earlier sales keep the terms they were made under. NOT_FOUND for an item that is not a "
                    "live item of the active organization or a co-creator who is not a member of it; INVALID_INPUT "
                    "for a share out of range, a person listed twice, more than 20 co-creators or co-creators' "
                    "shares over 100 percent together.",
                    input_description="The item, its creators' share and its co-creators.")
    async def set_content_revenue_split(ctx: Context, input: SetContentRevenueSplitInput) -> dict:
        contributions = [service.Contribution(user_id=decode_id(c.user_id, "User"), share_percent=c.share_percent)
                         for c in input.contributors]
        content = await service.set_revenue_split(ctx.db, ctx.viewer, decode_id(input.content_id, "Content"),
                                                  input.creator_share_percent, contributions)
        return {"content": Content.from_model(content)}
