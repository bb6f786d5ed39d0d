from __future__ import annotations

import uuid
from typing import Annotated

import strawberry

from codex_graphql import audit, idempotency
from codex_graphql.authz import Permission
from codex_graphql.commerce import grants, refunds, repository, service
from codex_graphql.commerce.types import Checkout, PendingGrant, Purchase
from codex_graphql.context import Context
from codex_graphql.errors import DomainError, ErrorCode, UserError
from codex_graphql.payloads import errors_field, run_mutation
from codex_graphql.permissions import HasOrgPermission, IsAuthenticated, guarded_mutation
from codex_graphql.relay import decode_id, to_global_id


@strawberry.input(description="Buy a content item through the payment provider's hosted checkout.")
class StartCheckoutInput:
    content_id: strawberry.ID = strawberry.field(description="A published, paid item.")
    success_url: str = strawberry.field(description="Where the customer returns after paying (allowed origins only).")
    cancel_url: str = strawberry.field(description="Where the customer returns when cancelling (allowed origins only).")
    idempotency_key: str = strawberry.field(description="Unique per attempt; a retry with the same key returns the same checkout.")


@strawberry.input(description="Get a free item.")
class ClaimFreeContentInput:
    content_id: strawberry.ID = strawberry.field(description="A published item priced 0.")
    idempotency_key: str | None = strawberry.field(
        default=None, description="Optional, unique per attempt: a retry with the same key and input returns the first "
        "result; the same key with another input is refused (IDEMPOTENCY_KEY_REUSED). Kept for 24 hours.",
    )


@strawberry.input(description="Refund a paid purchase, in full or in part. Access ends only when it is refunded in full.")
class RefundPurchaseInput:
    purchase_id: strawberry.ID = strawberry.field(description="The purchase (PAID, not fully refunded).")
    amount_cents: int | None = strawberry.field(
        default=None, description="How much to refund, in minor units of the purchase's currency, tax included; at "
        "most what remains (`amountCents - refundedAmountCents`, less refunds still pending). Omitted: all that "
        "remains. More than that is refused (REFUND_EXCEEDS_REMAINING); 0 or less is INVALID_INPUT.",
    )
    reason: str = strawberry.field(default="", description="Why (kept with the purchase; up to 1000 characters).")
    idempotency_key: str = strawberry.field(
        description="Unique per refund attempt; a retry with the same key and input returns the first result (and "
        "never refunds twice); the same key with another input is refused (IDEMPOTENCY_KEY_REUSED).")


@strawberry.input(description="Give a person access without payment: name them by `userId` or by `email` (exactly one).")
class GrantContentAccessInput:
    content_id: strawberry.ID = strawberry.field(description="An item of the active organization.")
    user_id: strawberry.ID | None = strawberry.field(default=None, description="The person (a `User` id).")
    email: str | None = strawberry.field(
        default=None, description="The person's email address (case-insensitive). A verified account with this address "
        "gets access at once (`purchase`); otherwise a `pendingGrant` is stored, an invitation mail is sent, and the "
        "access is given when the account with this address verifies it. Granting the same item to the same address "
        "again returns the open pending grant (no second mail).",
    )
    note: str = strawberry.field(default="", description="Why (audit note, up to 1000 characters).")
    idempotency_key: str | None = strawberry.field(default=None, description="Optional: retries reuse it.")


@strawberry.input(description="Withdraw a grant by email that was not claimed yet.")
class RevokePendingGrantInput:
    pending_grant_id: strawberry.ID = strawberry.field(description="The `PendingGrant` (still PENDING).")


@strawberry.type(description="Result of grantContentAccess: a purchase when the person has a verified account, "
                 "a pending grant when the access waits for an email address to be verified.")
class GrantContentAccessPayload:
    errors: list[UserError] = errors_field()
    purchase: Purchase | None = strawberry.field(default=None, description="The GRANT purchase, when access was given now.")
    pending_grant: PendingGrant | None = strawberry.field(
        default=None, description="The pending grant, when the access waits for the address to be verified.")


@strawberry.type(description="Result of revokePendingGrant.")
class RevokePendingGrantPayload:
    errors: list[UserError] = errors_field()
    pending_grant: PendingGrant | None = strawberry.field(default=None, description="The pending grant, now REVOKED.")


@strawberry.input(description="Take back access that was granted.")
class RevokeContentAccessInput:
    purchase_id: strawberry.ID = strawberry.field(description="The GRANT purchase.")


@strawberry.type(description="Result of startCheckout.")
class StartCheckoutPayload:
    errors: list[UserError] = errors_field()
    checkout: Checkout | None = strawberry.field(default=None, description="The checkout.")
    checkout_url: str | None = strawberry.field(default=None, description="Send the customer here to pay.")


@strawberry.type(description="Result of a change to a purchase.")
class PurchasePayload:
    errors: list[UserError] = errors_field()
    purchase: Purchase | None = strawberry.field(default=None, description="The purchase after the change.")


def _checkout(row) -> Checkout:  # type: ignore[no-untyped-def]
    return Checkout(id=to_global_id("Checkout", row.id), status=row.status, checkout_url=row.checkout_url,
                    amount_cents=row.amount_cents, currency=row.currency)


async def _purchase(ctx: Context, purchase_id: str) -> Purchase:
    row = await repository.purchase_by_id(ctx.db, uuid.UUID(purchase_id))
    assert row is not None
    return Purchase.from_model(row)


@strawberry.type
class CommerceMutations:
    @guarded_mutation(IsAuthenticated(), description="Start paying for a published item. Apple Pay and Google Pay are "
                      "offered by Stripe Checkout where the customer's device supports them.")
    async def start_checkout(
        self, info: strawberry.Info,
        input: Annotated[StartCheckoutInput, strawberry.argument(description=(
            "The PUBLISHED paid content item to buy, the URLs to return to after paying or "
            "cancelling, and an idempotency key so a retried request starts one checkout."
        ))],
    ) -> StartCheckoutPayload:
        ctx: Context = info.context

        async def action() -> dict:
            request = {"contentId": input.content_id, "successUrl": input.success_url, "cancelUrl": input.cancel_url}

            user_id = ctx.require_user_id()
            result = await idempotency.recorded(ctx.db, user_id, "startCheckout", input.idempotency_key, request)
            if result is None:
                # Checked and priced in the request's transaction, committed; the provider called with none
                # open (the checkout's id and the provider's idempotency key follow from the caller's key, so
                # a retry after a crash gets the same provider session); recorded in a second transaction.
                planned = await service.plan_checkout(
                    ctx.db, ctx.settings, ctx.viewer, decode_id(input.content_id, "Content"),
                    input.success_url, input.cancel_url, input.idempotency_key,
                )
                async with ctx.outside_transaction():
                    created = await service.create_at_provider(ctx.services.payments, planned)

                async def run() -> dict:
                    checkout = await service.record_checkout(ctx.db, ctx.services.payments, planned, created)
                    return {"checkoutId": str(checkout.id)}

                result = await idempotency.once(ctx.db, user_id, "startCheckout", input.idempotency_key, request, run)
            checkout = await repository.checkout_by_id(ctx.db, uuid.UUID(result["checkoutId"]))
            assert checkout is not None
            return {"checkout": _checkout(checkout), "checkout_url": checkout.checkout_url}

        return await run_mutation(info, StartCheckoutPayload, action)

    @guarded_mutation(IsAuthenticated(), description="Get a free item at once; claiming again returns the same purchase.")
    async def claim_free_content(
        self, info: strawberry.Info,
        input: Annotated[ClaimFreeContentInput, strawberry.argument(description=(
            "The PUBLISHED free (price 0) content item to add to the viewer's library."
        ))],
    ) -> PurchasePayload:
        ctx: Context = info.context

        async def action() -> dict:
            async def run() -> dict:
                purchase = await service.claim_free(ctx.db, ctx.viewer, decode_id(input.content_id, "Content"))
                return {"purchaseId": str(purchase.id)}

            if input.idempotency_key is not None:
                result = await idempotency.once(ctx.db, ctx.require_user_id(), "claimFreeContent", input.idempotency_key,
                                                {"contentId": input.content_id}, run)
            else:
                result = await run()
            return {"purchase": await _purchase(ctx, result["purchaseId"])}

        return await run_mutation(info, PurchasePayload, action)

    @guarded_mutation(HasOrgPermission(Permission.PURCHASES_REFUND), description="Refund a paid purchase through the "
                      "payment provider, in full or in part (`amountCents`). The purchase becomes PARTIALLY_REFUNDED "
                      "(access kept) or REFUNDED (access ended); the buyer gets an email showing what they paid net "
                      "of refunds.")
    async def refund_purchase(
        self, info: strawberry.Info,
        input: Annotated[RefundPurchaseInput, strawberry.argument(description=(
            "The purchase to refund, the amount in minor units (null: all that remains), an "
            "optional reason and an idempotency key so a retried request refunds once."
        ))],
    ) -> PurchasePayload:
        ctx: Context = info.context

        async def action() -> dict:
            context = audit.context_of(ctx.db)
            # Reserve (committed), call the provider, record: each step's own short transaction, none open
            # across the call (a reservation left by a crash is finished by commerce/reconcile.py).
            async with ctx.outside_transaction():
                purchase_id, wrote_outbox = await refunds.refund_purchase(
                    ctx.services.db, ctx.services.payments, ctx.viewer, context,
                    decode_id(input.purchase_id, "Purchase"), input.amount_cents, input.reason, input.idempotency_key,
                )
            if wrote_outbox:
                ctx.services.relay.notify()
            return {"purchase": await _purchase(ctx, str(purchase_id))}

        return await run_mutation(info, PurchasePayload, action)

    @guarded_mutation(HasOrgPermission(Permission.CUSTOMERS_MANAGE), description="Give a person access to an item "
                      "without payment (a GRANT purchase), by user id or by email address (a pending grant until "
                      "the address is verified).")
    async def grant_content_access(
        self, info: strawberry.Info,
        input: Annotated[GrantContentAccessInput, strawberry.argument(description=(
            "The content item and the person (`userId`, or `email` for someone who may have no "
            "verified account yet), with an optional note and idempotency key."
        ))],
    ) -> GrantContentAccessPayload:
        ctx: Context = info.context

        async def action() -> dict:
            if (input.user_id is None) == (input.email is None):
                raise DomainError(ErrorCode.INVALID_INPUT, "Give exactly one of userId and email.", "userId")

            async def run() -> dict:
                content_id = decode_id(input.content_id, "Content")
                if input.email is not None:
                    outcome = await grants.grant_by_email(ctx.db, ctx.viewer, content_id, input.email, input.note)
                    purchase, pending = outcome.purchase, outcome.pending
                else:
                    purchase = await service.grant(ctx.db, ctx.viewer, content_id, decode_id(input.user_id, "User"),
                                                   input.note)
                    pending = None
                return {"purchaseId": str(purchase.id) if purchase else None,
                        "pendingGrantId": str(pending.id) if pending else None}

            if input.idempotency_key:
                request = {"contentId": input.content_id, "userId": input.user_id, "note": input.note}
                if input.email is not None:
                    request["email"] = input.email
                result = await idempotency.once(ctx.db, ctx.require_user_id(), "grantContentAccess",
                                                input.idempotency_key, request, run)
            else:
                result = await run()
            pending_id = result.get("pendingGrantId")
            pending = (await repository.pending_grant_by_id(ctx.db, ctx.viewer.active_organization_id, uuid.UUID(pending_id))
                       if pending_id else None)
            return {"purchase": await _purchase(ctx, result["purchaseId"]) if result.get("purchaseId") else None,
                    "pending_grant": PendingGrant.from_model(pending) if pending else None}

        return await run_mutation(info, GrantContentAccessPayload, action)

    @guarded_mutation(HasOrgPermission(Permission.CUSTOMERS_MANAGE), description="Withdraw a grant by email before "
                      "the address's account claims it; once claimed, use revokeContentAccess on its purchase.")
    async def revoke_pending_grant(
        self, info: strawberry.Info,
        input: Annotated[RevokePendingGrantInput, strawberry.argument(description=(
            "The id of the pending email grant to withdraw before it is claimed."
        ))],
    ) -> RevokePendingGrantPayload:
        ctx: Context = info.context

        async def action() -> dict:
            grant = await grants.revoke_pending(ctx.db, ctx.viewer, decode_id(input.pending_grant_id, "PendingGrant"))
            return {"pending_grant": PendingGrant.from_model(grant)}

        return await run_mutation(info, RevokePendingGrantPayload, action)

    @guarded_mutation(HasOrgPermission(Permission.CUSTOMERS_MANAGE), description="Revoke granted access.")
    async def revoke_content_access(
        self, info: strawberry.Info,
        input: Annotated[RevokeContentAccessInput, strawberry.argument(description=(
            "The GRANT purchase to revoke; the person's access ends."
        ))],
    ) -> PurchasePayload:
        ctx: Context = info.context

        async def action() -> dict:
            purchase = await service.revoke_grant(ctx.db, ctx.viewer, decode_id(input.purchase_id, "Purchase"))
            return {"purchase": Purchase.from_model(purchase)}

        return await run_mutation(info, PurchasePayload, action)
