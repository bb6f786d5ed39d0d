"""Analytics in the compiled read path: ``Organization.analytics``, the dashboard from the summary tables
in one statement after the organization's row (figures, best sellers and latest purchases together)
instead of the resolvers' dozen.

The field's guard (ANALYTICS_READ in the organization) is read from the schema and checked by the root
before these statements run; a viewer without it, or a range the resolvers refuse, is answered by the
resolvers, which phrase the error (nothing here has run by then).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from graphql import FieldNode, GraphQLError, VariableNode

from codex_graphql.analytics.service import local_today, month_of, resolve_range
from codex_graphql.analytics.types import MAX_RECENT, MAX_TOP
from codex_graphql.fastpath.registry import FollowUp, compile_object, declare
from codex_graphql.fastpath.selection import (
    Fragments,
    NotCompilable,
    arguments,
    fields_of,
    leaf,
    response_key,
)
from codex_graphql.fastpath.shapes import NeedsResolvers, Runtime, Shape

# The schema's defaults of topContent(limit:) and recentPurchases(limit:) (analytics/types.py).
DEFAULT_TOP, DEFAULT_RECENT = 5, 10
# $1 is the viewer (shapes test entitlements with it); declared so that it has a type when no shape uses it.
# The figures, the best sellers and the latest purchases come back from one statement: the lists as arrays of
# anonymous records (their columns keep their types), read back by position into the shapes' aliases.
FIGURES = (
    "(SELECT coalesce(json_agg(json_build_array(d.day, d.purchases, d.gross_cents, d.refunds, "
    "d.refunded_cents) ORDER BY d.day), '[]'::json) FROM purchase_daily_stats d "
    "WHERE d.organization_id = $2 AND d.day BETWEEN $3 AND $4) AS days, "
    "(SELECT coalesce(sum(d.gross_cents - d.refunded_cents), 0) FROM purchase_daily_stats d "
    "WHERE d.organization_id = $2 AND d.day BETWEEN $5 AND $6) AS month, "
    "(SELECT count(*) FROM customer_summary s WHERE s.organization_id = $2) AS customers"
)
TOP_ALIASES = ("s_purchases", "s_revenue_cents")
VIEWER_PARAMETER = "WITH viewer AS (SELECT $1::uuid AS id) "
SCALARS = ("fromDay", "toDay", "totalRevenueCents", "revenueThisMonthCents", "customerCount", "purchaseCount",
           "refundCount", "__typename")


def _limit(getter: Callable[[dict[str, Any]], Any] | None, default: int, most: int, variables: dict[str, Any]) -> int:
    value = getter(variables) if getter else default
    if not isinstance(value, int):
        raise NotCompilable("limit")
    return max(0, min(value, most))


class AnalyticsPlan:
    def __init__(self, field_node: FieldNode, fragments: Fragments, organization: Shape) -> None:
        self.key = response_key(field_node)
        self.organization_id = organization.column("id")
        self.timezone = organization.column("timezone")
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
                self.recent = (limit, compile_object("Purchase", child, fragments, "p_"))
                self.parts.append((key, name, None))
            else:
                raise NotCompilable(f"Analytics.{name}")
        parts = [FIGURES]
        self.top_aliases: tuple[str, ...] = ()
        self.recent_aliases: tuple[str, ...] = ()
        if self.top is not None:
            shape = self.top[1]
            self.top_aliases = (*TOP_ALIASES, *shape.columns)
            columns = ", ".join(["s.purchases", "s.revenue_cents", *shape.columns.values()])
            parts.append(
                f"ARRAY(SELECT ROW({columns}) FROM content_sales_summary s LEFT JOIN content c ON c.id = s.content_id "
                f"{' '.join(shape.joins)} WHERE s.organization_id = $2 "
                "ORDER BY s.revenue_cents DESC, s.purchases DESC, s.content_id LIMIT $7) AS top")
        if self.recent is not None:
            shape = self.recent[1]
            self.recent_aliases = tuple(shape.columns)
            columns = ", ".join(shape.columns.values())
            limit = "$8" if self.top is not None else "$7"
            parts.append(
                f"ARRAY(SELECT ROW({columns}) FROM purchase p {' '.join(shape.joins)} WHERE p.organization_id = $2 "
                f"ORDER BY p.created_at DESC, p.id DESC LIMIT {limit}) AS recent")
        self.sql = f"{VIEWER_PARAMETER}SELECT {', '.join(parts)}"

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
                content = compile_object("Content", child, fragments, "c_", nullable=True)
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

    async def fetch(self, conn: Any, viewer: Any, head: Any, variables: dict[str, Any]) -> dict[str, Any]:
        organization_id, timezone = head[self.organization_id], head[self.timezone]
        given = (self.range(variables) if self.range else None) or {}  # coerced: {"from": date, "to": date}
        try:
            days = resolve_range(given.get("from"), given.get("to"), timezone)
        except GraphQLError as error:
            raise NeedsResolvers(str(error)) from error
        today = local_today(timezone)
        month_start, month_end = month_of(today)
        limits = []
        if self.top is not None:
            limits.append(_limit(self.top[0], DEFAULT_TOP, MAX_TOP, variables))
        if self.recent is not None:
            limits.append(_limit(self.recent[0], DEFAULT_RECENT, MAX_RECENT, variables))
        figures = await conn.fetchrow(self.sql, viewer.user_id, organization_id, days.start, days.end, month_start,
                                      month_end, *limits)
        return {"range": days, "figures": figures,
                "top": [dict(zip(self.top_aliases, row, strict=True)) for row in figures["top"]] if self.top else [],
                "recent": [dict(zip(self.recent_aliases, row, strict=True)) for row in figures["recent"]]
                if self.recent else []}

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


COMPILED_FIELDS = (frozenset(SCALARS) - {"__typename"}) | {"revenueByDay", "topContent", "recentPurchases"}
declare("Organization", {"analytics": FollowUp("Analytics", COMPILED_FIELDS, AnalyticsPlan)})
