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
import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import DateTime, MetaData, event, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.util import await_only

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


def _open_scope_session(dbapi_connection: Any, connection_record: Any) -> None:
    """Pool "connect" hook: register this connection's key before the pool hands the connection out."""
    connection_record.info[SCOPE_KEY] = await_only(register_scope_key(dbapi_connection.driver_connection))


class TenantSession(Session):
    """Sync half of the async session; ``after_begin`` applies the tenant scope."""


@event.listens_for(TenantSession, "after_begin")
def _apply_tenant_scope(session: Session, transaction: Any, connection: Any) -> None:
    scope = scope_of(session)
    connection.execute(SET_TENANT_SQL, scope.as_params(APP_ROLE, connection.info[SCOPE_KEY]))


class SerializedSession(AsyncSession):
    """An AsyncSession whose statements are serialized.

    strawberry resolves sibling fields and dataloader batches concurrently; a single asyncpg
    connection must never be used by two coroutines at once. One lock per request session
    serializes statements (``scalars`` goes through ``execute``, so it is not wrapped again) while keeping one transaction (and one pool checkout) per request.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lock = asyncio.Lock()

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


class Database:
    """Owns the engine and hands out tenant-scoped sessions."""

    def __init__(self, url: str, *, pool_size: int = 10, max_overflow: int = 10) -> None:
        self.url = url
        self.engine: AsyncEngine = create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=max_overflow,
            # No pre-ping (a round trip per checkout): a connection found dead raises a disconnect error,
            # the request answers 503 and SQLAlchemy invalidates the pool, so the next checkouts reconnect.
            pool_recycle=1800,
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
