"""Creators' earnings: revenue split terms (the platform fee, the creators' share, co-creators), the one division
rule (split.py) and the append-only earnings ledger written with every sale and refund (ledger.py)."""
