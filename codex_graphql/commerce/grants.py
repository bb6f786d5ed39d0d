"""Grants by email: access for an address, claimed when the account with that address verifies it.

``grantContentAccess`` with an ``email``:

* a verified account with that address gets the GRANT purchase and its entitlement at once
  (``service.grant``, the same path as a grant by user id);
* otherwise (no account, or one that has not verified the address) a pending grant is stored and an
  invitation mail is queued through the outbox. A second grant of the same item to the same address
  returns the open pending grant and queues no second mail.

An unverified account never receives a grant made by email: whoever registered the address first is
not proven to own it. ``claim_for`` runs when an account's email becomes verified (``verifyEmail``,
or ``resetPassword``, whose link proves the same) and turns every open pending grant for the address
into a GRANT purchase and an entitlement, exactly once: grants and the claim of one address take the
same advisory lock, and each pending row is claimed under its row lock.

Services never commit: the request owns the transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql import audit, events
from codex_graphql.accounts import repository as accounts
from codex_graphql.accounts import service as account_service
from codex_graphql.accounts.models import User
from codex_graphql.authz import Viewer
from codex_graphql.commerce import repository, service
from codex_graphql.commerce.models import (
    PendingGrant,
    PendingGrantStatus,
    Purchase,
    PurchaseKind,
    PurchaseStatus,
)
from codex_graphql.content import repository as contents
from codex_graphql.content.models import EntitlementSource
from codex_graphql.db import TenantScope, acting_in, rescope, scope_of, utcnow
from codex_graphql.errors import DomainError, ErrorCode

GRANT_INVITATION_ACTOR = "send_grant_invitation"


@dataclass(frozen=True, slots=True)
class GrantOutcome:
    """What a grant by email did: a purchase (verified account) or a pending grant (anyone else)."""

    purchase: Purchase | None = None
    pending: PendingGrant | None = None


async def grant_by_email(session: AsyncSession, viewer: Viewer, content_id: uuid.UUID | None, raw_email: str,
                         note: str) -> GrantOutcome:
    organization_id = viewer.active_organization_id
    assert organization_id is not None
    content = await contents.for_update(session, organization_id, content_id) if content_id else None
    if content is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No content has this id in your organization.", "contentId")
    email = account_service.normalize_email(raw_email)
    if len(note) > service.MAX_NOTE:
        raise DomainError(ErrorCode.INVALID_INPUT, f"Notes are at most {service.MAX_NOTE} characters.", "note")
    await repository.lock_grant_email(session, email)
    user = await accounts.user_by_email(session, email)
    if user is not None and user.email_verified_at is not None:
        return GrantOutcome(purchase=await service.grant(session, viewer, content.id, user.id, note, "email"))
    existing = await repository.open_pending_grant(session, organization_id, content.id, email)
    if existing is not None:
        return GrantOutcome(pending=existing)  # idempotent: the first grant's row, no second invitation
    grant_id = await repository.add_pending_grant(session, organization_id, content.id, email, note.strip() or None,
                                                  viewer.user_id)
    assert grant_id is not None  # the address lock excludes a concurrent grant of the same item
    pending = await repository.pending_grant_by_id(session, organization_id, grant_id)
    assert pending is not None
    events.enqueue(session, GRANT_INVITATION_ACTOR, organization_id, pending_grant_id=str(grant_id),
                   pending_grant_organization_id=str(organization_id))
    await audit.record(session, audit.AuditAction.ACCESS_GRANTED, organization_id=organization_id,
                       target_type="PendingGrant", target_id=grant_id,
                       after={"status": PendingGrantStatus.PENDING.value, "email": email,
                              "contentId": str(content.id), "note": pending.note})
    return GrantOutcome(pending=pending)


async def revoke_pending(session: AsyncSession, viewer: Viewer, grant_id: uuid.UUID | None) -> PendingGrant:
    organization_id = viewer.active_organization_id
    grant = (await repository.pending_grant_for_update(session, organization_id, grant_id)
             if grant_id and organization_id else None)
    if grant is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No pending grant has this id in your organization.", "pendingGrantId")
    if grant.status is PendingGrantStatus.CLAIMED:
        raise DomainError(ErrorCode.INVALID_STATE, "This grant was claimed already; revoke the access it became "
                          "with revokeContentAccess.", "pendingGrantId")
    if grant.status is PendingGrantStatus.REVOKED:
        raise DomainError(ErrorCode.INVALID_STATE, "This pending grant was already revoked.", "pendingGrantId")
    grant.revoked_at = utcnow()
    grant.revoked_by_id = viewer.user_id
    await session.flush()
    await audit.record(session, audit.AuditAction.ACCESS_REVOKED, organization_id=organization_id,
                       target_type="PendingGrant", target_id=grant.id,
                       before={"status": PendingGrantStatus.PENDING.value},
                       after={"status": PendingGrantStatus.REVOKED.value})
    return grant


async def claim_for(session: AsyncSession, user: User) -> int:
    """Give ``user`` (whose email was just verified) every open grant made to the address; returns how
    many were claimed. Reads the grants as their addressee, writes each in its organization's scope."""
    assert user.email_verified_at is not None
    previous = scope_of(session)
    await rescope(session, TenantScope(user_id=user.id))
    try:
        await repository.lock_grant_email(session, user.email)
        claimed = 0
        for organization_id, grant_id in await repository.pending_grants_addressed_to(session, user.email):
            async with acting_in(session, organization_id):
                claimed += await _claim(session, user, organization_id, grant_id)
        return claimed
    finally:
        await rescope(session, previous)


async def _claim(session: AsyncSession, user: User, organization_id: uuid.UUID, grant_id: uuid.UUID) -> int:
    grant = await repository.pending_grant_for_update(session, organization_id, grant_id)
    if grant is None or grant.status is not PendingGrantStatus.PENDING:
        return 0  # revoked or claimed meanwhile
    content = await contents.for_update(session, organization_id, grant.content_id)
    if content is None:
        return 0  # the item was deleted: nothing to give; the grant stays open and unclaimable
    grant.claimed_at = utcnow()
    grant.claimed_by_id = user.id
    await repository.lock_access(session, user.id, content.id)
    if await contents.entitled_content_ids(session, user.id, [content.id]):
        await session.flush()
        return 1  # they bought or were given it meanwhile: the grant is used up without a second purchase
    purchase = Purchase(
        organization_id=organization_id, user_id=user.id, content_id=content.id, creator_id=content.creator_id,
        content_title=content.title, kind=PurchaseKind.GRANT, status=PurchaseStatus.COMPLETED, amount_cents=0,
        currency=content.currency, granted_by_id=grant.granted_by_id, note=grant.note,
    )
    session.add(purchase)
    await session.flush()
    grant.purchase_id = purchase.id
    await session.flush()
    await repository.grant_entitlement(session, organization_id, user.id, content.id, EntitlementSource.GRANT, purchase.id)
    service.announce(session, purchase, service.COMPLETED_EVENT, None)
    await audit.record(session, audit.AuditAction.ACCESS_GRANTED, organization_id=organization_id,
                       target_type="Purchase", target_id=purchase.id, actor_user_id=grant.granted_by_id,
                       after={"status": purchase.status.value, "userId": str(user.id), "contentId": str(content.id),
                              "note": purchase.note, "pendingGrantId": str(grant.id)})
    return 1
