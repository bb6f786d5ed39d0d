"""Analytics: content views, transactionally maintained sales summaries, dashboards and customers."""
