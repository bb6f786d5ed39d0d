"""Media processing: probing files with ffprobe, thumbnails with ffmpeg, abandoned upload cleanup."""
