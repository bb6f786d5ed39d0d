"""Reviews of content items: submission by entitled customers, moderation, rating summaries.

Request path only: services write reviews and the rating summary in the request's transaction; loaders
batch summaries, the viewer's own reviews and review pages."""
