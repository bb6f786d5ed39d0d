"""Password hashing (Argon2id) and opaque tokens (random, stored as SHA-256)."""

from __future__ import annotations

import asyncio
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from argon2.profiles import RFC_9106_LOW_MEMORY

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verified against when the email is unknown, so timing does not reveal which emails exist.
_DUMMY_HASH = _hasher.hash("codex-dummy-password-for-timing")

# Cheap parameters for test suites only (settings refuse them in production).
FAST_TEST_PROFILE = RFC_9106_LOW_MEMORY.__class__(
    hash_len=RFC_9106_LOW_MEMORY.hash_len, salt_len=RFC_9106_LOW_MEMORY.salt_len, time_cost=1,
    memory_cost=1024, parallelism=1, type=RFC_9106_LOW_MEMORY.type, version=RFC_9106_LOW_MEMORY.version,
)


def use_fast_test_hashing() -> None:
    """Switch this process to cheap Argon2id parameters. Hashes stay valid argon2id and
    ``needs_rehash`` upgrades them on the next sign-in under the default parameters."""
    global _hasher, _DUMMY_HASH
    _hasher = PasswordHasher.from_parameters(FAST_TEST_PROFILE)
    _DUMMY_HASH = _hasher.hash("codex-dummy-password-for-timing")

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    def _verify() -> bool:
        try:
            return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(_verify)


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def password_problem(password: str, email: str) -> str | None:
    """Why a password is unacceptable, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Use at least {MIN_PASSWORD_LENGTH} characters."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"Use at most {MAX_PASSWORD_LENGTH} characters."
    if password.strip().lower() == email.strip().lower():
        return "The password must not be your email address."
    if len(set(password)) < 4:
        return "The password is too repetitive."
    return None


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
