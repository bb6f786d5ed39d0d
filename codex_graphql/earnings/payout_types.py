"""GraphQL types of creator payouts: the viewer's connected account (``Viewer.payoutAccount``), their balances
(``Viewer.payoutBalances``), payouts (``Viewer.payouts``, ``Organization.payouts`` for staff with PURCHASES_READ,
``node(id:)``). Fields of ``Viewer`` and ``Organization`` are attached by schema assembly (contributions.py)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import strawberry

from codex_graphql.accounts import loaders as account_loaders
from codex_graphql.accounts.types import User
from codex_graphql.authz import Permission
from codex_graphql.content.types import AfterArg, FirstArg
from codex_graphql.context import Context
from codex_graphql.earnings import payout_repository as repository
from codex_graphql.earnings.models import CreatorEarningSummary
from codex_graphql.earnings.payout_models import CreatorPayoutAccount, PayoutStatus
from codex_graphql.earnings.payout_models import Payout as PayoutModel
from codex_graphql.organizations import loaders as organization_loaders
from codex_graphql.organizations.types import Organization
from codex_graphql.permissions import HasOrgPermission, guarded
from codex_graphql.relay import Connection, Node, build_connection, check_first, register_node, to_global_id


async def _organization(info: strawberry.Info, organization_id: uuid.UUID) -> Organization | None:
    row = await organization_loaders.organizations(info.context).load(organization_id)
    return Organization.from_model(row) if row else None


@strawberry.type(description="The viewer's Stripe Connect (Express) account, which every organization that pays "
                 "them transfers to. Kept current by the provider's `account.updated` events.")
class PayoutAccount:
    details_submitted: bool = strawberry.field(description="The onboarding form was submitted.")
    payouts_enabled: bool = strawberry.field(
        description="The provider pays the account's balance out to the person's bank account.")
    transfers_active: bool = strawberry.field(
        description="The account can receive transfers: what a payout needs. While false, payouts wait and the "
        "balance stays.")
    requirements: list[str] = strawberry.field(
        description="What the provider still needs from the person (its `currently_due` then `past_due` fields, "
        "e.g. `external_account`); finish them through `startCreatorPayoutOnboarding`.")
    disabled_reason: str | None = strawberry.field(
        description="Why the account is restricted (the provider's reason, e.g. `requirements.past_due`); null "
        "when it is not.")
    created_at: datetime = strawberry.field(description="When the account was created.")
    updated_at: datetime = strawberry.field(description="When its state last changed here.")

    @classmethod
    def from_model(cls, row: CreatorPayoutAccount) -> PayoutAccount:
        return cls(details_submitted=row.details_submitted, payouts_enabled=row.payouts_enabled,
                   transfers_active=row.transfers_active, requirements=[str(r) for r in row.requirements or []],
                   disabled_reason=row.disabled_reason, created_at=row.created_at, updated_at=row.updated_at)


@strawberry.type(description="A transfer of a creator's balance in one organization and currency to their "
                 "connected account, one per payout period. Visible to the creator and to the organization's staff "
                 "with PURCHASES_READ.")
class Payout(Node):
    amount_cents: int = strawberry.field(description="Amount in minor units of `currency`.")
    currency: str = strawberry.field(description="ISO 4217 currency code.")
    status: PayoutStatus = strawberry.field(description="PENDING, PAID or FAILED.")
    period_start: date = strawberry.field(
        description="First day (UTC) of the payout period it belongs to (a Monday or the 1st of a month).")
    attempt: int = strawberry.field(description="How many times the transfer was tried (1, then one more per retry "
                                    "after a failure).")
    created_at: datetime = strawberry.field(description="When it was reserved.")
    paid_at: datetime | None = strawberry.field(description="When the transfer was made; null unless PAID.")
    failure_code: str | None = strawberry.field(
        description="The provider's code for the last refusal (e.g. `balance_insufficient`, "
        "`insufficient_capabilities_for_transfer`); null unless FAILED.")
    failure_reason: str | None = strawberry.field(description="The provider's message for the last refusal.")
    row: strawberry.Private[PayoutModel]

    @classmethod
    def from_model(cls, row: PayoutModel) -> Payout:
        return cls(id=to_global_id("Payout", row.id), amount_cents=row.amount_cents, currency=row.currency,
                   status=row.status, period_start=row.period_start, attempt=row.attempt, created_at=row.created_at,
                   paid_at=row.paid_at, failure_code=row.failure_code, failure_reason=row.failure_reason, row=row)

    @property
    def organization_id(self) -> uuid.UUID:
        return self.row.organization_id

    @strawberry.field(description="The organization that pays it.")
    async def organization(self, info: strawberry.Info) -> Organization | None:
        return await _organization(info, self.row.organization_id)

    @strawberry.field(description="The creator it pays.")
    async def user(self, info: strawberry.Info) -> User | None:
        found = await account_loaders.users(info.context).load(self.row.user_id)
        return User.from_model(found) if found else None


@strawberry.type(description="What an organization owes the viewer in one currency: earned (sales and the "
                 "subscription pool) less refunds, pending and paid-out payouts. Negative after a refund that came "
                 "after a payout: later earnings cover it before the next payout.")
class CreatorBalance:
    currency: str = strawberry.field(description="ISO 4217 currency code.")
    balance_cents: int = strawberry.field(description="What the organization owes, in minor units. A payout "
                                          "transfers it less the earnings younger than the organization's "
                                          "`payoutHoldDays`, once that reaches its `payoutMinimumCents`.")
    pending_payout_cents: int = strawberry.field(description="Reserved by payouts whose transfer is under way.")
    paid_out_cents: int = strawberry.field(description="Transferred so far.")
    organization_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_model(cls, row: CreatorEarningSummary) -> CreatorBalance:
        return cls(currency=row.currency, balance_cents=row.balance_cents, pending_payout_cents=row.pending_payout_cents,
                   paid_out_cents=row.paid_out_cents, organization_id=row.organization_id)

    @strawberry.field(description="The organization that owes it.")
    async def organization(self, info: strawberry.Info) -> Organization | None:
        return await _organization(info, self.organization_id)


@strawberry.type(description="Payout fields of `Viewer` (never served as a type of its own).")
class ViewerPayouts:
    user_id: strawberry.Private[uuid.UUID]  # ``self`` is the Viewer object being resolved

    @strawberry.field(description="The viewer's payouts from every organization, newest first.")
    async def payouts(self, info: strawberry.Info, first: FirstArg = None, after: AfterArg = None) -> Connection[Payout]:
        db = info.context.db
        page = await repository.user_payouts_page(db, self.user_id, check_first(first), after)
        return build_connection(page, Payout.from_model, lambda: repository.user_payouts_count(db, self.user_id))

    @strawberry.field(description="The viewer's connected account for payouts; null before "
                      "`startCreatorPayoutOnboarding` created it.")
    async def payout_account(self, info: strawberry.Info) -> PayoutAccount | None:
        row = await repository.account_of(info.context.db, self.user_id)
        return PayoutAccount.from_model(row) if row else None

    @strawberry.field(description="What each organization owes the viewer, per currency (organizations where they "
                      "never earned are left out).")
    async def payout_balances(self, info: strawberry.Info) -> list[CreatorBalance]:
        return [CreatorBalance.from_model(row) for row in await repository.user_balances(info.context.db, self.user_id)]


@strawberry.type(description="Payout fields of `Organization` (never served as a type of its own).")
class OrganizationPayouts:
    organization_id: strawberry.Private[uuid.UUID]  # ``self`` is the Organization object being resolved

    @guarded(HasOrgPermission(Permission.PURCHASES_READ), description="Payouts to the organization's creators, "
             "newest first. Creators see their own through `viewer { payouts }`.")
    async def payouts(self, info: strawberry.Info, first: FirstArg = None,
                      after: AfterArg = None) -> Connection[Payout] | None:
        db = info.context.db
        page = await repository.organization_payouts_page(db, self.organization_id, check_first(first), after)
        return build_connection(page, Payout.from_model,
                                lambda: repository.organization_payouts_count(db, self.organization_id))


@register_node("Payout")
async def _payout_node(ctx: Context, id_: uuid.UUID) -> Payout | None:
    row = await repository.payout_by_id(ctx.db, id_)
    if row is None or not ctx.viewer.owns_or_can(row.user_id, Permission.PURCHASES_READ, row.organization_id):
        return None
    return Payout.from_model(row)


__all__ = ["CreatorBalance", "OrganizationPayouts", "Payout", "PayoutAccount", "ViewerPayouts"]
