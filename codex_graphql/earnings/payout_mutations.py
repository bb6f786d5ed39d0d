"""startCreatorPayoutOnboarding: a creator's connected account and its onboarding link (CONTENT_CREATE, the
permission of the roles that create: OWNER, ADMIN, CREATOR)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from codex_graphql.authz import Permission
from codex_graphql.context import Context
from codex_graphql.earnings import payouts
from codex_graphql.earnings.payout_types import PayoutAccount
from codex_graphql.payloads import mutation_field
from codex_graphql.permissions import HasOrgPermission
from codex_graphql.relay import decode_id


@strawberry.input(description="Set up (or finish setting up) the viewer's payout account.")
class StartCreatorPayoutOnboardingInput:
    organization_id: strawberry.ID = strawberry.field(
        description="An organization the viewer creates for (the active one); its id goes into the account's "
        "metadata. The account itself is the person's, for every organization that pays them.")
    return_url: str = strawberry.field(
        description=f"Where the provider sends the person back after the form: an absolute http(s) URL of an "
        f"allowed origin, at most {payouts.MAX_URL_LENGTH} characters. Coming back says nothing about completion: "
        "read `viewer { payoutAccount }`.")
    refresh_url: str = strawberry.field(
        description="Where the provider sends the person when the link expired or was used: call this mutation "
        "again there for a new link. Same rules as `returnUrl`.")


@strawberry.type
class PayoutMutations:
    @mutation_field(HasOrgPermission(Permission.CONTENT_CREATE),
                    payload={"account": (PayoutAccount, "The viewer's payout account."),
                             "onboarding_url": (str, "Send the person here (single use) to give the payment "
                                                "provider their details."),
                             "expires_at": (datetime, "When the onboarding URL stops working (minutes from now).")},
                    description="Create the viewer's Stripe Connect (Express) account, or reuse the one they have "
                    "(one per person, whatever the organization), and return an onboarding link. Parallel calls "
                    "create one account. INVALID_INPUT for a URL that is not absolute http(s), not of an allowed "
                    "origin or too long; NOT_FOUND for an organization id that is not one; PAYMENT_PROVIDER_ERROR "
                    "when the provider cannot be reached (nothing is stored; try again).",
                    input_description="The organization and where the provider sends the person back.")
    async def start_creator_payout_onboarding(ctx: Context, input: StartCreatorPayoutOnboardingInput) -> dict:
        planned = await payouts.plan_onboarding(ctx.db, ctx.settings, ctx.viewer,
                                                decode_id(input.organization_id, "Organization"),
                                                input.return_url, input.refresh_url)
        provider = ctx.services.payments
        async with ctx.outside_transaction():  # the provider is called with no transaction open
            created, link = await payouts.onboard_at_provider(provider, planned)
        account = await payouts.record_onboarding(ctx.db, provider.name, planned, created)
        if created is not None and account.account_id != created.account_id:
            async with ctx.outside_transaction():  # a parallel call stored another account: link to that one
                _, link = await payouts.onboard_at_provider(provider, planned, account.account_id)
            account = await payouts.record_onboarding(ctx.db, provider.name, planned, None)
        return {"account": PayoutAccount.from_model(account), "onboarding_url": link.url,
                "expires_at": link.expires_at}


__all__ = ["PayoutMutations"]
