from __future__ import annotations

from datetime import datetime

import strawberry

from codex_graphql.accounts import service
from codex_graphql.accounts.viewer import Viewer
from codex_graphql.context import Context, CookieChange
from codex_graphql.errors import DomainError, ErrorCode, UserError
from codex_graphql.payloads import errors_field, run_mutation
from codex_graphql.permissions import IsAuthenticated, guarded_mutation


@strawberry.input(description="New customer account.")
class RegisterInput:
    email: str = strawberry.field(description="Sign-in email address.")
    password: str = strawberry.field(description="At least 10 characters, not the email address.")
    name: str = strawberry.field(default="", description="Display name.")


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


@strawberry.type(description="Result of signing up or signing in.")
class AuthPayload:
    errors: list[UserError] = errors_field()
    viewer: Viewer | None = strawberry.field(default=None, description="The signed-in user.")
    token: str | None = strawberry.field(
        default=None, description="Session token for `Authorization: Bearer`. Also set as an HttpOnly cookie."
    )
    expires_at: datetime | None = strawberry.field(default=None, description="When the session ends.")


@strawberry.type(description="Result of a mutation that returns nothing but errors.")
class OkPayload:
    errors: list[UserError] = errors_field()


@strawberry.type(description="Result of an account change.")
class ViewerPayload:
    errors: list[UserError] = errors_field()
    viewer: Viewer | None = strawberry.field(default=None, description="The account after the change.")


def _client(ctx: Context) -> service.Client:
    return service.Client(ip=ctx.client_ip, user_agent=ctx.user_agent)


def _signed_in(ctx: Context, signed_in: service.SignedIn) -> dict:
    ctx.cookie = CookieChange(signed_in.token, ctx.settings.session_ttl_seconds)
    return {"viewer": Viewer.from_model(signed_in.user), "token": signed_in.token,
            "expires_at": signed_in.session.expires_at}


@strawberry.type
class AccountMutations:
    @strawberry.mutation(description="Create a customer account and sign in. A verification email is sent.")
    async def register(self, info: strawberry.Info, input: RegisterInput) -> AuthPayload:
        ctx: Context = info.context

        async def action() -> dict:
            signed_in = await service.register(ctx.db, ctx.settings, input.email, input.password, input.name, _client(ctx))
            return _signed_in(ctx, signed_in)

        return await run_mutation(info, AuthPayload, action)

    @strawberry.mutation(description="Sign in with email and password. Repeated failures are throttled.")
    async def login(self, info: strawberry.Info, input: LoginInput) -> AuthPayload:
        ctx: Context = info.context

        async def action() -> dict:
            signed_in = await service.login(
                ctx.db, ctx.settings, ctx.services.kv, input.email, input.password, _client(ctx)
            )
            return _signed_in(ctx, signed_in)

        return await run_mutation(info, AuthPayload, action)

    @guarded_mutation(IsAuthenticated(), description="End this session, or every session with `everywhere: true`.")
    async def logout(self, info: strawberry.Info, input: LogoutInput | None = None) -> OkPayload:
        ctx: Context = info.context

        async def action() -> dict:
            if not ctx.token:
                raise DomainError(ErrorCode.INVALID_STATE, "No session token was sent.")
            user_id, hashes = await service.logout(ctx.db, ctx.token, bool(input and input.everywhere))
            await ctx.forget_viewers(user_id=user_id, token_hashes=tuple(hashes))
            ctx.cookie = CookieChange(None)
            return {}

        return await run_mutation(info, OkPayload, action)

    @strawberry.mutation(
        description="Email a password reset link. Answers the same whether or not an account uses the address."
    )
    async def request_password_reset(self, info: strawberry.Info, input: RequestPasswordResetInput) -> OkPayload:
        ctx: Context = info.context

        async def action() -> dict:
            await service.request_password_reset(ctx.db, ctx.services.kv, input.email)
            return {}

        return await run_mutation(info, OkPayload, action)

    @strawberry.mutation(description="Set a new password with a reset token. Ends every session of the account.")
    async def reset_password(self, info: strawberry.Info, input: ResetPasswordInput) -> ViewerPayload:
        ctx: Context = info.context

        async def action() -> dict:
            user = await service.reset_password(ctx.db, input.token, input.new_password)
            await ctx.forget_viewers(user_id=user.id)
            return {"viewer": Viewer.from_model(user)}

        return await run_mutation(info, ViewerPayload, action)

    @strawberry.mutation(description="Confirm an email address with the token from the verification email.")
    async def verify_email(self, info: strawberry.Info, input: VerifyEmailInput) -> ViewerPayload:
        ctx: Context = info.context

        async def action() -> dict:
            user = await service.verify_email(ctx.db, input.token)
            await ctx.forget_viewers(user_id=user.id)
            return {"viewer": Viewer.from_model(user)}

        return await run_mutation(info, ViewerPayload, action)


__all__ = ["AccountMutations"]
