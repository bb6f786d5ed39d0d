"""Categories in the compiled read path: the ``Category`` type, ``Content.categories``,
``Organization.categories`` and ``node(id:)`` for a category.

Both lists are read in their parent's row (``fastpath.lists.records``), in the order the resolvers read them
(``repository.ORDER``: position, name, id), under the same row-level security (a link is readable exactly
when its item is; a category when it is the active organization's or holds an item the reader may see).
``Organization.categories`` and ``node(id:)`` then apply ``service.sees_every_category``: staff of the
organization see every category, everyone else those holding an item of the public list (``LISTED``, the
repository's ``_listed_in`` over ``content.access.listed_sql``'s public form). ``contentCount`` (a count per
viewer) is not compiled: a selection naming it is grafted onto the resolvers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from codex_graphql.categories import service
from codex_graphql.content import access
from codex_graphql.fastpath.lists import records
from codex_graphql.fastpath.nodes import NodeTable, Source, declare_node
from codex_graphql.fastpath.registry import Scalar, declare
from codex_graphql.fastpath.shapes import Runtime, Shape, iso

ORDER = ("{a}.position", "{a}.name", "{a}.id")  # repository.ORDER
# The category holds an item of the organization's public list (staff_organization NULL: nobody is staff).
LISTED = ("EXISTS (SELECT 1 FROM content_category cl JOIN content c ON c.id = cl.content_id "
          f"WHERE cl.category_id = {{t}}.id AND {access.listed_sql('c', 'NULL')})")


def visible(shape: Shape) -> Callable[[Any, Runtime], bool]:
    """What ``Organization.categories`` lists and ``node(id:)`` shows (``categories.types.visible_category``)."""
    organization = shape.column("organization_id")
    listed = shape.column("k_listed", LISTED.format(t=shape.table))
    return lambda row, rt: row[listed] or service.sees_every_category(rt.viewer, row[organization])


declare("Category", {
    "name": Scalar("name"), "slug": Scalar("slug"), "description": Scalar("description"),
    "position": Scalar("position"), "createdAt": Scalar("created_at", iso), "updatedAt": Scalar("updated_at", iso),
}, id_type="Category", organization="organization_id")

declare("Content", {"categories": records(
    "Category", "content_category {a}_l JOIN category {a} ON {a}.id = {a}_l.category_id",
    "{a}_l.content_id = {t}.id", ORDER)})

declare("Organization", {"categories": records(
    "Category", "category {a}", "{a}.organization_id = {t}.id", ORDER, visible=visible)})

CATEGORY_NODE = Source("Category", "category", "k", visible)
declare_node("Category", lambda field, fragments, *, many: NodeTable(CATEGORY_NODE, field, fragments, many=many))
