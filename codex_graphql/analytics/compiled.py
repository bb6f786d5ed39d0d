"""Analytics in the compiled read path: ``Organization.analytics``, the dashboard from the summary tables as
one subquery of the organization root's own statement (``fastpath.tables``: a ``LEFT JOIN LATERAL`` over
the organization's row), so the organization and its figures, best sellers and latest purchases cost one
statement instead of the resolvers' dozen.

The field's guard (ANALYTICS_READ in the organization) gates the subquery inside the statement: it runs only
for an organization in which the viewer holds the permission (the root binds those organizations from the
viewer's memberships), and the root checks the guard again on the row; a viewer without it is answered by
the resolvers, which phrase the error (no analytics SQL ran). The range is resolved as
``analytics.service.resolve_range`` resolves it: a given range (both ends are required) in Python, where a
range the resolvers refuse leaves the root to them before any statement; the default one (the last 30 days
to today) and "this month" in the statement, from "today" in the organization's timezone (read in the same
row) at the instant the request was bound (the clock the resolvers read).

Cost notes (measured, see the issue 22 report): the limits of ``topContent`` and ``recentPurchases`` are
written into the statement as literals (clamped integers), never bound as parameters: with ``LIMIT $n``
PostgreSQL's generic plan assumes 10% of the rows, costs about 3x the custom plan and is never chosen, so
every execution was planned again (the planning cost more than the execution). ``revenueByDay`` is built
as JSON text by PostgreSQL with the document's own response keys and passed through to the response
unparsed (``orjson.Fragment``): no Python object per day.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from graphql import FieldNode, GraphQLError, VariableNode

from codex_graphql.analytics.service import DEFAULT_RANGE_DAYS, DayRange, resolve_range
from codex_graphql.analytics.types import MAX_RECENT, MAX_TOP
from codex_graphql.db import utcnow
from codex_graphql.fastpath.registry import FollowUp, Param, compile_object, declare
from codex_graphql.fastpath.selection import (
    Fragments,
    NotCompilable,
    arguments,
    fields_of,
    leaf,
    response_key,
)
from codex_graphql.fastpath.shapes import Runtime, Shape

# The schema's defaults of topContent(limit:) and recentPurchases(limit:) (analytics/types.py).
DEFAULT_TOP, DEFAULT_RECENT = 5, 10
# The range as resolve_range resolves it: "today" in the organization's zone at the bound instant, the given
# days or the last 30 days to today; then the range's days of the summary, read once and used by every figure.
RANGE = ("WITH b AS (SELECT coalesce({first}::date, x.today - " + str(DEFAULT_RANGE_DAYS - 1) + ") AS first, "
         "coalesce({last}::date, x.today) AS last, x.today "
         "FROM (SELECT timezone({tz}, {now}::timestamptz)::date AS today) x), "
         "d AS (SELECT s.day, s.purchases, s.gross_cents - s.refunded_cents AS one_time, "
         "s.recurring_cents AS recurring, s.gross_cents - s.refunded_cents + s.recurring_cents AS revenue, s.refunds, "
         "s.subscriptions_started, s.subscriptions_churned, s.trials_started, s.trials_converted "
         "FROM purchase_daily_stats s, b WHERE s.organization_id = {org} AND s.day BETWEEN b.first AND b.last) ")


def _sum(column: str) -> Callable[[str], str]:
    return lambda org: f"(SELECT coalesce(sum(d.{column}), 0)::bigint FROM d)"


def _total(column: str) -> Callable[[str], str]:
    return lambda org: f"coalesce((SELECT t.{column} FROM analytics_totals t WHERE t.organization_id = {org}), 0)"


FIGURES: dict[str, Callable[[str], str]] = {
    "totalRevenueCents": _sum("revenue"),
    "oneTimeRevenueCents": _sum("one_time"),
    "recurringRevenueCents": _sum("recurring"),
    "purchaseCount": _sum("purchases"),
    "refundCount": _sum("refunds"),
    "newSubscriptions": _sum("subscriptions_started"),
    "churnedSubscriptions": _sum("subscriptions_churned"),
    "trialsStarted": _sum("trials_started"),
    "trialConversions": _sum("trials_converted"),
    "revenueThisMonthCents": lambda org: (
        "(SELECT coalesce(sum(s.gross_cents - s.refunded_cents + s.recurring_cents), 0)::bigint "
        f"FROM purchase_daily_stats s WHERE s.organization_id = {org} "
        "AND s.day BETWEEN date_trunc('month', b.today)::date AND b.today)"),
    "customerCount": _total("customers"),
    "activeSubscribers": _total("subscribers"),
    "mrrCents": _total("mrr_cents"),
}
# Every day of the range, days without a summary row as zeros; one JSON object per day, keys as the document asks.
DAY_VALUES = {"day": "g.day", "revenueCents": "coalesce(d.revenue, 0)", "oneTimeRevenueCents": "coalesce(d.one_time, 0)",
              "recurringRevenueCents": "coalesce(d.recurring, 0)", "purchases": "coalesce(d.purchases, 0)",
              "refunds": "coalesce(d.refunds, 0)", "__typename": "'RevenueDay'"}
DAYS = ("(SELECT coalesce(json_agg(json_build_object({pairs}) ORDER BY g.day), '[]')::text FROM "
        "(SELECT generate_series(b.first::timestamp, b.last::timestamp, interval '1 day')::date AS day) g "
        "LEFT JOIN d ON d.day = g.day)")
MAX_DAY_KEYS = 40  # json_build_object takes at most 100 arguments
TOP_ALIASES = ("s_purchases", "s_revenue_cents")
SCALARS = ("fromDay", "toDay", "__typename", *FIGURES)


def _records(aliases: tuple[str, ...], rows: list[Any]) -> list[dict[str, Any]]:
    """A list's anonymous records (decoded field by field in binary: the compiled pool's codecs, json and
    jsonb included, are binary ones) by their shapes' aliases."""
    return [dict(zip(aliases, row, strict=True)) for row in rows]


def _limit(getter: Callable[[dict[str, Any]], Any] | None, default: int, most: int, variables: dict[str, Any]) -> int:
    value = getter(variables) if getter else default
    if not isinstance(value, int):
        raise NotCompilable("limit")
    return max(0, min(value, most))


def _bounds(given: dict[str, Any]) -> tuple[Any, Any]:
    """The given range's (first, last) days, (None, None) for the default one (the statement's, from "today");
    NotCompilable for a range the resolvers refuse (they phrase the error)."""
    first, last = given.get("from"), given.get("to")
    if first is None and last is None:
        return None, None
    if first is None or last is None:
        raise NotCompilable("half a range")  # both ends are required (DateRange): the resolvers' to judge
    try:
        days = resolve_range(first, last, None)  # both ends given: the zone does not matter
    except GraphQLError as error:
        raise NotCompilable(f"range: {error}") from error
    return days.start, days.end


class AnalyticsPlan:
    """``Organization.analytics`` as a one-row subquery over the organization's row (``registry.SubPlan``)."""

    def __init__(self, field_node: FieldNode, fragments: Fragments, organization: Shape) -> None:
        self.key = response_key(field_node)
        self.organization_id = f"{organization.table}.id"
        self.timezone = f"{organization.table}.timezone"
        for argument in field_node.arguments or ():
            if not isinstance(argument.value, VariableNode):
                raise NotCompilable("an inline range")  # variables arrive coerced; literals would not
        self.range = arguments(field_node, {"range"}).get("range")
        self.parts: list[tuple[str, str, Any]] = []
        self.top: tuple[Any, Shape, list[tuple[str, str]]] | None = None
        self.recent: tuple[Any, Shape] | None = None
        self.columns: dict[str, str] = {}  # the figures and days: alias -> SQL
        org = self.organization_id
        for child in fields_of(field_node.selection_set, "Analytics", fragments):
            key, name = response_key(child), child.name.value
            if name in SCALARS:
                leaf(child)
                self.parts.append((key, name, None))
                if name in FIGURES:
                    self.columns[name] = FIGURES[name](org)
            elif name == "revenueByDay":
                alias = f"days_{len(self.parts)}"
                self.columns[alias] = DAYS.format(pairs=self._day_pairs(child, fragments))
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
        self.top_aliases: tuple[str, ...] = ()
        self.recent_aliases: tuple[str, ...] = ()
        self.top_listed = self.recent_listed = ""
        if self.top is not None:
            shape = self.top[1]
            self.top_aliases = (*TOP_ALIASES, *shape.columns)
            self.top_listed = ", ".join(["s.purchases", "s.revenue_cents", *shape.columns.values()])
        if self.recent is not None:
            self.recent_aliases = tuple(self.recent[1].columns)
            self.recent_listed = ", ".join(self.recent[1].columns.values())

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

    def bind(self, viewer: Any, variables: dict[str, Any]) -> tuple[tuple[int, int], dict[str, Any]]:
        """(the limits written into the statement, clamped; the range's parameters and the instant of "today")."""
        first, last = _bounds((self.range(variables) if self.range else None) or {})  # coerced: dates
        top = _limit(self.top[0], DEFAULT_TOP, MAX_TOP, variables) if self.top is not None else 0
        recent = _limit(self.recent[0], DEFAULT_RECENT, MAX_RECENT, variables) if self.recent is not None else 0
        return (top, recent), {"first": first, "last": last, "now": utcnow()}

    def sql(self, param: Param, prefix: str, variant: tuple[int, int], condition: str) -> str:
        """The subquery: one row of ``prefix``-named columns where ``condition`` holds (PostgreSQL tests it once,
        first: it names only the organization's row and parameters)."""
        top, recent = variant  # clamped integers (_limit)
        org = self.organization_id
        selected = [f'b.first AS "{prefix}from"', f'b.last AS "{prefix}to"',
                    *(f'{sql} AS "{prefix}{alias}"' for alias, sql in self.columns.items())]
        if self.top is not None:
            # The top rows first (the summary's revenue index, LIMIT), then their items: joined before the limit,
            # the items of every summary row were read under content's policy and sorted (a third of the
            # dashboard's statement under the app role).
            order = "s.revenue_cents DESC, s.purchases DESC, s.content_id"
            selected.append(
                f"ARRAY(SELECT ROW({self.top_listed}) FROM (SELECT * FROM content_sales_summary s "
                f"WHERE s.organization_id = {org} ORDER BY {order} LIMIT {top}) s LEFT JOIN content c "
                f"ON c.id = s.content_id {' '.join(self.top[1].joins)} ORDER BY {order}) AS \"{prefix}top\"")
        if self.recent is not None:
            selected.append(
                f"ARRAY(SELECT ROW({self.recent_listed}) FROM purchase p {' '.join(self.recent[1].joins)} "
                f"WHERE p.organization_id = {org} ORDER BY p.created_at DESC, p.id DESC LIMIT {recent}) "
                f'AS "{prefix}recent"')
        head = RANGE.format(first=param("first"), last=param("last"), now=param("now"), tz=self.timezone, org=org)
        return f"{head}SELECT {', '.join(selected)} FROM b WHERE {condition}"

    def read(self, row: Any, prefix: str) -> dict[str, Any] | None:
        first = row[f"{prefix}from"]
        if first is None:
            return None  # no row: refused by the guard's condition
        return {"range": DayRange(first, row[f"{prefix}to"]),
                "figures": {alias: row[f"{prefix}{alias}"] for alias in self.columns},
                "top": _records(self.top_aliases, row[f"{prefix}top"]) if self.top else [],
                "recent": _records(self.recent_aliases, row[f"{prefix}recent"]) if self.recent else []}

    def keys_to_sign(self, fetched: dict[str, Any] | None) -> list[str]:
        if not fetched:
            return []
        return [*(self.top[1].keys_to_sign(fetched["top"]) if self.top else []),
                *(self.recent[1].keys_to_sign(fetched["recent"]) if self.recent else [])]

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
