"""SQL for checkouts, purchases, the webhook inbox and idempotency records."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.authz import in_organization
from codex_graphql.commerce.models import (
    CheckoutSession,
    IdempotencyRecord,
    PendingGrant,
    Purchase,
    PurchaseRefund,
    PurchaseStatus,
    RefundSource,
    RefundStatus,
    StripeEvent,
)
from codex_graphql.content.models import Content, ContentEntitlement, EntitlementSource
from codex_graphql.organizations.models import Organization
from codex_graphql.pagination import keyset_page
from codex_graphql.relay import Page


async def checkout_by_provider_id(session: AsyncSession, organization_id: uuid.UUID, provider_session_id: str) -> CheckoutSession | None:
    statement = in_organization(select(CheckoutSession), CheckoutSession, organization_id)
    return await session.scalar(statement.where(CheckoutSession.provider_session_id == provider_session_id).with_for_update())


async def checkout_by_id(session: AsyncSession, checkout_id: uuid.UUID) -> CheckoutSession | None:
    return await session.get(CheckoutSession, checkout_id)


async def checkout_for_booking(session: AsyncSession, organization_id: uuid.UUID,
                               booking_id: uuid.UUID) -> CheckoutSession | None:
    """The checkout that pays for a booking (one per booking: its id follows from the booking's)."""
    statement = in_organization(select(CheckoutSession), CheckoutSession, organization_id)
    return await session.scalar(statement.where(CheckoutSession.booking_id == booking_id))


# Statuses that carry access: a partial refund leaves it; only a full refund (or a lost dispute) ends it.
ENTITLING = (PurchaseStatus.COMPLETED, PurchaseStatus.PARTIALLY_REFUNDED)


async def purchase_for_update(session: AsyncSession, organization_id: uuid.UUID, purchase_id: uuid.UUID) -> Purchase | None:
    statement = in_organization(select(Purchase), Purchase, organization_id).where(Purchase.id == purchase_id)
    return await session.scalar(statement.with_for_update())


async def purchase_by_payment_intent(session: AsyncSession, organization_id: uuid.UUID, payment_intent: str) -> Purchase | None:
    statement = in_organization(select(Purchase), Purchase, organization_id)
    return await session.scalar(statement.where(Purchase.payment_intent_id == payment_intent).with_for_update())


async def purchase_by_id(session: AsyncSession, purchase_id: uuid.UUID) -> Purchase | None:
    """Visible when RLS allows: the buyer's own, or the active organization's."""
    return await session.get(Purchase, purchase_id)


async def active_purchase(session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID, content_id: uuid.UUID) -> Purchase | None:
    statement = in_organization(select(Purchase), Purchase, organization_id).where(
        Purchase.user_id == user_id, Purchase.content_id == content_id, Purchase.status.in_(ENTITLING)
    )
    return await session.scalar(statement.order_by(Purchase.created_at.desc()).limit(1))


async def lock_access(session: AsyncSession, user_id: uuid.UUID, content_id: uuid.UUID) -> None:
    """Serialize, until the transaction ends, free claims of one item by one person, so concurrent
    claims create one purchase and not several (grants serialize on the content row lock)."""
    await session.execute(
        text("select pg_advisory_xact_lock(hashtextextended(:k, 0))").bindparams(k=f"access:{user_id}:{content_id}")
    )


# --- the webhook's hot path, as plain SQL on the transaction's driver connection (db.driver_connection) ---
# JSON parameters are text: SQLAlchemy's asyncpg dialect registers json/jsonb codecs that take strings.

# Insert the inbox row, or take the stored row of an event not handled yet (a no-op update locks and
# returns it); no row when the event is handled already.
_CLAIM_EVENT = """
INSERT INTO stripe_event (id, type, payload, payment_intent_id, created_at) VALUES ($1, $2, $3, $4, now())
ON CONFLICT (id) DO UPDATE SET type = stripe_event.type WHERE stripe_event.processed_at IS NULL
RETURNING id"""


async def claim_event(conn: Any, event_id: str, event_type: str, payload_json: str,
                      payment_intent_id: str | None) -> bool:
    """True when this transaction is to handle the event: its inbox row is new, or was stored unhandled
    (its inline handling failed; the retry job may be waiting). While another delivery's transaction
    holds the row, this waits for it to end."""
    return await conn.fetchval(_CLAIM_EVENT, event_id, event_type, payload_json, payment_intent_id) is not None


# Also stamps the organization the handler acted in (null when the event named none of ours), so the
# row is the organization's under row-level security from then on.
_MARK_EVENT_HANDLED = "UPDATE stripe_event SET processed_at = now(), outcome = $2, organization_id = $3 WHERE id = $1"


async def mark_event_handled(conn: Any, event_id: str, outcome: str, organization_id: uuid.UUID | None) -> None:
    await conn.execute(_MARK_EVENT_HANDLED, event_id, outcome, organization_id)


# The checkout (locked), its item's creator and title (the item may have been deleted since), the sale's
# terms, and whether the payment was refunded before its completion arrived.
_CHECKOUT_TO_COMPLETE = """
SELECT c.id, c.user_id, c.content_id, c.currency, c.provider, c.provider_session_id, c.booking_id, i.creator_id,
       i.title,
       -- the sale's terms (earnings/split.py): platform fee, the item's creators' share, its co-creators
       (SELECT p.platform_fee_percent FROM platform_settings p) AS platform_fee,
       coalesce(i.creator_share_percent, o.creator_share_percent) AS creators_percent,
       coalesce((SELECT array_agg(ROW(k.user_id, k.share_percent) ORDER BY k.user_id)
                 FROM content_contributor k WHERE k.content_id = i.id), '{}') AS contributors,
       EXISTS (SELECT FROM stripe_event e WHERE e.payment_intent_id = $3 AND e.type = 'charge.refunded'
               AND e.payload -> 'data' -> 'object' ->> 'refunded' = 'true') AS refunded_first
FROM checkout_session c
JOIN content i ON i.id = c.content_id AND i.organization_id = c.organization_id
JOIN organization o ON o.id = c.organization_id
WHERE c.organization_id = $1 AND c.provider_session_id = $2
FOR UPDATE OF c"""


async def checkout_to_complete(conn: Any, organization_id: uuid.UUID, provider_session_id: str,
                               payment_intent_id: str | None) -> Any:
    return await conn.fetchrow(_CHECKOUT_TO_COMPLETE, organization_id, provider_session_id, payment_intent_id)


# What a paid checkout's completion writes, in one round trip: the purchase (once per provider checkout
# session: a duplicate delivery inserts nothing and gets no row back), the checkout's new status and,
# unless the payment was refunded before its completion arrived, the buyer's entitlement.
_PURCHASE_COLUMNS = ("id", "organization_id", "user_id", "content_id", "creator_id", "content_title", "kind",
                     "status", "amount_cents", "tax_cents", "currency", "creator_share_cents", "provider",
                     "provider_session_id", "payment_intent_id", "customer_email", "refunded_at", "refund_reason")
# (the parameters $1..$18 are these columns, in this order)
_COMPLETE_CHECKOUT = """
WITH purchase_row AS (
  INSERT INTO purchase (id, organization_id, user_id, content_id, creator_id, content_title, kind, status,
                        amount_cents, tax_cents, currency, creator_share_cents, provider, provider_session_id,
                        payment_intent_id, customer_email, refunded_at, refund_reason, created_at, updated_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, now(), now())
  ON CONFLICT (provider_session_id) WHERE provider_session_id IS NOT NULL DO NOTHING
  RETURNING id, organization_id, user_id, content_id
), checkout_row AS (
  UPDATE checkout_session SET status = 'COMPLETED' WHERE id = $19
), entitlement_row AS (
  INSERT INTO content_entitlement (id, organization_id, user_id, content_id, source, source_id, created_at)
  SELECT $20::uuid, organization_id, user_id, content_id, 'PURCHASE', id, now()
  FROM purchase_row WHERE $21::boolean
  ON CONFLICT (content_id, user_id) WHERE revoked_at IS NULL DO NOTHING
), earning_rows AS (
  INSERT INTO earning_entry (id, organization_id, purchase_id, content_id, kind, party, user_id, currency,
                             amount_cents, weight, basis_cents)
  SELECT gen_random_uuid(), p.organization_id, p.id, p.content_id, 'SALE', e.party, e.user_id, $11, e.amount, e.weight,
         greatest($9::bigint - $10::bigint, 0)
  FROM purchase_row p, unnest($22::text[], $23::uuid[], $24::bigint[], $25::int[]) AS e(party, user_id, amount, weight)
  ON CONFLICT DO NOTHING
)
SELECT id FROM purchase_row"""


async def complete_checkout(conn: Any, checkout_id: uuid.UUID, purchase: dict[str, Any], *, grant: bool,
                            earnings: tuple[list[Any], ...]) -> uuid.UUID | None:
    """The new purchase's id; None when this checkout's purchase exists already (nothing was written
    but the checkout's status). ``earnings``: the sale's ledger rows (``earnings.ledger.sale_rows``), written
    with the purchase."""
    values = [purchase[column] for column in _PURCHASE_COLUMNS]
    return await conn.fetchval(_COMPLETE_CHECKOUT, *values, checkout_id, uuid.uuid4(), grant, *earnings)


_ENTITLEMENTS = ContentEntitlement.__table__
_GRANT_ENTITLEMENT = insert(_ENTITLEMENTS).values(
    id=bindparam("id"), organization_id=bindparam("organization_id"), user_id=bindparam("user_id"),
    content_id=bindparam("content_id"), source=bindparam("source"), source_id=bindparam("source_id"),
).on_conflict_do_nothing(index_elements=[_ENTITLEMENTS.c.content_id, _ENTITLEMENTS.c.user_id],
                         index_where=_ENTITLEMENTS.c.revoked_at.is_(None))


async def grant_entitlement(session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID,
                            content_id: uuid.UUID, source: EntitlementSource, source_id: uuid.UUID) -> None:
    """Live access to one item (nothing when the user has it already)."""
    await session.execute(_GRANT_ENTITLEMENT, {"id": uuid.uuid4(), "organization_id": organization_id,
                                               "user_id": user_id, "content_id": content_id, "source": source,
                                               "source_id": source_id})


async def revoke_entitlement(session: AsyncSession, organization_id: uuid.UUID, source_id: uuid.UUID, at: datetime) -> None:
    await session.execute(
        update(ContentEntitlement)
        .where(ContentEntitlement.organization_id == organization_id, ContentEntitlement.source_id == source_id,
               ContentEntitlement.revoked_at.is_(None))
        .values(revoked_at=at)
    )


async def user_purchases_page(session: AsyncSession, user_id: uuid.UUID, first: int, after: str | None) -> Page[Purchase]:
    statement = select(Purchase).where(Purchase.user_id == user_id)
    return await keyset_page(session, statement, created_col=Purchase.created_at, id_col=Purchase.id, first=first, after=after)


async def user_purchases_count(session: AsyncSession, user_id: uuid.UUID) -> int:
    return int(await session.scalar(select(func.count()).select_from(Purchase).where(Purchase.user_id == user_id)) or 0)


async def organization_purchases_page(session: AsyncSession, organization_id: uuid.UUID, first: int, after: str | None) -> Page[Purchase]:
    statement = in_organization(select(Purchase), Purchase, organization_id)
    return await keyset_page(session, statement, created_col=Purchase.created_at, id_col=Purchase.id, first=first, after=after)


async def organization_purchases_count(session: AsyncSession, organization_id: uuid.UUID) -> int:
    statement = in_organization(select(func.count()).select_from(Purchase), Purchase, organization_id)
    return int(await session.scalar(statement) or 0)


_KEPT = Purchase.amount_cents - Purchase.tax_cents - Purchase.refunded_net_cents  # net of tax and refunds


async def revenue_by_content(session: AsyncSession, organization_id: uuid.UUID, content_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    statement = in_organization(
        select(Purchase.content_id, func.coalesce(func.sum(_KEPT), 0)), Purchase, organization_id,
    ).where(Purchase.content_id.in_(content_ids), Purchase.status.in_(ENTITLING)).group_by(Purchase.content_id)
    return {content_id: int(total) for content_id, total in (await session.execute(statement)).all()}


# -- refunds -------------------------------------------------------------------------------------
# Lock order: the purchase (purchase_for_update) first, then its refund rows.
async def refund_by_key(session: AsyncSession, organization_id: uuid.UUID, key: str) -> PurchaseRefund | None:
    statement = in_organization(select(PurchaseRefund), PurchaseRefund, organization_id)
    return await session.scalar(statement.where(PurchaseRefund.idempotency_key == key).with_for_update())


async def refund_for_update(session: AsyncSession, organization_id: uuid.UUID, refund_id: uuid.UUID) -> PurchaseRefund | None:
    statement = in_organization(select(PurchaseRefund), PurchaseRefund, organization_id)
    return await session.scalar(statement.where(PurchaseRefund.id == refund_id).with_for_update())


async def refund_by_provider_id(session: AsyncSession, organization_id: uuid.UUID, provider_refund_id: str) -> PurchaseRefund | None:
    statement = in_organization(select(PurchaseRefund), PurchaseRefund, organization_id)
    return await session.scalar(statement.where(PurchaseRefund.provider_refund_id == provider_refund_id))


async def pending_refund_total(session: AsyncSession, organization_id: uuid.UUID, purchase_id: uuid.UUID) -> int:
    """Reserved and not confirmed yet: counted against what remains to refund."""
    statement = in_organization(select(func.coalesce(func.sum(PurchaseRefund.amount_cents), 0)), PurchaseRefund,
                                organization_id)
    statement = statement.where(PurchaseRefund.purchase_id == purchase_id, PurchaseRefund.status == RefundStatus.PENDING)
    return int(await session.scalar(statement) or 0)


async def organization_ids_after(session: AsyncSession, after: uuid.UUID | None, limit: int) -> list[uuid.UUID]:
    """Every organization's id, in pages (the refund reconciliation visits each tenant in its own scope)."""
    statement = select(Organization.id).order_by(Organization.id).limit(limit)
    if after is not None:
        statement = statement.where(Organization.id > after)
    return list((await session.scalars(statement)).all())


async def stale_api_refunds(session: AsyncSession, organization_id: uuid.UUID, before: datetime,
                            limit: int) -> list[tuple[PurchaseRefund, Purchase]]:
    """API refunds reserved before ``before`` that the provider's answer never reached (no provider id)."""
    statement = in_organization(select(PurchaseRefund, Purchase), PurchaseRefund, organization_id).join(
        Purchase, Purchase.id == PurchaseRefund.purchase_id
    ).where(PurchaseRefund.status == RefundStatus.PENDING, PurchaseRefund.source == RefundSource.API,
            PurchaseRefund.provider_refund_id.is_(None), PurchaseRefund.created_at < before)
    rows = await session.execute(statement.order_by(PurchaseRefund.created_at).limit(limit))
    return [(refund, purchase) for refund, purchase in rows.all()]


# -- webhook inbox ---------------------------------------------------------------------------------
async def store_event(session: AsyncSession, event_id: str, event_type: str, payload: dict[str, Any]) -> bool:
    """True when this delivery is the first of the event."""
    obj = (payload.get("data") or {}).get("object") or {}
    payment_intent = obj.get("payment_intent") if isinstance(obj.get("payment_intent"), str) else None
    statement = insert(StripeEvent).values(
        id=event_id, type=event_type, payload=payload, payment_intent_id=payment_intent
    ).on_conflict_do_nothing()
    return (await session.execute(statement.returning(StripeEvent.id))).scalar_one_or_none() is not None


async def store_malformed_event(session: AsyncSession, event_id: str, payload: dict[str, Any]) -> bool:
    """Record a correctly signed body that is not an event, for inspection: handled at once with outcome
    ``malformed`` (no job handles it); the same body again adds nothing. True when this is the first."""
    statement = insert(StripeEvent).values(
        id=event_id, type="malformed", payload=payload, processed_at=func.now(), outcome="malformed"
    ).on_conflict_do_nothing()
    return (await session.execute(statement.returning(StripeEvent.id))).scalar_one_or_none() is not None


async def lock_event(session: AsyncSession, event_id: str) -> StripeEvent | None:
    return await session.scalar(select(StripeEvent).where(StripeEvent.id == event_id).with_for_update())


async def checkout_event_for_payment(session: AsyncSession, payment_intent: str) -> StripeEvent | None:
    """The completed checkout event that paid ``payment_intent``: its metadata names the organization."""
    return await session.scalar(
        select(StripeEvent).where(
            StripeEvent.payment_intent_id == payment_intent,
            StripeEvent.type.in_(["checkout.session.completed", "checkout.session.async_payment_succeeded"]),
        ).limit(1)
    )


# -- idempotency -----------------------------------------------------------------------------------
async def lock_idempotency_key(session: AsyncSession, user_id: uuid.UUID, operation: str, key: str) -> IdempotencyRecord | None:
    await session.execute(
        text("select pg_advisory_xact_lock(hashtextextended(:k, 0))").bindparams(k=f"{user_id}:{operation}:{key}")
    )
    return await session.get(IdempotencyRecord, (user_id, operation, key))


async def idempotency_record(session: AsyncSession, user_id: uuid.UUID, operation: str, key: str) -> IdempotencyRecord | None:
    return await session.get(IdempotencyRecord, (user_id, operation, key))


async def delete_expired_idempotency(session: AsyncSession, now: datetime, batch: int) -> int:
    """Delete up to ``batch`` expired records (rows another cleaner holds are skipped); returns how many."""
    expired = (
        select(IdempotencyRecord.user_id, IdempotencyRecord.operation, IdempotencyRecord.key)
        .where(IdempotencyRecord.expires_at <= now)
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    result = await session.execute(
        delete(IdempotencyRecord)
        .where(tuple_(IdempotencyRecord.user_id, IdempotencyRecord.operation, IdempotencyRecord.key).in_(expired))
        .returning(IdempotencyRecord.key)
    )
    return len(result.all())


async def receipt_details(session: AsyncSession, organization_id: uuid.UUID, purchase_id: uuid.UUID) -> tuple[Purchase, str, str] | None:
    """(purchase, title, seller) for receipts and purchase mails. The title is the one the item had when
    it was bought (``content_title``), not its current one: receipts outlive renames."""
    statement = (
        in_organization(select(Purchase, Purchase.content_title, Organization.name), Purchase, organization_id)
        .join(Organization, Organization.id == Purchase.organization_id)
        .where(Purchase.id == purchase_id)
    )
    row = (await session.execute(statement)).first()
    return (row[0], row[1], row[2]) if row else None


# --- pending grants (access granted to an email address) ------------------------------------------

_OPEN_GRANT = text("claimed_at IS NULL AND revoked_at IS NULL")


async def lock_grant_email(session: AsyncSession, email: str) -> None:
    """Serialize, until the transaction ends, grants to one address and the claim of its verification:
    a grant either sees the account verified or leaves a pending row the claim then sees."""
    await session.execute(
        text("select pg_advisory_xact_lock(hashtextextended(:k, 0))").bindparams(k=f"grant-email:{email}")
    )


async def open_pending_grant(session: AsyncSession, organization_id: uuid.UUID, content_id: uuid.UUID,
                             email: str) -> PendingGrant | None:
    statement = in_organization(select(PendingGrant), PendingGrant, organization_id).where(
        PendingGrant.content_id == content_id, PendingGrant.email == email, _OPEN_GRANT)
    return await session.scalar(statement)


async def add_pending_grant(session: AsyncSession, organization_id: uuid.UUID, content_id: uuid.UUID, email: str,
                            note: str | None, granted_by_id: uuid.UUID | None) -> uuid.UUID | None:
    """The new row's id, or None when an open grant of this item to this address exists already."""
    statement = insert(PendingGrant).values(
        id=uuid.uuid4(), organization_id=organization_id, content_id=content_id, email=email, note=note,
        granted_by_id=granted_by_id,
    ).on_conflict_do_nothing(index_elements=[PendingGrant.content_id, PendingGrant.email],
                             index_where=_OPEN_GRANT).returning(PendingGrant.id)
    return (await session.execute(statement)).scalar()


async def pending_grant_for_update(session: AsyncSession, organization_id: uuid.UUID, grant_id: uuid.UUID) -> PendingGrant | None:
    """The grant, row-locked until the transaction ends and as committed by a concurrent claim or
    revocation it waited for (so its status is current)."""
    statement = in_organization(select(PendingGrant), PendingGrant, organization_id).where(PendingGrant.id == grant_id)
    return await session.scalar(statement.with_for_update().execution_options(populate_existing=True))


async def pending_grant_by_id(session: AsyncSession, organization_id: uuid.UUID, grant_id: uuid.UUID) -> PendingGrant | None:
    statement = in_organization(select(PendingGrant), PendingGrant, organization_id).where(PendingGrant.id == grant_id)
    return await session.scalar(statement)


async def pending_grants_addressed_to(session: AsyncSession, email: str) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(organization id, grant id) of the open grants to ``email``, in every organization (the addressee's
    read policy admits them; writes then happen in each organization's scope)."""
    statement = (select(PendingGrant.organization_id, PendingGrant.id)
                 .where(PendingGrant.email == email, _OPEN_GRANT).order_by(PendingGrant.created_at, PendingGrant.id))
    return [(org, id_) for org, id_ in (await session.execute(statement)).all()]


async def pending_grant_details(session: AsyncSession, organization_id: uuid.UUID,
                                grant_id: uuid.UUID) -> tuple[PendingGrant, str, str] | None:
    """The grant with its item's title and its organization's name, for the invitation mail."""
    statement = (
        in_organization(select(PendingGrant, Content.title, Organization.name), PendingGrant, organization_id)
        .join(Content, Content.id == PendingGrant.content_id)
        .join(Organization, Organization.id == PendingGrant.organization_id)
        .where(PendingGrant.id == grant_id)
    )
    row = (await session.execute(statement)).first()
    return (row[0], row[1], row[2]) if row else None
