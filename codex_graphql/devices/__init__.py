"""Playback devices: registration per playback, the organization's device limit, removal."""
