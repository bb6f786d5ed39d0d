"""Actors: ids in, safe to run twice (each claims its job id once), retried on errors."""

from __future__ import annotations

import logging
import uuid

import dramatiq
from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.accounts import repository as accounts
from codex_graphql.accounts import service as account_service
from codex_graphql.accounts.security import new_token
from codex_graphql.audit import AuditLogEntry
from codex_graphql.db import TenantScope
from codex_graphql.mail import Mail, templates
from codex_graphql.organizations import invitations
from workers.mail_jobs import send_then_record
from workers.runtime import runtime

log = logging.getLogger(__name__)

RETRY = {"max_retries": 8, "min_backoff": 1_000, "max_backoff": 300_000, "time_limit": 60_000}


@dramatiq.actor(actor_name=account_service.ACCOUNT_EMAIL_ACTOR, **RETRY)
async def send_account_email(job_id: str, kind: str, user_id: str | None = None, email: str | None = None) -> None:
    """Verification or reset email. The token is minted here, so its raw value only ever exists in the mail;
    its hash is stored with the job's claim once the mail is sent (``send_then_record``)."""
    rt = runtime()
    settings = rt.settings
    token = new_token()

    async def build(session: AsyncSession) -> Mail | None:
        if user_id:
            user = await accounts.user_by_id(session, uuid.UUID(user_id))
        else:
            user = await accounts.user_by_email(session, email or "")
        if user is None:
            return None  # unknown address: nothing to send, and the caller was told the same as for a known one
        if kind == account_service.VERIFY_EMAIL:
            if user.email_verified_at is not None:
                return None
            ttl = settings.email_token_ttl_seconds
            await account_service.issue_email_token(session, user, kind, ttl, token)
            return templates.verify_email(user.email, user.name, f"{settings.link_base}/account/verify-email?token={token}", ttl // 3600)
        if kind == account_service.RESET_PASSWORD:
            ttl = settings.password_reset_ttl_seconds
            await account_service.issue_email_token(session, user, kind, ttl, token)
            return templates.reset_password(user.email, user.name, f"{settings.link_base}/account/reset-password?token={token}", ttl // 60)
        if kind == account_service.SIGN_UP_ATTEMPT:  # someone tried to register this address: tell its owner
            ttl = settings.password_reset_ttl_seconds
            await account_service.issue_email_token(session, user, account_service.RESET_PASSWORD, ttl, token)
            return templates.sign_up_attempt(user.email, user.name, f"{settings.link_base}/account/reset-password?token={token}", ttl // 60)
        log.error("unknown account email kind", extra={"kind": kind, "job_id": job_id})
        return None

    await send_then_record(rt, TenantScope(), account_service.ACCOUNT_EMAIL_ACTOR, job_id, build)


@dramatiq.actor(actor_name=account_service.SECURITY_EMAIL_ACTOR, **RETRY)
async def send_security_email(job_id: str, kind: str, user_id: str, entry_id: str | None = None, minutes: int = 15) -> None:
    """Security notices to an account's owner: many failed sign-ins (with an unlock link), or a sign-in from a new
    device (details read from its audit entry). Each carries a fresh password reset link."""
    rt = runtime()
    settings = rt.settings
    unlock, token = new_token(), new_token()

    async def build(session: AsyncSession) -> Mail | None:
        user = await accounts.user_by_id(session, uuid.UUID(user_id))
        if user is None:
            return None
        ttl = settings.password_reset_ttl_seconds
        reset_link = f"{settings.link_base}/account/reset-password?token={token}"
        # many failed sign-ins: a single-use link lifting the delays ("lockout_notice": jobs queued before it existed)
        if kind in (account_service.UNLOCK_NOTICE, "lockout_notice"):
            await account_service.issue_email_token(session, user, account_service.UNLOCK_SIGN_IN, ttl, unlock)
            await account_service.issue_email_token(session, user, account_service.RESET_PASSWORD, ttl, token)
            return templates.sign_in_unlock(user.email, user.name, f"{settings.link_base}/account/unlock?token={unlock}",
                                            reset_link, ttl // 60)
        if kind == account_service.NEW_SIGN_IN:
            entry = await session.get(AuditLogEntry, uuid.UUID(entry_id)) if entry_id else None
            if entry is None:
                return None
            await account_service.issue_email_token(session, user, account_service.RESET_PASSWORD, ttl, token)
            when = entry.created_at.strftime("%Y-%m-%d %H:%M UTC")
            return templates.new_sign_in(user.email, user.name, when, entry.ip or "", entry.user_agent or "", reset_link,
                                         ttl // 60)
        log.error("unknown security email kind", extra={"kind": kind, "job_id": job_id})
        return None

    # The user's own scope: the sign-in's audit entry is a platform row readable only by its actor.
    await send_then_record(rt, TenantScope(user_id=uuid.UUID(user_id)), account_service.SECURITY_EMAIL_ACTOR, job_id, build)


@dramatiq.actor(actor_name=invitations.INVITATION_EMAIL_ACTOR, **RETRY)
async def send_invitation_email(job_id: str, invitation_id: str, organization: str) -> None:
    """Invitation to join an organization. The token is minted here (only its hash is stored), so its raw
    value only ever exists in the mail; a revoked, replaced or accepted invitation sends nothing."""
    rt = runtime()
    token = new_token()

    async def build(session: AsyncSession) -> Mail | None:
        return await invitations.invitation_mail(session, rt.settings, uuid.UUID(organization), uuid.UUID(invitation_id),
                                                 token)

    await send_then_record(rt, TenantScope(organization_id=uuid.UUID(organization)), invitations.INVITATION_EMAIL_ACTOR,
                           job_id, build)
