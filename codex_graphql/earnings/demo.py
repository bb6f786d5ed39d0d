"""The demo creator's payout (``codex-graphql dev`` / ``seed`` with ``PAYMENTS_PROVIDER=local``), after the demo
sale: so that the creator's login shows a PAID payout beside the dashboard's sale.

Everything goes through the paths real use takes. The account is made as ``startCreatorPayoutOnboarding`` makes
it (``payouts.plan_onboarding``, ``onboard_at_provider``, ``record_onboarding``), then onboarding is completed as
the local provider's onboarding page completes it: the account link is opened (signature checked), the provider
enables the account and the signed ``account.updated`` event goes through the webhook path (verified, stored
once, handled). When the seed onboards the creator it also lowers the organization's ``payoutMinimumCents`` (by
the settings service) to ``DEMO_PAYOUT_MINIMUM_CENTS`` when it is higher, so the demo sale's share is paid out.
Then the payout job runs once for the demo organization; it pays once per period, so running the seed again
pays nothing more. An account that can already receive transfers and a minimum set by staff since are left as
they are. No transaction is open around a provider call.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from codex_graphql import audit
from codex_graphql.authz import Membership, OrgRole, PlatformRole, Viewer
from codex_graphql.commerce import webhooks
from codex_graphql.db import Database, TenantScope
from codex_graphql.earnings import payout_jobs, payouts
from codex_graphql.earnings import payout_repository as repository
from codex_graphql.errors import DomainError
from codex_graphql.org_settings import repository as settings_repository
from codex_graphql.org_settings import service as settings_service
from codex_graphql.payments.factory import build_payments
from codex_graphql.payments.local import LocalProvider
from codex_graphql.payments.local_connect import ONBOARD_PATH
from codex_graphql.settings import Settings
from codex_graphql.storage import Storage

log = logging.getLogger(__name__)

DEMO_PAYOUT_MINIMUM_CENTS = 100  # below the creator's share of the demo sale (499 cents, no platform fee by default)
DEMO_RETURN_PATH = "/graphql"  # where the onboarding "returns" (an allowed redirect origin: PUBLIC_BASE_URL)


@dataclass(frozen=True, slots=True)
class DemoPayoutPeople:
    """The demo organization and the people the step acts as."""

    organization_id: uuid.UUID
    organization_slug: str
    owner_id: uuid.UUID  # changes the payout minimum (SETTINGS_MANAGE)
    creator_id: uuid.UUID
    creator_role: PlatformRole


@dataclass(slots=True)
class DemoPayoutReport:
    """What the step made, and what went wrong (for the seed's report; the seed goes on either way)."""

    created: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


async def seed_demo_payout(db: Database, settings: Settings, storage: Storage,
                           people: DemoPayoutPeople) -> DemoPayoutReport:
    """Onboard the demo creator at the local provider (once) and run the payout job once. Does nothing unless the
    payments provider is the local one."""
    report = DemoPayoutReport()
    if settings.payments_provider != "local":
        return report
    provider = build_payments(settings)
    assert isinstance(provider, LocalProvider)
    try:
        onboarded = await _onboard(db, settings, provider, people)
    except DomainError as exc:  # e.g. local-connect.json lost while the database kept the account
        log.warning(f"seed: the demo creator's payout onboarding failed: {exc}")
        report.problems.append(f"payout onboarding of the demo creator: {exc}")
        return report
    if onboarded:
        report.created.append("payout account of the demo creator (onboarding completed at the local provider)")
        if await _lower_minimum(db, storage, people):
            report.created.append(f"payoutMinimumCents {DEMO_PAYOUT_MINIMUM_CENTS} of organization "
                                  f"{people.organization_slug}")
    run = await payout_jobs.run_payouts(db, provider, organization_slug=people.organization_slug)
    if run.paid:
        report.created.append(f"{run.paid} payout(s) PAID to {people.organization_slug} creators (local transfers)")
    if run.failed or run.unknown:
        report.problems.append(f"payouts of {people.organization_slug}: {run.failed} failed, {run.unknown} with an "
                               "unknown outcome (see the log; the payout job retries them)")
    return report


async def _onboard(db: Database, settings: Settings, provider: LocalProvider, people: DemoPayoutPeople) -> bool:
    """startCreatorPayoutOnboarding, then "Complete onboarding" on the local page; False when the creator's
    account can receive transfers already."""
    creator = Viewer(user_id=people.creator_id, platform_role=people.creator_role, email_verified=True,
                     memberships=(Membership(people.organization_id, OrgRole.CREATOR),),
                     active_organization_id=people.organization_id)
    back = settings.public_base_url.rstrip("/") + DEMO_RETURN_PATH
    async with db.transaction(creator.scope) as session:
        existing = await repository.account_of(session, people.creator_id)
        if existing is not None and existing.transfers_active:
            return False
        planned = await payouts.plan_onboarding(session, settings, creator, people.organization_id, back, back)
    created, link = await payouts.onboard_at_provider(provider, planned)
    async with db.transaction(creator.scope) as session:
        account = await payouts.record_onboarding(session, provider.name, planned, created)
        account_id = account.account_id
    if created is not None and created.account_id != account_id:  # a parallel run stored its account first
        _, link = await payouts.onboard_at_provider(provider, planned, account_id)
    url = urlsplit(link.url)
    opened = provider.open_account_link(url.path.removeprefix(ONBOARD_PATH), dict(parse_qsl(url.query)))
    assert opened is not None and opened.account_id == account_id and not opened.expired
    payload = provider.complete_onboarding(opened.account_id)
    ingested = await webhooks.ingest(db, provider, payload, provider.signature(payload))
    await webhooks.handle(db, ingested.event_id, provider)  # finishes inline handling that failed; a no-op otherwise
    return True


async def _lower_minimum(db: Database, storage: Storage, people: DemoPayoutPeople) -> bool:
    """The organization's payout minimum down to the demo's and its payout hold to 0, through the settings service
    (audited as the owner); False when they are so already."""
    async with db.transaction(TenantScope(user_id=people.owner_id, organization_id=people.organization_id)) as session:
        audit.attach(session, audit.AuditContext(actor_user_id=people.owner_id))
        organization = await settings_repository.for_update(session, people.organization_id)
        assert organization is not None
        document = settings_service.document(organization)
        if document.payout_minimum_cents <= DEMO_PAYOUT_MINIMUM_CENTS and document.payout_hold_days == 0:
            return False
        # The demo pays its fresh sale at once: no hold (the default holds earnings for 7 days).
        await settings_service.update_settings(session, storage, people.organization_id,
                                               {"payout_minimum_cents": min(document.payout_minimum_cents,
                                                                            DEMO_PAYOUT_MINIMUM_CENTS),
                                                "payout_hold_days": 0})
    return True


__all__ = ["DEMO_PAYOUT_MINIMUM_CENTS", "DemoPayoutPeople", "DemoPayoutReport", "seed_demo_payout"]
