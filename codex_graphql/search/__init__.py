"""Full-text search over an organization's content (``Organization.search``)."""
