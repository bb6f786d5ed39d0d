"""Session tokens to viewers.

PostgreSQL is the truth. Two caches sit in front of it:

* each process keeps the resolved viewer in memory for ``SESSION_LOCAL_CACHE_SECONDS`` (default 5 s),
  so a busy client costs no network round trip to authenticate;
* Redis keeps the resolved entry (role, verification, memberships) for a few minutes per token. A
  Redis hit is confirmed by one indexed lookup of the session row, so a session that expired or was
  revoked (also by hand in the database) is anonymous once the in-memory copy lapses, and a role or
  verification change made elsewhere reloads the entry.

Every change made through the API (logout, logout everywhere, password reset, role and membership
changes) drops the Redis entries and broadcasts the invalidation on pub/sub, so every instance forgets its
in-memory copy at once; changes made directly in the database take effect within the in-memory lifetime.

Open WebSockets follow the same invalidations (``watch``): each registers its session (token hash) and
user with this per-process registry, and is called back for every invalidation of either, local or from
another instance, to re-resolve its viewer from PostgreSQL (``reload``; graphql_ws.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime

import orjson

from codex_graphql.accounts import repository
from codex_graphql.accounts.security import token_hash
from codex_graphql.authz import ANONYMOUS, Membership, OrgRole, PlatformRole, Viewer
from codex_graphql.db import Database, TenantScope, rescope, utcnow
from codex_graphql.kv import KeyValue, PubSub
from codex_graphql.organizations import repository as orgs

log = logging.getLogger(__name__)

INVALIDATIONS = "session-invalidations"
LOCAL_CACHE_SIZE = 10_000
VIEWERS_PER_SESSION = 8  # viewers kept per cached session, one per organization hint (a header's value)


def _cache_key(hashed: str) -> str:
    return f"session:{hashed}"


def _user_key(user_id: uuid.UUID | str) -> str:
    return f"user-sessions:{user_id}"


class SessionResolver:
    def __init__(self, db: Database, kv: KeyValue, cache_ttl: int, *, pubsub: PubSub | None = None,
                 local_seconds: float = 0.0) -> None:
        self.db = db
        self.kv = kv
        self.cache_ttl = cache_ttl
        self.pubsub = pubsub
        self.local_seconds = local_seconds
        # token hash -> (monotonic deadline, user id, session expiry, the entry, the viewers built from it by
        # organization hint): a Viewer is immutable, so requests within the lifetime share one.
        self._local: OrderedDict[str, tuple[float, str, datetime, dict, dict[str | None, Viewer]]] = OrderedDict()
        self._listener: asyncio.Task[None] | None = None
        # "t:<token hash>" / "u:<user id>" -> callbacks of the open WebSockets of that session / user
        self._watchers: dict[str, set[Callable[[], None]]] = {}

    async def resolve(self, token: str | None, organization_hint: str | None = None) -> Viewer:
        if not token or len(token) > 200:
            return ANONYMOUS
        hashed = token_hash(token)
        local = self._local.get(hashed)
        if local is not None and local[0] > time.monotonic():
            _, _, expires, entry, viewers = local
            if expires <= utcnow():
                return ANONYMOUS
            viewer = viewers.get(organization_hint)
            if viewer is None:
                if len(viewers) >= VIEWERS_PER_SESSION:
                    viewers.clear()
                viewer = viewers[organization_hint] = _viewer_from(entry, organization_hint)
            return viewer
        entry = await self._resolve_shared(hashed)
        if entry is None:
            return ANONYMOUS
        expires = datetime.fromisoformat(entry["exp"])
        self._remember(hashed, entry, expires)
        if expires <= utcnow():
            return ANONYMOUS
        viewer = _viewer_from(entry, organization_hint)
        kept = self._local.get(hashed)
        if kept is not None and kept[3] is entry:
            kept[4][organization_hint] = viewer
        return viewer

    async def reload(self, token: str | None, organization_hint: str | None = None) -> Viewer:
        """The viewer as PostgreSQL has it now, past both caches (and without refilling them: a reload
        racing a commit must not leave the old state cached). For WebSockets after an invalidation."""
        if not token or len(token) > 200:
            return ANONYMOUS
        entry = await self._load(token_hash(token))
        if entry is None or datetime.fromisoformat(entry["exp"]) <= utcnow():
            return ANONYMOUS
        return _viewer_from(entry, organization_hint)

    def watch(self, hashed: str, user_id: uuid.UUID | str, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` (synchronously: it must only schedule work) on every invalidation of this
        session or user, made here or on another instance. Returns the function that stops watching."""
        keys = (f"t:{hashed}", f"u:{user_id}")
        for key in keys:
            self._watchers.setdefault(key, set()).add(callback)

        def unwatch() -> None:
            for key in keys:
                callbacks = self._watchers.get(key)
                if callbacks is not None:
                    callbacks.discard(callback)
                    if not callbacks:
                        del self._watchers[key]

        return unwatch

    def _notify(self, *, hashed: str | None = None, user_id: str | None = None, everyone: bool = False) -> None:
        if everyone:
            callbacks = {c for group in self._watchers.values() for c in group}
        else:
            callbacks = set(self._watchers.get(f"t:{hashed}", ())) | set(self._watchers.get(f"u:{user_id}", ()))
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("session watcher failed")

    async def _resolve_shared(self, hashed: str) -> dict | None:
        entry = await self._cached(hashed)
        if entry is not None:
            status = await self._live_status(hashed)
            if status is None:
                await self.forget_token(hashed)
                return None
            if status != (entry["role"], entry["verified"]):
                entry = None  # the account changed behind the cache's back: reload it
        if entry is None:
            entry = await self._load(hashed)
            if entry is None:
                return None
            await self._store(hashed, entry)
        return entry

    def _remember(self, hashed: str, entry: dict, expires: datetime) -> None:
        if self.local_seconds <= 0:
            return
        self._local[hashed] = (time.monotonic() + self.local_seconds, entry["uid"], expires, entry, {})
        self._local.move_to_end(hashed)
        if len(self._local) > LOCAL_CACHE_SIZE:
            self._local.popitem(last=False)

    def _drop_local(self, *, hashed: str | None = None, user_id: str | None = None) -> None:
        if hashed is not None:
            self._local.pop(hashed, None)
        if user_id is not None:
            for key in [k for k, (_, uid, *_) in self._local.items() if uid == user_id]:
                self._local.pop(key, None)

    async def _broadcast(self, message: dict) -> None:
        if self.pubsub is None:
            return
        try:
            await self.pubsub.publish(INVALIDATIONS, orjson.dumps(message))
        except Exception:  # other instances fall back on the in-memory lifetime
            log.warning("could not broadcast a session invalidation", exc_info=True)

    def start(self) -> None:
        """Listen for other instances' invalidations (their logouts and role or membership changes): for
        the in-memory cache and for this process's open WebSockets (``watch``)."""
        if self.pubsub is not None and self._listener is None:
            self._listener = asyncio.create_task(self._listen(), name="session-invalidations")

    async def stop(self) -> None:
        if self._listener is not None:
            task, self._listener = self._listener, None
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _listen(self) -> None:
        assert self.pubsub is not None
        while True:
            try:
                async for raw in self.pubsub.subscribe(INVALIDATIONS):
                    message = orjson.loads(raw)
                    self._drop_local(hashed=message.get("token"), user_id=message.get("user"))
                    self._notify(hashed=message.get("token"), user_id=message.get("user"))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("session invalidation listener stopped; resubscribing", exc_info=True)
                self._local.clear()  # messages may have been missed meanwhile
                self._notify(everyone=True)  # so every open WebSocket re-checks its viewer
                await asyncio.sleep(1)

    async def _cached(self, hashed: str) -> dict | None:
        try:
            raw = await self.kv.get(_cache_key(hashed))
        except Exception:  # the cache is an optimization; PostgreSQL answers when Redis cannot
            return None
        return orjson.loads(raw) if raw else None

    async def _store(self, hashed: str, entry: dict) -> None:
        remaining = int((datetime.fromisoformat(entry["exp"]) - utcnow()).total_seconds())
        ttl = max(1, min(self.cache_ttl, remaining))
        try:
            await self.kv.set(_cache_key(hashed), orjson.dumps(entry), ttl)
            await self.kv.add_member(_user_key(entry["uid"]), hashed, self.cache_ttl)
        except Exception:
            return

    async def _live_status(self, hashed: str) -> tuple[PlatformRole, bool] | None:
        async with self.db.transaction() as session:
            return await repository.live_session_status(session, hashed)

    async def _load(self, hashed: str) -> dict | None:
        async with self.db.transaction() as session:
            found = await repository.live_session(session, hashed)
            if found is None:
                return None
            user_session, user = found
            await rescope(session, TenantScope(user_id=user.id))
            memberships = await orgs.memberships_of_user(session, user.id)
        return {
            "uid": str(user.id),
            "sid": str(user_session.id),
            "role": user.platform_role.value,
            "verified": user.email_verified_at is not None,
            "active": str(user_session.active_organization_id) if user_session.active_organization_id else None,
            "members": [[str(m.organization_id), o.slug, m.role.value] for m, o in memberships],
            "exp": user_session.expires_at.isoformat(),
        }

    async def forget_user(self, user_id: uuid.UUID) -> None:
        """Drop every cached viewer of this user (after logout-all, role or membership changes). The Redis
        entries go first, so that an instance acting on the broadcast cannot read them back."""
        self._drop_local(user_id=str(user_id))
        try:
            hashes = await self.kv.members(_user_key(user_id))
            await self.kv.delete(*[_cache_key(h) for h in hashes], _user_key(user_id))
        except Exception:
            log.warning("could not drop a user's cached sessions", exc_info=True)
        self._notify(user_id=str(user_id))
        await self._broadcast({"user": str(user_id)})

    async def forget_token(self, hashed: str) -> None:
        self._drop_local(hashed=hashed)
        try:
            await self.kv.delete(_cache_key(hashed))
        except Exception:
            log.warning("could not drop a cached session", exc_info=True)
        self._notify(hashed=hashed)
        await self._broadcast({"token": hashed})


def _viewer_from(entry: dict, organization_hint: str | None) -> Viewer:
    members = entry["members"]
    memberships = tuple(Membership(uuid.UUID(org), OrgRole(role)) for org, _, role in members)
    member_orgs = {org for org, _, _ in members}
    active: str | None = None
    if organization_hint:
        # Only a membership matches; a caller naming another organization is refused by the transport
        # (context.organization_refused), never silently given the session's organization instead.
        active = next((org for org, slug, _ in members if organization_hint in (org, slug)), None)
    chosen = active is not None
    if active is None and entry["active"] in member_orgs:
        active = entry["active"]
    if active is None and members:
        active = members[0][0]
    return Viewer(
        user_id=uuid.UUID(entry["uid"]),
        session_id=uuid.UUID(entry["sid"]),
        platform_role=PlatformRole(entry["role"]),
        email_verified=entry["verified"],
        memberships=memberships,
        active_organization_id=uuid.UUID(active) if active else None,
        extra={"organization_hint": organization_hint, "organization_chosen": chosen},
    )
