"""GraphQL types of revenue splits: ``Content.revenueSplit`` (staff with PURCHASES_READ) and its co-creators."""

from __future__ import annotations

import uuid

import strawberry

from codex_graphql.accounts import loaders as account_loaders
from codex_graphql.accounts.types import User
from codex_graphql.authz import Permission
from codex_graphql.content.models import Content as ContentModel
from codex_graphql.context import Context
from codex_graphql.earnings import repository
from codex_graphql.organizations import loaders as organization_loaders
from codex_graphql.permissions import HasOrgPermission, guarded


@strawberry.type(name="ContentContributor", description="A co-creator of an item and their part of its creators' "
                 "share.")
class Contributor:
    share_percent: int = strawberry.field(description="Percent of the item's creators' share, 1 to 100.")
    user_id: strawberry.Private[uuid.UUID]

    @strawberry.field(description="The co-creator, a member of the organization.")
    async def user(self, info: strawberry.Info) -> User | None:
        found = await account_loaders.users(info.context).load(self.user_id)
        return User.from_model(found) if found else None


@strawberry.type(description="How an item's sales are divided (earnings ledger): first the platform fee, then of "
                 "what remains the creators' share goes to the co-creators by their percent and to the item's "
                 "creator for the rest of it; the organization keeps the remainder. Amounts are rounded down to the "
                 "cent for the platform and each creator, and the organization gets the cents left over.")
class RevenueSplit:
    creator_share_percent: int | None = strawberry.field(
        description="The item's own creators' share in percent; null: the organization's "
        "`defaultCreatorSharePercent`.")
    effective_creator_share_percent: int = strawberry.field(
        description="The creators' share its next sale will use (its own, else the organization's default).")
    contributors: list[Contributor] = strawberry.field(description="Co-creators, in the order they were added.")


@strawberry.type(description="Revenue split fields of `Content` (never served as a type of its own).")
class ContentEarnings:
    row: strawberry.Private[ContentModel]  # ``self`` is the Content object being resolved

    @guarded(HasOrgPermission(Permission.PURCHASES_READ), description="How this item's sales are divided between the "
             "platform, the organization and its creators.")
    async def revenue_split(self, info: strawberry.Info) -> RevenueSplit | None:
        return await revenue_split_of(info.context, self.row)


async def revenue_split_of(ctx: Context, row: ContentModel) -> RevenueSplit:
    """The item's terms as its next sale would use them."""
    organization = await organization_loaders.organizations(ctx).load(row.organization_id)
    default = organization.creator_share_percent if organization else 100
    found = await repository.contributors(ctx.db, row.organization_id, row.id)
    own = row.creator_share_percent
    return RevenueSplit(creator_share_percent=own, effective_creator_share_percent=default if own is None else own,
                        contributors=[Contributor(share_percent=c.share_percent, user_id=c.user_id) for c in found])


__all__ = ["ContentEarnings", "Contributor", "RevenueSplit", "revenue_split_of"]
