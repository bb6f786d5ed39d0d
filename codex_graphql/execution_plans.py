"""What the resolvers' executor (execution.py) knows about each field before it runs, computed once per type.

For a field of an object type, a ``FieldPlan`` says how to obtain its value and how to complete it:

- how to obtain it: read the attribute strawberry's basic resolver would read (``getattr`` of the Python
  name: no resolver function, no extension, no permission), or call a resolver method that takes only
  ``self`` and perhaps ``info`` and no argument, as strawberry's wrapper would call it: a synchronous one
  (its one extension, if any, a permission rule checked synchronously: the rule's own ``resolve`` runs
  first, as in strawberry's extension chain) or an ``async def`` one without extension (its coroutine is
  awaited by the executor as graphql-core awaits it), or a method without extension whose other parameters
  are its GraphQL arguments (called with the keyword arguments strawberry would convert, ``arguments``);
  anything else (other extensions, subscriptions, meta fields but ``__typename``) is left to graphql-core's
  ``execute_field``;
- how to complete it, by the shape of its type: a leaf (its scalar's or enum's output coercion, with the
  common classes answered inline: ``str`` for String and ID, ``bool``, an ``int`` in range, a finite
  ``float``, a member of a strawberry enum), a list of leaves, an object (strawberry's own ``is_type_of``,
  then the object's fields), or a list of objects. Other shapes (abstract types, nested lists, custom
  ``is_type_of`` functions) complete through graphql-core's ``complete_value``.

A completer answers only values it is sure of; for anything unusual (a null where the type is non-null,
an awaitable, an exception, a value the scalar would refuse, an item ``is_type_of`` rejects) it answers
``MISS`` before doing anything with the value, and the executor hands that value to graphql-core, which
completes it, or reports it, exactly as it always would: the planned branches never produce an error or
a null of their own. Inside a list of objects the decision is made item by item.
"""

from __future__ import annotations

from collections.abc import Callable
from math import isfinite
from operator import attrgetter
from types import CoroutineType, GeneratorType
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    Undefined,
)
from graphql.pyutils.undefined import UndefinedType
from graphql.type.scalars import (
    serialize_boolean,
    serialize_float,
    serialize_id,
    serialize_int,
    serialize_string,
)
from strawberry.permission import PermissionExtension

from codex_graphql.batched import batch_of

MISS: Any = object()  # a completer declined: graphql-core completes (or reports) the value

_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1

Leaf = Callable[[Any], Any]  # value (not None) -> its output, or MISS


def _coerced(coerce: Callable[[Any], Any]) -> Leaf:
    """Any leaf type: its own output coercion, declining exceptions, awaitables and refused values."""

    def leaf(value: Any) -> Any:
        try:
            if isinstance(value, BaseException) or hasattr(value, "__await__"):
                return MISS
            out = coerce(value)
        except Exception:  # noqa: BLE001  (graphql-core coerces again and reports the error)
            return MISS
        return MISS if out is None or out is Undefined else out

    return leaf


def leaf_of(kind: GraphQLScalarType | GraphQLEnumType) -> Leaf:
    """The output of a value of ``kind`` with the common classes answered inline: what ``coerce_output_value``
    answers for them, without its calls and checks."""
    coerce = kind.coerce_output_value
    other = _coerced(coerce)
    if coerce is serialize_string or coerce is serialize_id:
        def text(value: Any) -> Any:
            return value if value.__class__ is str else other(value)
        return text
    if coerce is serialize_boolean:
        def boolean(value: Any) -> Any:
            return value if value.__class__ is bool else other(value)
        return boolean
    if coerce is serialize_int:
        def integer(value: Any) -> Any:
            return value if value.__class__ is int and _INT_MIN <= value <= _INT_MAX else other(value)
        return integer
    if coerce is serialize_float:
        def number(value: Any) -> Any:
            return value if value.__class__ is float and isfinite(value) else other(value)
        return number
    wrapped = getattr(kind, "wrapped_cls", None)  # strawberry's enum type: members of its Python enum
    if isinstance(kind, GraphQLEnumType) and isinstance(wrapped, type):
        names = {member: out for member in wrapped if (out := other(member)) is not MISS}  # type: ignore[var-annotated]

        def member(value: Any) -> Any:
            if value.__class__ is wrapped:
                out = names.get(value, MISS)
                if out is not MISS:
                    return out
            return other(value)
        return member
    return other


_plain_classes: dict[type, bool] = {}  # emptied past 4096 classes (classes made at run time, in tests)


def plain(value: Any) -> bool:
    """Whether graphql-core would complete ``value`` as it is: not ``Undefined`` (a null to it), not an exception,
    not awaitable (decided once per class; classes that could answer ``__await__`` per instance are never
    plain)."""
    cls = value.__class__
    known = _plain_classes.get(cls)
    if known is None:
        known = not (
            cls is UndefinedType or issubclass(cls, BaseException) or issubclass(cls, CoroutineType | GeneratorType)
            or hasattr(cls, "__await__") or hasattr(cls, "__getattr__")
            or cls.__getattribute__ is not object.__getattribute__
        )
        if len(_plain_classes) > 4096:
            _plain_classes.clear()
        _plain_classes[cls] = known
    return known


def _strawberry_is_type_of(check: Callable[..., Any] | None) -> bool:
    """strawberry's generated ``is_type_of`` (isinstance of the type or its interfaces, or a type cast), which
    does not read its ``info``."""
    return getattr(check, "__qualname__", "").endswith("_get_is_type_of.<locals>.is_type_of")


class Shape:
    """How to complete a value of one output type (module docstring)."""

    __slots__ = ("check", "custom_check", "item_non_null", "kind", "leaf", "non_null", "object_type")

    def __init__(self, return_type: GraphQLOutputType) -> None:
        self.kind = "other"
        self.leaf: Leaf | None = None
        self.object_type: GraphQLObjectType | None = None
        self.check: Callable[..., Any] | None = None
        self.custom_check = False
        self.item_non_null = False
        self.non_null = isinstance(return_type, GraphQLNonNull)
        inner: Any = return_type.of_type if self.non_null else return_type  # type: ignore[union-attr]
        if isinstance(inner, GraphQLList):
            item: Any = inner.of_type
            self.item_non_null = isinstance(item, GraphQLNonNull)
            if self.item_non_null:
                item = item.of_type
            if isinstance(item, GraphQLScalarType | GraphQLEnumType):
                self.kind, self.leaf = "leaves", leaf_of(item)
            elif isinstance(item, GraphQLObjectType):
                self.kind = "objects"
                self._object(item)
        elif isinstance(inner, GraphQLScalarType | GraphQLEnumType):
            self.kind, self.leaf = "leaf", leaf_of(inner)
        elif isinstance(inner, GraphQLObjectType):
            self.kind = "object"
            self._object(inner)

    def _object(self, object_type: GraphQLObjectType) -> None:
        self.object_type = object_type
        check = object_type.is_type_of
        if check is not None:
            if _strawberry_is_type_of(check):
                self.check = check
            else:
                self.custom_check = True  # may read its info: graphql-core completes these objects


class FieldPlan:
    """How the executor obtains and completes one field of one object type (module docstring)."""

    __slots__ = ("arguments", "batch", "call", "definition", "info_name", "is_async", "leaf", "non_null", "read",
                 "return_type", "shape", "strawberry_field", "wants_info")

    def __init__(self, definition: GraphQLField, shape: Shape) -> None:
        self.definition = definition
        self.return_type = definition.type
        self.shape = shape
        self.non_null = shape.non_null
        self.leaf: Callable[[Any], Any] | None = None  # source -> output or MISS, for attributes of leaf type
        self.read: Callable[[Any], Any] | None = None
        self.call: Callable[..., Any] | None = None
        self.wants_info = False
        self.is_async = False  # call answers a coroutine (an ``async def`` method)
        self.strawberry_field: Any = None
        # A method with arguments: its strawberry arguments (converted as strawberry converts them), called as
        # ``call(source, **kwargs)`` with ``info`` (if it takes it) under ``info_name``.
        self.arguments: list[Any] | None = None
        self.info_name: str | None = None
        # ``answers(ctx, parents)`` of an ``async def`` method declared ``@batched`` (batched.py): called once
        # per list of parents by the executor, whose items then read their value from its answers.
        self.batch: Any = None


def _reader(field: GraphQLField) -> Callable[[Any], Any]:
    """What strawberry's basic resolver returns for a source: ``getattr`` of the Python name (its default
    resolver), read without the resolver's two calls and two properties."""
    definition = field.extensions.get("strawberry-definition")
    name = getattr(definition, "python_name", None)
    if getattr(definition, "default_resolver", None) is getattr and name:
        return attrgetter(name)
    resolve = field.resolve
    return lambda source: resolve(source, None)  # type: ignore[misc]


def _attribute_leaf(read: Callable[[Any], Any], kind: Any, non_null: bool) -> Callable[[Any], Any]:
    """source -> the output of its attribute, or MISS: the read and ``leaf_of(kind)`` in one call for the
    common scalars."""
    if_none = MISS if non_null else None
    coerce = kind.coerce_output_value
    other = _coerced(coerce)
    if coerce is serialize_string or coerce is serialize_id:
        def text(source: Any) -> Any:
            value = read(source)
            if value.__class__ is str:
                return value
            return if_none if value is None else other(value)
        return text
    if coerce is serialize_boolean:
        def boolean(source: Any) -> Any:
            value = read(source)
            if value.__class__ is bool:
                return value
            return if_none if value is None else other(value)
        return boolean
    if coerce is serialize_int:
        def integer(source: Any) -> Any:
            value = read(source)
            if value.__class__ is int and _INT_MIN <= value <= _INT_MAX:
                return value
            return if_none if value is None else other(value)
        return integer
    leaf = leaf_of(kind)

    def attribute(source: Any) -> Any:
        value = read(source)
        return if_none if value is None else leaf(value)

    return attribute


def _attribute_leaves(read: Callable[[Any], Any], shape: Shape) -> Callable[[Any], Any]:
    """source -> the output of its attribute, a list of leaves, or MISS."""
    if_none = MISS if shape.non_null else None
    leaf: Leaf = shape.leaf  # type: ignore[assignment]
    item_non_null = shape.item_non_null

    def leaves(source: Any) -> Any:
        value = read(source)
        if value is None:
            return if_none
        if value.__class__ is not list and value.__class__ is not tuple:
            return MISS
        out = []
        for item in value:
            if item is None:
                if item_non_null:
                    return MISS
                out.append(None)
                continue
            completed = leaf(item)
            if completed is MISS:
                return MISS
            out.append(completed)
        return out

    return leaves


def _is_basic(field: GraphQLField) -> bool:
    """Strawberry's resolver for a field with no resolver function, no extension and no exception handler."""
    return getattr(field.resolve, "__name__", "") == "_get_basic_result"


def _guard(definition: Any) -> PermissionExtension | None:
    """The field's permission rule, when its only extension is one strawberry ``PermissionExtension`` whose
    permissions all check synchronously (as strawberry then runs it: its synchronous ``resolve``)."""
    extensions = definition.extensions
    if len(extensions) != 1 or type(extensions[0]) is not PermissionExtension:
        return None
    return extensions[0] if extensions[0].supports_sync else None


def _method(definition: Any) -> tuple[Callable[..., Any], bool] | None:
    """A resolver method that takes only ``self`` and perhaps ``info`` (an ``async def`` one too, which answers
    a coroutine), a synchronous one perhaps behind a permission rule: the function to call as
    ``call(source)`` or ``call(source, info)``, and whether it takes ``info``."""
    resolver = definition.base_resolver
    if resolver is None or definition.arguments:
        return None
    guard = None
    if definition.extensions:
        if resolver.is_async:
            return None  # strawberry checks the rule with its asynchronous resolve: left to it
        guard = _guard(definition)
        if guard is None:
            return None
    if resolver.self_parameter is None or resolver.root_parameter or resolver.parent_parameter:
        return None
    info_parameter = resolver.info_parameter
    expected = {resolver.self_parameter.name} | ({info_parameter.name} if info_parameter else set())
    if set(resolver.signature.parameters) != expected:
        return None
    if info_parameter is not None:
        kind = resolver.signature.parameters[info_parameter.name].kind
        if kind is not kind.POSITIONAL_OR_KEYWORD or list(resolver.signature.parameters)[1] != info_parameter.name:
            return None  # called as func(self, info)
    func = resolver.wrapped_func
    if guard is None:
        return func, info_parameter is not None
    # strawberry's extension chain for a field without arguments: the rule's own ``resolve``, then the method.
    if info_parameter is None:
        def next_(source: Any, info: Any) -> Any:
            return func(source)
    else:
        next_ = func
    resolve = guard.resolve

    def checked(source: Any, info: Any) -> Any:
        return resolve(next_, source, info)

    return checked, True


def _method_with_arguments(definition: Any) -> tuple[Callable[..., Any], str | None] | None:
    """A resolver method without field extension whose parameters are ``self``, perhaps ``info`` and its
    GraphQL arguments, all passable by keyword (strawberry calls it as ``func(self, **kwargs)``): the function
    and the name of its ``info`` parameter."""
    resolver = definition.base_resolver
    if resolver is None or definition.extensions or not definition.arguments:
        return None
    if resolver.self_parameter is None or resolver.root_parameter or resolver.parent_parameter:
        return None
    parameters = resolver.signature.parameters
    names = list(parameters)
    info_parameter = resolver.info_parameter
    info_name = info_parameter.name if info_parameter else None
    expected = {resolver.self_parameter.name, *(argument.python_name for argument in definition.arguments)}
    if info_name:
        expected.add(info_name)
    if not names or names[0] != resolver.self_parameter.name or set(names) != expected:
        return None
    if any(parameters[name].kind not in (parameters[name].POSITIONAL_OR_KEYWORD, parameters[name].KEYWORD_ONLY)
           for name in names[1:]):
        return None
    return resolver.wrapped_func, info_name


def shape_of(return_type: GraphQLOutputType) -> Shape:
    return Shape(return_type)


def _plan(field: GraphQLField, methods: bool) -> FieldPlan | None:
    strawberry_field = field.extensions.get("strawberry-definition")
    if strawberry_field is None or strawberry_field.is_subscription:
        return None
    shape = shape_of(field.type)
    plan = FieldPlan(field, shape)
    if field.args:
        if not methods or getattr(field.resolve, "__name__", "") not in ("_resolver", "_async_resolver"):
            return None
        with_arguments = _method_with_arguments(strawberry_field)
        if with_arguments is None:
            return None
        plan.call, plan.info_name = with_arguments
        plan.wants_info = plan.info_name is not None
        plan.arguments = strawberry_field.arguments
        plan.is_async = strawberry_field.base_resolver.is_async
        plan.strawberry_field = strawberry_field
        return plan
    if _is_basic(field):
        plan.read = _reader(field)
        if shape.kind == "leaf":
            kind = field.type.of_type if shape.non_null else field.type  # type: ignore[attr-defined]
            plan.leaf = _attribute_leaf(plan.read, kind, shape.non_null)
        elif shape.kind == "leaves":
            plan.leaf = _attribute_leaves(plan.read, shape)
        return plan
    if not methods or getattr(field.resolve, "__name__", "") not in ("_resolver", "_async_resolver", "lean"):
        return None
    method = _method(strawberry_field)
    if method is None:
        return None
    plan.call, plan.wants_info = method
    plan.is_async = strawberry_field.base_resolver.is_async
    plan.strawberry_field = strawberry_field
    if plan.is_async and plan.wants_info and not strawberry_field.extensions:
        plan.batch = batch_of(strawberry_field.base_resolver.wrapped_func)
    return plan


_PLANS = "_codex_field_plans"  # kept on the object type itself: dropped with its schema (types refer to each other)


def field_plan(parent_type: GraphQLObjectType, name: str, methods: bool) -> FieldPlan | None:
    """The plan of ``parent_type.name``, or None when graphql-core's ``execute_field`` answers it. ``methods``
    is false when the schema's exception handlers wrap resolvers (strawberry's wrapper must then run)."""
    plans: dict[str, FieldPlan | None] | None = parent_type.__dict__.get(_PLANS)
    if plans is None:
        plans = {}
        setattr(parent_type, _PLANS, plans)
    if name in plans:
        return plans[name]
    field = parent_type.fields.get(name)
    plan = plans[name] = _plan(field, methods) if field is not None else None
    return plan


def leaf_fields(parent_type: GraphQLObjectType) -> set[str]:
    """The fields of ``parent_type`` answered inline from an attribute (for tests)."""
    return {name for name, field in parent_type.fields.items()
            if (plan := _plan(field, False)) is not None and plan.leaf is not None}


__all__ = ["MISS", "FieldPlan", "Shape", "field_plan", "leaf_fields", "leaf_of", "plain", "shape_of"]
