"""Compiled ``content(id:)``: the item page, with thumbnails, resume position and a signed playback
URL, in one statement. When ``playback`` is selected the same statement records the view (at most
one per viewer, item and hour, like ``analytics.stats.record_view``) through a writable CTE, under
the same condition ``may_play`` checks; a refused playback is answered by the resolvers, which phrase
the error (the statement recorded nothing then)."""

from __future__ import annotations

from typing import Any

from graphql import FieldNode

from codex_graphql.analytics.stats import hour_bucket
from codex_graphql.content import access
from codex_graphql.db import utcnow
from codex_graphql.fastpath.selection import Fragments, NotCompilable, arguments, response_key
from codex_graphql.fastpath.shapes import Runtime, content_shape
from codex_graphql.relay import decode_id

# may_play in SQL ($3: the viewer's active organization when they hold CONTENT_READ there).
PLAYS = access.plays_sql("c", "$1", "$3")


class ContentRoot:
    def __init__(self, field_node: FieldNode, fragments: Fragments) -> None:
        self.key = response_key(field_node)
        self.id = arguments(field_node, {"id"})["id"]
        shape = content_shape(field_node, fragments, "c_", nullable=True, detail=True)
        self.shape = shape
        self.status = shape.column("status")
        self.organization = shape.column("organization_id")
        self.deleted = shape.column("deleted_at")
        self.entitled = shape.column("entitled", access.entitled_sql("c", "$1"))
        self.records_view = shape.plays_recorded
        columns = ", ".join(f"{expression} AS {alias}" for alias, expression in shape.columns.items())
        found = f"SELECT {columns} FROM content c {' '.join(shape.joins)} WHERE c.id = $2"
        if not self.records_view:
            self.sql = found
            return
        self.sql = (
            f"WITH found AS MATERIALIZED (SELECT {columns}, ({PLAYS}) AS k_plays FROM content c "
            f"{' '.join(shape.joins)} WHERE c.id = $2), "
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
        staff_org = active if active is not None and access.is_staff(viewer, active) else None
        now = utcnow()
        return await conn.fetch(self.sql, viewer.user_id, content_id, staff_org, hour_bucket(now), now)

    def build(self, fetched: Any, rt: Runtime) -> dict[str, Any] | None:
        if not fetched:
            return None
        row = fetched[0]
        visible = access.may_read(rt.viewer, row[self.status], row[self.deleted] is not None,
                                  row[self.organization], row[self.entitled])
        return self.shape.build(row, rt) if visible else None
