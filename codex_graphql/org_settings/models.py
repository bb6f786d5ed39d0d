"""The organization settings document and its validation (pydantic).

The document lives in ``organization.settings`` (JSONB, snake_case keys); ``name`` and ``timezone``
are columns of their own (analytics reads the timezone) but are validated here with the rest, so one
``SettingsDocument.model_validate`` decides whether an update is acceptable. Validation errors become
``UserError``s whose field paths use the GraphQL input names (``["input", "primaryColor"]``).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import strawberry
from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from codex_graphql.enum_docs import describe_values
from codex_graphql.errors import ErrorCode, UserError
from codex_graphql.org_settings.sanitize import MAX_HTML_BYTES, sanitize_html

SUPPORTED_CURRENCIES = ("USD",)
HEX_COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
# Columns of the organization row, validated with the document but not stored in it.
COLUMN_FIELDS = ("name", "timezone", "default_creator_share_percent")


@strawberry.enum(description="What kind of business the organization runs (for discovery and reporting).")
class BusinessCategory(enum.StrEnum):
    EDUCATION = "EDUCATION"
    FITNESS = "FITNESS"
    FILM_AND_VIDEO = "FILM_AND_VIDEO"
    MUSIC = "MUSIC"
    PODCASTS = "PODCASTS"
    ARTS_AND_CRAFTS = "ARTS_AND_CRAFTS"
    BUSINESS = "BUSINESS"
    TECHNOLOGY = "TECHNOLOGY"
    LIFESTYLE = "LIFESTYLE"
    ENTERTAINMENT = "ENTERTAINMENT"
    OTHER = "OTHER"


describe_values(BusinessCategory, {
    "EDUCATION": "Courses, lessons and tutoring.",
    "FITNESS": "Workouts, yoga, sports coaching.",
    "FILM_AND_VIDEO": "Films, series and other video productions.",
    "MUSIC": "Music releases, performances and lessons.",
    "PODCASTS": "Audio or video podcasts.",
    "ARTS_AND_CRAFTS": "Art, design and craft tutorials.",
    "BUSINESS": "Business, finance and career content.",
    "TECHNOLOGY": "Software, engineering and technology.",
    "LIFESTYLE": "Food, travel, wellbeing and lifestyle.",
    "ENTERTAINMENT": "Comedy, gaming and other entertainment.",
    "OTHER": "None of the above (the default when not set).",
})


@strawberry.enum(description="Whether new content appears in the public catalogue list.")
class ContentVisibility(enum.StrEnum):
    PUBLIC = "PUBLIC"
    PRIVATE = "PRIVATE"


describe_values(ContentVisibility, {
    "PUBLIC": "New content is listed in the public catalogue once published (the default).",
    "PRIVATE": "New content is not listed in the public catalogue; people reach it by direct link or grant.",
})


@strawberry.enum(description="How reviews are moderated. NONE: published at once, staff cannot hide them. "
                 "PRE: every review (and every edit) waits for staff approval. POST: published at once; staff may "
                 "hide them. LIGHT and STRICT are the former names of POST and PRE and behave the same.")
class ModerationLevel(enum.StrEnum):
    NONE = "NONE"
    PRE = "PRE"
    POST = "POST"
    LIGHT = "LIGHT"
    STRICT = "STRICT"

    @property
    def effective(self) -> ModerationLevel:
        """LIGHT and STRICT (the first names) behave as POST and PRE."""
        return {ModerationLevel.LIGHT: ModerationLevel.POST, ModerationLevel.STRICT: ModerationLevel.PRE}.get(self, self)


describe_values(ModerationLevel, {
    "NONE": "Reviews are published at once and staff cannot hide them.",
    "PRE": "Every review, and every edit of one, waits as PENDING for staff approval before it is shown.",
    "POST": "Reviews are published at once; staff may hide them afterwards.",
    "LIGHT": "Former name of POST; behaves exactly like POST.",
    "STRICT": "Former name of PRE; behaves exactly like PRE.",
}, deprecated={"LIGHT": "Use POST; it behaves the same.", "STRICT": "Use PRE; it behaves the same."})


@strawberry.enum(description="The language of the organization's content, for search: how words are reduced to "
                 "their stems and which common words are ignored (a PostgreSQL text search configuration).")
class SearchLanguage(enum.StrEnum):
    SIMPLE = "SIMPLE"
    ENGLISH = "ENGLISH"
    FRENCH = "FRENCH"
    GERMAN = "GERMAN"
    SPANISH = "SPANISH"
    ITALIAN = "ITALIAN"
    PORTUGUESE = "PORTUGUESE"
    DUTCH = "DUTCH"


describe_values(SearchLanguage, {
    "SIMPLE": "No language: words are matched as written (lower-cased), no stemming, no ignored words. For "
              "mixed-language catalogues or languages not listed here.",
    "ENGLISH": "English stemming and stop words (the default): `running` finds `run`, `the` is ignored.",
    "FRENCH": "French stemming and stop words.",
    "GERMAN": "German stemming and stop words.",
    "SPANISH": "Spanish stemming and stop words.",
    "ITALIAN": "Italian stemming and stop words.",
    "PORTUGUESE": "Portuguese stemming and stop words.",
    "DUTCH": "Dutch stemming and stop words.",
})


@strawberry.enum(description="How often the organization pays its creators (the payout job, UTC).")
class PayoutSchedule(enum.StrEnum):
    WEEKLY = "WEEKLY"
    MONTHLY = "MONTHLY"


describe_values(PayoutSchedule, {
    "WEEKLY": "One payout per creator and currency each week; weeks start on Monday, 00:00 UTC.",
    "MONTHLY": "One payout per creator and currency each month; months start on the 1st, 00:00 UTC (the default).",
})


DEFAULT_DOWNLOAD_LIMIT = 5
MAX_DOWNLOAD_LIMIT = 1000
MAX_DEVICES_PER_CUSTOMER = 100
DEFAULT_SUBSCRIPTION_GRACE_DAYS = 7
MAX_SUBSCRIPTION_GRACE_DAYS = 60
DEFAULT_PAYOUT_MINIMUM_CENTS = 1000
MAX_PAYOUT_MINIMUM_CENTS = 10_000_000
DEFAULT_PAYOUT_HOLD_DAYS = 7
MAX_PAYOUT_HOLD_DAYS = 90


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def normalize_color(value: str) -> str:
    """``#RGB`` or ``#RRGGBB`` (any case) to lower-case ``#rrggbb``."""
    value = value.strip()
    if not HEX_COLOR.match(value):
        raise ValueError("Use a hex color like #1a2b3c or #abc.")
    digits = value[1:].lower()
    if len(digits) == 3:
        digits = "".join(ch * 2 for ch in digits)
    return "#" + digits


def check_timezone(value: str) -> str:
    value = value.strip()
    try:
        if not value or value.lower() == "localtime":
            raise ValueError
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("Use an IANA time zone such as Europe/Paris or America/New_York.") from None
    return value


def _text(value: str | None, *, maximum: int, label: str, required: bool = False) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not value:
        if required:
            raise ValueError(f"The {label} cannot be empty.")
        return None
    if len(value) > maximum:
        raise ValueError(f"The {label} must have at most {maximum} characters.")
    return value


class SettingsDocument(BaseModel):
    """Every setting, validated. Fields left at their defaults are the organization's defaults."""

    model_config = ConfigDict(extra="ignore", validate_assignment=False)

    # basic
    name: str
    timezone: str = "UTC"
    legal_name: str | None = None
    contact_email: str | None = None
    business_category: BusinessCategory | None = None
    currency: str = "USD"
    # branding
    platform_name: str | None = None
    logo_key: str | None = None
    primary_color: str | None = None
    # business policies (sanitized HTML)
    refund_policy: str | None = None
    terms_of_service: str | None = None
    privacy_policy: str | None = None
    # content defaults
    default_visibility: ContentVisibility = ContentVisibility.PUBLIC
    allow_downloads: bool = False
    enable_reviews: bool = False
    moderation_level: ModerationLevel = ModerationLevel.NONE
    download_limit: int | None = DEFAULT_DOWNLOAD_LIMIT
    # subscriptions: how long a PAST_DUE subscription keeps granting its tier (dunning)
    subscription_grace_days: int = DEFAULT_SUBSCRIPTION_GRACE_DAYS
    # search: the text search configuration of the organization's vectors (migration 0032 reads it in SQL)
    search_language: SearchLanguage = SearchLanguage.ENGLISH
    # earnings: the creators' share of a sale after the platform fee, unless the item overrides it (a column)
    default_creator_share_percent: int = 100
    # payouts (earnings/payout_jobs.py): how often creators are paid and the least balance worth a transfer
    payout_schedule: PayoutSchedule = PayoutSchedule.MONTHLY
    payout_minimum_cents: int = DEFAULT_PAYOUT_MINIMUM_CENTS
    # earnings younger than this many days are not paid out yet (refunds and disputes of them come first)
    payout_hold_days: int = DEFAULT_PAYOUT_HOLD_DAYS
    # subscription pool (earnings/pool.py): percent of a month's subscription revenue after the platform fee
    # divided between creators by plays; 0 = no pool
    creator_pool_percent: int = 0
    # playback (devices/service.py): devices a customer may play on at once; None = no limit
    max_devices_per_customer: int | None = None

    @field_validator("max_devices_per_customer")
    @classmethod
    def _max_devices(cls, value: int | None) -> int | None:
        if value is not None and not 1 <= value <= MAX_DEVICES_PER_CUSTOMER:
            raise ValueError(f"The device limit must be between 1 and {MAX_DEVICES_PER_CUSTOMER}, or null for no limit.")
        return value

    @field_validator("creator_pool_percent")
    @classmethod
    def _creator_pool(cls, value: int) -> int:
        if not 0 <= value <= 100:
            raise ValueError("The creators' pool is 0 to 100 percent.")
        return value

    @field_validator("payout_hold_days")
    @classmethod
    def _payout_hold(cls, value: int) -> int:
        if not 0 <= value <= MAX_PAYOUT_HOLD_DAYS:
            raise ValueError(f"The payout hold is 0 to {MAX_PAYOUT_HOLD_DAYS} days.")
        return value

    @field_validator("payout_minimum_cents")
    @classmethod
    def _payout_minimum(cls, value: int) -> int:
        if not 0 <= value <= MAX_PAYOUT_MINIMUM_CENTS:
            raise ValueError(f"The payout minimum is 0 to {MAX_PAYOUT_MINIMUM_CENTS} cents.")
        return value

    @field_validator("default_creator_share_percent")
    @classmethod
    def _creator_share(cls, value: int) -> int:
        if not 0 <= value <= 100:
            raise ValueError("The creators' share is 0 to 100 percent.")
        return value

    @field_validator("subscription_grace_days")
    @classmethod
    def _grace(cls, value: int) -> int:
        if not 0 <= value <= MAX_SUBSCRIPTION_GRACE_DAYS:
            raise ValueError(f"The grace period is 0 to {MAX_SUBSCRIPTION_GRACE_DAYS} days.")
        return value

    @field_validator("download_limit")
    @classmethod
    def _download_limit(cls, value: int | None) -> int | None:
        if value is not None and not 1 <= value <= MAX_DOWNLOAD_LIMIT:
            raise ValueError(f"The download limit must be between 1 and {MAX_DOWNLOAD_LIMIT}, or null for no limit.")
        return value

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, value: Any) -> Any:
        return _text(value, maximum=200, label="name", required=True) if isinstance(value, str) else value

    @field_validator("timezone", mode="before")
    @classmethod
    def _timezone(cls, value: Any) -> Any:
        return check_timezone(value) if isinstance(value, str) else value

    @field_validator("legal_name", mode="before")
    @classmethod
    def _legal_name(cls, value: Any) -> Any:
        return _text(value, maximum=200, label="legal name") if isinstance(value, str) else value

    @field_validator("platform_name", mode="before")
    @classmethod
    def _platform_name(cls, value: Any) -> Any:
        return _text(value, maximum=100, label="platform name") if isinstance(value, str) else value

    @field_validator("contact_email", mode="before")
    @classmethod
    def _email(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if not value.strip():
            return None
        try:
            return validate_email(value.strip(), check_deliverability=False).normalized
        except EmailNotValidError as exc:
            raise ValueError(f"This is not a valid email address: {exc}") from None

    @field_validator("currency", mode="before")
    @classmethod
    def _currency(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        code = value.strip().upper()
        if code not in SUPPORTED_CURRENCIES:
            raise ValueError(f"Only {', '.join(SUPPORTED_CURRENCIES)} is supported for now.")
        return code

    @field_validator("primary_color", mode="before")
    @classmethod
    def _color(cls, value: Any) -> Any:
        return normalize_color(value) if isinstance(value, str) else value

    @field_validator("refund_policy", "terms_of_service", "privacy_policy", mode="before")
    @classmethod
    def _html(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if len(value.encode()) > MAX_HTML_BYTES:
            raise ValueError(f"The text must be at most {MAX_HTML_BYTES // 1024} KB of HTML.")
        return sanitize_html(value) or None

    def stored(self) -> dict[str, Any]:
        """What goes into ``organization.settings`` (the columns are stored apart)."""
        return self.model_dump(mode="json", exclude=set(COLUMN_FIELDS))


NON_NULL = ("name", "timezone", "currency", "default_visibility", "allow_downloads", "enable_reviews",
            "moderation_level", "subscription_grace_days", "search_language", "default_creator_share_percent",
            "payout_schedule", "payout_minimum_cents", "payout_hold_days", "creator_pool_percent")


def read(name: str, timezone: str, stored: dict[str, Any] | None, creator_share_percent: int = 100) -> SettingsDocument:
    """The current document as stored (already valid; constructed without re-validating)."""
    known = {key: value for key, value in (stored or {}).items() if key in SettingsDocument.model_fields}
    values = {key: field.default for key, field in SettingsDocument.model_fields.items() if key != "name"}
    values.update(known)
    values.update(name=name, timezone=timezone, default_creator_share_percent=creator_share_percent)
    for enum_field, enum_type in (("business_category", BusinessCategory), ("default_visibility", ContentVisibility),
                                  ("moderation_level", ModerationLevel), ("search_language", SearchLanguage),
                                  ("payout_schedule", PayoutSchedule)):
        raw = values.get(enum_field)
        if raw is not None:
            try:
                values[enum_field] = enum_type(raw)
            except ValueError:
                values[enum_field] = SettingsDocument.model_fields[enum_field].default
    return SettingsDocument.model_construct(**values)


def apply(current: SettingsDocument, changes: dict[str, Any]) -> tuple[SettingsDocument | None, list[UserError]]:
    """Validate ``current`` with ``changes`` (snake_case keys, only the fields given) applied."""
    errors = [
        UserError(code=ErrorCode.INVALID_INPUT, field=["input", camel(key)], message="This setting cannot be null.")
        for key in NON_NULL if key in changes and changes[key] is None
    ]
    if errors:
        return None, errors
    merged = current.model_dump() | changes
    try:
        return SettingsDocument.model_validate(merged), []
    except ValidationError as exc:
        for error in exc.errors():
            loc = str(error["loc"][0]) if error["loc"] else None
            message = str(error["msg"]).removeprefix("Value error, ")
            errors.append(UserError(code=ErrorCode.INVALID_INPUT, field=["input", camel(loc)] if loc else None,
                                    message=message))
        return None, errors


@dataclass(frozen=True, slots=True)
class ContentDefaults:
    """What a new content item starts with."""

    listed: bool = True
    allow_downloads: bool = False
    reviews_enabled: bool = False
    moderation_level: ModerationLevel = ModerationLevel.NONE
    download_limit: int | None = DEFAULT_DOWNLOAD_LIMIT

    @classmethod
    def of(cls, document: SettingsDocument) -> ContentDefaults:
        return cls(listed=document.default_visibility is ContentVisibility.PUBLIC,
                   allow_downloads=document.allow_downloads, reviews_enabled=document.enable_reviews,
                   moderation_level=document.moderation_level.effective, download_limit=document.download_limit)
