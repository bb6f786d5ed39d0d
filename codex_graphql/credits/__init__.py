"""The credits ledger: append-only credit transactions per customer and organization, the balance kept with
them, expiring lots and the period policies (EXPIRE_MONTHLY, ROLLOVER with a cap, ACCUMULATE).

Request path: customers read their own balance and transactions (``Viewer``); staff with CREDITS_MANAGE
adjust balances (audited). Internal callers (subscription invoices, bookings) use ``service`` directly;
``jobs.expire_due_lots`` is the periodic expiry."""
