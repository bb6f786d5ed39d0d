"""Per-request context: services, the viewer, one lazily opened tenant session, loaders."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from codex_graphql import audit
from codex_graphql.authz import Viewer
from codex_graphql.db import SerializedSession
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
    _db: SerializedSession | None = None
    _loaders: dict[str, Any] = field(default_factory=dict)
    _forget_users: set[uuid.UUID] = field(default_factory=set)
    _forget_tokens: set[str] = field(default_factory=set)

    @property
    def db(self) -> SerializedSession:
        """The request's transaction, opened on first use with the viewer's tenant scope."""
        if self._db is None:
            self._db = self.services.db.session(self.viewer.scope)
            # Who acts and from where, for audit entries services record (no HTTP objects in services).
            audit.attach(self._db, audit.AuditContext(self.viewer.user_id, self.request_id, self.client_ip, self.user_agent))
        return self._db

    def loader(self, key: str, factory: Any) -> Any:
        """One dataloader per kind per request: ``ctx.loader("users", lambda: UserLoader(ctx))``."""
        loader = self._loaders.get(key)
        if loader is None:
            loader = self._loaders[key] = factory()
        return loader

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
                dirty = session.info.get("outbox_dirty", False)
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

    async def next_event(self) -> None:
        """Between subscription events: end the transaction the last event used and forget cached loads."""
        await self.finish(success=True)
        self._loaders.clear()

    async def become(self, viewer: Viewer) -> None:
        """The rest of this request resolves as ``viewer`` (after a mutation changed who the viewer is or
        what they may do; see accounts/current.py): its permissions, its tenant scope, fresh loaders."""
        from codex_graphql.db import rescope

        self.viewer = viewer
        self._loaders.clear()
        if self._db is not None:
            audit.attach(self._db, audit.AuditContext(viewer.user_id, self.request_id, self.client_ip, self.user_agent))
            await rescope(self._db, viewer.scope)

    def require_user_id(self) -> uuid.UUID:
        assert self.viewer.user_id is not None  # guarded by IsAuthenticated
        return self.viewer.user_id
