from tests.subscriptions.support import stripe_shop  # noqa: F401  (fixture)
