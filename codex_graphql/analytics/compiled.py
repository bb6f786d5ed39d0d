"""Analytics in the compiled read path: ``Organization.analytics``, the dashboard from the summary tables
in one statement after the organization's row (figures, best sellers and latest purchases together)
instead of the resolvers' dozen.

The field's guard (ANALYTICS_READ in the organization) is read from the schema and checked by the root
before these statements run; a viewer without it, or a range the resolvers refuse, is answered by the
resolvers, which phrase the error (nothing here has run by then).

Cost notes (measured, see the issue 22 report): the limits of ``topContent`` and ``recentPurchases`` are
written into the statement as literals (clamped integers), never bound as parameters: with ``LIMIT $n``
PostgreSQL's generic plan assumes 10% of the rows, costs about 3x the custom plan and is never chosen, so
every execution was planned again (the planning cost more than the execution). ``revenueByDay`` is built
as JSON text by PostgreSQL with the document's own response keys and passed through to the response
unparsed (``orjson.Fragment``): no Python object per day.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import orjson
from graphql import FieldNode, GraphQLError, VariableNode
from sqlalchemy.types import JSON

from codex_graphql import models
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
# $1 is the viewer (shapes test entitlements with it), $2 the organization: declared so that both have a type
# when no part of the statement uses them.
VIEWER_PARAMETER = "WITH viewer AS (SELECT $1::uuid AS id, $2::uuid AS organization_id), "
# The range's days of the summary ($2 the organization, $3/$4 the range): read once, used by every figure.
RANGE_DAYS = ("d AS (SELECT s.day, s.purchases, s.gross_cents - s.refunded_cents AS revenue, s.refunds "
              "FROM purchase_daily_stats s WHERE s.organization_id = $2 AND s.day BETWEEN $3::date AND $4::date) ")
FIGURES = {
    "totalRevenueCents": "(SELECT coalesce(sum(d.revenue), 0)::bigint FROM d)",
    "purchaseCount": "(SELECT coalesce(sum(d.purchases), 0)::bigint FROM d)",
    "refundCount": "(SELECT coalesce(sum(d.refunds), 0)::bigint FROM d)",
    "revenueThisMonthCents": "(SELECT coalesce(sum(s.gross_cents - s.refunded_cents), 0)::bigint "
                             "FROM purchase_daily_stats s WHERE s.organization_id = $2 AND s.day BETWEEN $5 AND $6)",
    "customerCount": "coalesce((SELECT t.customers FROM analytics_totals t WHERE t.organization_id = $2), 0)",
}
# Every day of the range, days without a summary row as zeros; one JSON object per day, keys as the document asks.
DAY_VALUES = {"day": "g.day", "revenueCents": "coalesce(d.revenue, 0)", "purchases": "coalesce(d.purchases, 0)",
              "refunds": "coalesce(d.refunds, 0)", "__typename": "'RevenueDay'"}
DAYS = ("(SELECT coalesce(json_agg(json_build_object({pairs}) ORDER BY g.day), '[]')::text FROM "
        "(SELECT generate_series($3::date::timestamp, $4::date::timestamp, interval '1 day')::date AS day) g "
        "LEFT JOIN d ON d.day = g.day)")
MAX_DAY_KEYS = 40  # json_build_object takes at most 100 arguments
TOP_ALIASES = ("s_purchases", "s_revenue_cents")
SCALARS = ("fromDay", "toDay", "totalRevenueCents", "revenueThisMonthCents", "customerCount", "purchaseCount",
           "refundCount", "__typename")
MAX_STATEMENTS = 16  # statement texts kept per plan (one per pair of limits a client sends)
# Inside the lists' anonymous records asyncpg decodes every field in binary, and the compiled pool's json/jsonb
# codecs (fastpath/engine.py) are text ones: a jsonb field (content.thumbnails) would reach orjson with its
# binary version byte. Columns of JSON types are therefore read as text in the records and parsed here.
JSON_COLUMNS = frozenset(column.name for table in models.Base.metadata.tables.values() for column in table.columns
                         if isinstance(column.type, JSON))
PLAIN_COLUMN = re.compile(r"\w+\.(\w+)")
PARAMETER = re.compile(r"\$(\d+)")


def _record_columns(columns: dict[str, str]) -> tuple[list[str], frozenset[str]]:
    """The expressions of a list's records (JSON columns as text) and the aliases of those to parse back."""
    listed, parsed = [], set()
    for alias, sql in columns.items():
        plain = PLAIN_COLUMN.fullmatch(sql)
        if plain and plain.group(1) in JSON_COLUMNS:
            listed.append(f"({sql})::text")
            parsed.add(alias)
        else:
            listed.append(sql)
    return listed, frozenset(parsed)


def _records(aliases: tuple[str, ...], parsed: frozenset[str], rows: list[Any]) -> list[dict[str, Any]]:
    out = [dict(zip(aliases, row, strict=True)) for row in rows]
    for row in out if parsed else ():
        for alias in parsed:
            if row[alias] is not None:
                row[alias] = orjson.loads(row[alias])
    return out


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
        columns: dict[str, str] = {}
        for child in fields_of(field_node.selection_set, "Analytics", fragments):
            key, name = response_key(child), child.name.value
            if name in SCALARS:
                leaf(child)
                self.parts.append((key, name, None))
                if name in FIGURES:
                    columns[name] = FIGURES[name]
            elif name == "revenueByDay":
                alias = f"days_{len(self.parts)}"
                columns[alias] = DAYS.format(pairs=self._day_pairs(child, fragments))
                self.parts.append((key, name, alias))
            elif name == "topContent" and self.top is None:
                self.top = self._top(child, fragments)
                self.parts.append((key, name, None))
            elif name == "recentPurchases" and self.recent is None:
                limit = arguments(child, {"limit"}).get("limit")
                self.recent = (limit, compile_object("Purchase", child, fragments, "p_"))
                self.parts.append((key, name, None))
            else:
                raise NotCompilable(f"Analytics.{name}")
        self.month = "revenueThisMonthCents" in columns
        self.days = any(name in columns for name in ("totalRevenueCents", "purchaseCount", "refundCount")) or any(
            name == "revenueByDay" for _, name, _ in self.parts)
        selected = [f"{sql} AS \"{alias}\"" for alias, sql in columns.items()]
        self.top_aliases: tuple[str, ...] = ()
        self.recent_aliases: tuple[str, ...] = ()
        self.top_parsed: frozenset[str] = frozenset()
        self.recent_parsed: frozenset[str] = frozenset()
        if self.top is not None:
            shape = self.top[1]
            self.top_aliases = (*TOP_ALIASES, *shape.columns)
            columns_listed, self.top_parsed = _record_columns(shape.columns)
            listed = ", ".join(["s.purchases", "s.revenue_cents", *columns_listed])
            selected.append(
                f"ARRAY(SELECT ROW({listed}) FROM content_sales_summary s LEFT JOIN content c ON c.id = s.content_id "
                f"{' '.join(shape.joins)} WHERE s.organization_id = $2 "
                "ORDER BY s.revenue_cents DESC, s.purchases DESC, s.content_id LIMIT {top}) AS top")
        if self.recent is not None:
            shape = self.recent[1]
            self.recent_aliases = tuple(shape.columns)
            columns_listed, self.recent_parsed = _record_columns(shape.columns)
            listed = ", ".join(columns_listed)
            selected.append(
                f"ARRAY(SELECT ROW({listed}) FROM purchase p {' '.join(shape.joins)} WHERE p.organization_id = $2 "
                "ORDER BY p.created_at DESC, p.id DESC LIMIT {recent}) AS recent")
        # The range's CTE also types $3/$4 when only the month is asked for (an unreferenced CTE is not run).
        self.days = self.days or self.month
        head = VIEWER_PARAMETER + RANGE_DAYS if self.days else VIEWER_PARAMETER.removesuffix(", ") + " "
        # The limits are the only holes; everything else, braces included, is already final text.
        self.template = (head + "SELECT " + ", ".join(selected or ["1 AS nothing"])).replace("{", "{{").replace(
            "}", "}}").replace("{{top}}", "{top}").replace("{{recent}}", "{recent}")
        self.statements: dict[tuple[int, int], str] = {}
        # fetch binds exactly the parameters the text uses, in order: $1 viewer, $2 organization, $3/$4 range,
        # $5/$6 this month. PostgreSQL refuses a statement sent more (or fewer) values than it declares.
        used = {int(n) for n in PARAMETER.findall(self.template)}
        self.arity = max(used)
        if used != set(range(1, self.arity + 1)) or self.arity not in (2, 4, 6):
            raise NotCompilable(f"analytics statement parameters {sorted(used)}")  # a defect: tests plan every shape

    @staticmethod
    def _day_pairs(field_node: FieldNode, fragments: Fragments) -> str:
        pairs = []
        for child in fields_of(field_node.selection_set, "RevenueDay", fragments):
            leaf(child)
            if child.name.value not in DAY_VALUES:
                raise NotCompilable(f"RevenueDay.{child.name.value}")
            key = response_key(child)  # a GraphQL name ([_A-Za-z][_0-9A-Za-z]*): safe in a string literal
            pairs.append(f"'{key}', {DAY_VALUES[child.name.value]}")
        if len(pairs) > MAX_DAY_KEYS:
            raise NotCompilable("too many RevenueDay keys")
        return ", ".join(pairs)

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

    def statement(self, top: int, recent: int) -> str:
        sql = self.statements.get((top, recent))
        if sql is None:
            sql = self.template.format(top=top, recent=recent)  # clamped integers (_limit)
            if len(self.statements) < MAX_STATEMENTS:
                self.statements[(top, recent)] = sql
        return sql

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
        top = _limit(self.top[0], DEFAULT_TOP, MAX_TOP, variables) if self.top is not None else 0
        recent = _limit(self.recent[0], DEFAULT_RECENT, MAX_RECENT, variables) if self.recent is not None else 0
        values: list[Any] = [viewer.user_id, organization_id]
        if self.arity > 2:
            values += [days.start, days.end]
        if self.arity > 4:
            values += month_of(local_today(timezone))
        figures = await conn.fetchrow(self.statement(top, recent), *values)
        return {"range": days, "figures": figures,
                "top": _records(self.top_aliases, self.top_parsed, figures["top"]) if self.top else [],
                "recent": _records(self.recent_aliases, self.recent_parsed, figures["recent"]) if self.recent else []}

    def build(self, fetched: dict[str, Any], rt: Runtime) -> dict[str, Any]:
        days, figures = fetched["range"], fetched["figures"]
        out: dict[str, Any] = {}
        for key, name, detail in self.parts:
            if name in FIGURES:
                out[key] = figures[name]
            elif name == "fromDay":
                out[key] = days.start.isoformat()
            elif name == "toDay":
                out[key] = days.end.isoformat()
            elif name == "revenueByDay":
                out[key] = orjson.Fragment(figures[detail])  # JSON text made by PostgreSQL, passed through
            elif name == "topContent":
                assert self.top is not None
                out[key] = [_top_row(row, self.top, rt) for row in fetched["top"]]
            elif name == "recentPurchases":
                assert self.recent is not None
                out[key] = [self.recent[1].build(row, rt) for row in fetched["recent"]]
            else:
                out[key] = "Analytics"
        return out


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
