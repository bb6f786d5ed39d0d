"""adjustCredits: staff with CREDITS_MANAGE correct a customer's balance (audited). Spending is internal
(``service.spend``, used by bookings), never a public mutation."""

from __future__ import annotations

import strawberry

from codex_graphql.authz import Permission
from codex_graphql.context import Context
from codex_graphql.credits import service
from codex_graphql.credits.types import CreditTransaction
from codex_graphql.errors import DomainError, ErrorCode
from codex_graphql.payloads import mutation_field
from codex_graphql.permissions import HasOrgPermission
from codex_graphql.relay import decode_id


@strawberry.input(description="A correction of one customer's credit balance in the active organization.")
class AdjustCreditsInput:
    user_id: strawberry.ID = strawberry.field(description="The customer (global id of a `User`).")
    amount: int = strawberry.field(
        description=f"Whole credits to add (positive) or take away (negative), 1 to {service.MAX_AMOUNT} either way; "
        "never zero. Taking away more than the balance is INSUFFICIENT_CREDITS.")
    reason: str = strawberry.field(
        description=f"Why (1 to {service.MAX_REASON_LENGTH} characters): shown to the customer in their ledger and "
        "written to the audit log.")
    idempotency_key: str = strawberry.field(
        description=f"Unique per adjustment (1 to {service.MAX_STAFF_KEY_LENGTH} characters): a retry with the same key "
        "returns the first adjustment and changes nothing; the key with different values is IDEMPOTENCY_KEY_REUSED.")
    organization_id: strawberry.ID | None = strawberry.field(
        default=None, description="The organization (global id); omitted: the active one. It must be the active "
        "organization.")


@strawberry.type
class CreditMutations:
    @mutation_field(
        HasOrgPermission(Permission.CREDITS_MANAGE),
        description="Add credits to, or take credits from, a customer's balance in the organization, once per "
        "idempotency key. Added credits never expire; taken ones come from the soonest-expiring credits first. "
        "Written to the audit log (CREDITS_ADJUSTED). INSUFFICIENT_CREDITS when it would take the balance below "
        "zero, INVALID_INPUT for a zero or out-of-range amount or a missing reason, NOT_FOUND for an unknown user.",
        input_description="The customer, the signed amount of whole credits, the reason and an idempotency key.",
        payload={"transaction": (CreditTransaction, "The ADJUST transaction (the first one on a replay)."),
                 "balance": (int, "The customer's balance right after the adjustment.")},
    )
    async def adjust_credits(ctx: Context, input: AdjustCreditsInput) -> dict:
        organization_id = ctx.viewer.active_organization_id
        if input.organization_id is not None:
            organization_id = decode_id(str(input.organization_id), "Organization")
        if organization_id is None or organization_id != ctx.viewer.active_organization_id:
            raise DomainError(ErrorCode.NOT_FOUND, "No organization has this id.", "organizationId")
        row = await service.adjust(ctx.db, organization_id, decode_id(str(input.user_id), "User"), input.amount,
                                   input.idempotency_key, input.reason, ctx.viewer.user_id)
        return {"transaction": CreditTransaction.from_model(row), "balance": row.balance_after}


__all__ = ["CreditMutations"]
