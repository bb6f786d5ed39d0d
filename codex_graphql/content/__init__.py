"""Content: uploads, processing state, publishing, the catalogue and protected playback."""
