"""The division rule of the earnings ledger (earnings/split.py), over thousands of generated sales and partial
refunds: every division adds up to its amount cent for cent, the platform and each creator get their exact
share rounded down, the organization the rest, and a purchase's refund pieces take back exactly what each
party earned once it is refunded in full, never giving money back to the platform or a creator."""

from __future__ import annotations

import uuid
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codex_graphql.earnings.split import (
    ORGANIZATION,
    PLATFORM,
    SCALE,
    Party,
    PartyKind,
    Terms,
    refund_pieces,
    split,
    totals,
    weights,
)

USERS = [uuid.UUID(int=n) for n in range(1, 6)]


@st.composite
def terms(draw: st.DrawFn) -> Terms:
    co_creators = draw(st.lists(st.sampled_from(USERS[1:]), unique=True, max_size=4))
    percents = []
    left = 100
    for _ in co_creators:
        percent = draw(st.integers(1, max(1, left))) if left else 0
        if percent == 0 or percent > left:
            break
        percents.append(percent)
        left -= percent
    contributors = tuple(zip(co_creators, percents, strict=False))
    return Terms(platform_fee_percent=draw(st.integers(0, 100)), creators_percent=draw(st.integers(0, 100)),
                 creator_id=draw(st.sampled_from([USERS[0], None])), contributors=contributors)


def exact(amount: int, terms_: Terms) -> dict[Party, Fraction]:
    """Each party's exact share, computed from the percentages with fractions (independently of weights())."""
    fee = Fraction(terms_.platform_fee_percent, 100)
    pool = (1 - fee) * Fraction(terms_.creators_percent, 100)
    found: dict[Party, Fraction] = {PLATFORM: amount * fee} if fee else {}
    given_away = 0
    for user_id, percent in terms_.contributors:
        found[Party(PartyKind.CREATOR, user_id)] = amount * pool * Fraction(percent, 100)
        given_away += percent
    if terms_.creator_id is not None and given_away < 100:
        found[Party(PartyKind.CREATOR, terms_.creator_id)] = amount * pool * Fraction(100 - given_away, 100)
    found[ORGANIZATION] = amount - sum(found.values())
    return found


@settings(max_examples=3000, deadline=None)
@given(terms(), st.integers(0, 10**9))
def test_a_sale_adds_up_and_each_part_is_its_exact_share_rounded_down(terms_: Terms, amount: int) -> None:
    shares = weights(terms_)
    assert sum(shares.values()) == SCALE
    parts = split(amount, shares)
    assert sum(parts.values()) == amount
    expected = exact(amount, terms_)
    others = [party for party in parts if party != ORGANIZATION]
    for party in others:
        assert parts[party] == int(expected.get(party, 0))  # floor of a non-negative fraction
    assert 0 <= parts[ORGANIZATION] - expected[ORGANIZATION] < max(1, len(others))
    assert all(cents >= 0 for cents in parts.values())


@settings(max_examples=2000, deadline=None)
@given(terms(), st.integers(1, 10**7), st.lists(st.integers(1, 10**7), min_size=1, max_size=8), st.booleans())
def test_refund_pieces_add_up_and_a_full_refund_takes_back_every_cent(terms_: Terms, net: int, refunds: list[int],
                                                                       to_the_end: bool) -> None:
    shares = weights(terms_)
    sale = split(net, shares)
    refunded, pieces = 0, []
    for amount in refunds:
        after = min(net, refunded + amount)
        piece = refund_pieces(refunded, after, shares)
        assert sum(piece.values()) == after - refunded
        assert all(cents >= 0 for party, cents in piece.items() if party != ORGANIZATION)
        assert abs(piece[ORGANIZATION]) <= after - refunded + len(shares)
        pieces.append(piece)
        refunded = after
    if to_the_end and refunded < net:
        pieces.append(refund_pieces(refunded, net, shares))
        refunded = net
    back = totals(pieces)
    assert back == {party: split(refunded, shares)[party] for party in back}
    for party, cents in back.items():
        assert 0 <= cents <= sale[party] if party != ORGANIZATION else True
    if refunded == net:
        assert back == sale  # every party gives back exactly what it earned


def test_the_rule_on_paper() -> None:
    """The README's example: 10% platform fee, creators 70%, a co-creator with 30% of that; a $9.99 sale."""
    creator, co_creator = USERS[0], USERS[1]
    shares = weights(Terms(platform_fee_percent=10, creators_percent=70, creator_id=creator,
                           contributors=((co_creator, 30),)))
    parts = split(999, shares)
    assert parts == {PLATFORM: 99, Party(PartyKind.CREATOR, co_creator): 188,
                     Party(PartyKind.CREATOR, creator): 440, ORGANIZATION: 272}
    # 99.9 -> 99; 999 * 0.9 * 0.7 * 0.3 = 188.811 -> 188; 999 * 0.9 * 0.7 * 0.7 = 440.559 -> 440; the organization
    # 999 * 0.27 = 269.73, plus the 2.27 dropped: 272
    first = refund_pieces(0, 500, shares)
    rest = refund_pieces(500, 999, shares)
    assert totals([first, rest]) == parts


@pytest.mark.parametrize("bad", [
    {"platform_fee_percent": 101}, {"creators_percent": -1},
    {"contributors": ((USERS[1], 60), (USERS[2], 41))}, {"contributors": ((USERS[1], 0),)},
])
def test_impossible_terms_are_refused(bad: dict) -> None:
    values = {"platform_fee_percent": 10, "creators_percent": 70, "creator_id": USERS[0], "contributors": ()} | bad
    with pytest.raises(ValueError):
        Terms(**values)


def test_amounts_only_add_up() -> None:
    shares = weights(Terms(platform_fee_percent=0, creators_percent=50, creator_id=USERS[0]))
    with pytest.raises(ValueError):
        split(-1, shares)
    with pytest.raises(ValueError):
        refund_pieces(10, 5, shares)
