"""GraphQL shapes of settings: the private settings (staff with SETTINGS_MANAGE) and the public face
(branding and policies, readable by anyone)."""

from __future__ import annotations

import strawberry

from codex_graphql.org_settings import palette
from codex_graphql.org_settings.models import (
    DEFAULT_PAYOUT_HOLD_DAYS,
    DEFAULT_PAYOUT_MINIMUM_CENTS,
    DEFAULT_SUBSCRIPTION_GRACE_DAYS,
    MAX_PAYOUT_HOLD_DAYS,
    MAX_PAYOUT_MINIMUM_CENTS,
    MAX_SUBSCRIPTION_GRACE_DAYS,
    BusinessCategory,
    ContentVisibility,
    ModerationLevel,
    PayoutSchedule,
    SearchLanguage,
    SettingsDocument,
)

LOGO_URL_TTL_SECONDS = 3600


async def _logo_url(info: strawberry.Info, key: str | None) -> str | None:
    if not key:
        return None
    return (await info.context.services.storage.presign_get(key, LOGO_URL_TTL_SECONDS)).url


@strawberry.type(description="One shade of the brand palette with the text color readable on it.")
class PaletteShade:
    shade: int = strawberry.field(description="Shade number: 50 (lightest), 100, 200, ..., 900, 950 (darkest).")
    color: str = strawberry.field(description="Background color, `#rrggbb`.")
    text_color: str = strawberry.field(
        description="`#ffffff` or `#000000`: white when its WCAG 2.x contrast on `color` is at least 4.5 "
        "(AA, normal text), else black (which then passes)."
    )
    contrast_ratio: float = strawberry.field(description="WCAG 2.x contrast ratio of `textColor` on `color` (1 to 21).")


def palette_of(primary_color: str | None) -> list[PaletteShade]:
    if not primary_color:
        return []
    return [PaletteShade(shade=s.shade, color=s.color, text_color=s.text_color, contrast_ratio=s.contrast)
            for s in palette.generate(primary_color)]


@strawberry.type(description="How the organization's storefront looks. Public.")
class Branding:
    platform_name: str | None = strawberry.field(description="Name shown on the storefront; null means the organization name.")
    primary_color: str | None = strawberry.field(description="Primary brand color, `#rrggbb`; null when not set.")
    logo_key: strawberry.Private[str | None]

    @strawberry.field(description="Signed URL of the logo (valid one hour); null when no logo is set.")
    async def logo_url(self, info: strawberry.Info) -> str | None:
        return await _logo_url(info, self.logo_key)

    @strawberry.field(description="Shades 50 to 950 generated from the primary color (OKLCH lightness steps, "
                      "gamut-mapped to sRGB), each with an accessible text color; empty without a primary color.")
    def palette(self) -> list[PaletteShade]:
        return palette_of(self.primary_color)


@strawberry.type(description="The organization's customer-facing policies, as sanitized HTML. Public.")
class Policies:
    refund_policy: str | None = strawberry.field(description="Refund policy (sanitized HTML); null when not set.")
    terms_of_service: str | None = strawberry.field(description="Terms of service (sanitized HTML); null when not set.")
    privacy_policy: str | None = strawberry.field(description="Privacy policy (sanitized HTML); null when not set.")


@strawberry.type(description="Every setting of an organization, including private business details.")
class OrganizationSettings:
    name: str = strawberry.field(description="Display name of the organization.")
    legal_name: str | None = strawberry.field(description="Registered business name (private).")
    contact_email: str | None = strawberry.field(description="Business contact email (private).")
    timezone: str = strawberry.field(description="IANA time zone for dates and analytics, e.g. `Europe/Paris`.")
    business_category: BusinessCategory | None = strawberry.field(description="What kind of business this is.")
    currency: str = strawberry.field(description="ISO 4217 currency for prices (USD only for now).")
    platform_name: str | None = strawberry.field(description="Name shown on the storefront.")
    primary_color: str | None = strawberry.field(description="Primary brand color, `#rrggbb`.")
    logo_key: str | None = strawberry.field(description="Storage key of the current logo.")
    refund_policy: str | None = strawberry.field(description="Refund policy (sanitized HTML).")
    terms_of_service: str | None = strawberry.field(description="Terms of service (sanitized HTML).")
    privacy_policy: str | None = strawberry.field(description="Privacy policy (sanitized HTML).")
    default_visibility: ContentVisibility = strawberry.field(
        description="Whether new content is listed in the public catalogue (PUBLIC) or reachable only by id (PRIVATE)."
    )
    allow_downloads: bool = strawberry.field(description="Whether new content allows downloads.")
    enable_reviews: bool = strawberry.field(description="Whether new content accepts reviews.")
    moderation_level: ModerationLevel = strawberry.field(
        description="How reviews are moderated: NONE (published at once), PRE (approved by staff first) or POST "
        "(published at once, staff may hide)."
    )
    download_limit: int | None = strawberry.field(
        description="How many download links a viewer may request per purchase (grant or free claim) of an item "
        "that allows downloads, and per item for a subscription covering it; null means no limit."
    )
    subscription_grace_days: int = strawberry.field(
        description="Days a PAST_DUE subscription (a renewal payment failed and is being retried) keeps granting "
        f"its tier, counted from the failure; 0 to {MAX_SUBSCRIPTION_GRACE_DAYS}, "
        f"{DEFAULT_SUBSCRIPTION_GRACE_DAYS} by default."
    )
    search_language: SearchLanguage = strawberry.field(
        description="The language of the organization's content for `Organization.search` (stemming and ignored "
        "words); ENGLISH by default."
    )
    default_creator_share_percent: int = strawberry.field(
        description="The creators' share of each sale, in percent of what remains after the platform fee (net of "
        "tax), for items without their own; 100 by default. The item's co-creators divide it "
        "(`Content.revenueSplit`)."
    )
    payout_schedule: PayoutSchedule = strawberry.field(
        description="How often creators are paid (the payout job): WEEKLY (weeks start Monday, UTC) or MONTHLY "
        "(the 1st, UTC; the default). One transfer per creator and currency per period."
    )
    payout_minimum_cents: int = strawberry.field(
        description="The least balance, in minor units, a creator must have in a currency to be paid in a period; "
        f"a smaller balance waits for a later period. 0 to {MAX_PAYOUT_MINIMUM_CENTS}, "
        f"{DEFAULT_PAYOUT_MINIMUM_CENTS} by default."
    )
    payout_hold_days: int = strawberry.field(
        description="Days a creator's earnings (sales and pool parts) are held before a payout includes them, so "
        "refunds and disputes of recent sales come out of the balance first (refunds count at once). 0 to "
        f"{MAX_PAYOUT_HOLD_DAYS}, {DEFAULT_PAYOUT_HOLD_DAYS} by default."
    )
    creator_pool_percent: int = strawberry.field(
        description="Percent of each month's subscription revenue (net of tax, after the platform fee) shared "
        "between the creators by their items' plays by subscribers that month; 0 (the default) means no pool."
    )
    max_devices_per_customer: int | None = strawberry.field(
        description="Devices each customer may play the organization's items on (each `Content.playback` names its "
        "device with `deviceId`); a new device over the limit is refused with DEVICE_LIMIT_REACHED until the "
        "customer removes one (`removeDevice`). Null (the default) means no limit."
    )

    @classmethod
    def from_document(cls, doc: SettingsDocument) -> OrganizationSettings:
        return cls(
            name=doc.name, legal_name=doc.legal_name, contact_email=doc.contact_email, timezone=doc.timezone,
            business_category=doc.business_category, currency=doc.currency, platform_name=doc.platform_name,
            primary_color=doc.primary_color, logo_key=doc.logo_key, refund_policy=doc.refund_policy,
            terms_of_service=doc.terms_of_service, privacy_policy=doc.privacy_policy,
            default_visibility=doc.default_visibility, allow_downloads=doc.allow_downloads,
            enable_reviews=doc.enable_reviews, moderation_level=doc.moderation_level,
            download_limit=doc.download_limit, subscription_grace_days=doc.subscription_grace_days,
            search_language=doc.search_language, default_creator_share_percent=doc.default_creator_share_percent,
            payout_schedule=doc.payout_schedule, payout_minimum_cents=doc.payout_minimum_cents,
            payout_hold_days=doc.payout_hold_days, creator_pool_percent=doc.creator_pool_percent,
            max_devices_per_customer=doc.max_devices_per_customer,
        )

    @strawberry.field(description="Signed URL of the logo (valid one hour); null when no logo is set.")
    async def logo_url(self, info: strawberry.Info) -> str | None:
        return await _logo_url(info, self.logo_key)

    @strawberry.field(description="The palette generated from `primaryColor`.")
    def palette(self) -> list[PaletteShade]:
        return palette_of(self.primary_color)


def branding_of(doc: SettingsDocument) -> Branding:
    return Branding(platform_name=doc.platform_name, primary_color=doc.primary_color, logo_key=doc.logo_key)


def policies_of(doc: SettingsDocument) -> Policies:
    return Policies(refund_policy=doc.refund_policy, terms_of_service=doc.terms_of_service,
                    privacy_policy=doc.privacy_policy)
