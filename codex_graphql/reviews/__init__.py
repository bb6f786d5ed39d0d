"""Reviews of content items: submission by entitled customers, moderation, rating summaries."""
