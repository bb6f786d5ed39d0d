from __future__ import annotations

from datetime import datetime

import strawberry

from codex_graphql import idempotency
from codex_graphql.accounts import current, repository, service
from codex_graphql.accounts.models import User as UserModel
from codex_graphql.accounts.throttle import throttle_for
from codex_graphql.accounts.viewer import Viewer
from codex_graphql.context import Context, CookieChange
from codex_graphql.errors import DomainError, ErrorCode, UserError
from codex_graphql.payloads import errors_field, mutation_field
from codex_graphql.permissions import IsAuthenticated


@strawberry.input(description="New customer account.")
class RegisterInput:
    email: str = strawberry.field(description="Sign-in email address.")
    password: str = strawberry.field(description="At least 10 characters, not the email address.")
    name: str = strawberry.field(default="", description="Display name.")
    invitation_token: str | None = strawberry.field(
        default=None, description="Token from an organization invitation sent to this email: the new account joins "
        "that organization at once (the same as `acceptOrganizationInvitation` right after signing up).",
    )


@strawberry.input(description="Credentials.")
class LoginInput:
    email: str = strawberry.field(description="Sign-in email address.")
    password: str = strawberry.field(description="Password.")


@strawberry.input(description="Which sessions to end.")
class LogoutInput:
    everywhere: bool = strawberry.field(default=False, description="End every session of this account, on all devices.")


@strawberry.input(description="Who forgot their password.")
class RequestPasswordResetInput:
    email: str = strawberry.field(description="Email address of the account.")


@strawberry.input(description="A reset link's token and the new password.")
class ResetPasswordInput:
    token: str = strawberry.field(description="Token from the reset email.")
    new_password: str = strawberry.field(description="At least 10 characters, not the email address.")


@strawberry.input(description="A verification link's token.")
class VerifyEmailInput:
    token: str = strawberry.field(description="Token from the verification email.")


@strawberry.input(description="An unlock link's token.")
class UnlockAccountInput:
    token: str = strawberry.field(description="Token from the unlock link in the \"failed sign-in attempts\" email.")


@strawberry.input(description="Send the signed-in account another email verification link.")
class ResendVerificationEmailInput:
    idempotency_key: str | None = strawberry.field(
        default=None, description="Optional, unique per attempt: a retry with the same key sends no second mail "
        "and is not counted against the hourly limit. Kept for 24 hours.",
    )


@strawberry.type(description="Result of signing up or signing in.")
class AuthPayload:
    errors: list[UserError] = errors_field()
    viewer: Viewer | None = strawberry.field(default=None, description="The signed-in user.")
    token: str | None = strawberry.field(
        default=None, description="Session token for `Authorization: Bearer`. Also set as an HttpOnly cookie."
    )
    expires_at: datetime | None = strawberry.field(default=None, description="When the session ends.")
    check_email: bool = strawberry.field(
        default=False, description="`register` only: true on every accepted sign-up, meaning an email is on its way "
        "to the address (the verification link for a new account; for an address that already has an account, a "
        "notice to its owner, and then no `token` or `viewer`). Show the same \"check your email\" message either "
        "way. Always false for `login`.",
    )


@strawberry.type(description="Result of a mutation that returns nothing but errors.")
class OkPayload:
    errors: list[UserError] = errors_field()


@strawberry.type(description="Result of an account change.")
class ViewerPayload:
    errors: list[UserError] = errors_field()
    viewer: Viewer | None = strawberry.field(default=None, description="The account after the change.")


def _client(ctx: Context) -> service.Client:
    return service.Client(ip=ctx.client_ip, user_agent=ctx.user_agent)


async def _signed_in(ctx: Context, signed_in: service.SignedIn) -> dict:
    ctx.cookie = CookieChange(signed_in.token, ctx.settings.session_ttl_seconds)
    ctx.token = signed_in.token
    # The payload (and the rest of the request) answers as the signed-in user: memberships, permissions.
    await ctx.become(await current.viewer_now(ctx.db, ctx.viewer, user_id=signed_in.user.id,
                                              session_id=signed_in.session.id))
    return {"viewer": Viewer.from_model(signed_in.user), "token": signed_in.token,
            "expires_at": signed_in.session.expires_at}


async def _changed(ctx: Context, user: UserModel) -> dict:
    """The account changed (password, verified address): its cached viewers go; the payload shows it."""
    await ctx.forget_viewers(user_id=user.id)
    return {"viewer": Viewer.from_model(user)}


@strawberry.type
class AccountMutations:
    @mutation_field(
        description="Create a customer account and sign in; a verification email is sent. An address that already "
        "has an account gets no error and no session: the answer has `checkEmail: true` like every sign-up, with "
        "`token` and `viewer` null, and the account's owner is emailed that someone tried to sign up with it.",
        input_description="The new account's email, password (10 to 1024 characters), optional display name, and "
        "optional invitation token to join an organization at once.",
        payload=AuthPayload,
    )
    async def register(ctx: Context, input: RegisterInput) -> dict:
        signed_in = await service.register(ctx.db, ctx.settings, ctx.services.kv, input.email, input.password,
                                           input.name, _client(ctx), invitation_token=input.invitation_token)
        if signed_in is None:  # the address has an account: its owner is told, the caller gets no session
            return {"check_email": True}
        return {**await _signed_in(ctx, signed_in), "check_email": True}

    @mutation_field(
        description="Sign in with email and password. After `LOGIN_MAX_FAILURES` failures for one email from one "
        "client address, that pair waits 1 s, 2 s, 4 s ... (up to `LOGIN_FAILURE_WINDOW_SECONDS`) between attempts; "
        "an address with 4 x `LOGIN_MAX_FAILURES` failed attempts in the window is refused for every email. A "
        "refused attempt gets THROTTLED (its message says when to retry) and checks no password. Failures from "
        "other addresses never delay the account's owner; its owner is emailed an unlock link (`unlockAccount`).",
        input_description="Email and password of the account to sign in to.",
        payload=AuthPayload,
    )
    async def login(ctx: Context, input: LoginInput) -> dict:
        signed_in = await service.login(ctx.db, ctx.settings, throttle_for(ctx.services), input.email, input.password,
                                        _client(ctx))
        return await _signed_in(ctx, signed_in)

    @mutation_field(
        IsAuthenticated(),
        description="End this session, or every session with `everywhere: true`.",
        input_description="Optional: `everywhere: true` ends every session of the account; omitted, only the "
        "current session ends.",
        payload=OkPayload,
    )
    async def logout(ctx: Context, input: LogoutInput | None = None) -> dict:
        if not ctx.token:
            raise DomainError(ErrorCode.INVALID_STATE, "No session token was sent.")
        user_id, hashes = await service.logout(ctx.db, ctx.token, bool(input and input.everywhere))
        await ctx.forget_viewers(user_id=user_id, token_hashes=tuple(hashes))
        ctx.cookie = CookieChange(None)
        return {}

    @mutation_field(
        description="Email a password reset link. Answers the same whether or not an account uses the address.",
        input_description="The email address to send a reset link to. The answer is the same whether or not an "
        "account uses it.",
        payload=OkPayload,
    )
    async def request_password_reset(ctx: Context, input: RequestPasswordResetInput) -> dict:
        await service.request_password_reset(ctx.db, ctx.services.kv, input.email)
        return {}

    @mutation_field(
        description="Set a new password with a reset token. Ends every session of the account.",
        input_description="The token from the reset email and the new password (10 to 1024 characters).",
        payload=ViewerPayload,
    )
    async def reset_password(ctx: Context, input: ResetPasswordInput) -> dict:
        return await _changed(ctx, await service.reset_password(ctx.db, input.token, input.new_password))

    @mutation_field(
        IsAuthenticated(),
        description="Email the signed-in account a new verification link (the address it signed up with). At most 3 "
        "per account and hour (THROTTLED); an account already verified gets EMAIL_ALREADY_VERIFIED.",
        input_description="Optional: an idempotency key so a retried request sends one email. The email goes to the "
        "signed-in account's own address.",
        payload={"viewer": (Viewer, "The account the link was sent for.")},
    )
    async def resend_verification_email(ctx: Context, input: ResendVerificationEmailInput | None = None) -> dict:
        async def run() -> dict:
            await service.request_verification_email(ctx.db, ctx.services.kv, ctx.require_user_id())
            return {}

        if input is not None and input.idempotency_key is not None:
            await idempotency.once(ctx.db, ctx.require_user_id(), "resendVerificationEmail", input.idempotency_key,
                                   {}, run)
        else:
            await run()
        user = await repository.user_by_id(ctx.db, ctx.require_user_id())
        return {"viewer": Viewer.from_model(user) if user else None}

    @mutation_field(
        description="Lift every sign-in delay of an account (from every client address) with the token of the "
        "unlock link emailed to its owner after many failed sign-ins. Each link works once (then INVALID_TOKEN); "
        "an expired one gets EXPIRED_TOKEN. Per-address limits stay.",
        input_description="The token from the unlock email sent after repeated failed sign-ins.",
        payload={"viewer": (Viewer, "The account whose sign-in delays were lifted (it may sign in again at once).")},
    )
    async def unlock_account(ctx: Context, input: UnlockAccountInput) -> dict:
        user = await service.unlock_sign_in(ctx.db, throttle_for(ctx.services), input.token)
        return {"viewer": Viewer.from_model(user)}

    @mutation_field(
        description="Confirm an email address with the token from the verification email.",
        input_description="The token from the verification email.",
        payload=ViewerPayload,
    )
    async def verify_email(ctx: Context, input: VerifyEmailInput) -> dict:
        return await _changed(ctx, await service.verify_email(ctx.db, input.token))


__all__ = ["AccountMutations"]
