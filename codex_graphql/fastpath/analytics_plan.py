"""Compiled ``Organization.analytics``: the dashboard from the summary tables in three statements
(figures, best sellers, latest purchases) instead of the resolvers' dozen.

The field needs ANALYTICS_READ in the organization; a viewer without it, or a range the resolvers
refuse, is answered by the resolvers, which phrase the error (nothing here has run by then).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from graphql import FieldNode, GraphQLError, VariableNode

from codex_graphql.analytics.service import local_today, month_of, resolve_range
from codex_graphql.analytics.types import MAX_RECENT, MAX_TOP
from codex_graphql.authz import Permission
from codex_graphql.fastpath.selection import (
    Fragments,
    NotCompilable,
    arguments,
    fields_of,
    leaf,
    response_key,
)
from codex_graphql.fastpath.shapes import NeedsResolvers, Runtime, Shape, content_shape

# The schema's defaults of topContent(limit:) and recentPurchases(limit:) (analytics/types.py).
DEFAULT_TOP, DEFAULT_RECENT = 5, 10
FIGURES_SQL = (
    "SELECT (SELECT coalesce(json_agg(json_build_array(d.day, d.purchases, d.gross_cents, d.refunds, "
    "d.refunded_cents) ORDER BY d.day), '[]'::json) FROM purchase_daily_stats d "
    "WHERE d.organization_id = $1 AND d.day BETWEEN $2 AND $3) AS days, "
    "(SELECT coalesce(sum(d.gross_cents - d.refunded_cents), 0) FROM purchase_daily_stats d "
    "WHERE d.organization_id = $1 AND d.day BETWEEN $4 AND $5) AS month, "
    "(SELECT count(*) FROM customer_summary s WHERE s.organization_id = $1) AS customers"
)
# $1 is the viewer (shapes test entitlements with it); declared so that it has a type when no shape uses it.
VIEWER_PARAMETER = "WITH viewer AS (SELECT $1::uuid AS id) "
SCALARS = ("fromDay", "toDay", "totalRevenueCents", "revenueThisMonthCents", "customerCount", "purchaseCount",
           "refundCount", "__typename")


def _limit(getter: Callable[[dict[str, Any]], Any] | None, default: int, most: int, variables: dict[str, Any]) -> int:
    value = getter(variables) if getter else default
    if not isinstance(value, int):
        raise NotCompilable("limit")
    return max(0, min(value, most))


class AnalyticsPlan:
    def __init__(self, field_node: FieldNode, fragments: Fragments, purchase_shape: Callable[[FieldNode], Shape]) -> None:
        self.key = response_key(field_node)
        for argument in field_node.arguments or ():
            if not isinstance(argument.value, VariableNode):
                raise NotCompilable("an inline range")  # variables arrive coerced; literals would not
        self.range = arguments(field_node, {"range"}).get("range")
        self.parts: list[tuple[str, str, Any]] = []
        self.top: tuple[Any, Shape, list[tuple[str, str]]] | None = None
        self.recent: tuple[Any, Shape] | None = None
        for child in fields_of(field_node.selection_set, "Analytics", fragments):
            key, name = response_key(child), child.name.value
            if name in SCALARS:
                leaf(child)
                self.parts.append((key, name, None))
            elif name == "revenueByDay":
                self.parts.append((key, name, self._day_fields(child, fragments)))
            elif name == "topContent" and self.top is None:
                self.top = self._top(child, fragments)
                self.parts.append((key, name, None))
            elif name == "recentPurchases" and self.recent is None:
                limit = arguments(child, {"limit"}).get("limit")
                self.recent = (limit, purchase_shape(child))
                self.parts.append((key, name, None))
            else:
                raise NotCompilable(f"Analytics.{name}")
        if self.top is not None:
            shape = self.top[1]
            columns = ", ".join(f"{e} AS {a}" for a, e in shape.columns.items())
            self.top_sql = (
                f"{VIEWER_PARAMETER}SELECT s.purchases AS s_purchases, s.revenue_cents AS s_revenue_cents{', ' if columns else ''}"
                f"{columns} FROM content_sales_summary s LEFT JOIN content c ON c.id = s.content_id "
                f"{' '.join(shape.joins)} WHERE s.organization_id = $2 "
                "ORDER BY s.revenue_cents DESC, s.purchases DESC, s.content_id LIMIT $3"
            )
        if self.recent is not None:
            shape = self.recent[1]
            columns = ", ".join(f"{e} AS {a}" for a, e in shape.columns.items())
            self.recent_sql = (
                f"{VIEWER_PARAMETER}SELECT {columns} FROM purchase p {' '.join(shape.joins)} WHERE p.organization_id = $2 "
                "ORDER BY p.created_at DESC, p.id DESC LIMIT $3"
            )

    @staticmethod
    def _day_fields(field_node: FieldNode, fragments: Fragments) -> list[tuple[str, str]]:
        out = []
        for child in fields_of(field_node.selection_set, "RevenueDay", fragments):
            leaf(child)
            if child.name.value not in ("day", "revenueCents", "purchases", "refunds", "__typename"):
                raise NotCompilable(f"RevenueDay.{child.name.value}")
            out.append((response_key(child), child.name.value))
        return out

    @staticmethod
    def _top(field_node: FieldNode, fragments: Fragments) -> tuple[Any, Shape, list[tuple[str, str]]]:
        limit = arguments(field_node, {"limit"}).get("limit")
        shape = Shape("c_")
        parts: list[tuple[str, str]] = []
        for child in fields_of(field_node.selection_set, "TopContent", fragments):
            key, name = response_key(child), child.name.value
            if name == "content":
                content = content_shape(child, fragments, "c_", nullable=True)
                shape.absorb(content)
                shape.emitters.append((key, content.build))
                parts.append((key, "content"))
            elif name in ("purchases", "revenueCents", "__typename"):
                leaf(child)
                parts.append((key, name))
            else:
                raise NotCompilable(f"TopContent.{name}")
        return limit, shape, parts

    def keys_to_sign(self, fetched: dict[str, Any] | None) -> list[str]:
        if not fetched:
            return []
        return [*(self.top[1].keys_to_sign(fetched["top"]) if self.top else []),
                *(self.recent[1].keys_to_sign(fetched["recent"]) if self.recent else [])]

    async def fetch(self, conn: Any, viewer: Any, organization_id: Any, timezone: str,
                    variables: dict[str, Any]) -> dict[str, Any]:
        if not viewer.can(Permission.ANALYTICS_READ, organization_id):
            raise NeedsResolvers("the resolvers refuse it with the right error")
        given = (self.range(variables) if self.range else None) or {}  # coerced: {"from": date, "to": date}
        try:
            days = resolve_range(given.get("from"), given.get("to"), timezone)
        except GraphQLError as error:
            raise NeedsResolvers(str(error)) from error
        today = local_today(timezone)
        month_start, month_end = month_of(today)
        figures = await conn.fetchrow(FIGURES_SQL, organization_id, days.start, days.end, month_start, month_end)
        out: dict[str, Any] = {"range": days, "figures": figures, "top": [], "recent": []}
        if self.top is not None:
            limit = _limit(self.top[0], DEFAULT_TOP, MAX_TOP, variables)
            out["top"] = await conn.fetch(self.top_sql, viewer.user_id, organization_id, limit)
        if self.recent is not None:
            limit = _limit(self.recent[0], DEFAULT_RECENT, MAX_RECENT, variables)
            out["recent"] = await conn.fetch(self.recent_sql, viewer.user_id, organization_id, limit)
        return out

    def build(self, fetched: dict[str, Any], rt: Runtime) -> dict[str, Any]:
        days, figures = fetched["range"], fetched["figures"]
        by_day = {date.fromisoformat(d): (p, g, r, rc) for d, p, g, r, rc in figures["days"]}
        out: dict[str, Any] = {}
        for key, name, detail in self.parts:
            if name == "fromDay":
                out[key] = days.start.isoformat()
            elif name == "toDay":
                out[key] = days.end.isoformat()
            elif name == "totalRevenueCents":
                out[key] = sum(g - rc for _, g, _, rc in by_day.values())
            elif name == "revenueThisMonthCents":
                out[key] = int(figures["month"])
            elif name == "customerCount":
                out[key] = figures["customers"]
            elif name == "purchaseCount":
                out[key] = sum(p for p, _, _, _ in by_day.values())
            elif name == "refundCount":
                out[key] = sum(r for _, _, r, _ in by_day.values())
            elif name == "revenueByDay":
                out[key] = [_day(day, by_day.get(day), detail) for day in days.days()]
            elif name == "topContent":
                assert self.top is not None
                out[key] = [_top_row(row, self.top, rt) for row in fetched["top"]]
            elif name == "recentPurchases":
                assert self.recent is not None
                out[key] = [self.recent[1].build(row, rt) for row in fetched["recent"]]
            else:
                out[key] = "Analytics"
        return out


def _day(day: date, row: tuple[int, int, int, int] | None, fields: list[tuple[str, str]]) -> dict[str, Any]:
    purchases, gross, refunds, refunded = row or (0, 0, 0, 0)
    values = {"day": day.isoformat(), "revenueCents": gross - refunded, "purchases": purchases, "refunds": refunds,
              "__typename": "RevenueDay"}
    return {key: values[name] for key, name in fields}


def _top_row(row: Any, top: tuple[Any, Shape, list[tuple[str, str]]], rt: Runtime) -> dict[str, Any]:
    _, shape, parts = top
    content = dict(shape.emitters)
    out: dict[str, Any] = {}
    for key, name in parts:
        if name == "content":
            out[key] = content[key](row, rt)
        elif name == "purchases":
            out[key] = row["s_purchases"]
        elif name == "revenueCents":
            out[key] = row["s_revenue_cents"]
        else:
            out[key] = "TopContent"
    return out
