"""Tests of offerings: events, programs, services, cohorts and their bookings."""
