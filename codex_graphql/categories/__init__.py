"""Content categories: an organization's named groups of items (what subscription tiers grant), the
many-to-many link to content set by ``updateContent(input: {categoryIds})``, and the catalogue filter.

Request path only: services write categories and links in the request's transaction; a loader batches an
item page's categories; ``compiled.py`` answers ``Content.categories`` in the compiled read path."""
