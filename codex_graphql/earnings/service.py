"""Revenue split terms of an item (its creators' share and co-creators) and the platform fee; the ledger
itself is written by earnings/ledger.py when sales and refunds happen. Services never commit."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql import audit
from codex_graphql.authz import Viewer
from codex_graphql.content import repository as content_repository
from codex_graphql.content.models import Content
from codex_graphql.db import Database, TenantScope
from codex_graphql.earnings import repository
from codex_graphql.earnings.models import PlatformSettings
from codex_graphql.errors import DomainError, ErrorCode, UserError
from codex_graphql.organizations import repository as organizations

MAX_CONTRIBUTORS = 20


@dataclass(frozen=True, slots=True)
class Contribution:
    user_id: uuid.UUID | None  # None: an id that is not a user's (reported as NOT_FOUND)
    share_percent: int


def _active(viewer: Viewer) -> uuid.UUID:
    organization_id = viewer.active_organization_id
    assert organization_id is not None  # the mutation's guard needs one
    return organization_id


def _check(creator_share_percent: int | None, contributions: list[Contribution]) -> list[UserError]:
    errors: list[UserError] = []
    if creator_share_percent is not None and not 0 <= creator_share_percent <= 100:
        errors.append(UserError(code=ErrorCode.INVALID_INPUT, field=["input", "creatorSharePercent"],
                                message="The creators' share is 0 to 100 percent."))
    if len(contributions) > MAX_CONTRIBUTORS:
        errors.append(UserError(code=ErrorCode.INVALID_INPUT, field=["input", "contributors"],
                                message=f"An item has at most {MAX_CONTRIBUTORS} co-creators."))
    seen: set[uuid.UUID] = set()
    for n, contribution in enumerate(contributions):
        if not 1 <= contribution.share_percent <= 100:
            errors.append(UserError(code=ErrorCode.INVALID_INPUT, field=["input", "contributors", str(n), "sharePercent"],
                                    message="A co-creator's share is 1 to 100 percent of the creators' share."))
        if contribution.user_id is not None and contribution.user_id in seen:
            errors.append(UserError(code=ErrorCode.INVALID_INPUT, field=["input", "contributors", str(n), "userId"],
                                    message="This person is listed twice."))
        if contribution.user_id is not None:
            seen.add(contribution.user_id)
    if sum(max(0, c.share_percent) for c in contributions) > 100:
        errors.append(UserError(code=ErrorCode.INVALID_INPUT, field=["input", "contributors"],
                                message="The co-creators' shares add up to more than 100 percent."))
    return errors


async def set_revenue_split(session: AsyncSession, viewer: Viewer, content_id: uuid.UUID | None,
                            creator_share_percent: int | None, contributions: list[Contribution]) -> Content:
    """Replace an item's creators' share (None: the organization's default) and co-creators, each a member
    of the organization. Sales completed from now on follow the new terms; earlier ones keep theirs."""
    organization_id = _active(viewer)
    errors = _check(creator_share_percent, contributions)
    if errors:
        raise DomainError.many(errors)
    content = await content_repository.for_update(session, organization_id, content_id) if content_id else None
    if content is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No content item has this id in your organization.", "contentId")
    members = await organizations.member_ids_among(session, organization_id,
                                                   [c.user_id for c in contributions if c.user_id is not None])
    strangers = [UserError(code=ErrorCode.NOT_FOUND, field=["input", "contributors", str(n), "userId"],
                           message="No member of your organization has this id.")
                 for n, c in enumerate(contributions) if c.user_id is None or c.user_id not in members]
    if strangers:
        raise DomainError.many(strangers)
    before = await _split_state(session, content)
    content.creator_share_percent = creator_share_percent
    await repository.replace_contributors(session, organization_id, content.id,
                                          [(c.user_id, c.share_percent) for c in contributions if c.user_id])
    after = await _split_state(session, content)
    if before != after:
        await audit.record(session, audit.AuditAction.REVENUE_SPLIT_CHANGED, organization_id=organization_id,
                           target_type="Content", target_id=content.id, before=before, after=after,
                           actor_user_id=viewer.user_id)
    return content


async def _split_state(session: AsyncSession, content: Content) -> dict[str, object]:
    return {"creatorSharePercent": content.creator_share_percent,
            "contributors": sorted((str(c.user_id), c.share_percent)
                                   for c in await repository.contributors(session, content.organization_id, content.id))}


async def set_platform_fee(db: Database, percent: int | None) -> int:
    """The platform fee (percent of every sale's net, taken first) after setting it to ``percent`` (None: read
    it). Operators set it with ``codex-graphql platform-fee``; sales completed from then on follow it."""
    if percent is not None and not 0 <= percent <= 100:
        raise DomainError(ErrorCode.INVALID_INPUT, "The platform fee is 0 to 100 percent.", "platformFeePercent")
    async with db.transaction(TenantScope.platform_wide()) as session:
        settings = await session.get(PlatformSettings, True, with_for_update=percent is not None)
        assert settings is not None  # migration 0036 inserts the one row
        if percent is not None:
            settings.platform_fee_percent = percent
            await session.flush()
        return settings.platform_fee_percent


__all__ = ["MAX_CONTRIBUTORS", "Contribution", "set_platform_fee", "set_revenue_split"]
