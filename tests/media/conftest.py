"""Fixtures of the media tests: the HLS ladder's sources made with ffmpeg at test time."""

from tests.media.hls_support import hls_media  # noqa: F401  (a fixture, found by pytest here)
