"""Tests of playback devices and the device limit."""
