"""Plan documents root field by root field, once; run the compiled roots as SQL, hand the rest over.

A query's root fields are compiled one by one (``registry.compile_root``). The roots that compile run
as SQL on a connection of the compiled path's own asyncpg pool, whose connections keep their tenant scope
for the session (db.py's ``set_connection_scope``, the one scope statement of this path; re-applied only
when the next request's viewer differs, so a request of the same viewer costs exactly its data
statements; the pool never resets it behind our back). A separate pool rather than the SQLAlchemy
engine's: measured, borrowing the engine's connections cost the storefront more than 5% of its
throughput (more scope switches as session and compiled checkouts interleave). The roots that do not, or that this request's variables or rows leave to the resolvers, run through
normal execution as a derived document holding only them (``Handoff.query``), and the endpoint merges
both answers in document order. The derived document is the request's own text with everything else
blanked out (other roots, operations, unused fragments and variable definitions), so the errors it
reports carry the locations and paths normal execution of the whole document would give them.

The request is priced and charged once, for the whole document (``ratelimit.charge_request``); the
charge travels to the resolvers with the handoff, which never charge it again. Every root (or whole
document) left to the resolvers is counted in ``codex_fastpath_fallback_total{reason}``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

import asyncpg
import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    Node,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    get_operation_ast,
    parse,
    specified_rules,
    validate,
)
from graphql.language import Visitor, visit
from sqlalchemy.engine import make_url

from codex_graphql.authz import Viewer
from codex_graphql.content.service import URL_TTL_SECONDS
from codex_graphql.cost import Analysis, CostCalculator, evaluate
from codex_graphql.db import GENERIC_PLANS, TenantScope, register_scope_key, set_connection_scope
from codex_graphql.doccache import (
    ENTRY_OVERHEAD,
    ByteLRU,
    HotMap,
    document_bytes,
    document_digest,
    document_weight,
    too_large,
)
from codex_graphql.fastpath.grafts import Graft, GraftedRoot, Grafts, collect
from codex_graphql.fastpath.registry import compile_root
from codex_graphql.fastpath.selection import (
    DIRECTIVE_VALUES,
    NotCompilable,
    directive_variables,
    fields_of,
    response_key,
)
from codex_graphql.fastpath.shapes import NeedsResolvers, Runtime
from codex_graphql.fastpath.variables import CoercedVariables
from codex_graphql.ratelimit import CostReport, caller_key, charge_request, refusal

log = logging.getLogger(__name__)

UNAVAILABLE = (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError, asyncpg.CannotConnectNowError)
MAX_REASONS = 200  # distinct fallback reasons counted by name; the rest as "other"
MAX_DERIVED = 16  # derived documents kept per plan (one per set of roots left to the resolvers)
MAX_VARIANTS = 8  # plans kept per document for the values of its @skip/@include variables
REASON_RE = re.compile(r"[^A-Za-z0-9_.:]+")


@dataclass(frozen=True, slots=True)
class Refused:
    """A document the compiled path leaves whole to the resolvers, and why (the metric's reason)."""

    reason: str


@dataclass(slots=True)
class Slot:
    """One root field of the operation, in document order: compiled (``root``) or resolved (``reason``)."""

    key: str
    root: Any | None
    reason: str = ""
    typename: bool = False  # ``__typename``: answered without a statement


@dataclass
class CompiledOperation:
    document: DocumentNode
    operation: OperationDefinitionNode
    slots: list[Slot]
    analysis: Analysis
    query: str = ""
    document_bytes: int = 0  # the size of the document's text, charged per KiB (cost.overhead)
    # The derived document for each set of slots left to the resolvers (None: it would not validate).
    derived: dict[frozenset[int], str | None] = field(default_factory=dict)
    # The variables @skip/@include use: if any, ``slots`` is empty and each request runs the variant for
    # their values (compiled on first use, ``FastPath._specialized``), or all through the resolvers.
    directive_variables: tuple[str, ...] = ()
    variants: dict[tuple[Any, ...], CompiledOperation | Refused] = field(default_factory=dict)
    coerced: CoercedVariables = field(default_factory=CoercedVariables)  # the variable sets sent lately

    @property
    def roots(self) -> list[Any]:
        return [slot.root for slot in self.slots if slot.root is not None]


@dataclass
class Handoff:
    """What the compiled path did with a request, and what is left to the resolvers.

    ``body`` is the complete answer when every root compiled. Otherwise the resolvers run ``query``
    (None: the request's own document) with ``report`` as the request's charge, already taken (None:
    not charged yet), and ``merge`` puts the compiled roots' answers (``data``) among theirs. ``grafts``:
    fields inside the compiled roots that the endpoint still resolves and puts in place (nulls until then)."""

    report: CostReport | None = None
    body: dict[str, Any] | None = None
    query: str | None = None
    operation_name: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    grafts: Grafts | None = None  # fields inside the compiled roots left to the resolvers (fastpath.grafts)

    def merge(self, resolved: dict[str, Any] | None) -> dict[str, Any] | None:
        if not self.data or resolved is None:
            return resolved  # a null root propagated to `data` nulls the whole answer, as it would have
        return {key: self.data[key] if key in self.data else resolved.get(key) for key in self.order}


class ScopedConnection(asyncpg.Connection):  # type: ignore[misc]
    """A connection of the compiled path's pool: its scope key, and the scope its session holds (None: unknown)."""

    codex_key: bytes = b""  # registered with codex_open_session when the connection opened
    codex_scope: TenantScope | None = None


JSONB_VERSION = b"\x01"  # jsonb's binary format: this version byte, then the JSON text


def _jsonb_decode(data: bytes) -> Any:
    if data[:1] != JSONB_VERSION:
        raise ValueError(f"jsonb binary format {data[:1]!r}")
    return orjson.loads(data[1:])


async def _init_connection(conn: ScopedConnection) -> None:
    if not conn.codex_key:  # init runs again after a reset; the key is registered once per connection
        conn.codex_key = await register_scope_key(conn)
    # Binary json/jsonb codecs: asyncpg decodes the fields of anonymous records (``ARRAY(SELECT ROW(...))``)
    # in binary whatever a codec's format, so a text codec would be handed jsonb's version byte there.
    for json_type, encode, decode in (("jsonb", lambda value: JSONB_VERSION + orjson.dumps(value), _jsonb_decode),
                                      ("json", orjson.dumps, orjson.loads)):
        await conn.set_type_codec(json_type, encoder=encode, decoder=decode, schema="pg_catalog", format="binary")
    # asyncpg's binary codec sends date.min and date.max as -infinity and infinity: a range of 0001-01-01 or
    # 9999-12-31 (valid days a client may send) would then generate days without end. As text they stay days.
    await conn.set_type_codec("date", encoder=date.isoformat, decoder=date.fromisoformat, schema="pg_catalog",
                              format="text")
    conn.codex_scope = None


async def _reset_connection(conn: ScopedConnection) -> None:
    # Never RESET ALL (it would drop the session scope we track); only end an interrupted transaction.
    if conn.is_in_transaction():
        conn.codex_scope = None
        await conn.execute("ROLLBACK")


class FastPath:
    def __init__(self, schema: Any, services: Any, calculator: CostCalculator, rules: list[Any],
                 cache_bytes: int = 32_000_000, fallbacks: Any = None) -> None:
        self.graphql_schema: GraphQLSchema = schema._schema
        self.services = services
        self.settings = services.settings
        self.calculator = calculator
        self.rules = [*specified_rules, *rules]
        # Plans (or Refused) by (document hash, operation name), bounded by estimated bytes: a plan keeps
        # its parsed document alive.
        self.plans: ByteLRU[CompiledOperation | Refused] = ByteLRU(cache_bytes)
        # The same plans by text (doccache.HotMap, a tenth of the budget): recent documents skip digest and LRU.
        self.hot: HotMap[CompiledOperation | Refused] = HotMap(cache_bytes // 10)
        self.plans.front = self.hot
        self.compiled = 0
        self.fallbacks = fallbacks  # prometheus Counter codex_fastpath_fallback_total{reason}, or None
        self._reasons: set[str] = set()
        self._pool: asyncpg.Pool | None = None
        self.query_loggers: list[Any] = []  # asyncpg query loggers, for tests that count statements

    # -- compiling -------------------------------------------------------------------------------

    def plan(self, query: str, operation_name: str | None) -> CompiledOperation | None:
        """The plan of a document with at least one compiled root, or None (normal execution)."""
        found = self.lookup(query, operation_name)
        return found if isinstance(found, CompiledOperation) else None

    def route(self, query: str, operation_name: str | None) -> CompiledOperation | None:
        """``plan`` for serving a request: a document left whole to the resolvers is counted."""
        found = self.lookup(query, operation_name)
        if isinstance(found, Refused):
            self.count(found.reason)
            return None
        return found

    def lookup(self, query: str, operation_name: str | None) -> CompiledOperation | Refused:
        hot = self.hot.get((query, operation_name))  # a document served lately: one dict lookup
        if hot is not None:
            return hot
        if too_large(query, self.settings.max_document_bytes):
            return Refused("too_large")  # never compiled nor cached (the endpoint refuses it before asking)
        key = (document_digest(query), operation_name)
        found, plan = self.plans.lookup(key)
        if not found:
            plan, weight = self._compile(query, operation_name)
            self.plans.put(key, plan, weight)
        assert plan is not None  # kept by text too, weighing the text (twice at most) and the parsed document
        self.hot.put((query, operation_name), plan, ENTRY_OVERHEAD + 2 * len(query) + (
            document_weight(query, plan.document) if isinstance(plan, CompiledOperation) else 0))
        return plan

    def _compile(self, query: str, operation_name: str | None) -> tuple[CompiledOperation | Refused, int]:
        """The plan (or Refused) and the estimated bytes it keeps alive."""
        try:
            document = parse(query, max_tokens=self.settings.max_tokens)
        except GraphQLError:
            return Refused("parse"), ENTRY_OVERHEAD
        plan = self._plan_of(query, document, operation_name)
        if not isinstance(plan, CompiledOperation):
            return plan, ENTRY_OVERHEAD
        # Variants for @skip/@include values: their compiled forms (measured: 8 of them, about half the
        # document's estimate) are reserved up front.
        return plan, document_weight(query, document) * (2 if plan.directive_variables else 1)

    def _plan_of(self, query: str, document: DocumentNode, operation_name: str | None) -> CompiledOperation | Refused:
        if validate(self.graphql_schema, document, self.rules):
            return Refused("invalid")  # normal execution reports the errors
        operation = get_operation_ast(document, operation_name)
        if operation is None:
            return Refused("invalid")
        if operation.operation is not OperationType.QUERY:
            return Refused(operation.operation.value)
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        names = directive_variables(operation, fragments)
        slots: list[Slot] | Refused = [] if names else self._compiled_slots(document, operation)
        if isinstance(slots, Refused):
            return slots
        analysis = self.calculator.analysis(self.graphql_schema, query, document, operation_name)
        if analysis.introspection:
            return Refused("introspection")
        self.compiled += 1
        return CompiledOperation(document, operation, slots, analysis, query, document_bytes(query),
                                 directive_variables=names)

    def _compiled_slots(self, document: DocumentNode, operation: OperationDefinitionNode) -> list[Slot] | Refused:
        try:
            slots = self._slots(document, operation)
        except NotCompilable as reason:
            log.debug("not compiled: %s", reason)
            return Refused(str(reason))
        if any(slot.root is None for slot in slots) and not _any_data(slots, ()):
            return Refused(next((slot.reason for slot in slots if slot.root is None), "typename"))
        return slots

    def _specialized(self, plan: CompiledOperation, values: dict[str, Any]) -> CompiledOperation | Refused:
        """The plan for this request's values of the variables @skip/@include use, compiled with them on
        first use and kept per combination (at most MAX_VARIANTS, the oldest dropped first)."""
        key = tuple(values.get(name) for name in plan.directive_variables)
        found = plan.variants.get(key)
        if found is None:
            token = DIRECTIVE_VALUES.set(dict(zip(plan.directive_variables, key, strict=True)))
            try:
                slots = self._compiled_slots(plan.document, plan.operation)
            finally:
                DIRECTIVE_VALUES.reset(token)
            found = slots if isinstance(slots, Refused) else replace(
                plan, slots=slots, derived={}, directive_variables=(), variants={})
            if len(plan.variants) >= MAX_VARIANTS:
                del plan.variants[next(iter(plan.variants))]
            plan.variants[key] = found
        return found

    @staticmethod
    def _slots(document: DocumentNode, operation: OperationDefinitionNode) -> list[Slot]:
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        slots: list[Slot] = []
        for node in fields_of(operation.selection_set, "Query", fragments):
            typename = node.name.value == "__typename"
            try:
                slots.append(Slot(response_key(node), compile_root(node, fragments, graft=True), typename=typename))
            except NotCompilable as reason:
                slots.append(Slot(response_key(node), None, str(reason), typename))
        return slots

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    # -- the fallback metric ------------------------------------------------------------------------

    def count(self, reason: str) -> None:
        if self.fallbacks is None:
            return
        label = REASON_RE.sub("_", reason).strip("_")[:60] or "unknown"
        if label not in self._reasons:
            if len(self._reasons) >= MAX_REASONS:
                label = "other"
            else:
                self._reasons.add(label)
        self.fallbacks.labels(label).inc()

    # -- executing -------------------------------------------------------------------------------

    async def execute(self, plan: CompiledOperation, viewer: Viewer, variables: dict[str, Any] | None,
                      client_ip: str) -> Handoff | None:
        """What the compiled path answered, or None to run the whole request through the resolvers
        (which then price and charge it themselves)."""
        values = plan.coerced.values(self.graphql_schema, plan.operation.variable_definitions, variables)
        if values is None:
            self.count("variables")
            return None  # invalid variables: normal execution reports them
        if plan.directive_variables:
            variant = self._specialized(plan, values)
            if isinstance(variant, Refused):
                self.count(variant.reason)
                return None
            plan = variant
        resolved: dict[int, str] = {i: slot.reason for i, slot in enumerate(plan.slots) if slot.root is None}
        bound: dict[int, Any] = {}
        for i, slot in enumerate(plan.slots):
            if slot.root is not None:
                try:
                    bound[i] = slot.root.bind(viewer, values)
                except NotCompilable as reason:
                    resolved[i] = str(reason)
        if resolved and not _any_data(plan.slots, resolved):
            self._count_all(resolved.values())
            return None
        report = await charge_request(self.services, caller_key(_Caller(viewer, client_ip)), plan.document_bytes,
                                      evaluate(plan.analysis.cost, variables))
        try:
            return await self._answer(plan, viewer, report, bound, resolved)
        except (*UNAVAILABLE, asyncpg.QueryCanceledError):
            raise
        except Exception:  # a defect of the compiled form must not cost the client its answer (nor a 2nd charge)
            log.exception("compiled execution failed; answering through the resolvers")
            self.count("failed")
            return Handoff(report)

    async def _answer(self, plan: CompiledOperation, viewer: Viewer, report: CostReport, bound: dict[int, Any],
                      resolved: dict[int, str]) -> Handoff:
        if refusal(report) is not None:
            self.count("refused")
            return Handoff(report)  # the resolvers refuse it (THROTTLED, QUERY_TOO_COMPLEX), charged already
        fetched = await self._fetch(plan, viewer, bound, resolved)
        urls: dict[str, Any] = {}
        storage = self.services.storage
        for i, rows in fetched.items():
            for key in plan.slots[i].root.keys_to_sign(rows):  # type: ignore[union-attr]
                if key not in urls:  # a key, or (key, content type) for media served with its type
                    urls[key] = await (storage.presign_get(key, URL_TTL_SECONDS) if isinstance(key, str) else
                                       storage.presign_get(key[0], URL_TTL_SECONDS, content_type=key[1]))
        rt = Runtime(viewer, self.settings, urls)
        data: dict[str, Any] = {}
        for i, rows in fetched.items():
            slot = plan.slots[i]
            try:
                data[slot.key] = slot.root.build(rows, rt)  # type: ignore[union-attr]
            except NeedsResolvers:
                resolved[i] = "needs_resolvers"
        self._count_all(resolved.values())
        if not resolved:
            return Handoff(report, {"data": {slot.key: data[slot.key] for slot in plan.slots},
                                    "extensions": {"cost": report.as_extension()}},
                           grafts=self._grafts(plan, data, resolved))
        query = self._derived(plan, frozenset(resolved)) if _any_data(plan.slots, resolved) else None
        if query is None:
            return Handoff(report)  # the whole document through the resolvers
        name = plan.operation.name.value if plan.operation.name else None
        return Handoff(report, None, query, name, {k: v for k, v in data.items()
                                                   if k not in {plan.slots[i].key for i in resolved}},
                       [slot.key for slot in plan.slots], self._grafts(plan, data, resolved))

    def _grafts(self, plan: CompiledOperation, data: dict[str, Any], resolved: dict[int, str]) -> Grafts | None:
        """The graft sites in the compiled roots' answers (``fastpath.grafts``), each counted once per request."""
        found: list[Graft] = []
        for i, slot in enumerate(plan.slots):
            if i not in resolved and isinstance(slot.root, GraftedRoot) and data.get(slot.key) is not None:
                collect(data[slot.key], [slot.key], found)
        if not found:
            return None
        grafts = Grafts(plan.document, plan.operation.name.value if plan.operation.name else None, found)
        self._count_all(f"graft:{reason}" for reason in sorted(grafts.reasons))
        return grafts

    async def _fetch(self, plan: CompiledOperation, viewer: Viewer, bound: dict[int, Any],
                     resolved: dict[int, str]) -> dict[int, Any]:
        todo = [i for i in bound if i not in resolved]
        if all(plan.slots[i].typename for i in todo):
            return {i: None for i in todo}
        fetched: dict[int, Any] = {}
        pool = self._pool or await self._open()
        async with pool.acquire() as conn:
            for logger in self.query_loggers:
                conn.add_query_logger(logger)
            try:
                await self._scope(conn, viewer)
                await self._fetch_on(conn, plan, viewer, bound, todo, resolved, fetched)
            finally:
                for logger in self.query_loggers:
                    conn.remove_query_logger(logger)
        return fetched

    @staticmethod
    async def _scope(conn: Any, viewer: Viewer) -> None:
        """The viewer's scope on the connection (db.set_connection_scope), unless it holds it already."""
        raw: ScopedConnection = conn._con  # noqa: SLF001 (the pool's proxy: state lives on the connection)
        if raw.codex_scope != viewer.scope:
            raw.codex_scope = None
            await set_connection_scope(conn, raw.codex_key, viewer.scope)
            raw.codex_scope = viewer.scope

    @staticmethod
    async def _fetch_on(conn: Any, plan: CompiledOperation, viewer: Viewer, bound: dict[int, Any], todo: list[int],
                        resolved: dict[int, str], fetched: dict[int, Any]) -> None:
        for i in todo:
            try:
                fetched[i] = await plan.slots[i].root.fetch(conn, viewer, bound[i])  # type: ignore[union-attr]
            except NeedsResolvers:
                resolved[i] = "needs_resolvers"
            except (*UNAVAILABLE, asyncpg.QueryCanceledError):  # a statement timeout is not retried by the resolvers
                raise
            except asyncpg.PostgresError:  # the statement failed, the connection is fine (no transaction)
                log.exception("compiled statement failed; answering through the resolvers")
                resolved[i] = "failed"

    async def _open(self) -> asyncpg.Pool:
        if self._pool is None:
            url = make_url(self.services.db.url).set(drivername="postgresql")
            self._pool = await asyncpg.create_pool(
                url.render_as_string(hide_password=False), min_size=1, max_size=self.settings.db_pool_size,
                connection_class=ScopedConnection, init=_init_connection, reset=_reset_connection,
                max_inactive_connection_lifetime=300,
                # The app pool's timeouts (db.py), and generic plans from the first execution (see GENERIC_PLANS).
                server_settings={**self.services.db.server_settings, **GENERIC_PLANS},
            )
        return self._pool

    def _count_all(self, reasons: Iterable[str]) -> None:
        for reason in reasons:
            self.count(reason)

    def _derived(self, plan: CompiledOperation, resolved: frozenset[int]) -> str | None:
        if resolved in plan.derived:
            return plan.derived[resolved]
        keys = {plan.slots[i].key for i in resolved}
        query: str | None = derive(plan.query, plan.document, plan.operation, keys)
        try:
            if query is not None and validate(self.graphql_schema, parse(query), self.rules):
                query = None
        except GraphQLError:
            query = None
        if query is None:
            log.warning("no derived document for %s; the whole document runs through the resolvers", sorted(keys))
        if len(plan.derived) < MAX_DERIVED:
            plan.derived[resolved] = query
        return query


def _any_data(slots: list[Slot], resolved: Iterable[int]) -> bool:
    """Whether a root other than ``__typename`` is left to the compiled path (else it is not worth a split)."""
    left = set(resolved)
    return any(slot.root is not None and i not in left and not slot.typename
               for i, slot in enumerate(slots))


def derive(query: str, document: DocumentNode, operation: OperationDefinitionNode, keys: set[str]) -> str | None:
    """The request's text holding only the root fields ``keys`` of ``operation``: everything else (the other
    roots, other operations, fragments and variable definitions no longer used) is blanked out, newlines
    kept, so every remaining token keeps its line and column (the errors' locations stay the same)."""
    text = list(query)
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}

    def blank(node: Node | None, start: int | None = None, end: int | None = None) -> None:
        lo = node.loc.start if node is not None and node.loc else start
        hi = node.loc.end if node is not None and node.loc else end
        assert lo is not None and hi is not None
        for i in range(lo, hi):
            if text[i] not in "\r\n":
                text[i] = " "

    kept_nodes: list[Node] = []
    done: set[str] = set()

    def prune(selection_set: SelectionSetNode) -> bool:
        """Blank the root selections not kept; whether any is left."""
        left = False
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                if response_key(selection) in keys:
                    kept_nodes.append(selection)
                    left = True
                else:
                    blank(selection)
            elif isinstance(selection, InlineFragmentNode):
                if prune(selection.selection_set):
                    left = True
                    kept_nodes.extend(selection.directives or ())  # @skip/@include: their variables stay
                else:
                    blank(selection)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name not in done:
                    done.add(name)
                    if not prune(fragments[name].selection_set):
                        keys_left.discard(name)
                    else:
                        keys_left.add(name)
                if name in keys_left:
                    left = True
                    kept_nodes.extend(selection.directives or ())
                else:
                    blank(selection)
        return left

    keys_left: set[str] = set()  # root-level fragments that keep something
    if not prune(operation.selection_set):
        return None
    used = _Uses()
    for node in [*kept_nodes, *(operation.directives or ())]:
        visit(node, used)
    for name in keys_left:  # root-level fragments: their kept fields were visited; their directives too
        visit_all(fragments[name].directives or (), used)
    pending = list(used.fragments)
    seen_fragments: set[str] = set(keys_left)
    while pending:
        name = pending.pop()
        if name in seen_fragments or name not in fragments:
            continue
        seen_fragments.add(name)
        inner = _Uses()
        visit(fragments[name], inner)
        used.variables |= inner.variables
        pending.extend(inner.fragments)
    for definition in document.definitions:
        if definition is operation:
            continue
        if isinstance(definition, FragmentDefinitionNode) and definition.name.value in seen_fragments:
            continue
        blank(definition)
    definitions = operation.variable_definitions or ()
    unused = [d for d in definitions if d.variable.name.value not in used.variables]
    if unused and len(unused) == len(definitions):
        # No variable left: blank the parentheses too (`query Q()` does not parse).
        opening = query.rfind("(", operation.loc.start if operation.loc else 0, definitions[0].loc.start)  # type: ignore[union-attr]
        closing = query.find(")", definitions[-1].loc.end)  # type: ignore[union-attr]
        if opening < 0 or closing < 0:
            return None
        blank(None, opening, closing + 1)
    else:
        for definition in unused:
            blank(definition)
    return "".join(text)


def visit_all(nodes: Iterable[Node], visitor: Visitor) -> None:
    for node in nodes:
        visit(node, visitor)


class _Uses(Visitor):
    """The variables and fragments a piece of a document refers to."""

    def __init__(self) -> None:
        super().__init__()
        self.variables: set[str] = set()
        self.fragments: set[str] = set()

    def enter_variable(self, node: VariableNode, *_: Any) -> None:
        self.variables.add(node.name.value)

    def enter_fragment_spread(self, node: FragmentSpreadNode, *_: Any) -> None:
        self.fragments.add(node.name.value)


@dataclass(frozen=True, slots=True)
class _Caller:
    viewer: Viewer
    client_ip: str
