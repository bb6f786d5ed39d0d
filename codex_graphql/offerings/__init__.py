"""Offerings: events, programs, services and cohorts, their sessions, availability and bookings."""
