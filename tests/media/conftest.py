"""Fixtures of the media tests: the HLS ladder's sources made with ffmpeg at test time."""

from tests.media.hls_support import hls_media, owner, uploads  # noqa: F401  (fixtures, found by pytest here)
