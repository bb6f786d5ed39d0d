"""Commerce: checkout, purchases, free claims, grants, refunds, receipts and purchase events.

Request path: checkout and refunds reserve and commit, call the payment provider with no transaction
open, then record the outcome (``service.py``, ``refunds.py``; ``reconcile.py`` repairs a crash in
between). Event path: purchase events and mails leave through the outbox; Stripe webhooks come in through
an inbox (``routes.py``, ``webhooks.py``); ``subscriptions.py`` serves ``purchaseEvents`` from the Redis
streams."""
