"""Writes the earnings ledger (earnings/models.py) in the transaction that completes a sale or confirms a
refund, by the one rule of earnings/split.py: a sale's rows go with the purchase in its completion statement
(commerce.repository.complete_checkout, from ``sale_rows``), a refund piece's rows here. Statements go straight
to the driver (the callers own their session and run one statement at a time). Writing twice is harmless: the
ledger's unique keys refuse the second copy and nothing else changes.
"""

from __future__ import annotations

import uuid
from typing import Any

from codex_graphql.earnings.models import EarningKind
from codex_graphql.earnings.split import (
    ORGANIZATION,
    PLATFORM,
    Party,
    PartyKind,
    Terms,
    refund_pieces,
    split,
    weights,
)

_INSERT = """
INSERT INTO earning_entry (id, organization_id, purchase_id, refund_id, content_id, kind, party, user_id, currency,
                           amount_cents, weight, basis_cents)
SELECT gen_random_uuid(), $1, $2, $3, $4, $5, e.party, e.user_id, $6, e.amount, e.weight, $11
FROM unnest($7::text[], $8::uuid[], $9::bigint[], $10::int[]) AS e(party, user_id, amount, weight)
ON CONFLICT DO NOTHING"""

_SALE_SHARES = """
SELECT party, user_id, weight FROM earning_entry WHERE purchase_id = $1 AND kind = 'SALE'"""


def creators_total(parts: dict[Party, int]) -> int:
    return sum(cents for party, cents in parts.items() if party.kind is PartyKind.CREATOR)


def terms_of(row: Any) -> Terms:
    """The terms of a sale from the row that completes it (``platform_fee``, ``creators_percent``,
    ``creator_id`` and ``contributors`` as (user, percent) records: commerce.repository.checkout_to_complete)."""
    return Terms(platform_fee_percent=row["platform_fee"] or 0, creators_percent=row["creators_percent"],
                 creator_id=row["creator_id"],
                 contributors=tuple((user_id, percent) for user_id, percent in row["contributors"]))


def sale_division(row: Any, net_cents: int) -> tuple[dict[Party, int], dict[Party, int]]:
    """(each party's weight, each party's cents) of a sale completed from ``row`` (``terms_of``)."""
    shares = weights(terms_of(row))
    return shares, split(max(0, net_cents), shares)


Columns = tuple[list[str], list[uuid.UUID | None], list[int], list[int | None]]


def _columns(cents: dict[Party, int], shares: dict[Party, int] | None) -> Columns:
    """Ledger rows as the columns the inserts unnest (party, user, cents, weight), in a stable order."""
    ordered = sorted(cents, key=_order)
    return ([party.kind.value for party in ordered], [party.user_id for party in ordered],
            [cents[party] for party in ordered],
            [shares[party] for party in ordered] if shares is not None else [None] * len(ordered))


def sale_rows(parts: dict[Party, int], shares: dict[Party, int]) -> Columns:
    """The sale's ledger rows (each party's part and weight); empty for no parts."""
    return _columns(parts, shares)


async def record_refund(conn: Any, *, organization_id: uuid.UUID, purchase_id: uuid.UUID, refund_id: uuid.UUID,
                        content_id: uuid.UUID | None, currency: str, refunded_net_before: int, refunded_net_after: int,
                        dispute: bool) -> dict[Party, int] | None:
    """The entries of one refund piece: what it takes back from each party of the sale (negative amounts),
    so that the pieces of the purchase add up (earnings/split.py). None when the sale has no entries (a sale
    completed before the ledger existed: its creator share stays on the purchase)."""
    rows = await conn.fetch(_SALE_SHARES, purchase_id)
    if not rows:
        return None
    shares = {Party(PartyKind(row["party"]), row["user_id"]): row["weight"] for row in rows}
    pieces = refund_pieces(refunded_net_before, refunded_net_after, shares)
    kind = EarningKind.DISPUTE if dispute else EarningKind.REFUND
    await conn.execute(_INSERT, organization_id, purchase_id, refund_id, content_id, kind.value, currency,
                       *_columns({party: -cents for party, cents in pieces.items()}, None),
                       -(refunded_net_after - refunded_net_before))
    return pieces


def _order(party: Party) -> tuple[int, str]:
    return (0 if party == PLATFORM else 1 if party == ORGANIZATION else 2), str(party.user_id or "")


__all__ = ["creators_total", "record_refund", "sale_division", "sale_rows", "terms_of"]
