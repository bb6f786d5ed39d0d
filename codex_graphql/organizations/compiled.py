"""Organizations in the compiled read path: the ``organization(slug:)`` root, the public scalars, and the
``contents`` connection (the listing rule is ``content.access.listed_sql``; a ``filter`` runs through the
resolvers)."""

from __future__ import annotations

from typing import Any

from codex_graphql.content import access
from codex_graphql.fastpath.registry import Lateral, Param, Scalar, declare, declare_root
from codex_graphql.fastpath.selection import NotCompilable
from codex_graphql.fastpath.shapes import iso
from codex_graphql.fastpath.tables import Table, TableRoot


def _listed(param: Param, organization_id: str) -> str:
    return f"c.organization_id = {organization_id} AND {access.listed_sql('c', param('staff_org'))}"


def _staff_organization(viewer: Any) -> Any:
    """The viewer's active organization when they are staff there (every item is listed to them)."""
    active = viewer.active_organization_id
    return active if active is not None and access.is_staff(viewer, active) else None


declare("Organization", {
    "slug": Scalar("slug"), "name": Scalar("name"), "createdAt": Scalar("created_at", iso),
    "contents": Lateral("Content", "content", "c", _listed, values={"staff_org": _staff_organization},
                        arguments=frozenset({"first", "after"}), fallback_arguments=frozenset({"filter"})),
}, id_type="Organization", organization="id")


def _slug(viewer: Any, arguments: dict[str, Any]) -> str:
    slug = arguments.get("slug")
    if not isinstance(slug, str):
        raise NotCompilable("slug")
    return slug.strip().lower()


def _by_slug(param: Param) -> str:
    return f"o.slug = {param('key')}"


ORGANIZATION = Table("Organization", "organization", "o", frozenset({"slug"}), _slug, _by_slug)
declare_root("organization", "Organization", lambda field, fragments: TableRoot(ORGANIZATION, field, fragments))
