"""updateOrganizationSettings and createOrganizationLogoUpload (SETTINGS_MANAGE)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import strawberry

from codex_graphql.authz import Permission
from codex_graphql.content.service import UploadPlan
from codex_graphql.content.types import Upload, upload_from
from codex_graphql.context import Context
from codex_graphql.errors import DomainError, ErrorCode, UserError
from codex_graphql.org_settings import service
from codex_graphql.org_settings.models import (
    MAX_PAYOUT_HOLD_DAYS,
    MAX_PAYOUT_MINIMUM_CENTS,
    MAX_SUBSCRIPTION_GRACE_DAYS,
    BusinessCategory,
    ContentVisibility,
    ModerationLevel,
    PayoutSchedule,
    SearchLanguage,
)
from codex_graphql.org_settings.types import OrganizationSettings
from codex_graphql.organizations.types import Organization
from codex_graphql.payloads import errors_field, invalid_id, run_mutation
from codex_graphql.permissions import HasOrgPermission, guarded_mutation
from codex_graphql.relay import decode_id

UNSET: Any = strawberry.UNSET
ORG_ID_DESCRIPTION = "The organization; must be the active one. Defaults to the active organization."


def _field(description: str) -> Any:
    return strawberry.field(default=UNSET, description=description)


@strawberry.input(description="Changes to the organization's settings. Omitted fields stay as they are; "
                  "null clears an optional setting.")
class UpdateOrganizationSettingsInput:
    organization_id: strawberry.ID | None = strawberry.field(default=None, description=ORG_ID_DESCRIPTION)
    name: str | None = _field("Display name, 1 to 200 characters.")
    legal_name: str | None = _field("Registered business name, up to 200 characters.")
    contact_email: str | None = _field("Business contact email.")
    timezone: str | None = _field("IANA time zone, e.g. `Europe/Paris`. Changing it rebuilds daily analytics.")
    business_category: BusinessCategory | None = _field("What kind of business this is.")
    currency: str | None = _field("ISO 4217 currency; only USD for now.")
    platform_name: str | None = _field("Name shown on the storefront, up to 100 characters.")
    logo_key: str | None = _field("The `logoKey` from createOrganizationLogoUpload, after uploading the file; "
                                  "the file is checked (type and size; an SVG is rewritten keeping only allow-listed "
                                  "elements and attributes) and copied to this key, which no upload URL can write, "
                                  "before use. Null removes the logo.")
    primary_color: str | None = _field("Primary brand color, `#RRGGBB` or `#RGB`; stored as lower-case `#rrggbb`.")
    refund_policy: str | None = _field("Refund policy as HTML (up to 50 KB); sanitized before storing.")
    terms_of_service: str | None = _field("Terms of service as HTML (up to 50 KB); sanitized before storing.")
    privacy_policy: str | None = _field("Privacy policy as HTML (up to 50 KB); sanitized before storing.")
    default_visibility: ContentVisibility | None = _field("Whether new content is listed in the public catalogue.")
    allow_downloads: bool | None = _field("Whether new content allows downloads.")
    enable_reviews: bool | None = _field("Whether new content accepts reviews.")
    moderation_level: ModerationLevel | None = _field(
        "How reviews are moderated: NONE (published at once), PRE (approved by staff first) or POST (published at "
        "once, staff may hide). Applies to reviews submitted or edited from now on."
    )
    download_limit: int | None = _field(
        "Download links a viewer may request per purchase of an item (and per item for a subscription covering "
        "it), 1 to 1000; null means no limit."
    )
    subscription_grace_days: int | None = _field(
        f"Days a PAST_DUE subscription keeps granting its tier after a renewal payment failed, 0 to "
        f"{MAX_SUBSCRIPTION_GRACE_DAYS}. The "
        "change applies at once to the organization's PAST_DUE subscriptions: a shorter period ends their "
        "access now when it is over, a longer one extends it."
    )
    default_creator_share_percent: int | None = _field(
        "The creators' share of each sale, 0 to 100 percent of what remains after the platform fee, for items "
        "without their own (`setContentRevenueSplit`). Applies to sales completed from now on."
    )
    search_language: SearchLanguage | None = _field(
        "The language of the organization's content for search (stemming and ignored words). Changing it rebuilds "
        "every item's search vector in the same transaction (a few seconds for 100,000 items)."
    )
    payout_schedule: PayoutSchedule | None = _field(
        "How often creators are paid: WEEKLY (weeks start Monday, UTC) or MONTHLY (the 1st, UTC). The payout job "
        "follows it from its next run."
    )
    payout_minimum_cents: int | None = _field(
        f"The least balance, in minor units, worth a payout, 0 to {MAX_PAYOUT_MINIMUM_CENTS}."
    )
    payout_hold_days: int | None = _field(
        f"Days a creator's earnings are held before a payout includes them, 0 to {MAX_PAYOUT_HOLD_DAYS}: refunds and "
        "disputes of recent sales come out of the balance before it is paid."
    )
    creator_pool_percent: int | None = _field(
        "The creators' pool: 0 to 100 percent of each month's subscription revenue (net of tax, after the platform "
        "fee) divided between the creators by their items' plays by subscribers; 0 turns the pool off. A month is "
        "divided with the percent in force when it closes (early the next month, UTC)."
    )
    max_devices_per_customer: int | None = _field(
        "Devices each customer may play the organization's items on, 1 to 100; null (the default) means no limit. "
        "With a limit, customers must pass `deviceId` to `Content.playback`; lowering it never removes a device, "
        "it only refuses new ones until the customer is under the limit."
    )


SETTING_FIELDS = (
    "name", "legal_name", "contact_email", "timezone", "business_category", "currency", "platform_name", "logo_key",
    "primary_color", "refund_policy", "terms_of_service", "privacy_policy", "default_visibility", "allow_downloads",
    "enable_reviews", "moderation_level", "download_limit", "subscription_grace_days",
    "search_language", "default_creator_share_percent", "payout_schedule", "payout_minimum_cents",
    "payout_hold_days", "creator_pool_percent", "max_devices_per_customer",
)


@strawberry.input(description="A logo image about to be uploaded.")
class CreateOrganizationLogoUploadInput:
    organization_id: strawberry.ID | None = strawberry.field(default=None, description=ORG_ID_DESCRIPTION)
    filename: str = strawberry.field(description="Original file name; its extension must match the type.")
    mime_type: str = strawberry.field(description="image/png, image/jpeg, image/webp or image/svg+xml.")
    size_bytes: int = strawberry.field(description="Exact size in bytes; at most 2 MB.")


@strawberry.type(description="Result of updateOrganizationSettings.")
class UpdateOrganizationSettingsPayload:
    errors: list[UserError] = errors_field()
    organization: Organization | None = strawberry.field(default=None, description="The organization after the change.")
    settings: OrganizationSettings | None = strawberry.field(default=None, description="The settings after the change.")


@strawberry.type(description="Result of createOrganizationLogoUpload: where to PUT the file, and the key to "
                 "pass to updateOrganizationSettings once uploaded.")
class CreateOrganizationLogoUploadPayload:
    errors: list[UserError] = errors_field()
    logo_key: str | None = strawberry.field(default=None, description="Pass as `logoKey` to updateOrganizationSettings.")
    upload: Upload | None = strawberry.field(default=None, description="A signed single PUT for the file, valid "
                                             "for one upload within an hour; send every header listed.")


def _organization(ctx: Context, raw: strawberry.ID | None) -> uuid.UUID:
    active = ctx.viewer.active_organization_id
    organization_id = active if raw is None else decode_id(raw, "Organization")
    if organization_id is None or organization_id != active:
        raise invalid_id("organizationId", "organization you manage")
    return organization_id


@strawberry.type
class SettingsMutations:
    @guarded_mutation(
        HasOrgPermission(Permission.SETTINGS_MANAGE),
        description="Change organization settings, branding, policies and content defaults. Invalid input is "
        "refused with typed errors and nothing is stored.",
    )
    async def update_organization_settings(
        self, info: strawberry.Info,
        input: Annotated[UpdateOrganizationSettingsInput, strawberry.argument(description=(
            "The organization and the settings to change; omitted fields keep their value, null "
            "clears a nullable one."
        ))],
    ) -> UpdateOrganizationSettingsPayload:
        ctx: Context = info.context

        async def action() -> dict:
            organization_id = _organization(ctx, input.organization_id)
            changes = {name: getattr(input, name) for name in SETTING_FIELDS if getattr(input, name) is not UNSET}
            if changes.get("logo_key") is not None:  # storage calls: no transaction open around them
                async with ctx.outside_transaction():
                    changes = await service.prepare_logo(ctx.services.storage, organization_id, changes)
            organization = await service.update_settings(ctx.db, ctx.services.storage, organization_id, changes)
            return {"organization": Organization.from_model(organization),
                    "settings": OrganizationSettings.from_document(service.document(organization))}

        return await run_mutation(info, UpdateOrganizationSettingsPayload, action)

    @guarded_mutation(
        HasOrgPermission(Permission.SETTINGS_MANAGE),
        description="Get a signed upload for a new logo (PNG, JPEG, WebP or SVG; at most 2 MB). Then pass "
        "`logoKey` to updateOrganizationSettings.",
    )
    async def create_organization_logo_upload(
        self, info: strawberry.Info,
        input: Annotated[CreateOrganizationLogoUploadInput, strawberry.argument(description=(
            "The organization (default: the active one) and the logo file's name, MIME type and "
            "size in bytes. The payload says where to upload it."
        ))],
    ) -> CreateOrganizationLogoUploadPayload:
        ctx: Context = info.context

        async def action() -> dict:
            organization_id = _organization(ctx, input.organization_id)
            if input.size_bytes <= 0:
                raise DomainError(ErrorCode.INVALID_INPUT, "The size must be a positive number of bytes.", "sizeBytes")
            key, request = await service.create_logo_upload(
                ctx.db, ctx.services.storage, organization_id, input.filename, input.mime_type, input.size_bytes
            )
            return {"logo_key": key, "upload": upload_from(UploadPlan(request=request))}

        return await run_mutation(info, CreateOrganizationLogoUploadPayload, action)


__all__ = ["SettingsMutations"]
