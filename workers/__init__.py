"""Dramatiq workers: broker setup, the runtime actors share, and the actors themselves.

Import order matters: ``setup_broker`` must run before ``workers.actors`` is imported, because
Dramatiq binds actors to the global broker at declaration time.
"""
