"""SQL for accounts. Platform tables: no organization scope."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.accounts.models import EmailToken, User, UserSession
from codex_graphql.authz import PlatformRole
from codex_graphql.db import utcnow


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == email))


async def user_by_id(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def users_by_ids(session: AsyncSession, ids: list[uuid.UUID]) -> list[User]:
    return list((await session.scalars(select(User).where(User.id.in_(ids)))).all())


async def session_ips_for_agent(session: AsyncSession, user_id: uuid.UUID, user_agent: str, limit: int = 1000) -> list[str]:
    """Distinct IP addresses of this user's sessions (live or not) that used this user agent."""
    statement = (
        select(UserSession.ip_address)
        .where(UserSession.user_id == user_id, UserSession.user_agent == user_agent)
        .distinct()
        .limit(limit)
    )
    return list((await session.scalars(statement)).all())


async def has_sessions(session: AsyncSession, user_id: uuid.UUID) -> bool:
    return await session.scalar(select(UserSession.id).where(UserSession.user_id == user_id).limit(1)) is not None


def _live(token_hash: str) -> tuple[ColumnElement[bool], ...]:
    """The session with this token, neither revoked nor expired."""
    return UserSession.token_hash == token_hash, UserSession.revoked_at.is_(None), UserSession.expires_at > utcnow()


async def live_session(session: AsyncSession, token_hash: str) -> tuple[UserSession, User] | None:
    statement = select(UserSession, User).join(User, User.id == UserSession.user_id).where(*_live(token_hash))
    row = (await session.execute(statement)).first()
    return (row[0], row[1]) if row else None


async def live_session_status(session: AsyncSession, token_hash: str) -> tuple[PlatformRole, bool] | None:
    """One indexed lookup: is this session live, and what are its user's role and verification?"""
    statement = (select(User.platform_role, User.email_verified_at.is_not(None))
                 .join(UserSession, UserSession.user_id == User.id).where(*_live(token_hash)))
    row = (await session.execute(statement)).first()
    return (row[0], bool(row[1])) if row else None


async def revoke_session(session: AsyncSession, token_hash: str) -> uuid.UUID | None:
    result = await session.execute(
        update(UserSession)
        .where(UserSession.token_hash == token_hash, UserSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .returning(UserSession.user_id)
    )
    return result.scalar_one_or_none()


async def revoke_user_sessions(session: AsyncSession, user_id: uuid.UUID) -> list[str]:
    result = await session.execute(
        update(UserSession)
        .where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .returning(UserSession.token_hash)
    )
    return list(result.scalars())


async def set_session_organization(session: AsyncSession, session_id: uuid.UUID, organization_id: uuid.UUID) -> None:
    await session.execute(
        update(UserSession).where(UserSession.id == session_id).values(active_organization_id=organization_id)
    )


async def consume_email_token(session: AsyncSession, token_hash: str, purpose: str) -> EmailToken | None:
    """Lock and return the token row (used or not) so the caller can tell reused from unknown."""
    return await session.scalar(
        select(EmailToken)
        .where(EmailToken.token_hash == token_hash, EmailToken.purpose == purpose)
        .with_for_update()
    )


async def mark_tokens_used(session: AsyncSession, user_id: uuid.UUID, purpose: str, at: datetime) -> None:
    await session.execute(
        update(EmailToken)
        .where(EmailToken.user_id == user_id, EmailToken.purpose == purpose, EmailToken.used_at.is_(None))
        .values(used_at=at)
    )
