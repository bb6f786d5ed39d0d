"""A follow-up's guard inside its root's statement (``fastpath.tables``): the condition the subquery holds
to, and the value bound for it from the viewer (``guard_condition``, ``guard_value``)."""

from __future__ import annotations

from uuid import uuid4

from codex_graphql.authz import ANONYMOUS, Membership, OrgRole, Permission, Viewer
from codex_graphql.fastpath import guards
from codex_graphql.fastpath.registry import Deferred
from codex_graphql.fastpath.tables import guard_condition, guard_value
from codex_graphql.permissions import HasOrgPermission, IsAuthenticated

A, B, C = uuid4(), uuid4(), uuid4()


def guarded(rule: object, organization: str | None) -> Deferred:
    check = guards.check_of(rule)
    assert check is not None
    return Deferred("analytics", None, None, (check,), organization)  # type: ignore[arg-type]


def test_an_organization_rule_holds_only_in_the_bound_organizations():
    analytics = guarded(HasOrgPermission(Permission.ANALYTICS_READ), "o_id")
    assert guard_condition(analytics, {"o_id": "o.id"}, "$5") == "o.id = ANY($5::uuid[])"
    memberships = (Membership(A, OrgRole.OWNER), Membership(B, OrgRole.OWNER), Membership(C, OrgRole.CREATOR))
    user = uuid4()
    # Permissions hold in the active organization only; a creator does not read analytics; nor does a stranger.
    assert guard_value(analytics, Viewer(user_id=user, memberships=memberships, active_organization_id=A)) == [A]
    assert guard_value(analytics, Viewer(user_id=user, memberships=memberships, active_organization_id=B)) == [B]
    assert guard_value(analytics, Viewer(user_id=user, memberships=memberships, active_organization_id=C)) == []
    assert guard_value(analytics, Viewer(user_id=user, active_organization_id=A)) == []
    assert guard_value(analytics, ANONYMOUS) == []


def test_a_rule_naming_no_organization_is_the_viewers_answer():
    signed_in = guarded(IsAuthenticated(), None)
    assert guard_condition(signed_in, {}, "$3") == "$3::boolean"
    assert guard_value(signed_in, Viewer(user_id=uuid4())) is True
    assert guard_value(signed_in, ANONYMOUS) is False


def test_an_unguarded_follow_up_always_runs():
    assert guard_condition(Deferred("x", None, None, (), None), {}, "") == "true"  # type: ignore[arg-type]
