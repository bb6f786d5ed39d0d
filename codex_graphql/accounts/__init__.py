"""Accounts: users, sessions, email verification and password reset.

Request path: ``sessions.py`` turns the bearer token or session cookie into the ``Viewer`` (and so the
tenant scope of the request's transaction) before execution; ``compiled.py`` declares ``viewer`` for the
compiled path. Event path: account and security mails are outbox jobs sent by ``workers/actors.py``."""
