"""The resolvers' executor: graphql-core's, with plain leaf fields completed without the per-field machinery.

Most fields of a response are leaves read straight off their parent object (``title``, ``priceCents``,
``id``, a cursor, ``tags``): strawberry resolves them with its basic resolver (``getattr`` of the Python
name, no resolver function, no field extension, no permission), yet graphql-core builds a ``Path``, a
``GraphQLResolveInfo``, argument values and three levels of ``complete_value`` for each. ``execute_fields``
here answers such a field inline: the same basic resolver, then the type's own output coercion. Anything
unusual (a null for a non-null type, a value the scalar refuses, an exception, an awaitable, arguments,
middleware) is left to graphql-core's ``execute_field``, which computes the field again and reports it
exactly as before: the fast branch never produces an error or a null of its own.

Fields with a resolver method that takes no arguments and has no field extension (so no permission rule,
which is an extension) are called directly (``streamline``), as strawberry's wrapper would call them.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any
from weakref import WeakKeyDictionary

from graphql import (
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    Undefined,
    is_leaf_type,
)
from graphql.pyutils import Path, gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from codex_graphql.null_variables import null_variable_error

_MISS = object()  # the fast branch declined: graphql-core's execute_field answers the field
_PLAIN = frozenset((str, int, float, bool))

# (read, coerce, non_null, item_coerce or None for a scalar field, item_non_null) of a plain leaf field
LeafPlan = tuple[Callable[[Any], Any], Callable[[Any], Any], bool, Callable[[Any], Any] | None, bool]

_plans: WeakKeyDictionary[GraphQLObjectType, dict[str, LeafPlan]] = WeakKeyDictionary()


def _is_basic(field: GraphQLField) -> bool:
    """Strawberry's resolver for a field with no resolver function, no extension and no exception handler."""
    return getattr(field.resolve, "__name__", "") == "_get_basic_result"


def _reader(field: GraphQLField) -> Callable[[Any], Any]:
    """What the basic resolver returns for a source: ``getattr`` of the Python name (strawberry's default
    resolver), read without the resolver's two calls and two properties."""
    definition = field.extensions.get("strawberry-definition")
    name = getattr(definition, "python_name", None)
    if getattr(definition, "default_resolver", None) is getattr and name:
        return attrgetter(name)
    resolve = field.resolve
    return lambda source: resolve(source, None)  # type: ignore[misc]


def _leaf_plan(field: GraphQLField) -> LeafPlan | None:
    if not _is_basic(field):
        return None
    kind: GraphQLOutputType = field.type
    non_null = isinstance(kind, GraphQLNonNull)
    if non_null:
        kind = kind.of_type
    if is_leaf_type(kind):
        return _reader(field), kind.coerce_output_value, non_null, None, False  # type: ignore[return-value, union-attr]
    if not isinstance(kind, GraphQLList):
        return None
    item: GraphQLOutputType = kind.of_type
    item_non_null = isinstance(item, GraphQLNonNull)
    if item_non_null:
        item = item.of_type
    if not is_leaf_type(item):
        return None
    return _reader(field), _identity, non_null, item.coerce_output_value, item_non_null  # type: ignore[return-value, union-attr]


def _identity(value: Any) -> Any:
    return value


def plans_of(parent_type: GraphQLObjectType) -> dict[str, LeafPlan]:
    """The plain leaf fields of ``parent_type`` by field name, computed once per type."""
    plans = _plans.get(parent_type)
    if plans is None:
        plans = {}
        for name, field in parent_type.fields.items():
            plan = _leaf_plan(field)
            if plan is not None:
                plans[name] = plan
        _plans[parent_type] = plans
    return plans


def _coerced(value: Any, coerce: Callable[[Any], Any]) -> Any:
    if value.__class__ not in _PLAIN and (isinstance(value, BaseException) or hasattr(value, "__await__")):
        return _MISS
    out = coerce(value)
    return _MISS if out is None or out is Undefined else out


def complete_leaf(plan: LeafPlan, source: Any) -> Any:
    """The completed value of a plain leaf field, or ``_MISS`` when graphql-core must answer it."""
    read, coerce, non_null, item_coerce, item_non_null = plan
    try:
        value = read(source)
        if value is None:
            return _MISS if non_null else None
        if item_coerce is None:
            return _coerced(value, coerce)
        if not isinstance(value, list | tuple):
            return _MISS
        out = []
        for item in value:
            if item is None:
                if item_non_null:
                    return _MISS
                out.append(None)
                continue
            completed = _coerced(item, item_coerce)
            if completed is _MISS:
                return _MISS
            out.append(completed)
        return out
    except Exception:  # noqa: BLE001  (graphql-core computes the field again and reports the error)
        return _MISS


def _lean(definition: Any, info_class: type) -> Callable[..., Any] | None:
    """A direct call of a synchronous resolver method that takes only ``self`` and perhaps ``info``."""
    resolver = definition.base_resolver
    if resolver is None or definition.extensions or definition.arguments or resolver.is_async:
        return None
    if resolver.self_parameter is None or resolver.root_parameter or resolver.parent_parameter:
        return None
    info_parameter = resolver.info_parameter
    expected = {resolver.self_parameter.name} | ({info_parameter.name} if info_parameter else set())
    if set(resolver.signature.parameters) != expected:
        return None
    func = resolver.wrapped_func
    if info_parameter is None:
        def lean(source: Any, info: Any) -> Any:
            return func(source)
    else:
        name = info_parameter.name

        def lean(source: Any, info: Any) -> Any:
            return func(source, **{name: info_class(_raw_info=info, _field=definition)})
    lean._is_default = False  # type: ignore[attr-defined]  (as strawberry marks a field with a resolver)
    return lean


_streamlined: WeakKeyDictionary[GraphQLSchema, bool] = WeakKeyDictionary()


def streamline(schema: GraphQLSchema) -> None:
    """Once per schema: each field whose resolver is a plain synchronous method of its type (no argument, no
    field extension, hence no permission rule) is called directly with strawberry's ``Info``, instead of
    through strawberry's generic wrapper (argument conversion, the extension chain, three more calls)."""
    if schema in _streamlined:
        return
    _streamlined[schema] = True
    strawberry_schema = getattr(schema, "_strawberry_schema", None)
    converter = getattr(strawberry_schema, "schema_converter", None)
    if converter is None or getattr(converter, "_exception_handler_specs", True):
        return  # exception handlers wrap resolvers: leave strawberry's
    info_class = strawberry_schema.config.info_class  # type: ignore[union-attr]
    for graphql_type in schema.type_map.values():
        if not isinstance(graphql_type, GraphQLObjectType) or graphql_type.name.startswith("__"):
            continue
        for field in graphql_type.fields.values():
            definition = field.extensions.get("strawberry-definition")
            if definition is None or getattr(field.resolve, "__name__", "") != "_resolver":
                continue
            lean = _lean(definition, info_class)
            if lean is not None:
                field.resolve = lean


class CodexExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """``execute_fields`` of graphql-core with the plain-leaf branch, over streamlined resolvers (module
    docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        streamline(self.schema)

    @classmethod
    def build(cls, *args: Any, **kwargs: Any) -> Any:
        """graphql-core's ``build``, which also refuses a null variable in a non-null position as it refuses
        a variable that fails coercion: a request error, before anything runs (null_variables.py)."""
        executor = super().build(*args, **kwargs)
        if isinstance(executor, list):
            return executor
        error = null_variable_error(executor.schema, executor.operation, executor.fragment_definitions,
                                    executor.variable_values.coerced)
        return executor if error is None else [error]

    def execute_fields(  # type: ignore[override]
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: Any,
        position_context: Any,
    ) -> Any:
        manager = self.middleware_manager
        plans = plans_of(parent_type) if manager is None or manager._middleware_resolvers is None else {}
        results: dict[str, Any] = {}
        is_awaitable = self.is_awaitable
        awaitable_fields: list[str] = []
        append_awaitable = awaitable_fields.append
        try:
            for response_name, field_details_list in grouped_field_set.items():
                if plans:
                    node = field_details_list[0].node
                    plan = plans.get(node.name.value)
                    if plan is not None and not node.arguments:
                        value = complete_leaf(plan, source_value)
                        if value is not _MISS:
                            results[response_name] = value
                            continue
                field_path = Path(path, response_name, parent_type.name)
                result = self.execute_field(parent_type, source_value, field_details_list, field_path,
                                            position_context)
                if result is not Undefined:
                    results[response_name] = result
                    if is_awaitable(result):
                        append_awaitable(response_name)
        except Exception:
            if awaitable_fields:
                # Settle the awaitables other fields created: they may fail too (as graphql-core does).
                self.settle_in_background([results[field] for field in awaitable_fields])
            raise

        if not awaitable_fields:
            return results

        async def get_results() -> dict[str, Any]:
            if len(awaitable_fields) == 1:
                field = awaitable_fields[0]
                results[field] = await results[field]
            else:
                awaited = await gather_with_cancel(*(results[field] for field in awaitable_fields))
                results.update(zip(awaitable_fields, awaited, strict=True))
            return results

        return get_results()


__all__ = ["CodexExecutionContext", "complete_leaf", "plans_of", "streamline"]
