"""Engine, sessions and the tenant transaction: the bottom of the request path and of every job.

Every transaction opened through this module starts with one statement that switches to the
unprivileged application role and sets the tenant scope that row-level security policies read, so RLS
applies whatever account DATABASE_URL uses (in production and in the tests: ``codex_api``, which owns
nothing and holds no privilege of its own; see migration 0016 and README "Database roles").

The scope is authenticated, so that SQL running inside the transaction (an injection, were one ever
introduced) cannot widen it: each connection registers a random key when it opens
(``codex_open_session``, refused a second time on the same connection), and the scope statement calls
``codex_set_scope(user, org, platform, proof, true)`` with ``proof = HMAC(key, "user|org|platform")``.
The policies read the scope through ``codex_current_org()`` / ``codex_current_user()`` /
``codex_platform()``, which only trust what ``codex_set_scope`` stored for this transaction; a plain
``set_config('codex.organization_id', ...)`` changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import re
import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import DateTime, Enum, MetaData, event, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.util import await_only, greenlet_spawn

if TYPE_CHECKING:
    from codex_graphql.audit.service import AuditContext

# The unprivileged role every transaction switches to; created by the first migration.
APP_ROLE = "codex_app"

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> uuid.UUID:
    return uuid.uuid4()


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: DateTime(timezone=True), uuid.UUID: UUID(as_uuid=True)}


class IdMixin:
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"))


@dataclass(frozen=True, slots=True)
class TenantScope:
    """What row-level security policies see for one transaction.

    ``platform`` is the platform scope (``codex.platform = 'on'``): the policies of the platform-wide
    tables (outbox, webhook inbox, idempotency records, storage clean-up queue) then admit every
    organization's rows. Only the code that owns such a reader asks for it, by name
    (``TenantScope.platform_wide()``); a request's scope comes from its viewer (``Viewer.scope``),
    which never sets it, and ``acting_in`` never carries it over. tests/db/test_platform_scope.py lists the modules
    allowed to ask."""

    user_id: uuid.UUID | None = None
    organization_id: uuid.UUID | None = None
    platform: bool = False

    @classmethod
    def platform_wide(cls, organization_id: uuid.UUID | None = None) -> TenantScope:
        """The platform scope, optionally also in one organization's tenant scope (a webhook's handler
        keeps reading the inbox after switching to the organization the event belongs to)."""
        return cls(organization_id=organization_id, platform=True)

    def as_params(self, role: str, key: bytes) -> dict[str, str]:
        """The scope statement's parameters, with the proof made with the connection's key."""
        user_id = str(self.user_id) if self.user_id else ""
        organization_id = str(self.organization_id) if self.organization_id else ""
        platform = "on" if self.platform else ""
        return {"role": role, "user_id": user_id, "organization_id": organization_id, "platform": platform,
                "proof": scope_proof(key, user_id, organization_id, platform)}


@dataclass(slots=True)
class SessionState:
    """What code sharing one session's transaction knows about it, typed. Stored under one private key of
    the session's ``info`` and read only through the accessors below (tests/core/test_typed_seams.py checks
    that no other module touches ``session.info``)."""

    scope: TenantScope = field(default_factory=TenantScope)  # what RLS sees (the scope statement's values)
    outbox_dirty: bool = False  # an outbox row was emitted in this session (the relay is woken after commit)
    outbox_pending: list[dict[str, Any]] = field(default_factory=list)  # emitted rows not written yet
    audit: AuditContext | None = None  # who acts and from where (audit.attach)
    event_organization: uuid.UUID | None = None  # webhooks: the organization the handler acted in


_STATE_KEY = "codex_state"


def state_of(session: AsyncSession | Session) -> SessionState:
    """The session's typed state (an AsyncSession and its sync half share one ``info``)."""
    state: SessionState | None = session.info.get(_STATE_KEY)
    if state is None:
        state = session.info[_STATE_KEY] = SessionState()
    return state


def scope_of(session: AsyncSession | Session) -> TenantScope:
    """The tenant scope the session's transaction runs in (set by ``Database.session`` and ``rescope``)."""
    return state_of(session).scope


def outbox_dirty(session: AsyncSession | Session) -> bool:
    """True once an outbox row was emitted in this session (it stays true after the commit)."""
    return state_of(session).outbox_dirty


def take_outbox_pending(session: AsyncSession | Session) -> list[dict[str, Any]]:
    """The outbox rows emitted and not written yet, handed over once (the list is emptied)."""
    state = state_of(session)
    rows, state.outbox_pending = state.outbox_pending, []
    return rows


# One statement at the start of every transaction (and on rescope): the role, then the authenticated scope.
SET_TENANT_SQL = text(
    "select set_config('role', :role, true), "
    "codex_set_scope(:user_id, :organization_id, :platform, :proof, true)"
)
# Run once per connection, as it opens (before anything else can run on it).
OPEN_SESSION_SQL = "select codex_open_session($1, $2)"
# The same role and authenticated scope for the whole connection (``false``), outside any transaction: the
# compiled read path's own pool (fastpath.engine), whose statements are each their own transaction.
SET_CONNECTION_SCOPE_SQL = "select set_config('role', $1, false), codex_set_scope($2, $3, $4, $5, false)"

# Where a connection keeps its key (SQLAlchemy's per-DBAPI-connection info, cleared when it is closed).
SCOPE_KEY = "codex_scope_key"


def new_scope_key() -> tuple[bytes, bytes, bytes]:
    """A connection's random key, and the HMAC-SHA256 inner and outer padded keys the database keeps."""
    key = secrets.token_bytes(32)
    padded = key.ljust(64, b"\0")
    return key, bytes(b ^ 0x36 for b in padded), bytes(b ^ 0x5C for b in padded)


def scope_proof(key: bytes, user_id: str, organization_id: str, platform: str) -> str:
    return hmac.new(key, f"{user_id}|{organization_id}|{platform}".encode(), hashlib.sha256).hexdigest()


async def register_scope_key(driver: Any) -> bytes:
    """Register a new asyncpg connection's scope key (once, before anything else runs on it); the key."""
    key, ikey, okey = new_scope_key()
    await driver.execute(OPEN_SESSION_SQL, ikey, okey)
    return key


async def set_connection_scope(driver: Any, key: bytes, scope: TenantScope) -> None:
    """Give an asyncpg connection, outside any transaction, ``scope`` for its whole session (the compiled
    read path's connections keep it until the next call)."""
    params = scope.as_params(APP_ROLE, key)
    await driver.execute(SET_CONNECTION_SCOPE_SQL, params["role"], params["user_id"], params["organization_id"],
                         params["platform"], params["proof"])


# The compiled read path's connections (fastpath.engine) prepare each compiled statement once and reuse it.
# PostgreSQL plans the first five executions of a prepared statement for their parameters (custom plans) before it
# settles on a generic plan; under the policies of row-level security a plan takes 2 to 3 ms, so a process with many
# connections and many documents spent more on those warm-up plans than on running the statements (a 12 s run of
# the benchmark's mix: about 0.3 ms of PostgreSQL per request). The compiled statements' generic plans are the
# ones PostgreSQL settles on anyway (the storefront's: 0.575 ms per execution either way, 2.6 ms when planned
# for its parameters), so they are generic from the first execution.
GENERIC_PLANS = {"plan_cache_mode": "force_generic_plan"}


def json_loads(data: bytes | str) -> Any:
    """json and jsonb values as the app's connections decode them: with orjson, as the compiled read path's
    pool does (fastpath.engine), so both executors answer alike and the resolvers' rows decode in a fraction
    of ``json.loads``'s time; what orjson refuses and PostgreSQL stores (a number beyond a double, such as
    ``1e400``) falls back to ``json.loads``."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def _jsonb_loads(data: bytes) -> Any:
    """A jsonb value in the binary format: its version byte, then the text (``json_loads``)."""
    try:
        return orjson.loads(data[1:])
    except orjson.JSONDecodeError:
        return json.loads(data[1:])


def _jsonb_dumps(text: str) -> bytes:
    """A jsonb parameter, already serialized by SQLAlchemy's JSONB type, in the binary format."""
    return b"\x01" + text.encode()


async def _json_codecs(driver: Any) -> None:
    """The json and jsonb codecs of the app's connections, replacing those of SQLAlchemy's asyncpg dialect
    (set before this hook runs): the same format, without its two Python calls per value around the decoder."""
    await driver.set_type_codec("jsonb", encoder=_jsonb_dumps, decoder=_jsonb_loads, schema="pg_catalog",
                                format="binary")
    await driver.set_type_codec("json", encoder=str.encode, decoder=json_loads, schema="pg_catalog", format="binary")


def _open_scope_session(dbapi_connection: Any, connection_record: Any) -> None:
    """Pool "connect" hook: register this connection's key before the pool hands the connection out, and set
    its json codecs."""
    driver = dbapi_connection.driver_connection
    connection_record.info[SCOPE_KEY] = await_only(register_scope_key(driver))
    await_only(_json_codecs(driver))


class TenantSession(Session):
    """Sync half of the async session; ``after_begin`` applies the tenant scope."""


# The scope statement as the driver runs it (``_apply_tenant_scope``).
_SET_TENANT_RAW = "select set_config('role', $1, true), codex_set_scope($2, $3, $4, $5, true)"


# What the scope statement's values are made of (a role name, uuids, "on", a hex digest): written into the
# statement's text when they match, so that BEGIN and the scope go out as one message (``_begin_scoped``).
_LITERAL = re.compile(r"[0-9a-z_-]*")


class _Begun:
    """The driver transaction ``_begin_scoped`` began, ended as SQLAlchemy's asyncpg adapter ends its own
    (it calls ``commit`` or ``rollback``, then forgets it)."""

    __slots__ = ("_driver",)

    def __init__(self, driver: Any) -> None:
        self._driver = driver

    async def commit(self) -> None:
        await self._driver.execute("COMMIT;")

    async def rollback(self) -> None:
        await self._driver.execute("ROLLBACK;")


async def _begin_scoped(adapter: Any, params: dict[str, str]) -> None:
    """Begin the driver's transaction (SQLAlchemy's asyncpg adapter begins it lazily, before its first
    statement) and run the scope statement in it, straight on the driver: both in one round trip (one
    simple-protocol message, the values written as literals) when the adapter asks for a plain BEGIN."""
    driver = adapter._connection
    values = (params["role"], params["user_id"], params["organization_id"], params["platform"], params["proof"])
    async with adapter._execute_mutex:
        if (adapter._transaction is None and adapter.isolation_level is None and not adapter.readonly
                and not adapter.deferrable and all(_LITERAL.fullmatch(value) for value in values)):
            # Tracked before it runs: whatever fails in between, SQLAlchemy's rollback ends the transaction.
            adapter._transaction = _Begun(driver)
            await driver.execute("BEGIN; select set_config('role', '{}', true), "
                                 "codex_set_scope('{}', '{}', '{}', '{}', true)".format(*values))
            return
        if adapter._transaction is None:
            await adapter._start_transaction()
        await driver.execute(_SET_TENANT_RAW, *values)


@event.listens_for(TenantSession, "after_begin")
def _apply_tenant_scope(session: Session, transaction: Any, connection: Any) -> None:
    """The scope statement, first in every transaction: on the driver, without SQLAlchemy's execution machinery
    (a fifth of a simple request's statements' CPU); the same statement and parameters as ``SET_TENANT_SQL``."""
    scope = scope_of(session)
    await_only(_begin_scoped(connection.connection.dbapi_connection, scope.as_params(APP_ROLE, connection.info[SCOPE_KEY])))


_DIALECT = PGDialect_asyncpg()


@dataclass(frozen=True, slots=True)
class RawRead:
    """A read statement compiled once to the driver's SQL (``raw_read``), run by ``SerializedSession.fetch``.

    ``arguments`` are its positional parameters: a name taken from the call's parameters (``None``: the
    statement's own literal, already converted), each with SQLAlchemy's bind processor for its type (or None);
    ``results`` the result processors of the columns that have one (enums: the stored name to the enum)."""

    sql: str
    arguments: tuple[tuple[str | None, Any, Callable[[Any], Any] | None], ...]
    results: tuple[tuple[int, Callable[[Any], Any]], ...]

    def parameters(self, given: dict[str, Any]) -> list[Any]:
        return [value if name is None else given[name] if convert is None else convert(given[name])
                for name, value, convert in self.arguments]


def _result_processor(column: Any) -> Callable[[Any], Any] | None:
    kind = column.type
    if isinstance(kind, Enum) and kind.enum_class is not None and not kind.native_enum:
        # SQLAlchemy's processor is two Python calls per value around this lookup (an unknown name raises
        # KeyError, a LookupError as SQLAlchemy's).
        return kind._object_lookup.__getitem__
    try:
        return column.type._cached_result_processor(_DIALECT, None)
    except TypeError:  # a numeric type asks for the column's type oid: asyncpg already returns the Python number
        return None


def raw_read(statement: Any) -> RawRead:
    """``statement`` (a Core select) compiled once for ``SerializedSession.fetch``: the SQL text SQLAlchemy would
    send, its parameters' order and conversions, and its columns' result conversions, so that the rows are those
    ``rows`` returns, without SQLAlchemy's per-execution machinery."""
    compiled = statement.compile(dialect=_DIALECT)
    processors = compiled._bind_processors
    arguments = []
    for name in compiled.positiontup:
        bind = compiled.binds[name]
        convert = processors.get(name)
        if bind.required:
            arguments.append((name, None, convert))
        else:
            arguments.append((None, convert(bind.effective_value) if convert else bind.effective_value, None))
    results = tuple((index, processor) for index, column in enumerate(statement.selected_columns)
                    if (processor := _result_processor(column)) is not None)
    return RawRead(compiled.string, tuple(arguments), results)


class SerializedSession(AsyncSession):
    """An AsyncSession whose statements are serialized.

    strawberry resolves sibling fields and dataloader batches concurrently; a single asyncpg
    connection must never be used by two coroutines at once. One lock per request session
    serializes statements (``scalars`` goes through ``execute``, so it is not wrapped again) while keeping one transaction (and one pool checkout) per request.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lock = asyncio.Lock()
        self._driver: Any = None  # the asyncpg connection of ``_driver_transaction`` (``fetch``)
        self._driver_transaction: Any = None

    async def _serialized(self, operation: Any) -> Any:
        """Run one statement under the lock, shielded from cancellation.

        graphql-core cancels the sibling resolvers of a field whose error nulls their parent; cancelling a
        coroutine in the middle of an asyncpg statement would leave the connection (and the request
        transaction) unusable, so the commit would fail. The statement runs to its end in its own task;
        the cancelled caller waits for it before releasing the lock, then sees its cancellation."""
        async with self._lock:
            task = asyncio.ensure_future(operation)
            try:
                return await asyncio.shield(task)
            except asyncio.CancelledError:
                while not task.done():
                    with contextlib.suppress(asyncio.CancelledError):
                        await asyncio.wait([task])
                if not task.cancelled():
                    task.exception()  # retrieved: the caller is gone, its cancellation is what matters
                raise

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        return await self._serialized(super().execute(*args, **kwargs))

    async def rows(self, statement: Any, parameters: dict[str, Any] | None = None) -> list[Any]:
        """The statement's rows on this session's transaction, serialized like ``execute``, as plain rows read
        by column name: a selected ORM entity comes back as its columns (``row.title``), with no ORM instance,
        identity map or instrumented attribute per row (a third of a page's loading CPU). For read-only
        answers whose consumers only read columns; whatever is changed or lazily loaded needs ``execute``."""
        sync_session = self.sync_session
        return await self._serialized(
            greenlet_spawn(lambda: sync_session.connection().execute(statement, parameters).all()))

    async def fetch(self, read: RawRead, parameters: dict[str, Any], make: Callable[[Any], Any] = tuple) -> list[Any]:
        """``rows`` for a statement compiled by ``raw_read``, run straight on the driver connection of this
        session's transaction (begun first, so in its tenant scope), serialized like ``execute``: each row
        is ``make`` of its values in column order (a named tuple's ``tuple.__new__`` partial, or a tuple)."""
        return await self._serialized(self._fetch(read, parameters, make))

    async def _fetch(self, read: RawRead, parameters: dict[str, Any], make: Callable[[Any], Any]) -> list[Any]:
        driver = self._driver
        if driver is None or self.sync_session.get_transaction() is not self._driver_transaction:
            connection = await self.connection()  # begins the transaction: the scope statement runs first
            driver = (await connection.get_raw_connection()).driver_connection
            self._driver, self._driver_transaction = driver, self.sync_session.get_transaction()
        records = await driver.fetch(read.sql, *read.parameters(parameters))
        if not read.results:
            return [make(record) for record in records]
        found = []
        for record in records:
            values = list(record)
            for index, convert in read.results:
                values[index] = convert(values[index])
            found.append(make(values))
        return found

    async def scalar(self, *args: Any, **kwargs: Any) -> Any:
        return await self._serialized(super().scalar(*args, **kwargs))

    async def get(self, *args: Any, **kwargs: Any) -> Any:
        return await self._serialized(super().get(*args, **kwargs))

    async def flush(self, *args: Any, **kwargs: Any) -> None:
        await self._serialized(super().flush(*args, **kwargs))

    async def commit(self) -> None:
        await self._serialized(super().commit())

    async def rollback(self) -> None:
        await self._serialized(super().rollback())


def server_settings(statement_timeout_ms: int = 0, idle_in_transaction_timeout_ms: int = 0) -> dict[str, str]:
    """The server settings every connection of the app's pools opens with (asyncpg's ``server_settings``,
    sent in the startup packet, so they hold from the first statement and survive ``RESET ALL`` and the
    switch to the application role); a 0 is left out (the server's own default applies)."""
    found: dict[str, str] = {}
    if statement_timeout_ms:
        found["statement_timeout"] = str(int(statement_timeout_ms))
    if idle_in_transaction_timeout_ms:
        found["idle_in_transaction_session_timeout"] = str(int(idle_in_transaction_timeout_ms))
    return found


class Database:
    """Owns the engine and hands out tenant-scoped sessions.

    ``statement_timeout_ms`` and ``idle_in_transaction_timeout_ms`` (0: none) apply to every connection of
    the pool; ``server_settings`` keeps them for the other pools opened for this database (fastpath.engine)."""

    def __init__(self, url: str, *, pool_size: int = 10, max_overflow: int = 10, statement_timeout_ms: int = 0,
                 idle_in_transaction_timeout_ms: int = 0) -> None:
        self.url = url
        self.server_settings = server_settings(statement_timeout_ms, idle_in_transaction_timeout_ms)
        self.engine: AsyncEngine = create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=max_overflow,
            # No pre-ping (a round trip per checkout): a connection found dead raises a disconnect error,
            # the request answers 503 and SQLAlchemy invalidates the pool, so the next checkouts reconnect.
            pool_recycle=1800,
            connect_args={"server_settings": dict(self.server_settings)} if self.server_settings else {},
        )
        event.listen(self.engine.sync_engine, "connect", _open_scope_session)
        self._factory = async_sessionmaker(
            self.engine,
            class_=SerializedSession,
            sync_session_class=TenantSession,
            expire_on_commit=False,
            autoflush=False,
        )

    def session(self, scope: TenantScope | None = None) -> SerializedSession:
        session = self._factory()
        state_of(session).scope = scope or TenantScope()
        return session  # type: ignore[return-value]

    @asynccontextmanager
    async def transaction(self, scope: TenantScope | None = None) -> AsyncIterator[SerializedSession]:
        """A unit of work for jobs and scripts: commit on success, roll back on error."""
        session = self.session(scope)
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
        finally:
            await session.close()

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("select 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


async def driver_connection(session: AsyncSession) -> Any:
    """The asyncpg connection under the session's transaction, begun and in its tenant scope.

    For hot paths whose statements are plain SQL: a statement straight on the driver skips SQLAlchemy's
    execution machinery and this session's serialization (about 230 µs of CPU per statement on the
    benchmark machine, two thirds of a simple statement's cost). Only for code that owns the session
    and runs one statement at a time on it, never in resolvers that run concurrently."""
    connection = await session.connection()
    return (await connection.get_raw_connection()).driver_connection


# Called with the session before its scope changes (the outbox writes the rows emitted in the scope
# being left, so each row is written in the scope it was emitted in).
BEFORE_RESCOPE: list[Any] = []


async def rescope(session: AsyncSession, scope: TenantScope) -> None:
    """Change the tenant scope inside the current transaction (e.g. after creating an organization)."""
    for hook in BEFORE_RESCOPE:
        await hook(session)
    state_of(session).scope = scope
    key = (await session.connection()).info[SCOPE_KEY]
    await session.execute(SET_TENANT_SQL, scope.as_params(APP_ROLE, key))


@asynccontextmanager
async def acting_in(session: AsyncSession, organization_id: uuid.UUID) -> AsyncIterator[None]:
    """Write into one organization on the viewer's behalf after the service has validated the action
    (a customer's checkout, free claim or playback of that organization's content). The tenant scope
    is switched for the block only and restored afterwards."""
    previous = scope_of(session)
    await rescope(session, TenantScope(user_id=previous.user_id, organization_id=organization_id))
    try:
        yield
    finally:
        await rescope(session, previous)
