"""Running a mutation: one savepoint per mutation field; domain errors become payload errors.

``mutation_field`` declares a mutation from its action alone::

    @mutation_field(HasOrgPermission(Permission.MEMBERS_MANAGE), description="...", input_description="...",
                    payload={"member": (OrganizationMember, "The member with the new role.")})
    async def update_organization_member_role(ctx: Context, input: UpdateOrganizationMemberRoleInput) -> dict: ...

becomes the field ``updateOrganizationMemberRole(input: UpdateOrganizationMemberRoleInput!):
UpdateOrganizationMemberRolePayload!`` with the rules' directives and description, run by ``run_mutation``; the
payload type ("Result of updateOrganizationMemberRole.") has ``errors`` and the declared nullable fields.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any, TypeVar

import strawberry
from strawberry.utils.str_converters import to_camel_case

from codex_graphql.errors import DomainError, ErrorCode, UserError
from codex_graphql.permissions import Rule, guarded_mutation

P = TypeVar("P")
Action = Callable[[Any, Any], Awaitable[dict[str, Any]]]
PayloadFields = Mapping[str, tuple[Any, str]]


async def run_mutation(info: strawberry.Info, payload: type[P], action: Callable[[], Awaitable[dict[str, Any]]]) -> P:
    """Run ``action`` inside a savepoint. On ``DomainError`` nothing it did survives (except what it committed
    before a network call with ``ctx.outside_transaction()``) and the payload carries the errors; otherwise the
    payload gets the returned fields and ``errors: []``."""
    ctx = info.context
    await ctx.begin_mutation()  # the action may commit midway (ctx.outside_transaction): it then opens a new one
    try:
        fields = await action()
    except DomainError as error:
        savepoint = ctx.end_mutation()
        if savepoint is not None:
            await savepoint.rollback()
        for effect in error.after_rollback:
            await effect(ctx.db)
        return payload(errors=error.errors)  # type: ignore[call-arg]
    except BaseException:
        savepoint = ctx.end_mutation()
        if savepoint is not None:
            await savepoint.rollback()
        raise
    await ctx.end_mutation().commit()
    return payload(errors=[], **fields)  # type: ignore[call-arg]


def payload_type(name: str, description: str, fields: PayloadFields, module: str) -> type:
    """A mutation payload type: ``errors`` first, then each of ``fields`` (name: (type, description)) as a
    nullable field defaulting to null, in the order given."""
    annotations: dict[str, Any] = {"errors": list[UserError]}
    namespace: dict[str, Any] = {"errors": errors_field(), "__module__": module, "__annotations__": annotations}
    for field_name, (field_type, field_description) in fields.items():
        annotations[field_name] = field_type | None
        namespace[field_name] = strawberry.field(default=None, description=field_description)
    return strawberry.type(type(name, (), namespace), description=description)


def mutation_field(*rules: Rule, payload: type | PayloadFields, description: str,
                   input_description: str) -> Callable[[Action], Any]:
    """The strawberry mutation field for ``async def name(ctx, input: XInput) -> dict``: the field is named
    after the function, takes ``input`` (described by ``input_description``; optional when the function gives
    it a default), answers ``payload`` and runs the function in ``run_mutation``. ``payload`` is a shared payload
    type, or the fields of the mutation's own ``<Name>Payload`` (see ``payload_type``). Without rules it is a
    plain ``strawberry.mutation``; with rules, ``guarded_mutation``."""

    def declare(action: Action) -> Any:
        parameter = inspect.signature(action).parameters["input"]
        input_type = typing.get_type_hints(action)["input"]
        name = to_camel_case(action.__name__)
        answer = payload if isinstance(payload, type) else payload_type(
            f"{name[0].upper()}{name[1:]}Payload", f"Result of {name}.", payload, action.__module__)

        async def resolve(info: strawberry.Info, input: Any = parameter.default) -> Any:
            return await run_mutation(info, answer, lambda: action(info.context, input))

        if parameter.default is inspect.Parameter.empty:
            resolve.__defaults__ = None
        resolve.__name__ = resolve.__qualname__ = action.__name__
        resolve.__module__ = action.__module__
        resolve.__annotations__ = {
            "info": strawberry.Info,
            "input": Annotated[input_type, strawberry.argument(description=input_description)],
            "return": answer,
        }
        if rules:
            return guarded_mutation(*rules, description=description)(resolve)
        return strawberry.mutation(description=description)(resolve)

    return declare


def invalid_id(field: str, what: str = "object") -> DomainError:
    return DomainError(ErrorCode.NOT_FOUND, f"No {what} has this id.", field)


ERRORS_FIELD_DESCRIPTION = "Problems with the input; empty when the mutation succeeded."


def errors_field() -> Any:
    return strawberry.field(description=ERRORS_FIELD_DESCRIPTION)


__all__ = ["UserError", "errors_field", "invalid_id", "mutation_field", "run_mutation"]
