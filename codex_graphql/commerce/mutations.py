from __future__ import annotations

import uuid

import strawberry

from codex_graphql import idempotency
from codex_graphql.authz import Permission
from codex_graphql.commerce import repository, service
from codex_graphql.commerce.types import Checkout, Purchase
from codex_graphql.context import Context
from codex_graphql.errors import UserError
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


@strawberry.input(description="Refund a paid purchase; access ends at once.")
class RefundPurchaseInput:
    purchase_id: strawberry.ID = strawberry.field(description="The purchase.")
    reason: str = strawberry.field(default="", description="Why (kept with the purchase; up to 1000 characters).")
    idempotency_key: str = strawberry.field(description="Unique per refund attempt; retries reuse it.")


@strawberry.input(description="Give a person access without payment.")
class GrantContentAccessInput:
    content_id: strawberry.ID = strawberry.field(description="An item of the active organization.")
    user_id: strawberry.ID = strawberry.field(description="The person (a `User` id).")
    note: str = strawberry.field(default="", description="Why (audit note, up to 1000 characters).")
    idempotency_key: str | None = strawberry.field(default=None, description="Optional: retries reuse it.")


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
    async def start_checkout(self, info: strawberry.Info, input: StartCheckoutInput) -> StartCheckoutPayload:
        ctx: Context = info.context

        async def action() -> dict:
            request = {"contentId": input.content_id, "successUrl": input.success_url, "cancelUrl": input.cancel_url}

            async def run() -> dict:
                checkout = await service.start_checkout(
                    ctx.db, ctx.services.payments, ctx.settings, ctx.viewer, decode_id(input.content_id, "Content"),
                    input.success_url, input.cancel_url, input.idempotency_key,
                )
                return {"checkoutId": str(checkout.id)}

            result = await idempotency.once(ctx.db, ctx.require_user_id(), "startCheckout", input.idempotency_key, request, run)
            checkout = await repository.checkout_by_id(ctx.db, uuid.UUID(result["checkoutId"]))
            assert checkout is not None
            return {"checkout": _checkout(checkout), "checkout_url": checkout.checkout_url}

        return await run_mutation(info, StartCheckoutPayload, action)

    @guarded_mutation(IsAuthenticated(), description="Get a free item at once; claiming again returns the same purchase.")
    async def claim_free_content(self, info: strawberry.Info, input: ClaimFreeContentInput) -> PurchasePayload:
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

    @guarded_mutation(HasOrgPermission(Permission.PURCHASES_REFUND), description="Refund a paid purchase through the payment provider.")
    async def refund_purchase(self, info: strawberry.Info, input: RefundPurchaseInput) -> PurchasePayload:
        ctx: Context = info.context

        async def action() -> dict:
            request = {"purchaseId": input.purchase_id, "reason": input.reason}

            async def run() -> dict:
                purchase = await service.refund(ctx.db, ctx.services.payments, ctx.viewer,
                                                decode_id(input.purchase_id, "Purchase"), input.reason, input.idempotency_key)
                return {"purchaseId": str(purchase.id)}

            result = await idempotency.once(ctx.db, ctx.require_user_id(), "refundPurchase", input.idempotency_key, request, run)
            return {"purchase": await _purchase(ctx, result["purchaseId"])}

        return await run_mutation(info, PurchasePayload, action)

    @guarded_mutation(HasOrgPermission(Permission.CUSTOMERS_MANAGE), description="Give a person access to an item without payment (a GRANT purchase).")
    async def grant_content_access(self, info: strawberry.Info, input: GrantContentAccessInput) -> PurchasePayload:
        ctx: Context = info.context

        async def action() -> dict:
            async def run() -> dict:
                purchase = await service.grant(ctx.db, ctx.viewer, decode_id(input.content_id, "Content"),
                                               decode_id(input.user_id, "User"), input.note)
                return {"purchaseId": str(purchase.id)}

            if input.idempotency_key:
                request = {"contentId": input.content_id, "userId": input.user_id, "note": input.note}
                result = await idempotency.once(ctx.db, ctx.require_user_id(), "grantContentAccess",
                                                input.idempotency_key, request, run)
            else:
                result = await run()
            return {"purchase": await _purchase(ctx, result["purchaseId"])}

        return await run_mutation(info, PurchasePayload, action)

    @guarded_mutation(HasOrgPermission(Permission.CUSTOMERS_MANAGE), description="Revoke granted access.")
    async def revoke_content_access(self, info: strawberry.Info, input: RevokeContentAccessInput) -> PurchasePayload:
        ctx: Context = info.context

        async def action() -> dict:
            purchase = await service.revoke_grant(ctx.db, ctx.viewer, decode_id(input.purchase_id, "Purchase"))
            return {"purchase": Purchase.from_model(purchase)}

        return await run_mutation(info, PurchasePayload, action)
