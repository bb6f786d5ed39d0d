"""Articles: content of kind ARTICLE, a rich-text body instead of a media file (document.py for the format)."""
