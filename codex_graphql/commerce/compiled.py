"""Commerce in the compiled read path: the ``Purchase`` type (a buyer's own history; the staff-only fields,
guarded by PURCHASES_READ, are left to the resolvers) and the ``viewer.purchases`` connection."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import FieldNode

from codex_graphql.authz import Permission
from codex_graphql.commerce.routes import receipt_link_for
from codex_graphql.fastpath.nodes import NodeTable, Source, declare_node
from codex_graphql.fastpath.registry import Composite, Lateral, Param, Scalar, compile_object, declare
from codex_graphql.fastpath.selection import Fragments, leaf
from codex_graphql.fastpath.shapes import Emit, Runtime, Shape, iso


def _content(shape: Shape, field_node: FieldNode, fragments: Fragments) -> Emit:
    content = compile_object("Content", field_node, fragments, "c_", nullable=True)
    shape.joins.append(f"LEFT JOIN content c ON c.id = {shape.table}.content_id")
    shape.absorb(content)
    return content.build


def _organization(shape: Shape, field_node: FieldNode, fragments: Fragments) -> Emit:
    organization = compile_object("Organization", field_node, fragments, f"{shape.table}o_", nullable=True)
    shape.joins.append(f"LEFT JOIN organization {organization.table} ON {organization.table}.id = "
                       f"{shape.table}.organization_id")
    shape.absorb(organization)
    return organization.build


def _receipt_url(shape: Shape, field_node: FieldNode, fragments: Fragments) -> Emit:
    leaf(field_node)
    stored, purchase, organization = shape.column("receipt_url"), shape.column("id"), shape.column("organization_id")

    def emit(row: Any, rt: Runtime) -> str:
        return row[stored] or receipt_link_for(rt.settings, row[purchase], row[organization])
    return emit


declare("Purchase", {
    "kind": Scalar("kind"), "status": Scalar("status"), "amountCents": Scalar("amount_cents"),
    "taxCents": Scalar("tax_cents"), "currency": Scalar("currency"), "contentTitle": Scalar("content_title"),
    "createdAt": Scalar("created_at", iso), "refundedAt": Scalar("refunded_at", iso),
    "refundedAmountCents": Scalar("refunded_amount_cents"),
    "content": Composite(_content),
    "organization": Composite(_organization),
    "receiptUrl": Composite(_receipt_url),
}, id_type="Purchase", organization="organization_id")


def _own_purchases(param: Param, viewer_id: str) -> str:
    return f"p.user_id = {viewer_id}"


declare("Viewer", {
    "purchases": Lateral("Purchase", "purchase", "p", _own_purchases, node_columns=("id", "organization_id")),
})


def _buyer_or_staff(shape: Shape) -> Callable[[Any, Runtime], bool]:
    """The node resolver's rule: the buyer's own, or staff with PURCHASES_READ in its organization."""
    user, organization = shape.column("user_id"), shape.column("organization_id")
    return lambda row, rt: rt.viewer.owns_or_can(row[user], Permission.PURCHASES_READ, row[organization])


PURCHASE_NODE = Source("Purchase", "purchase", "p", _buyer_or_staff)
declare_node("Purchase", lambda field, fragments, *, many: NodeTable(PURCHASE_NODE, field, fragments, many=many))
