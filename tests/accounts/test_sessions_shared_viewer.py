"""Within the in-memory lifetime of a session, requests with the same organization hint share one
(immutable) Viewer instead of building it again; invalidations drop it with the session (issue 22)."""

from __future__ import annotations

from codex_graphql.accounts.security import token_hash
from codex_graphql.accounts.sessions import VIEWERS_PER_SESSION
from tests.support.accounts import register, unique_email


async def test_one_viewer_per_hint_until_the_session_is_forgotten(app, gql):
    sessions = app.state.runtime["services"].sessions
    token = (await register(gql, unique_email()))["token"]
    first = await sessions.resolve(token)
    assert first.user_id is not None
    assert await sessions.resolve(token) is first
    hinted = await sessions.resolve(token, "some-shop")
    assert hinted is not first and hinted == first  # same person, same (absent) organization
    assert hinted.extra["organization_hint"] == "some-shop" and first.extra["organization_hint"] is None
    assert await sessions.resolve(token, "some-shop") is hinted

    for i in range(VIEWERS_PER_SESSION + 3):  # hints come from a header: the kept viewers are bounded
        await sessions.resolve(token, f"shop-{i}")
    kept = sessions._local[token_hash(token)][4]  # noqa: SLF001
    assert 0 < len(kept) <= VIEWERS_PER_SESSION

    await sessions.forget_token(token_hash(token))  # what logout does, on every instance through pub/sub
    again = await sessions.resolve(token)
    assert again is not first and again == first  # rebuilt from PostgreSQL


async def test_a_revoked_session_is_anonymous_even_with_a_viewer_kept(app, gql, admin_db):
    sessions = app.state.runtime["services"].sessions
    token = (await register(gql, unique_email()))["token"]
    assert (await sessions.resolve(token)).user_id is not None
    await admin_db.execute("update user_session set revoked_at = now() where token_hash = $1", token_hash(token))
    await sessions.forget_token(token_hash(token))
    assert (await sessions.resolve(token)).user_id is None
