"""The compiled form of the permission rules that guard schema fields (``codex_graphql.permissions``).

A field's guard is read from the served schema (the rules of its ``PermissionExtension``, the same
``guarded(...)`` that prints the directive), never restated by the compiler. Each rule kind the compiled
path can check has a check here: a test of the viewer against the organization the row belongs to (the
resolvers' ``organization_id_of``: the parent object's). A rule refused at run time hands the request to
the resolvers, which phrase the error; a rule kind without a check here makes the field not compilable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from strawberry.permission import PermissionExtension

from codex_graphql.permissions import HasOrgPermission, IsAuthenticated, IsPlatformOwner


@dataclass(frozen=True, slots=True)
class Check:
    """``allows(viewer, organization_id)``; ``needs_organization``: the row must name its organization."""

    rule: Any
    allows: Callable[[Any, Any], bool]
    needs_organization: bool


def _org_permission(rule: HasOrgPermission) -> Check:
    permission = rule.permission
    # Viewer.can holds only in the active organization, for a signed-in member: anything else is refused by
    # the rule too (UNAUTHENTICATED or FORBIDDEN), which the resolvers then say.
    return Check(rule, lambda viewer, organization_id: viewer.can(permission, organization_id), True)


def _authenticated(rule: IsAuthenticated) -> Check:
    return Check(rule, lambda viewer, organization_id: viewer.is_authenticated, False)


def _platform_owner(rule: IsPlatformOwner) -> Check:
    return Check(rule, lambda viewer, organization_id: viewer.is_platform_owner, False)


# Exact classes: a subclass may change what the rule means, so it is not checked (not compilable).
CHECKS: dict[type, Callable[[Any], Check]] = {
    HasOrgPermission: _org_permission, IsAuthenticated: _authenticated, IsPlatformOwner: _platform_owner,
}


def rules_of(strawberry_field: Any) -> list[Any]:
    """The permission rules on a strawberry field (empty when it is not guarded)."""
    return [rule for extension in getattr(strawberry_field, "extensions", None) or ()
            if isinstance(extension, PermissionExtension) for rule in extension.permissions]


def check_of(rule: Any) -> Check | None:
    factory = CHECKS.get(type(rule))
    return factory(rule) if factory is not None else None


def allowed(checks: tuple[Check, ...], viewer: Any, organization_id: Any) -> bool:
    return all(check.allows(viewer, organization_id) for check in checks)
