"""Accounts in the compiled read path: ``User`` (as others see a person) and the ``viewer`` root's fields.

``viewer`` reads the signed-in user's row (null for anonymous requests, without a statement); its
``purchases`` connection is commerce's declaration (``commerce.compiled``).
"""

from __future__ import annotations

from typing import Any

from codex_graphql.fastpath.registry import Param, Scalar, declare, declare_root
from codex_graphql.fastpath.shapes import iso
from codex_graphql.fastpath.tables import Table, TableRoot

declare("User", {"name": Scalar("name"), "createdAt": Scalar("created_at", iso)}, id_type="User")

declare("Viewer", {
    "email": Scalar("email"), "name": Scalar("name"), "platformRole": Scalar("platform_role"),
    "createdAt": Scalar("created_at", iso),
    "emailVerified": Scalar("email_verified", sql="{t}.email_verified_at IS NOT NULL"),
}, id_type="User")


def _signed_in(viewer: Any, arguments: dict[str, Any]) -> Any:
    return viewer.user_id  # None: the answer is null


def _own_row(param: Param) -> str:
    return f"v.id = {param('viewer')}"


VIEWER = Table("Viewer", "user_account", "v", frozenset(), _signed_in, _own_row)
declare_root("viewer", "Viewer", lambda field, fragments: TableRoot(VIEWER, field, fragments))
