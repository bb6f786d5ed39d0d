"""How a sale's net amount is divided between the platform, the organization and the item's creators, cent
for cent (the rule every earning entry follows).

The terms of a sale are fixed when it completes: the platform fee (``PLATFORM_FEE_PERCENT``), the creators'
share of what remains (the item's override, else the organization's ``defaultCreatorSharePercent``) and the
item's co-creators (``ContentContributor``: each a percent of the creators' share, together at most 100; the
item's creator keeps the rest of it). Each party's exact share of an amount is ``amount * weight / 10**6``
with the weights below (they add up to ``10**6``):

    platform      fee * 10**4
    creator i     (100 - fee) * creators * percent_i
    organization  what is left

**Rounding**: the platform and each creator get their exact share rounded down to the cent; the organization,
the merchant, gets the rest (its exact share plus the dropped fractions: less than one cent per other party).
The parts always add up to the amount.

**Refunds** are divided so that the pieces of a purchase add up to whole numbers at every point: a refund
that brings the purchase's refunded net from ``before`` to ``after`` takes back from each party
``split(after) - split(before)``. A purchase refunded in full therefore takes back exactly what each party
earned from it, and partial refunds never leave a stray cent. Rounding down grows with the amount, so the
platform and the creators never get money back from a refund; the organization's piece is the refund less
theirs (for a refund of a few cents it can be a cent more than the refund itself, or a cent below zero).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

SCALE = 10**6  # weights are millionths of the amount


class PartyKind(StrEnum):
    PLATFORM = "PLATFORM"
    ORGANIZATION = "ORGANIZATION"
    CREATOR = "CREATOR"


@dataclass(frozen=True, slots=True)
class Party:
    kind: PartyKind
    user_id: uuid.UUID | None = None  # creators only


PLATFORM = Party(PartyKind.PLATFORM)
ORGANIZATION = Party(PartyKind.ORGANIZATION)


@dataclass(frozen=True, slots=True)
class Terms:
    """The terms of one sale (module docstring)."""

    platform_fee_percent: int
    creators_percent: int  # of what remains after the platform fee
    creator_id: uuid.UUID | None  # the item's creator: the creators' share not given to co-creators
    contributors: tuple[tuple[uuid.UUID, int], ...] = ()  # (co-creator, percent of the creators' share)

    def __post_init__(self) -> None:
        if not 0 <= self.platform_fee_percent <= 100 or not 0 <= self.creators_percent <= 100:
            raise ValueError("percentages are 0 to 100")
        if any(not 0 < percent <= 100 for _, percent in self.contributors) \
                or sum(percent for _, percent in self.contributors) > 100:
            raise ValueError("co-creators' shares are 1 to 100 percent, together at most 100")


def weights(terms: Terms) -> dict[Party, int]:
    """Each party's share in millionths (they add up to ``SCALE``): the organization always, the platform and
    creators when they have a share."""
    fee, creators = terms.platform_fee_percent, terms.creators_percent
    found: dict[Party, int] = {}
    if fee:
        found[PLATFORM] = fee * 10**4
    contributed = 0
    for user_id, percent in terms.contributors:
        weight = (100 - fee) * creators * percent
        if weight:
            party = Party(PartyKind.CREATOR, user_id)
            found[party] = found.get(party, 0) + weight
        contributed += percent
    if terms.creator_id is not None and contributed < 100:
        weight = (100 - fee) * creators * (100 - contributed)
        if weight:
            party = Party(PartyKind.CREATOR, terms.creator_id)
            found[party] = found.get(party, 0) + weight
    found[ORGANIZATION] = SCALE - sum(found.values())
    return found


def split(amount: int, shares: dict[Party, int]) -> dict[Party, int]:
    """``amount`` (cents, not negative) divided by ``shares`` (millionths adding up to ``SCALE``): every party
    but the organization its exact share rounded down, the organization the rest (module docstring). Every
    party of ``shares`` is in the answer, perhaps with 0; the organization always is."""
    if amount < 0:
        raise ValueError("split a non-negative amount")
    if sum(shares.values()) != SCALE:
        raise ValueError("shares must add up to the whole")
    parts = {party: amount * weight // SCALE for party, weight in shares.items() if party != ORGANIZATION}
    parts[ORGANIZATION] = amount - sum(parts.values())
    return parts


def refund_pieces(before: int, after: int, shares: dict[Party, int]) -> dict[Party, int]:
    """What each party gives back when a purchase's refunded net goes from ``before`` to ``after`` (positive
    cents; the ledger records them negated)."""
    if not 0 <= before <= after:
        raise ValueError("refunds only add up")
    old, new = split(before, shares), split(after, shares)
    return {party: new[party] - old[party] for party in new}


def totals(pieces: Iterable[dict[Party, int]]) -> dict[Party, int]:
    """Per party sums of several divisions."""
    found: dict[Party, int] = {}
    for piece in pieces:
        for party, cents in piece.items():
            found[party] = found.get(party, 0) + cents
    return found


__all__ = ["ORGANIZATION", "PLATFORM", "SCALE", "Party", "PartyKind", "Terms", "refund_pieces", "split", "totals",
           "weights"]
