"""Subscriptions (phase 2): tiers an organization sells by the month or the year, and their Stripe products
and prices. Subscribing, renewals and access are added by the subscription-lifecycle work (issue 15)."""
