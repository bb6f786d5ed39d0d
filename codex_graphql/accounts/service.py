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
from codex_graphql.accounts.throttle import LoginThrottle
from codex_graphql.authz import PlatformRole
from codex_graphql.db import utcnow
from codex_graphql.errors import DomainError, ErrorCode
from codex_graphql.kv import KeyValue
from codex_graphql.savepoints import add_unique
from codex_graphql.settings import Settings

VERIFY_EMAIL = "verify_email"
RESET_PASSWORD = "reset_password"
ACCOUNT_EMAIL_ACTOR = "send_account_email"
SECURITY_EMAIL_ACTOR = "send_security_email"
UNLOCK_NOTICE = "sign_in_unlock"  # security mail: many failed sign-ins, with a link that lifts the delays
UNLOCK_SIGN_IN = "unlock_sign_in"  # email token purpose of that link
SIGN_UP_ATTEMPT = "sign_up_attempt"  # account mail: someone tried to register an address that has an account
SIGN_UP_NOTICES_PER_HOUR = 3
NEW_SIGN_IN = "new_sign_in"
MAX_NAME_LENGTH = 200
MAX_EMAIL_LENGTH = 320
VERIFICATION_RESENDS_PER_HOUR = 3


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
    await add_unique(session, user,  # refused when a concurrent registration won the race
                     DomainError(ErrorCode.ALREADY_EXISTS, "An account with this email already exists.", "email"))
    return user


async def register(session: AsyncSession, settings: Settings, kv: KeyValue, email: str, password: str, name: str,
                   client: Client, invitation_token: str | None = None) -> SignedIn | None:
    """Create the account and sign in; ``None`` when the address already has an account. That case answers
    like a new sign-up (no error, about the same time: the password is hashed all the same) but starts no
    session and changes nothing: the account's owner is emailed that someone tried to sign up with it."""
    try:
        user = await create_user(session, email, password, name)
    except DomainError as error:
        if error.errors[0].code != ErrorCode.ALREADY_EXISTS:
            raise
        await _sign_up_attempted(session, kv, normalize_email(email), password)
        return None
    events.enqueue(session, ACCOUNT_EMAIL_ACTOR, kind=VERIFY_EMAIL, user_id=str(user.id))
    signed_in = await start_session(session, settings, user, client)
    if invitation_token:
        await _accept_invitation(session, user, invitation_token)
    return signed_in


async def _sign_up_attempted(session: AsyncSession, kv: KeyValue, email: str, password: str) -> None:
    await hash_password(password)  # the same work as a new account's, so the answer takes as long
    if await kv.incr(f"sign-up-notice:{email}", 3600) <= SIGN_UP_NOTICES_PER_HOUR:  # cap mail to one address
        events.enqueue(session, ACCOUNT_EMAIL_ACTOR, kind=SIGN_UP_ATTEMPT, email=email)


async def _accept_invitation(session: AsyncSession, user: User, token: str) -> None:
    """Sign-up through an invitation link: join at once; a bad token refuses the whole sign-up."""
    # organizations import accounts; this is the one way back
    from codex_graphql.organizations import invitations

    try:
        await invitations.accept(session, user.id, token)
    except DomainError as error:
        for problem in error.errors:
            problem.field = ["input", "invitationToken"]
        raise


def _login_email(raw: str) -> str:
    """The email as ``register`` stored it, so every spelling of one address is one account and one
    throttle bucket. Input that is no valid address matches no account; it is cut to a bounded key."""
    try:
        return normalize_email(raw)
    except DomainError:
        return raw.strip().lower()[:MAX_EMAIL_LENGTH]


async def login(session: AsyncSession, settings: Settings, throttle: LoginThrottle, email: str, password: str,
                client: Client) -> SignedIn:
    """Check the credentials, throttled per (email, client address) pair and per address (see
    ``accounts/throttle.py``): the attempt is reserved atomically before the password is verified, so
    parallel guesses cannot all pass the limit; a throttled attempt verifies nothing."""
    email = _login_email(email)
    ip = client.ip[:64]
    decision = await throttle.reserve(email, ip)
    if not decision.allowed:
        raise DomainError(
            ErrorCode.THROTTLED,
            f"Too many failed sign-in attempts from this address. Try again in {decision.retry_after} seconds, "
            "or reset your password.",
        )
    try:
        user = await repository.user_by_email(session, email)
        correct = await verify_password(user.password_hash if user else None, password) and user is not None
    except BaseException:
        await throttle.release(email, ip)
        raise
    if not correct or user is None:
        failure = await throttle.failed(email, ip)
        error = DomainError(ErrorCode.INVALID_CREDENTIALS, "Email or password is wrong.")
        # Many failures on this account (from any address): mail its owner an unlock link, once per window.
        if user is not None and failure.account_failures >= settings.login_max_failures \
                and await throttle.first_notice(email):
            error.after_rollback = (_unlock_notice(user.id),)
        raise error
    await throttle.succeeded(email, ip)
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


def _unlock_notice(user_id: uuid.UUID) -> Callable[[AsyncSession], Awaitable[None]]:
    async def enqueue(session: AsyncSession) -> None:
        events.enqueue(session, SECURITY_EMAIL_ACTOR, kind=UNLOCK_NOTICE, user_id=str(user_id))

    return enqueue


async def unlock_sign_in(session: AsyncSession, throttle: LoginThrottle, token: str) -> User:
    """Use an unlock link: every sign-in delay of the account (from every address) ends. Single use."""
    row = await _use_token(session, token, UNLOCK_SIGN_IN)
    user = await repository.user_by_id(session, row.user_id)
    assert user is not None
    await repository.mark_tokens_used(session, user.id, UNLOCK_SIGN_IN, utcnow())
    await throttle.unlock(user.email)
    return user


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


async def request_verification_email(session: AsyncSession, kv: KeyValue, user_id: uuid.UUID) -> User:
    """Queue another verification mail for a signed-in, unverified account: at most
    ``VERIFICATION_RESENDS_PER_HOUR`` per account and hour (counted in Redis)."""
    user = await repository.user_by_id(session, user_id)
    if user is None:
        raise DomainError(ErrorCode.NOT_FOUND, "Account not found.")
    if user.email_verified_at is not None:
        raise DomainError(ErrorCode.EMAIL_ALREADY_VERIFIED, "This email address is already verified.")
    if await kv.incr(f"verify-resend:{user.id}", 3600) > VERIFICATION_RESENDS_PER_HOUR:
        raise DomainError(ErrorCode.THROTTLED, f"At most {VERIFICATION_RESENDS_PER_HOUR} verification emails per "
                          "hour; use the newest one or try again later.")
    events.enqueue(session, ACCOUNT_EMAIL_ACTOR, kind=VERIFY_EMAIL, user_id=str(user.id))
    return user


async def _email_verified(session: AsyncSession, user: User) -> None:
    """The account now proves it owns its address: grants made to the address become its access."""
    from codex_graphql.commerce import grants  # commerce imports accounts; this is the one way back

    await session.flush()
    await grants.claim_for(session, user)


async def issue_email_token(session: AsyncSession, user: User, purpose: str, ttl_seconds: int,
                            token: str | None = None) -> str:
    """Store a token's hash; ``token`` given: that raw token (a mail job mints it before sending, stores it after)."""
    token = token or new_token()
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
        await _email_verified(session, user)
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
        await _email_verified(session, user)
    await repository.mark_tokens_used(session, user.id, RESET_PASSWORD, now)
    await repository.revoke_user_sessions(session, user.id)
    await session.flush()
    return user
