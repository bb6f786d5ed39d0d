"""Session tokens to viewers.

PostgreSQL is the truth; Redis caches the resolved viewer (role, verification, memberships) for a
few minutes per token, and every change to a user's sessions or memberships drops that user's
cached entries. A cache hit is still confirmed by one indexed lookup of the session row, so a
session that expired or was revoked (also by hand, or while Redis could not be reached to drop the
entry) is anonymous on its next request, and a role or verification change made elsewhere
reloads the entry.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import orjson

from codex_graphql.accounts import repository
from codex_graphql.accounts.security import token_hash
from codex_graphql.authz import ANONYMOUS, Membership, OrgRole, PlatformRole, Viewer
from codex_graphql.db import Database, TenantScope, rescope, utcnow
from codex_graphql.kv import KeyValue
from codex_graphql.organizations import repository as orgs


def _cache_key(hashed: str) -> str:
    return f"session:{hashed}"


def _user_key(user_id: uuid.UUID | str) -> str:
    return f"user-sessions:{user_id}"


class SessionResolver:
    def __init__(self, db: Database, kv: KeyValue, cache_ttl: int) -> None:
        self.db = db
        self.kv = kv
        self.cache_ttl = cache_ttl

    async def resolve(self, token: str | None, organization_hint: str | None = None) -> Viewer:
        if not token or len(token) > 200:
            return ANONYMOUS
        hashed = token_hash(token)
        entry = await self._cached(hashed)
        if entry is not None:
            status = await self._live_status(hashed)
            if status is None:
                await self.forget_token(hashed)
                return ANONYMOUS
            if status != (entry["role"], entry["verified"]):
                entry = None  # the account changed behind the cache's back: reload it
        if entry is None:
            entry = await self._load(hashed)
            if entry is None:
                return ANONYMOUS
            await self._store(hashed, entry)
        if datetime.fromisoformat(entry["exp"]) <= utcnow():
            return ANONYMOUS
        return _viewer_from(entry, organization_hint)

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
        """Drop every cached viewer of this user (after logout-all, role or membership changes)."""
        try:
            hashes = await self.kv.members(_user_key(user_id))
            await self.kv.delete(*[_cache_key(h) for h in hashes], _user_key(user_id))
        except Exception:
            return

    async def forget_token(self, hashed: str) -> None:
        try:
            await self.kv.delete(_cache_key(hashed))
        except Exception:
            return


def _viewer_from(entry: dict, organization_hint: str | None) -> Viewer:
    members = entry["members"]
    memberships = tuple(Membership(uuid.UUID(org), OrgRole(role)) for org, _, role in members)
    member_orgs = {org for org, _, _ in members}
    active: str | None = None
    if organization_hint:
        active = next((org for org, slug, _ in members if organization_hint in (org, slug)), None)
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
        extra={"organization_hint": organization_hint},
    )
