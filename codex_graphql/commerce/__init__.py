"""Commerce: checkout, purchases, free claims, grants, refunds, receipts and purchase events."""
