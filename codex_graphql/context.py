"""Per-request context: services, the viewer, one lazily opened tenant session, loaders.

On the request path, between the endpoint and the resolvers: the resolvers, services and loaders of one
request share its session (one transaction, in the viewer's tenant scope); ``finish`` commits it and
wakes the outbox relay (the event path); ``outside_transaction`` commits early around a network call."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from codex_graphql import audit
from codex_graphql.authz import Viewer
from codex_graphql.db import SerializedSession, outbox_dirty
from codex_graphql.loaders import Loaders
from codex_graphql.relay import decode_id

if TYPE_CHECKING:
    from codex_graphql.services import Services


# --- the organization a request (header) or a WebSocket connection (connection_init) names -------------

ORGANIZATION_HEADER = "x-codex-organization"
ORGANIZATION_REFUSED = ("You are not a member of the organization named by X-Codex-Organization (or the "
                        "connection_init `organization`); send it only for organizations you are staff of.")


def organization_choice(raw: Any) -> str | None:
    """The organization a caller names, as an id or slug to match memberships with: a global
    ``Organization`` id (or a raw UUID) or a slug, case-insensitive. None when nothing is named."""
    if not isinstance(raw, str) or not raw.strip():
        return None
    raw = raw.strip()
    decoded = decode_id(raw, "Organization")
    return str(decoded) if decoded else raw.lower()


def organization_refused(viewer: Viewer, choice: str | None) -> bool:
    """Naming an organization is a request to act in it: refused (FORBIDDEN) unless the caller is a member.
    Anonymous callers and customers are members of none; nothing falls back to another organization."""
    return choice is not None and not viewer.extra.get("organization_chosen", False)


@dataclass(slots=True)
class CookieChange:
    value: str | None  # None clears the cookie
    max_age: int = 0


@dataclass
class Context:
    services: Services
    viewer: Viewer
    request_id: str
    client_ip: str = ""
    user_agent: str = ""
    token: str | None = None
    cookie: CookieChange | None = None
    cost: Any = None  # ratelimit.CostReport once the operation was costed and charged
    # A CostReport taken before execution for the whole document (the compiled path answered some roots):
    # ratelimit.RequestLimits uses it instead of charging again, once.
    charged: Any = None
    _db: SerializedSession | None = None
    _loaders: Loaders | None = None
    _forget_users: set[uuid.UUID] = field(default_factory=set)
    _forget_tokens: set[str] = field(default_factory=set)
    _savepoint: Any = None  # the running mutation field's savepoint (payloads.run_mutation)
    _outside: bool = False  # inside ``outside_transaction``: no session may be opened

    @property
    def db(self) -> SerializedSession:
        """The request's transaction, opened on first use with the viewer's tenant scope."""
        if self._outside:
            raise RuntimeError("ctx.db used inside outside_transaction(): no transaction may be open around a network call")
        if self._db is None:
            self._db = self.services.db.session(self.viewer.scope)
            # Who acts and from where, for audit entries services record (no HTTP objects in services).
            audit.attach(self._db, audit.AuditContext(self.viewer.user_id, self.request_id, self.client_ip, self.user_agent))
        return self._db

    @property
    def loaders(self) -> Loaders:
        """The request's dataloaders, one per kind (``ctx.loaders.users``), each built on first use."""
        if self._loaders is None:
            self._loaders = Loaders(self)
        return self._loaders

    @property
    def settings(self) -> Any:
        return self.services.settings

    async def forget_viewers(self, *, user_id: uuid.UUID | None = None, token_hashes: tuple[str, ...] = ()) -> None:
        """Drop cached viewers now and again after the commit: a request running in between could
        otherwise re-cache the state from before this transaction for the cache's lifetime."""
        self._forget_users.update({user_id} if user_id else set())
        self._forget_tokens.update(token_hashes)
        await self._forget(user_id, token_hashes)

    async def _forget(self, user_id: uuid.UUID | None, token_hashes: tuple[str, ...]) -> None:
        for hashed in token_hashes:
            await self.services.sessions.forget_token(hashed)
        if user_id:
            await self.services.sessions.forget_user(user_id)

    async def finish(self, success: bool) -> None:
        """Commit (or roll back) the request transaction, then wake the outbox relay."""
        if self._db is None:
            return
        session, self._db = self._db, None
        try:
            if success:
                dirty = outbox_dirty(session)
                await session.commit()
                if dirty:
                    self.services.relay.notify()
                for user_id in self._forget_users:
                    await self._forget(user_id, ())
                await self._forget(None, tuple(self._forget_tokens))
            else:
                await session.rollback()
        finally:
            self._forget_users.clear()
            self._forget_tokens.clear()
            await session.close()

    async def begin_mutation(self) -> Any:
        """Open the running mutation field's savepoint (``payloads.run_mutation``)."""
        self._savepoint = await self.db.begin_nested()
        return self._savepoint

    def end_mutation(self) -> Any:
        """The savepoint to release or roll back: the one opened last (``outside_transaction`` replaces it)."""
        savepoint, self._savepoint = self._savepoint, None
        return savepoint

    @asynccontextmanager
    async def outside_transaction(self) -> AsyncIterator[None]:
        """Commit what the request did so far (outbox rows included, the relay woken), run the block with no
        transaction open (for a network call: payment provider, storage, mail), then let the next ``db``
        use open a fresh transaction in the viewer's (possibly updated) scope.

        Inside a mutation field (``run_mutation``) the field's savepoint is released first and a new one
        is opened after the block, so a DomainError raised later rolls back only what came after the call;
        what was committed before it (a reservation) stays, for the retry or the reconciliation to finish.
        Use it only at the top level of a mutation field's action (mutation fields run one at a time)."""
        if self._outside:
            raise RuntimeError("outside_transaction() does not nest")
        in_mutation = self._savepoint is not None
        if self._db is not None:
            if in_mutation:
                await self._savepoint.commit()
            self._savepoint = None
            await self.finish(success=True)
        self._outside = True
        try:
            yield
        finally:
            self._outside = False
            self._loaders = None  # what they cached was read before the call: load again in the new transaction
            if in_mutation:
                await self.begin_mutation()

    async def next_event(self) -> None:
        """Between subscription events: end the transaction the last event used and forget cached loads."""
        await self.finish(success=True)
        self._loaders = None

    async def become(self, viewer: Viewer) -> None:
        """The rest of this request resolves as ``viewer`` (after a mutation changed who the viewer is or
        what they may do; see accounts/current.py): its permissions, its tenant scope, fresh loaders."""
        from codex_graphql.db import rescope

        self.viewer = viewer
        self._loaders = None
        if self._db is not None:
            audit.attach(self._db, audit.AuditContext(viewer.user_id, self.request_id, self.client_ip, self.user_agent))
            await rescope(self._db, viewer.scope)

    def require_user_id(self) -> uuid.UUID:
        assert self.viewer.user_id is not None  # guarded by IsAuthenticated
        return self.viewer.user_id
