"""Account rules: registration, sign-in, sessions, verification and password reset.

Services never commit: the request (or the job) owns the transaction.
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from email_validator import EmailNotValidError, validate_email
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql import audit, events
from codex_graphql.accounts import repository
from codex_graphql.accounts.models import EmailToken, User, UserSession
from codex_graphql.accounts.security import (
    hash_password,
    needs_rehash,
    new_token,
    password_problem,
    token_hash,
    verify_password,
)
from codex_graphql.authz import PlatformRole
from codex_graphql.db import utcnow
from codex_graphql.errors import DomainError, ErrorCode
from codex_graphql.kv import KeyValue
from codex_graphql.settings import Settings

VERIFY_EMAIL = "verify_email"
RESET_PASSWORD = "reset_password"
ACCOUNT_EMAIL_ACTOR = "send_account_email"
SECURITY_EMAIL_ACTOR = "send_security_email"
LOCKOUT_NOTICE = "lockout_notice"
NEW_SIGN_IN = "new_sign_in"
MAX_NAME_LENGTH = 200
MAX_EMAIL_LENGTH = 320


@dataclass(frozen=True, slots=True)
class Client:
    ip: str
    user_agent: str


@dataclass(frozen=True, slots=True)
class SignedIn:
    user: User
    token: str
    session: UserSession


def normalize_email(raw: str, field: str = "email") -> str:
    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise DomainError(ErrorCode.INVALID_INPUT, f"Not a valid email address: {exc}", field) from exc


def _check_password(password: str, email: str, field: str) -> None:
    problem = password_problem(password, email)
    if problem:
        raise DomainError(ErrorCode.WEAK_PASSWORD, problem, field)


async def start_session(session: AsyncSession, settings: Settings, user: User, client: Client) -> SignedIn:
    token = new_token()
    user_session = UserSession(
        user_id=user.id,
        token_hash=token_hash(token),
        expires_at=utcnow() + timedelta(seconds=settings.session_ttl_seconds),
        user_agent=client.user_agent[:400],
        ip_address=client.ip[:64],
    )
    session.add(user_session)
    await session.flush()
    return SignedIn(user=user, token=token, session=user_session)


async def create_user(
    session: AsyncSession, email: str, password: str, name: str, role: PlatformRole = PlatformRole.CUSTOMER
) -> User:
    email = normalize_email(email)
    name = name.strip()
    if len(name) > MAX_NAME_LENGTH:
        raise DomainError(ErrorCode.INVALID_INPUT, f"Names are at most {MAX_NAME_LENGTH} characters.", "name")
    _check_password(password, email, "password")
    if await repository.user_by_email(session, email):
        raise DomainError(ErrorCode.ALREADY_EXISTS, "An account with this email already exists.", "email")
    user = User(email=email, name=name, password_hash=await hash_password(password), platform_role=role)
    try:
        async with session.begin_nested():
            session.add(user)
            await session.flush()
    except IntegrityError as exc:  # a concurrent registration won the race
        raise DomainError(ErrorCode.ALREADY_EXISTS, "An account with this email already exists.", "email") from exc
    return user


async def register(session: AsyncSession, settings: Settings, email: str, password: str, name: str, client: Client) -> SignedIn:
    user = await create_user(session, email, password, name)
    events.enqueue(session, ACCOUNT_EMAIL_ACTOR, kind=VERIFY_EMAIL, user_id=str(user.id))
    return await start_session(session, settings, user, client)


def _login_email(raw: str) -> str:
    """The email as ``register`` stored it, so every spelling of one address is one account and one
    throttle bucket. Input that is no valid address matches no account; it is cut to a bounded key."""
    try:
        return normalize_email(raw)
    except DomainError:
        return raw.strip().lower()[:MAX_EMAIL_LENGTH]


def _throttle_keys(email: str, ip: str) -> list[tuple[str, int]]:
    return [(f"login-fail:email:{email}", 1), (f"login-fail:ip:{ip}", 5)]


async def login(session: AsyncSession, settings: Settings, kv: KeyValue, email: str, password: str, client: Client) -> SignedIn:
    email = _login_email(email)
    window, limit = settings.login_failure_window_seconds, settings.login_max_failures
    for key, factor in _throttle_keys(email, client.ip):
        count = await kv.get(key)
        if count is not None and int(count) >= limit * factor:
            raise DomainError(
                ErrorCode.THROTTLED,
                f"Too many failed sign-in attempts. Try again in {window // 60} minutes or reset your password.",
            )
    user = await repository.user_by_email(session, email)
    if not await verify_password(user.password_hash if user else None, password) or user is None:
        counts = [await kv.incr(key, window) for key, _ in _throttle_keys(email, client.ip)]
        error = DomainError(ErrorCode.INVALID_CREDENTIALS, "Email or password is wrong.")
        # This failure locks the account's sign-in for the window: tell its owner, once per window.
        if user is not None and counts[0] >= limit and await kv.incr(f"lockout-notice:{email}", window) == 1:
            error.after_rollback = (_lockout_notice(user.id, window),)
        raise error
    await kv.delete(f"login-fail:email:{email}")
    if needs_rehash(user.password_hash):
        user.password_hash = await hash_password(password)
    new_device = await _is_new_device(session, user.id, client)
    signed_in = await start_session(session, settings, user, client)
    if new_device:
        entry = await audit.record(
            session, audit.AuditAction.LOGIN_NEW_DEVICE, organization_id=None, target_type="User", target_id=user.id,
            after={"sessionId": str(signed_in.session.id), "ip": client.ip, "userAgent": client.user_agent[:400]},
            actor_user_id=user.id,
        )
        events.enqueue(session, SECURITY_EMAIL_ACTOR, kind=NEW_SIGN_IN, user_id=str(user.id), entry_id=str(entry.id))
    return signed_in


def _lockout_notice(user_id: uuid.UUID, window: int) -> Callable[[AsyncSession], Awaitable[None]]:
    async def enqueue(session: AsyncSession) -> None:
        events.enqueue(session, SECURITY_EMAIL_ACTOR, kind=LOCKOUT_NOTICE, user_id=str(user_id), minutes=max(1, window // 60))

    return enqueue


def network_of(ip: str) -> str:
    """The client's network for "new device" checks: the IPv4 /24 or IPv6 /48; other text as is."""
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return ip.strip()
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


async def _is_new_device(session: AsyncSession, user_id: uuid.UUID, client: Client) -> bool:
    """The user has signed in before, but no earlier session had this user agent from this IP network.
    (A first sign-in ever has nothing to compare with: it is no alert.)"""
    seen = await repository.session_ips_for_agent(session, user_id, client.user_agent[:400])
    network = network_of(client.ip[:64])
    if any(network_of(ip) == network for ip in seen):
        return False
    return bool(seen) or await repository.has_sessions(session, user_id)


async def logout(session: AsyncSession, token: str, everywhere: bool) -> tuple[uuid.UUID | None, list[str]]:
    """Revoke this session (or all of the user's); returns the user id and revoked token hashes."""
    hashed = token_hash(token)
    user_id = await repository.revoke_session(session, hashed)
    hashes = [hashed]
    if everywhere and user_id:
        hashes += await repository.revoke_user_sessions(session, user_id)
    return user_id, hashes


async def request_password_reset(session: AsyncSession, kv: KeyValue, email: str) -> None:
    """Queue a reset mail. Answers the same whether or not the email has an account; the job looks it up."""
    try:
        email = normalize_email(email)
    except DomainError:
        return
    if await kv.incr(f"reset-request:{email}", 3600) > 5:
        return  # silently cap mail to one address
    events.enqueue(session, ACCOUNT_EMAIL_ACTOR, kind=RESET_PASSWORD, email=email)


async def request_verification_email(session: AsyncSession, user_id: uuid.UUID) -> None:
    user = await repository.user_by_id(session, user_id)
    if user is None:
        raise DomainError(ErrorCode.NOT_FOUND, "Account not found.")
    if user.email_verified_at is not None:
        raise DomainError(ErrorCode.INVALID_STATE, "This email address is already verified.")
    events.enqueue(session, ACCOUNT_EMAIL_ACTOR, kind=VERIFY_EMAIL, user_id=str(user.id))


async def issue_email_token(session: AsyncSession, user: User, purpose: str, ttl_seconds: int) -> str:
    token = new_token()
    session.add(
        EmailToken(user_id=user.id, purpose=purpose, token_hash=token_hash(token),
                   expires_at=utcnow() + timedelta(seconds=ttl_seconds))
    )
    await session.flush()
    return token


async def _use_token(session: AsyncSession, token: str, purpose: str) -> EmailToken:
    row = await repository.consume_email_token(session, token_hash(token.strip()), purpose)
    if row is None:
        raise DomainError(ErrorCode.INVALID_TOKEN, "This link is not valid.", "token")
    if row.used_at is not None:
        raise DomainError(ErrorCode.INVALID_TOKEN, "This link has already been used.", "token")
    if row.expires_at <= utcnow():
        raise DomainError(ErrorCode.EXPIRED_TOKEN, "This link has expired; ask for a new one.", "token")
    row.used_at = utcnow()
    return row


async def verify_email(session: AsyncSession, token: str) -> User:
    row = await _use_token(session, token, VERIFY_EMAIL)
    user = await repository.user_by_id(session, row.user_id)
    assert user is not None
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
    await session.flush()
    return user


async def reset_password(session: AsyncSession, token: str, new_password: str) -> User:
    row = await _use_token(session, token, RESET_PASSWORD)
    user = await repository.user_by_id(session, row.user_id)
    assert user is not None
    _check_password(new_password, user.email, "newPassword")
    now = utcnow()
    user.password_hash = await hash_password(new_password)
    user.password_changed_at = now
    if user.email_verified_at is None:
        user.email_verified_at = now  # the link proved control of the mailbox
    await repository.mark_tokens_used(session, user.id, RESET_PASSWORD, now)
    await repository.revoke_user_sessions(session, user.id)
    await session.flush()
    return user
