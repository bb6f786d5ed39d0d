"""Declarative permission rules for fields and mutations.

Each rule is a strawberry permission class whose schema directive prints in ``schema.graphql``
(e.g. ``@requiresOrgPermission(permission: CONTENT_MANAGE)``) and whose text is appended to the
field description, because introspection carries descriptions but not applied directives.
Use ``guarded`` / ``guarded_mutation`` to attach them; never check roles inside resolvers.
Guarded fields should be nullable, so a refusal nulls the field and not its parent.
"""

from __future__ import annotations

import uuid
from typing import Any

import strawberry
from strawberry.permission import BasePermission, PermissionExtension
from strawberry.schema_directive import Location

from codex_graphql.authz import Permission, PlatformRole
from codex_graphql.errors import Forbidden, Unauthenticated
from codex_graphql.relay import decode_id


@strawberry.schema_directive(
    locations=[Location.FIELD_DEFINITION], name="requiresAuth",
    description="The field requires a signed-in user.",
)
class RequiresAuthDirective:
    pass


@strawberry.schema_directive(
    locations=[Location.FIELD_DEFINITION], name="requiresPlatformRole",
    description="The field requires a platform-wide role.",
)
class RequiresPlatformRoleDirective:
    role: PlatformRole


@strawberry.schema_directive(
    locations=[Location.FIELD_DEFINITION], name="requiresOrgPermission",
    description="The field requires a permission in the organization it belongs to (the active organization).",
)
class RequiresOrgPermissionDirective:
    permission: Permission


@strawberry.schema_directive(
    locations=[Location.FIELD_DEFINITION], name="requiresAnyOrgPermission",
    description="The field requires one of the permissions in the organization it belongs to (the active "
    "organization); what it answers may depend on which one the viewer holds (the field's description says).",
)
class RequiresAnyOrgPermissionDirective:
    permissions: list[Permission]


class Rule(BasePermission):
    """Base of every rule; ``describe`` is appended to field descriptions."""

    def describe(self) -> str:
        raise NotImplementedError


class IsAuthenticated(Rule):
    message = "Sign in to do this."
    error_class = Unauthenticated
    _schema_directive = RequiresAuthDirective()

    def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:
        return info.context.viewer.is_authenticated

    def describe(self) -> str:
        return "Requires a signed-in user."


class IsPlatformOwner(Rule):
    message = "Only the platform owner can do this."

    def __init__(self) -> None:
        self._schema_directive = RequiresPlatformRoleDirective(role=PlatformRole.PLATFORM_OWNER)

    def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:
        viewer = info.context.viewer
        if not viewer.is_authenticated:
            raise Unauthenticated("Sign in to do this.")
        return viewer.is_platform_owner

    def on_unauthorized(self) -> None:
        raise Forbidden(self.message)

    def describe(self) -> str:
        return "Requires platform role PLATFORM_OWNER."


def _named_organization(arguments: dict[str, Any]) -> uuid.UUID | None:
    """The organization a root field's arguments name (``organizationId:`` or ``input.organizationId``)."""
    raw = arguments.get("organization_id")
    if raw is None:
        raw = getattr(arguments.get("input"), "organization_id", None)
    return decode_id(str(raw), "Organization") if raw is not None else None


def organization_id_of(source: Any, viewer: Any, arguments: dict[str, Any] | None = None) -> uuid.UUID | None:
    """The organization a field belongs to: the parent object's; for root fields the one the
    arguments name, else the active one. An argument that does not decode as an Organization id
    falls back to the active organization and the resolver answers NOT_FOUND."""
    if source is None:
        named = _named_organization(arguments or {})
        return named if named is not None else viewer.active_organization_id
    org_id = getattr(source, "organization_id", None)
    return org_id if org_id is not None else getattr(source, "id", None)


class HasOrgPermission(Rule):
    """Granted when the viewer's role in the field's organization includes ``permission``."""

    def __init__(self, permission: Permission) -> None:
        self.permission = permission
        self.message = f"Requires permission {permission.value} in this organization."
        self._schema_directive = RequiresOrgPermissionDirective(permission=permission)

    def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:
        return _active_organization_grants(source, info, kwargs, (self.permission,))

    def on_unauthorized(self) -> None:
        raise Forbidden(self.message)

    def describe(self) -> str:
        return f"Requires permission {self.permission.value} in the organization."


class HasAnyOrgPermission(Rule):
    """Granted when the viewer's role in the field's organization includes one of ``permissions``; the
    resolver decides what each one shows (e.g. every creator's earnings, or only the viewer's own)."""

    def __init__(self, *permissions: Permission) -> None:
        self.permissions = permissions
        names = " or ".join(p.value for p in permissions)
        self.message = f"Requires permission {names} in this organization."
        self._schema_directive = RequiresAnyOrgPermissionDirective(permissions=list(permissions))

    def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:
        return _active_organization_grants(source, info, kwargs, self.permissions)

    def on_unauthorized(self) -> None:
        raise Forbidden(self.message)

    def describe(self) -> str:
        return f"Requires permission {' or '.join(p.value for p in self.permissions)} in the organization."


def _active_organization_grants(source: Any, info: strawberry.Info, arguments: dict[str, Any],
                                permissions: tuple[Permission, ...]) -> bool:
    viewer = info.context.viewer
    if not viewer.is_authenticated:
        raise Unauthenticated("Sign in to do this.")
    org_id = organization_id_of(source, viewer, arguments)
    if org_id is not None and viewer.role_in(org_id) and org_id != viewer.active_organization_id:
        raise Forbidden(
            f"Organization {org_id} is not the active organization: call setActiveOrganization "
            "or send the X-Codex-Organization header."
        )
    return any(viewer.can(permission, org_id) for permission in permissions)


def _with_rule(description: str, rules: list[Rule]) -> str:
    rule_text = " ".join(rule.describe() for rule in rules)
    return f"{description}\n\n{rule_text}" if description else rule_text


def guarded(*rules: Rule, description: str, **kwargs: Any) -> Any:
    """``strawberry.field`` with permission rules, directives and a description naming the rule."""
    return strawberry.field(
        description=_with_rule(description, list(rules)),
        extensions=[PermissionExtension(permissions=list(rules))],
        **kwargs,
    )


def guarded_mutation(*rules: Rule, description: str, **kwargs: Any) -> Any:
    return strawberry.mutation(
        description=_with_rule(description, list(rules)),
        extensions=[PermissionExtension(permissions=list(rules))],
        **kwargs,
    )


def guarded_subscription(*rules: Rule, description: str, **kwargs: Any) -> Any:
    return strawberry.subscription(
        description=_with_rule(description, list(rules)),
        extensions=[PermissionExtension(permissions=list(rules))],
        **kwargs,
    )
