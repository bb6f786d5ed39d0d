"""Series: an organization's ordered sequences of content items (a course, a season), with navigation."""
