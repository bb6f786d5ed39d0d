"""Settings rules: validate a partial update, verify a logo, store; content defaults for new items.

Everything is checked before anything is written, so a refused update changes nothing (and the
mutation's savepoint rolls back whatever a failure after that point did). Services never commit.
"""

from __future__ import annotations

import importlib
import logging
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql import audit
from codex_graphql.errors import DomainError, ErrorCode
from codex_graphql.org_settings import logo, models, repository
from codex_graphql.org_settings.models import ContentDefaults, SettingsDocument
from codex_graphql.organizations.models import Organization
from codex_graphql.storage import SignedRequest, Storage

log = logging.getLogger(__name__)


def document(organization: Organization) -> SettingsDocument:
    return models.read(organization.name, organization.timezone, organization.settings,
                       organization.creator_share_percent)


async def content_defaults(session: AsyncSession, organization_id: uuid.UUID) -> ContentDefaults:
    found = await repository.settings_of(session, organization_id)
    if found is None:
        return ContentDefaults()
    return ContentDefaults.of(models.read(*found))


async def currency_and_timezone(session: AsyncSession, organization_id: uuid.UUID) -> tuple[str, str]:
    """The organization's currency and time zone (the defaults of what it sells and schedules)."""
    found = await repository.settings_of(session, organization_id)
    document = models.read(*found) if found is not None else None
    return (document.currency, document.timezone) if document is not None else ("USD", "UTC")


async def max_devices_per_customer(session: AsyncSession, organization_id: uuid.UUID) -> int | None:
    """How many devices each customer may play the organization's items on; None means no limit."""
    found = await repository.settings_of(session, organization_id)
    return None if found is None else models.read(*found).max_devices_per_customer


async def subscription_grace_days(session: AsyncSession, organization_id: uuid.UUID) -> int:
    """How many days a PAST_DUE subscription of the organization keeps granting its tier."""
    found = await repository.settings_of(session, organization_id)
    if found is None:
        return models.DEFAULT_SUBSCRIPTION_GRACE_DAYS
    return models.read(*found).subscription_grace_days


async def create_logo_upload(session: AsyncSession, storage: Storage, organization_id: uuid.UUID, filename: str,
                             mime_type: str, size_bytes: int) -> tuple[str, SignedRequest]:
    key, mime = logo.plan_upload(organization_id, filename, mime_type, size_bytes)
    logo.reserve(session, organization_id, key)
    return key, await logo.presign(storage, key, mime, size_bytes)


async def prepare_logo(storage: Storage, organization_id: uuid.UUID, changes: dict[str, Any]) -> dict[str, Any]:
    """Before the settings transaction (storage calls only): check a new logo's upload and write it to its
    final key; returns the changes with the key to store."""
    if changes.get("logo_key") is None:
        return changes
    return {**changes, "logo_key": await logo.prepare(storage, organization_id, changes["logo_key"])}


async def _rebuild_rollups(session: AsyncSession, organization_id: uuid.UUID) -> bool:
    """Analytics keeps daily rollups in the organization's timezone: rebuild them when it changes.
    The analytics domain may not provide the function (yet); then there is nothing to rebuild."""
    try:
        analytics = importlib.import_module("codex_graphql.analytics.service")
    except ModuleNotFoundError as exc:
        if exc.name not in ("codex_graphql.analytics", "codex_graphql.analytics.service"):
            raise
        return False
    rebuild = getattr(analytics, "rebuild_daily_rollups", None)
    if rebuild is None:
        return False
    await rebuild(session, organization_id)
    return True


def _camel_document(settings: SettingsDocument) -> dict[str, Any]:
    return {models.camel(key): value for key, value in settings.model_dump(mode="json").items()}


async def update_settings(session: AsyncSession, storage: Storage, organization_id: uuid.UUID,
                          changes: dict[str, Any]) -> Organization:
    """Apply ``changes`` (snake_case keys; only the settings given, ``None`` clears a clearable one). A new
    ``logo_key`` must have gone through ``prepare_logo``. A new grace period applies at once to the
    organization's PAST_DUE subscriptions (their rows are locked first: ``subscriptions.dunning``)."""
    # subscriptions.billing reads this module's grace period: imported here, when used.
    from codex_graphql.subscriptions import dunning

    past_due = (await dunning.lock_for_grace_change(session, organization_id)
                if changes.get("subscription_grace_days") is not None else None)
    organization = await repository.for_update(session, organization_id)
    if organization is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No organization has this id.", "organizationId")
    current = document(organization)
    changes = dict(changes)
    if changes.get("logo_key") is not None:  # checked and written to its final key by ``prepare_logo`` first
        changes["logo_key"] = changes["logo_key"].strip()
        if not logo.key_pattern(organization_id).match(changes["logo_key"]):
            raise DomainError(ErrorCode.NOT_FOUND, "This is not a logo upload of your organization.", "logoKey")
        await logo.adopt(session, organization_id, changes["logo_key"])
    updated, errors = models.apply(current, changes)
    if errors or updated is None:
        raise DomainError.many(errors)
    timezone_changed = updated.timezone != organization.timezone
    organization.name = updated.name
    organization.timezone = updated.timezone
    organization.creator_share_percent = updated.default_creator_share_percent
    organization.settings = updated.stored()
    logo.retire(session, organization_id, current.logo_key, updated.logo_key)
    await session.flush()
    before, after = audit.changed(_camel_document(current), _camel_document(updated))
    if after:
        await audit.record(session, audit.AuditAction.SETTINGS_CHANGED, organization_id=organization_id,
                           target_type="Organization", target_id=organization_id, before=before, after=after)
    if timezone_changed:
        await _rebuild_rollups(session, organization_id)
    if past_due is not None and updated.subscription_grace_days != current.subscription_grace_days:
        await dunning.regrace(session, past_due, updated.subscription_grace_days)
    return organization
