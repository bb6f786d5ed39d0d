"""Analytics: content views, transactionally maintained sales summaries, dashboards and customers.

Request path: views are recorded in batches per request (``stats.py``); the summaries are kept by
triggers in the purchase's own transaction, so dashboards read them without a job; ``compiled.py``
declares ``Organization.analytics`` for the compiled path."""
