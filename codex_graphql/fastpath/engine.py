"""Compile documents once, then execute them on a dedicated asyncpg pool.

The pool's connections keep their tenant settings between requests (``set_config(..., false)``):
the settings are re-applied only when the next request's viewer differs, so a request of the same
viewer costs exactly its data statements. Every acquisition compares and, when needed, sets the
role and both settings before anything runs, and the pool never resets them behind our back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    get_operation_ast,
    parse,
    specified_rules,
    validate,
)
from graphql.execution.values import get_variable_values
from sqlalchemy.engine import make_url

from codex_graphql.authz import Viewer
from codex_graphql.content.service import URL_TTL_SECONDS
from codex_graphql.cost import Analysis, CostCalculator, evaluate
from codex_graphql.db import OPEN_SESSION_SQL, new_scope_key, scope_proof
from codex_graphql.doccache import (
    ENTRY_OVERHEAD,
    ByteLRU,
    document_bytes,
    document_digest,
    document_weight,
    too_large,
)
from codex_graphql.fastpath.content_root import ContentRoot
from codex_graphql.fastpath.roots import OrganizationRoot, TypenameRoot, ViewerRoot
from codex_graphql.fastpath.selection import NotCompilable, fields_of
from codex_graphql.fastpath.shapes import NeedsResolvers, Runtime
from codex_graphql.ratelimit import caller_key, limits_for

log = logging.getLogger(__name__)

ROOTS = {"organization": OrganizationRoot, "viewer": ViewerRoot, "content": ContentRoot}
# The connection-wide authenticated scope (codex.db explains the proof; ``false``: for the session).
SET_SCOPE_SQL = "SELECT set_config('role', 'codex_app', false), codex_set_scope($1, $2, '', $3, false)"
UNAVAILABLE = (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError, asyncpg.CannotConnectNowError)


@dataclass
class CompiledOperation:
    operation: OperationDefinitionNode
    roots: list[Any]
    analysis: Analysis
    document_bytes: int = 0  # the size of the document's text, charged per KiB (cost.overhead)


class ScopedConnection(asyncpg.Connection):  # type: ignore[misc]
    """Remembers which tenant settings are in force on this connection (None: unknown)."""

    _codex_scope: tuple[Any, Any] | None = None
    codex_key: bytes = b""  # the key registered with codex_open_session when the connection opened

    def codex_scope(self) -> tuple[Any, Any] | None:
        return self._codex_scope

    def remember_scope(self, scope: tuple[Any, Any] | None) -> None:
        self._codex_scope = scope


async def _init_connection(conn: ScopedConnection) -> None:
    if not conn.codex_key:  # init runs again after a reset; the key is registered once per connection
        key, ikey, okey = new_scope_key()
        await conn.execute(OPEN_SESSION_SQL, ikey, okey)
        conn.codex_key = key
    for json_type in ("jsonb", "json"):
        await conn.set_type_codec(json_type, encoder=lambda v: orjson.dumps(v).decode(), decoder=orjson.loads,
                                  schema="pg_catalog")
    conn.remember_scope(None)


async def _reset_connection(conn: ScopedConnection) -> None:
    # Never RESET ALL (it would drop the settings we track); only end an interrupted transaction.
    if conn.is_in_transaction():
        conn.remember_scope(None)
        await conn.execute("ROLLBACK")


class FastPath:
    def __init__(self, schema: Any, services: Any, calculator: CostCalculator, rules: list[Any],
                 cache_bytes: int = 32_000_000) -> None:
        self.graphql_schema: GraphQLSchema = schema._schema
        self.services = services
        self.settings = services.settings
        self.calculator = calculator
        self.rules = [*specified_rules, *rules]
        # Plans (or None: not compilable) by (document hash, operation name), bounded by estimated bytes:
        # a plan keeps its parsed document alive.
        self.plans: ByteLRU[CompiledOperation | None] = ByteLRU(cache_bytes)
        self._pool: asyncpg.Pool | None = None
        self.compiled = 0
        self.query_loggers: list[Any] = []  # asyncpg query loggers, for tests that count statements

    # -- compiling -------------------------------------------------------------------------------

    def plan(self, query: str, operation_name: str | None) -> CompiledOperation | None:
        if too_large(query, self.settings.max_document_bytes):
            return None  # never compiled nor cached (the endpoint refuses it before asking)
        key = (document_digest(query), operation_name)
        found, plan = self.plans.lookup(key)
        if found:
            return plan
        plan, weight = self._compile(query, operation_name)
        self.plans.put(key, plan, weight)
        return plan

    def _compile(self, query: str, operation_name: str | None) -> tuple[CompiledOperation | None, int]:
        """The plan (or None) and the estimated bytes it keeps alive."""
        try:
            document = parse(query, max_tokens=self.settings.max_tokens)
        except GraphQLError:
            return None, ENTRY_OVERHEAD
        plan = self._plan_of(query, document, operation_name)
        return plan, document_weight(query, document) if plan is not None else ENTRY_OVERHEAD

    def _plan_of(self, query: str, document: DocumentNode, operation_name: str | None) -> CompiledOperation | None:
        if validate(self.graphql_schema, document, self.rules):
            return None  # normal execution reports the errors
        operation = get_operation_ast(document, operation_name)
        if operation is None or operation.operation is not OperationType.QUERY:
            return None
        try:
            roots = self._roots(document, operation)
        except NotCompilable as reason:
            log.debug("not compiled: %s", reason)
            return None
        analysis = self.calculator.analysis(self.graphql_schema, query, document, operation_name)
        if analysis.introspection:
            return None
        self.compiled += 1
        return CompiledOperation(operation, roots, analysis, document_bytes(query))

    @staticmethod
    def _roots(document: DocumentNode, operation: OperationDefinitionNode) -> list[Any]:
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        roots: list[Any] = []
        for field in fields_of(operation.selection_set, "Query", fragments):
            assert isinstance(field, FieldNode)
            name = field.name.value
            if name == "__typename":
                roots.append(TypenameRoot(field))
            elif name in ROOTS:
                roots.append(ROOTS[name](field, fragments))
            else:
                raise NotCompilable(f"Query.{name}")
        return roots

    # -- executing -------------------------------------------------------------------------------

    async def execute(self, plan: CompiledOperation, viewer: Viewer, variables: dict[str, Any] | None,
                      client_ip: str) -> tuple[dict[str, Any], Any] | None:
        """The response body and the cost report, or None to run the request through the resolvers."""
        coerced = get_variable_values(self.graphql_schema, plan.operation.variable_definitions or (), variables or {})
        if isinstance(coerced, list):
            return None  # invalid variables: normal execution reports them
        values: dict[str, Any] = getattr(coerced, "coerced", coerced)  # graphql-core 3.3 wraps them
        try:
            bound = [root.bind(viewer, values) for root in plan.roots]
        except NotCompilable:
            return None
        requested = evaluate(plan.analysis.cost, variables)
        if requested > self.settings.max_query_cost:
            return None
        limits = limits_for(self.services)
        report = await limits.charge(caller_key(_Caller(viewer, client_ip)), requested,
                                     limits.overhead(plan.document_bytes))
        if report.throttled:
            return None  # the resolvers' path answers THROTTLED (its charge is refused again, not taken twice)
        try:
            fetched = await self._fetch(plan, viewer, bound)
        except NeedsResolvers:
            return None
        except UNAVAILABLE:
            raise
        except asyncpg.PostgresError:
            log.exception("compiled statement failed; answering through the resolvers")
            return None
        urls: dict[str, Any] = {}
        storage = self.services.storage
        for root, rows in fetched:
            for key in root.keys_to_sign(rows):
                if key not in urls:
                    urls[key] = await storage.presign_get(key, URL_TTL_SECONDS)
        rt = Runtime(viewer, self.settings, urls)
        try:
            data = {root.key: root.build(rows, rt) for root, rows in fetched}
        except NeedsResolvers:
            return None
        return {"data": data, "extensions": {"cost": report.as_extension()}}, report

    async def _fetch(self, plan: CompiledOperation, viewer: Viewer, bound: list[Any]) -> list[tuple[Any, Any]]:
        if all(isinstance(root, TypenameRoot) for root in plan.roots):
            return [(root, None) for root in plan.roots]
        pool = self._pool or await self._open()
        async with pool.acquire() as conn:
            for logger in self.query_loggers:
                conn.add_query_logger(logger)
            try:
                return await self._fetch_on(conn, plan, viewer, bound)
            finally:
                for logger in self.query_loggers:
                    conn.remove_query_logger(logger)

    async def _fetch_on(self, conn: Any, plan: CompiledOperation, viewer: Viewer, bound: list[Any]) -> list[tuple[Any, Any]]:
        scope = viewer.scope
        wanted = (scope.user_id, scope.organization_id)
        if conn.codex_scope() != wanted:
            conn.remember_scope(None)
            user_id, organization_id = str(scope.user_id or ""), str(scope.organization_id or "")
            await conn.execute(SET_SCOPE_SQL, user_id, organization_id,
                               scope_proof(conn.codex_key, user_id, organization_id, ""))
            conn.remember_scope(wanted)
        return [(root, await root.fetch(conn, viewer, args)) for root, args in zip(plan.roots, bound, strict=True)]

    async def _open(self) -> asyncpg.Pool:
        if self._pool is None:
            url = make_url(self.services.db.url).set(drivername="postgresql")
            self._pool = await asyncpg.create_pool(
                url.render_as_string(hide_password=False), min_size=1, max_size=self.settings.db_pool_size,
                connection_class=ScopedConnection, init=_init_connection, reset=_reset_connection,
                max_inactive_connection_lifetime=300,
            )
        return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()


@dataclass(frozen=True, slots=True)
class _Caller:
    viewer: Viewer
    client_ip: str
