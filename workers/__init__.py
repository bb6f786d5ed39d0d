"""Dramatiq workers: broker setup, the runtime actors share, and the actors themselves.

Event path: the outbox relay (``codex_graphql.events``) sends committed job rows here; each actor gets
ids, runs in its own tenant transaction and is safe to run twice.

Import order matters: ``setup_broker`` must run before ``workers.actors`` is imported, because
Dramatiq binds actors to the global broker at declaration time.
"""
