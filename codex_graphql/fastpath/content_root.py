"""Compiled ``content(id:)``: the item page, with thumbnails, resume position and a signed playback
URL, in one statement. When ``playback`` is selected the same statement records the view (at most
one per viewer, item and hour, like ``analytics.stats.record_view``) through a writable CTE, under
the same condition ``may_play`` checks; a refused playback is answered by the resolvers, which phrase
the error (the statement recorded nothing then)."""

from __future__ import annotations

from typing import Any

from graphql import FieldNode

from codex_graphql.analytics.stats import hour_bucket
from codex_graphql.authz import Permission
from codex_graphql.content.models import ContentStatus
from codex_graphql.db import utcnow
from codex_graphql.fastpath.selection import Fragments, NotCompilable, arguments, response_key
from codex_graphql.fastpath.shapes import Runtime, content_shape
from codex_graphql.relay import decode_id

ENTITLED = ("EXISTS (SELECT 1 FROM content_entitlement e WHERE e.content_id = c.id AND e.user_id = $1 "
            "AND e.revoked_at IS NULL)")
# may_play in SQL ($3: the viewer's active organization when they hold CONTENT_READ there).
PLAYS = ("c.status IN ('READY', 'PUBLISHED') AND c.deleted_at IS NULL AND "
         f"(c.organization_id IS NOT DISTINCT FROM $3 OR (c.status = 'PUBLISHED' AND {ENTITLED}))")


class ContentRoot:
    def __init__(self, field_node: FieldNode, fragments: Fragments) -> None:
        self.key = response_key(field_node)
        self.id = arguments(field_node, {"id"})["id"]
        shape = content_shape(field_node, fragments, "c_", nullable=True, detail=True)
        self.shape = shape
        self.status = shape.column("status")
        self.organization = shape.column("organization_id")
        self.records_view = shape.plays_recorded
        columns = ", ".join(f"{expression} AS {alias}" for alias, expression in shape.columns.items())
        found = f"SELECT {columns} FROM content c {' '.join(shape.joins)} WHERE c.id = $2 AND c.deleted_at IS NULL"
        if not self.records_view:
            self.sql = found
            return
        self.sql = (
            f"WITH found AS MATERIALIZED (SELECT {columns}, ({PLAYS}) AS k_plays FROM content c "
            f"{' '.join(shape.joins)} WHERE c.id = $2 AND c.deleted_at IS NULL), "
            "viewed AS (INSERT INTO content_view (content_id, organization_id, user_id, hour, created_at) "
            "SELECT c_id, c_organization_id, $1, $4, $5 FROM found WHERE k_plays AND $1::uuid IS NOT NULL "
            "ON CONFLICT (content_id, user_id, hour) DO NOTHING) "
            "SELECT * FROM found"
        )

    def keys_to_sign(self, fetched: Any) -> list[str]:
        return self.shape.keys_to_sign(list(fetched))

    def bind(self, viewer: Any, variables: dict[str, Any]) -> Any:
        raw = self.id(variables)
        if not isinstance(raw, str):
            raise NotCompilable("id")
        return decode_id(raw, "Content")

    async def fetch(self, conn: Any, viewer: Any, content_id: Any) -> Any:
        if content_id is None:
            return []
        if not self.records_view:
            return await conn.fetch(self.sql, viewer.user_id, content_id)
        active = viewer.active_organization_id
        staff_org = active if viewer.can(Permission.CONTENT_READ, active) else None
        now = utcnow()
        return await conn.fetch(self.sql, viewer.user_id, content_id, staff_org, hour_bucket(now), now)

    def build(self, fetched: Any, rt: Runtime) -> dict[str, Any] | None:
        if not fetched:
            return None
        row = fetched[0]
        visible = row[self.status] == ContentStatus.PUBLISHED or rt.viewer.can(
            Permission.CONTENT_READ, row[self.organization])
        return self.shape.build(row, rt) if visible else None
