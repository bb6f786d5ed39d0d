"""Organization settings: the validated settings document, branding (logo, palette), policies
(sanitized rich text) and the defaults applied to new content.

Request path: read and written on the organization row itself, which row-level security lets only the
organization's own scope update; replaced logos are queued for deletion (``storage``)."""
