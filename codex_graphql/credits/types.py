"""GraphQL shapes of the credits ledger."""

from __future__ import annotations

import uuid
from datetime import datetime

import strawberry

from codex_graphql.authz import Permission
from codex_graphql.content.types import AfterArg, FirstArg
from codex_graphql.context import Context
from codex_graphql.credits import repository
from codex_graphql.credits.models import CreditTransaction as CreditTransactionModel
from codex_graphql.credits.models import CreditTransactionKind
from codex_graphql.relay import Connection, Node, build_connection, check_first, register_node, to_global_id


@strawberry.type(description="One change of a customer's credit balance in an organization. Credits are whole "
                 "numbers; the ledger is append-only, so a mistake is corrected by a new ADJUST, never by editing.")
class CreditTransaction(Node):
    kind: CreditTransactionKind = strawberry.field(description="GRANT, SPEND, EXPIRE, REFUND or ADJUST.")
    amount: int = strawberry.field(description="Credits added (positive) or taken (negative); never zero.")
    balance_after: int = strawberry.field(description="The balance right after this transaction (never negative).")
    reason: str = strawberry.field(description="Why, in words (staff adjustments always have one); may be empty.")
    source_type: str = strawberry.field(
        description="What caused it: `invoice` (subscription credits), `booking`, `staff`, `policy` (period end), "
        "`credit_lot` (granted credits that reached their expiry) and the like.")
    source_id: str | None = strawberry.field(description="The id of what caused it (e.g. the invoice id), if any.")
    expires_at: datetime | None = strawberry.field(
        description="For granted credits that lapse: when the unused ones expire; null when they never do.")
    created_at: datetime = strawberry.field(description="When it happened.")
    row: strawberry.Private[CreditTransactionModel]

    @classmethod
    def from_model(cls, row: CreditTransactionModel) -> CreditTransaction:
        return cls(id=to_global_id("CreditTransaction", row.id), kind=row.kind, amount=row.amount,
                   balance_after=row.balance_after, reason=row.reason, source_type=row.source_type,
                   source_id=row.source_id, expires_at=row.expires_at, created_at=row.created_at, row=row)

    @strawberry.field(description="The organization the credits belong to (its global id).")
    def organization_id(self) -> strawberry.ID:
        return to_global_id("Organization", self.row.organization_id)

    @strawberry.field(description="The customer whose balance changed (global id of a `User`).")
    def user_id(self) -> strawberry.ID:
        return to_global_id("User", self.row.user_id)


@register_node("CreditTransaction")
async def visible_transaction(ctx: Context, transaction_id: uuid.UUID) -> CreditTransaction | None:
    """The customer's own transactions, and the active organization's for staff with CREDITS_MANAGE."""
    viewer = ctx.viewer
    if viewer.user_id is None:
        return None
    org = viewer.active_organization_id
    if org is not None and viewer.can(Permission.CREDITS_MANAGE, org):
        row = await repository.by_id(ctx.db, org, transaction_id)
        if row is not None:
            return CreditTransaction.from_model(row)
    row = await repository.own_by_id(ctx.db, viewer.user_id, transaction_id)
    return CreditTransaction.from_model(row) if row is not None else None


@strawberry.type(description="One customer's credits in the organization, as staff see them.")
class CustomerCredits:
    organization_id: strawberry.Private[uuid.UUID]
    customer_id: strawberry.Private[uuid.UUID]
    balance: int = strawberry.field(description="The customer's balance (whole credits, never negative); 0 when they "
                                    "never had credits here.")

    @strawberry.field(description="The customer (global id of a `User`).")
    def user_id(self) -> strawberry.ID:
        return to_global_id("User", self.customer_id)

    @strawberry.field(description="The customer's credit transactions in this organization, newest first.")
    async def transactions(self, info: strawberry.Info, first: FirstArg = None,
                           after: AfterArg = None) -> Connection[CreditTransaction]:
        db = info.context.db
        page = await repository.user_page(db, self.organization_id, self.customer_id, check_first(first), after)
        return build_connection(page, CreditTransaction.from_model,
                                lambda: repository.user_count(db, self.organization_id, self.customer_id))
