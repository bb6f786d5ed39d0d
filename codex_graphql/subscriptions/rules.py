"""Validation rules for subscription tier input: lengths, price, trial and credit bounds, the caps."""

from __future__ import annotations

from codex_graphql.content.rules import MAX_PRICE_CENTS
from codex_graphql.credits.models import CreditPolicy
from codex_graphql.errors import DomainError, ErrorCode
from codex_graphql.org_settings.models import SUPPORTED_CURRENCIES

MAX_NAME = 80
MAX_DESCRIPTION = 2_000
MAX_POSITION = 10_000
MAX_TIERS = 50  # unarchived tiers per organization: `Organization.subscriptionTiers` is one list
MAX_CATEGORIES_PER_TIER = 100
MAX_TRIAL_DAYS = 730  # Stripe's own limit for a trial
MAX_MONTHLY_CREDITS = 100_000
MAX_ROLLOVER_CAP = 1_000_000
MAX_KEY_LENGTH = 200
MIN_PRICE_CENTS = 1  # a free tier is not a subscription: grant access instead


def _invalid(message: str, field: str) -> DomainError:
    return DomainError(ErrorCode.INVALID_INPUT, message, field)


def check_name(name: str) -> str:
    name = " ".join(name.split())
    if not 1 <= len(name) <= MAX_NAME:
        raise _invalid(f"The name must have 1 to {MAX_NAME} characters.", "name")
    return name


def check_description(description: str) -> str:
    if len(description) > MAX_DESCRIPTION:
        raise _invalid(f"Descriptions are at most {MAX_DESCRIPTION} characters.", "description")
    return description.strip()


def check_position(position: int) -> int:
    if not 0 <= position <= MAX_POSITION:
        raise _invalid(f"The position is a whole number from 0 to {MAX_POSITION}.", "position")
    return position


def check_price(amount: int | None, field: str) -> int | None:
    if amount is not None and not MIN_PRICE_CENTS <= amount <= MAX_PRICE_CENTS:
        raise _invalid(f"A price is {MIN_PRICE_CENTS} to {MAX_PRICE_CENTS} minor units, or null for no price "
                       "for this interval.", field)
    return amount


def check_prices(monthly: int | None, annual: int | None) -> None:
    if monthly is None and annual is None:
        raise _invalid("A tier needs a monthly price, an annual price or both.", "monthlyPriceCents")


def check_currency(currency: str) -> str:
    code = currency.strip().upper()
    if code not in SUPPORTED_CURRENCIES:
        raise _invalid(f"Supported currencies: {', '.join(SUPPORTED_CURRENCIES)}.", "currency")
    return code


def check_trial_days(days: int) -> int:
    if not 0 <= days <= MAX_TRIAL_DAYS:
        raise _invalid(f"A free trial lasts 0 to {MAX_TRIAL_DAYS} days.", "trialDays")
    return days


def check_monthly_credits(credits: int) -> int:
    if not 0 <= credits <= MAX_MONTHLY_CREDITS:
        raise _invalid(f"Monthly credits are a whole number from 0 to {MAX_MONTHLY_CREDITS}.", "monthlyCredits")
    return credits


def check_credit_policy(policy: CreditPolicy, cap: int | None) -> int | None:
    """ROLLOVER needs a cap (0 to MAX_ROLLOVER_CAP); the other policies have none."""
    if policy is CreditPolicy.ROLLOVER:
        if cap is None or not 0 <= cap <= MAX_ROLLOVER_CAP:
            raise _invalid(f"ROLLOVER needs a rollover cap from 0 to {MAX_ROLLOVER_CAP} credits.", "creditRolloverCap")
        return cap
    if cap is not None:
        raise _invalid("Only the ROLLOVER credit policy has a rollover cap.", "creditRolloverCap")
    return None


def check_grant(all_content: bool, category_count: int) -> None:
    """A tier grants every item, or the items of its categories: not both."""
    if all_content and category_count:
        raise _invalid("A tier granting all content has no categories: send `categoryIds: []` with "
                       "`allContent: true`.", "categoryIds")
    if category_count > MAX_CATEGORIES_PER_TIER:
        raise _invalid(f"A tier grants at most {MAX_CATEGORIES_PER_TIER} categories.", "categoryIds")


def check_key(key: str) -> str:
    if not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise _invalid(f"An idempotency key has 1 to {MAX_KEY_LENGTH} characters.", "idempotencyKey")
    return key
