"""Media processing: probing files with ffprobe, thumbnails with ffmpeg, the HLS ladder (docs/media.md),
abandoned upload cleanup.

Event path: runs in the workers (``workers/media_actors.py``), on jobs the content service enqueued
through the outbox."""
