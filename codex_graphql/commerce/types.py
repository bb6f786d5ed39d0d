from __future__ import annotations

import uuid
from datetime import datetime

import strawberry

from codex_graphql.accounts import loaders as account_loaders
from codex_graphql.accounts.types import User
from codex_graphql.authz import Permission
from codex_graphql.batched import batched
from codex_graphql.commerce import answers, loaders
from codex_graphql.commerce.models import (
    CheckoutStatus,
    DisputeStatus,
    PendingGrantStatus,
    PurchaseKind,
    PurchaseStatus,
)
from codex_graphql.commerce.models import PendingGrant as PendingGrantModel
from codex_graphql.commerce.models import Purchase as PurchaseModel
from codex_graphql.content.types import Content
from codex_graphql.organizations.types import Organization
from codex_graphql.permissions import HasOrgPermission, guarded
from codex_graphql.relay import Node, to_global_id


@strawberry.type(description="Access to a content item: bought, claimed free, or granted by staff.")
class Purchase(Node):
    kind: PurchaseKind = strawberry.field(description="PAID, FREE or GRANT.")
    status: PurchaseStatus = strawberry.field(
        description="COMPLETED, PARTIALLY_REFUNDED (access kept) or REFUNDED (access revoked).")
    amount_cents: int = strawberry.field(description="Amount paid in minor units, tax included, as the payment provider reported it.")
    tax_cents: int = strawberry.field(description="Tax included in the amount, in minor units.")
    currency: str = strawberry.field(description="ISO 4217 currency code.")
    content_title: str = strawberry.field(description="The item's title at the time of purchase.")
    created_at: datetime = strawberry.field(description="When access was obtained.")
    refunded_at: datetime | None = strawberry.field(
        description="When it was fully refunded or revoked (access ended); null while only partly refunded.")
    refunded_amount_cents: int = strawberry.field(
        description="Refunded so far in minor units, tax included (through refundPurchase, the payment provider's "
        "dashboard or a lost dispute); the buyer paid `amountCents - refundedAmountCents` in the end. Visible "
        "wherever the purchase is: to its buyer and to staff with PURCHASES_READ.")
    row: strawberry.Private[PurchaseModel]

    @classmethod
    def from_model(cls, purchase: PurchaseModel) -> Purchase:
        return cls(
            id=to_global_id("Purchase", purchase.id), kind=purchase.kind, status=purchase.status,
            amount_cents=purchase.amount_cents, tax_cents=purchase.tax_cents, currency=purchase.currency,
            content_title=purchase.content_title, created_at=purchase.created_at, refunded_at=purchase.refunded_at,
            refunded_amount_cents=purchase.refunded_amount_cents, row=purchase,
        )

    @property
    def organization_id(self) -> uuid.UUID:
        return self.row.organization_id

    @strawberry.field(description="The item; null when it is no longer available to the viewer.")
    @batched(answers.contents)
    async def content(self, info: strawberry.Info) -> Content | None:
        """Answered by commerce/answers.py, for one purchase or a whole list at once."""

    @strawberry.field(description="The organization that sold it.")
    @batched(answers.organizations)
    async def organization(self, info: strawberry.Info) -> Organization | None:
        """Answered by commerce/answers.py, for one purchase or a whole list at once."""

    @strawberry.field(description="Receipt: the payment provider's when it has one, else a signed receipt page.")
    def receipt_url(self, info: strawberry.Info) -> str:
        from codex_graphql.commerce.routes import receipt_link_for

        if self.row.receipt_url:
            return self.row.receipt_url
        return receipt_link_for(info.context.settings, self.row.id, self.row.organization_id)

    @guarded(HasOrgPermission(Permission.PURCHASES_READ), description="Who bought it.")
    async def customer(self, info: strawberry.Info) -> User | None:
        user = await account_loaders.users(info.context).load(self.row.user_id)
        return User.from_model(user) if user else None

    @guarded(HasOrgPermission(Permission.PURCHASES_READ), description="The buyer's email at the time of purchase.")
    async def customer_email(self, info: strawberry.Info) -> str | None:
        if self.row.customer_email:
            return self.row.customer_email
        user = await account_loaders.users(info.context).load(self.row.user_id)
        return user.email if user else None

    @guarded(HasOrgPermission(Permission.PURCHASES_READ), description="The creator's share of this sale, in minor units.")
    def creator_share_cents(self) -> int | None:
        return self.row.creator_share_cents

    @guarded(HasOrgPermission(Permission.PURCHASES_READ),
             description="The creator's share given back by refunds (proportional to the refunded amount), in minor "
             "units; their earnings from this sale are `creatorShareCents - creatorRefundedCents`.")
    def creator_refunded_cents(self) -> int | None:
        return self.row.creator_refunded_cents

    @guarded(HasOrgPermission(Permission.PURCHASES_READ),
             description="When the buyer opened a dispute (chargeback); cleared when the dispute is won.")
    def disputed_at(self) -> datetime | None:
        return self.row.disputed_at

    @guarded(HasOrgPermission(Permission.PURCHASES_READ),
             description="The dispute's state (OPEN, WON or LOST); null when the buyer never disputed the payment.")
    def dispute_status(self) -> DisputeStatus | None:
        return self.row.dispute_status

    @guarded(HasOrgPermission(Permission.PURCHASES_READ), description="Why it was refunded, or the note of a grant.")
    def note(self) -> str | None:
        return self.row.refund_reason or self.row.note


@strawberry.type(description="A checkout the viewer started.")
class Checkout:
    id: strawberry.ID = strawberry.field(description="Id of the checkout.")
    status: CheckoutStatus = strawberry.field(description="OPEN until paid (COMPLETED) or failed.")
    checkout_url: str = strawberry.field(description="Send the customer here to pay.")
    amount_cents: int = strawberry.field(description="Price at checkout, before tax, in minor units of `currency`.")
    currency: str = strawberry.field(description="ISO 4217 currency code.")


@strawberry.type(description="Access granted by email to an address without a verified account yet (see "
                 "`grantContentAccess`). Visible to staff with CUSTOMERS_MANAGE in its organization.")
class PendingGrant(Node):
    email: str = strawberry.field(description="The address (normalized: trimmed, lower-case).")
    status: PendingGrantStatus = strawberry.field(description="PENDING until claimed at verification or revoked.")
    note: str | None = strawberry.field(description="Why it was granted (audit note).")
    created_at: datetime = strawberry.field(description="When it was granted.")
    claimed_at: datetime | None = strawberry.field(description="When the address's account verified it and got access.")
    revoked_at: datetime | None = strawberry.field(description="When staff withdrew it (`revokePendingGrant`).")
    row: strawberry.Private[PendingGrantModel]

    @classmethod
    def from_model(cls, grant: PendingGrantModel) -> PendingGrant:
        return cls(id=to_global_id("PendingGrant", grant.id), email=grant.email, status=grant.status, note=grant.note,
                   created_at=grant.created_at, claimed_at=grant.claimed_at, revoked_at=grant.revoked_at, row=grant)

    @strawberry.field(description="The item granted.")
    async def content(self, info: strawberry.Info) -> Content | None:
        row = await loaders.purchased_content(info.context).load(self.row.content_id)
        return Content.from_model(row) if row else None

    @strawberry.field(description="Global id of the GRANT purchase it became when claimed (pass it to "
                      "`revokeContentAccess` to take the access back); null before.")
    def purchase_id(self) -> strawberry.ID | None:
        return to_global_id("Purchase", self.row.purchase_id) if self.row.purchase_id else None
