"""Content revisions: who changed an item's title, description, price, tags, categories or body, and when."""
