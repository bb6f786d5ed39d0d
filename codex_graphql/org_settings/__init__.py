"""Organization settings: the validated settings document, branding (logo, palette), policies
(sanitized rich text) and the defaults applied to new content."""
