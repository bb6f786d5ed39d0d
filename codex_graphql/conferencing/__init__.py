"""Conferencing for online offerings: provider connections, one meeting per session, session recordings."""
