"""Actors: ids in, safe to run twice (each claims its job id once), retried on errors."""

from __future__ import annotations

import logging
import uuid

import dramatiq

from codex_graphql import events
from codex_graphql.accounts import repository as accounts
from codex_graphql.accounts import service as account_service
from codex_graphql.mail import templates
from workers.runtime import runtime

log = logging.getLogger(__name__)

RETRY = {"max_retries": 8, "min_backoff": 1_000, "max_backoff": 300_000, "time_limit": 60_000}


@dramatiq.actor(actor_name=account_service.ACCOUNT_EMAIL_ACTOR, **RETRY)
async def send_account_email(job_id: str, kind: str, user_id: str | None = None, email: str | None = None) -> None:
    """Verification or reset email. The token is minted here, so its raw value only ever exists in the mail."""
    rt = runtime()
    settings = rt.settings
    async with rt.db.transaction() as session:
        if not await events.claim_once(session, account_service.ACCOUNT_EMAIL_ACTOR, job_id):
            return
        if user_id:
            user = await accounts.user_by_id(session, uuid.UUID(user_id))
        else:
            user = await accounts.user_by_email(session, email or "")
        if user is None:
            return  # unknown address: nothing to send, and the caller was told the same as for a known one
        if kind == account_service.VERIFY_EMAIL:
            if user.email_verified_at is not None:
                return
            ttl = settings.email_token_ttl_seconds
            token = await account_service.issue_email_token(session, user, kind, ttl)
            mail = templates.verify_email(user.email, user.name, f"{settings.link_base}/account/verify-email?token={token}", ttl // 3600)
        elif kind == account_service.RESET_PASSWORD:
            ttl = settings.password_reset_ttl_seconds
            token = await account_service.issue_email_token(session, user, kind, ttl)
            mail = templates.reset_password(user.email, user.name, f"{settings.link_base}/account/reset-password?token={token}", ttl // 60)
        else:
            log.error("unknown account email kind", extra={"kind": kind, "job_id": job_id})
            return
        # Sent inside the transaction: if sending fails, the claim rolls back and the retry sends again.
        await rt.mailer.send(mail)
