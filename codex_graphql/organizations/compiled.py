"""Organizations in the compiled read path: the ``organization(slug:)`` root, the public scalars, and the
``contents`` connection (the listing rule is ``content.access.listed_sql``, narrowed by its ``filter`` as
``content.filters`` states it)."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError

from codex_graphql.content import access, filters
from codex_graphql.fastpath.connections import Filter
from codex_graphql.fastpath.nodes import NodeTable, Source, declare_node
from codex_graphql.fastpath.registry import Lateral, Param, Scalar, declare, declare_root
from codex_graphql.fastpath.selection import NotCompilable
from codex_graphql.fastpath.shapes import iso
from codex_graphql.fastpath.tables import Table, TableRoot


def _listed(param: Param, organization_id: str) -> str:
    return f"c.organization_id = {organization_id} AND {access.listed_sql('c', param('staff_org'))}"


def _filter_parameters(value: Any) -> dict[str, Any]:
    """``filter: ContentFilter`` read as the resolvers read it; a value they refuse is left to them."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise NotCompilable("filter")
    try:
        narrow = filters.normalize(value.get("kind"), value.get("tag"), value.get("search"), value.get("status"),
                                   value.get("category"))
    except (GraphQLError, ValueError) as error:  # the resolvers phrase the error, with its path
        raise NotCompilable("invalid filter") from error
    return filters.parameters(narrow)


CONTENT_FILTER = Filter("filter", _filter_parameters,
                        lambda param, alias, names: filters.filter_sql(alias, param, names, param("staff_org")))

declare("Organization", {
    "slug": Scalar("slug"), "name": Scalar("name"), "createdAt": Scalar("created_at", iso),
    "contents": Lateral("Content", "content", "c", _listed, values={"staff_org": access.staff_organization},
                        arguments=frozenset({"first", "after"}), filter=CONTENT_FILTER),
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

# node(id:) / nodes(ids:): every organization row-level security shows, like the resolver's loader.
ORGANIZATION_NODE = Source("Organization", "organization", "o")
declare_node("Organization", lambda field, fragments, *, many: NodeTable(ORGANIZATION_NODE, field, fragments, many=many))
