"""Content: uploads, processing state, publishing, the catalogue and protected playback.

Request path: ``access.py`` decides who may see and play an item, in Python and in SQL, for the
repositories, the resolvers and the compiled path (``compiled.py``) alike. Event path: a completed
upload enqueues media processing through the outbox."""
