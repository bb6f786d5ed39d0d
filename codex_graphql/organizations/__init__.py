"""Organizations (the tenants) and their members."""
