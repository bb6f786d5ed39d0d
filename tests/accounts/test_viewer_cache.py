"""Cached viewers are dropped again after the commit, so a request that re-cached the old state while the
change was being made cannot keep it for the cache's lifetime."""

from __future__ import annotations

from codex_graphql.relay import to_global_id

ADD = """mutation($o: ID!, $e: String!) { addOrganizationMember(input: {organizationId: $o, email: $e, role: MEMBER}) {
  errors { code } } }"""
ACTIVE = "{ viewer { activeOrganization { slug } permissions } }"


async def test_membership_change_is_not_hidden_by_a_concurrent_recache(app, gql, factory, monkeypatch):
    owner = await factory.user()
    org = await factory.organization(owner, slug="cache-race")
    newcomer = await factory.user()
    assert (await gql.ok(ACTIVE, token=newcomer.token))["viewer"]["activeOrganization"] is None  # now cached
    sessions = app.state.runtime["services"].sessions
    real_forget_user = sessions.forget_user
    raced: list[bool] = []

    async def forget_then_a_concurrent_request_recaches(user_id):
        await real_forget_user(user_id)
        if not raced:  # the first invalidation runs before the commit
            raced.append(True)
            # Another request resolves the newcomer while the transaction is still open: it reads the old
            # memberships from the database and caches them again.
            await sessions.resolve(newcomer.token)

    monkeypatch.setattr(sessions, "forget_user", forget_then_a_concurrent_request_recaches)
    added = await gql.ok(ADD, {"o": to_global_id("Organization", org), "e": newcomer.email}, owner.token)
    assert added["addOrganizationMember"]["errors"] == [] and raced
    viewer = (await gql.ok(ACTIVE, token=newcomer.token))["viewer"]
    assert viewer["activeOrganization"] == {"slug": "cache-race"}
    assert "CONTENT_READ" in viewer["permissions"]
