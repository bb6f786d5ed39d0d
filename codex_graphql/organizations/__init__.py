"""Organizations (the tenants) and their members.

Request path: the viewer's active organization is the tenant scope of every transaction
(``authz.Viewer.scope``); membership and role changes are broadcast so every instance re-reads the
viewers it caches. Event path: invitation mails are outbox jobs."""
