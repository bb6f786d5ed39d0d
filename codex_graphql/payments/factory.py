"""Pick the payment provider from settings."""

from __future__ import annotations

import hashlib

from codex_graphql.payments import PaymentProvider
from codex_graphql.settings import Settings


def webhook_secret(settings: Settings) -> str:
    if settings.stripe_webhook_secret:
        return settings.stripe_webhook_secret
    # Local demo mode: a secret derived from SECRET_KEY, so self-sent webhooks verify.
    return "whsec_local_" + hashlib.sha256(b"codex-webhook:" + settings.secret_key.encode()).hexdigest()[:32]


def build_payments(settings: Settings) -> PaymentProvider:
    if settings.payments_provider == "stripe":
        from codex_graphql.payments.stripe import StripeProvider

        if not settings.stripe_secret_key or not settings.stripe_webhook_secret:
            raise RuntimeError("PAYMENTS_PROVIDER=stripe needs STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET.")
        return StripeProvider(settings.stripe_secret_key, settings.stripe_webhook_secret, settings.stripe_api_base,
                              connect_webhook_secret=settings.stripe_connect_webhook_secret)
    from codex_graphql.payments.local import LocalProvider

    return LocalProvider(settings.public_base_url, settings.secret_key, webhook_secret(settings), settings.environment,
                         state_path=settings.data_dir / "local-billing.json")
