"""The resolvers' executor: graphql-core's, with the fields it can plan answered without its per-field machinery.

graphql-core answers each field of a response with a ``Path``, a ``GraphQLResolveInfo``, the resolver call,
``is_awaitable`` and three or four levels of ``complete_value`` (non-null, list, item, object, then the
object's fields again). Most fields of a response need none of that: leaves read straight off their parent
(``title``, ``priceCents``, ``id``, a cursor, ``tags``), objects and lists of objects read off their parent
(``edges``, ``node``, ``pageInfo``), and resolver methods without arguments (``viewerHasAccess``,
``creator`` once a page's answers are loaded, ``branding``; guarded ``failureReason``). ``execute_fields``
here plans each selection once per request (per object type, from the plans of execution_plans.py) and
answers those fields directly: the attribute read or the method call (with strawberry's ``Info``, whose
graphql-core resolve info is built only if the resolver reads more than the context), then the completion
of the value by the shape of its type; an ``async def`` method's coroutine is awaited here, then completed.

The planned branches produce no error and no null of their own. A value they are not sure of (a null for a
non-null type, an awaitable, an exception, a value the scalar refuses, an object ``is_type_of`` rejects) is
handed to graphql-core's ``complete_value`` (or ``complete_awaitable_value``) with the same info and path,
and any exception is reported by graphql-core's ``handle_field_error``, as ``execute_field`` does; inside a
list the decision is made per item with graphql-core's own item completion. Attribute leaves are simply
answered by ``execute_field`` again when declined (reading an attribute twice changes nothing). Methods with
arguments (``organization(slug:)``, ``contents(first:, after:, filter:)``) and no field extension are called
directly too: their arguments are graphql-core's ``get_argument_values`` converted by strawberry's
``convert_arguments``, worked out once per selection and request (``_kwargs``), and an argument either refuses
sends the field to graphql-core's ``execute_field``, which reports it. An ``async def`` method's object is
completed through the planned fields as well. Fields with an extension other than one synchronous permission
rule, and subscription fields take graphql-core's ``execute_field`` unchanged, abstract types its
``complete_value``; with resolver middleware
nothing is planned; under an abort signal an async method's coroutine goes to ``complete_awaitable_value``.

Fields with a resolver method that takes no arguments and has no field extension are also called directly
by graphql-core's path (``streamline``), as strawberry's wrapper would call them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID
from weakref import WeakKeyDictionary

from graphql import GraphQLObjectType, GraphQLOutputType, GraphQLSchema, Undefined
from graphql.execution.executor import collect_iterator_awaitables
from graphql.execution.values import get_argument_values
from graphql.pyutils import Path, gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types.arguments import convert_arguments

from codex_graphql.execution_batches import BatchPrefill, Step
from codex_graphql.execution_plans import MISS, FieldPlan, Shape, field_plan, plain
from codex_graphql.null_variables import null_variable_error

_path = tuple.__new__  # _path(Path, (prev, key, typename)): a Path without its Python-level constructor
_SETTLED = frozenset((dict, list, str, int, float, bool, type(None)))  # results that are never awaitable
_IMMUTABLE = frozenset((str, int, float, bool, type(None), UUID, Decimal, date, datetime))  # argument values

# One entry per response key of a selection: (key, field details, attribute leaf or None, plan or None)
Entry = tuple[str, Any, Callable[[Any], Any] | None, FieldPlan | None]


def _constant(value: str) -> Callable[[Any], str]:
    """``__typename`` of an object type: its name, whatever the source."""
    return lambda _source: value


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


def _planned_info(info_class: type) -> type:
    """strawberry's ``Info`` (the schema's class) for a planned resolver call: ``context`` at hand, graphql-core's
    resolve info (with the field's path) built on first use, so that a resolver reading only the context
    costs neither."""

    class PlannedInfo(info_class):  # type: ignore[valid-type, misc]
        def __init__(self, executor: Any, plan: FieldPlan, parent_type: GraphQLObjectType, path: Path | None,
                      response_name: str, field_details_list: Any) -> None:
            self._field = plan.strawberry_field
            self._planned = (executor, plan, parent_type, path, response_name, field_details_list)

        @property
        def context(self) -> Any:
            return self._planned[0].context_value

        @property
        def _raw_info(self) -> Any:
            raw = self.__dict__.get("_raw")
            if raw is None:
                executor, plan, parent_type, path, response_name, field_details_list = self._planned
                raw = self.__dict__["_raw"] = executor._info(plan, parent_type, Path(path, response_name, parent_type.name),
                                                             field_details_list)
            return raw

    PlannedInfo.__name__ = PlannedInfo.__qualname__ = info_class.__name__
    return PlannedInfo


# Per schema: (resolver methods may be called directly, the Info class of planned calls, lists may be planned)
_settings: WeakKeyDictionary[GraphQLSchema, tuple[bool, Any, bool]] = WeakKeyDictionary()


def streamline(schema: GraphQLSchema) -> tuple[bool, Any, bool]:
    """Once per schema: each field whose resolver is a plain synchronous method of its type (no argument, no
    field extension, hence no permission rule) is called directly with strawberry's ``Info``, instead of
    through strawberry's generic wrapper (argument conversion, the extension chain, three more calls).
    Answers what execute_fields may plan in this schema."""
    settings = _settings.get(schema)
    if settings is not None:
        return settings
    strawberry_schema = getattr(schema, "_strawberry_schema", None)
    converter = getattr(strawberry_schema, "schema_converter", None)
    # @stream would ask graphql-core to deliver list items incrementally: lists are then left to it.
    lists = schema.get_directive("stream") is None
    if converter is None or getattr(converter, "_exception_handler_specs", True):
        # exception handlers wrap resolvers: leave strawberry's
        settings = _settings[schema] = (False, None, lists)
        return settings
    info_class = strawberry_schema.config.info_class  # type: ignore[union-attr]
    settings = _settings[schema] = (True, _planned_info(info_class), lists)
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
    return settings


def _leaves(shape: Shape, value: list[Any] | tuple[Any, ...]) -> Any:
    """A list of leaves completed, or MISS (nothing happened: leaves are coerced without side effects)."""
    leaf: Any = shape.leaf
    item_non_null = shape.item_non_null
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


class CodexExecutionContext(BatchPrefill, StrawberryGraphQLCoreExecutionContext):
    """graphql-core's executor with planned fields (module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._methods, self._info_class, self._lists = streamline(self.schema)
        manager = self.middleware_manager
        self._planned = manager is None or manager._middleware_resolvers is None
        self._selections: dict[int, tuple[Any, GraphQLObjectType, list[Entry]]] = {}
        self._subfield_sets: dict[int, tuple[Any, GraphQLObjectType, Any]] = {}
        self._argument_values: dict[int, tuple[Any, Any, dict[str, Any] | None, bool]] = {}
        # Batched fields (batched.py): per selection, the fields a list's prefill visits; per field, the
        # answers of its batches by parent; per selection, the parents already prefilled.
        self._steps: dict[int, tuple[Any, list[Step]]] = {}
        self._answered: dict[int, tuple[Any, dict[int, tuple[Any, Any]]]] = {}
        self._prefilled: dict[int, tuple[Any, set[int]]] = {}
        strawberry_schema = getattr(self.schema, "_strawberry_schema", None)
        self._converter = (None if strawberry_schema is None else
                           (strawberry_schema.schema_converter.scalar_registry, strawberry_schema.config))

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

    def _entries_of(self, parent_type: GraphQLObjectType, grouped_field_set: Any) -> list[Entry]:
        cached = self._selections.get(id(grouped_field_set))
        if cached is not None and cached[0] is grouped_field_set and cached[1] is parent_type:
            return cached[2]
        return self._entries(parent_type, grouped_field_set)

    def _entries(self, parent_type: GraphQLObjectType, grouped_field_set: Any) -> list[Entry]:
        """The plan of one selection on ``parent_type``, made once per request."""
        entries: list[Entry] = []
        methods = self._methods
        for response_name, field_details_list in grouped_field_set.items():
            node = field_details_list[0].node
            name = node.name.value
            if name == "__typename":
                entries.append((response_name, field_details_list, _constant(parent_type.name), None))
                continue
            plan = field_plan(parent_type, name, methods)
            if plan is not None and node.arguments and plan.arguments is None:
                plan = None
            entries.append((response_name, field_details_list, plan.leaf if plan else None, plan))
        self._selections[id(grouped_field_set)] = (grouped_field_set, parent_type, entries)
        return entries

    def execute_fields(  # type: ignore[override]
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: Any,
        position_context: Any,
    ) -> Any:
        if not self._planned:
            return super().execute_fields(parent_type, source_value, path, grouped_field_set, position_context)
        entries = self._entries_of(parent_type, grouped_field_set)
        results: dict[str, Any] = {}
        is_awaitable = self.is_awaitable
        awaitable_fields: list[str] = []
        try:
            for response_name, field_details_list, leaf, plan in entries:
                if leaf is not None:
                    try:
                        value = leaf(source_value)
                    except Exception:  # noqa: BLE001  (execute_field reads it again and reports the error)
                        value = MISS
                    if value is not MISS:
                        results[response_name] = value
                        continue
                    plan = None
                if plan is None:
                    result = self.execute_field(parent_type, source_value, field_details_list,
                                                _path(Path, (path, response_name, parent_type.name)),
                                                position_context)
                    if result is Undefined:
                        continue
                else:
                    result = self._run(plan, parent_type, source_value, path, response_name, field_details_list,
                                       position_context)
                results[response_name] = result
                if result.__class__ not in _SETTLED and is_awaitable(result):
                    awaitable_fields.append(response_name)
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

    def _kwargs(self, plan: FieldPlan, field_details_list: Any) -> dict[str, Any] | None:
        """The keyword arguments strawberry would pass to the method: graphql-core's argument values (from the
        field's node and this request's variables) converted by strawberry's ``convert_arguments``, worked out
        once per selection and request; copied per call when they are all immutable (strings, numbers,
        enum members, ...), converted again per call otherwise (input objects and lists are made anew for
        each call, as strawberry makes them). None when graphql-core or strawberry refuses them (then
        graphql-core's ``execute_field`` runs the field and reports the error, as it always would)."""
        cached = self._argument_values.get(id(field_details_list))
        if cached is None or cached[0] is not field_details_list:
            details = field_details_list[0]
            raw: Any = None
            kwargs: dict[str, Any] | None = None
            try:
                raw = get_argument_values(plan.definition, details.node, self.variable_values,
                                          details.fragment_variable_values, self.hide_suggestions)
                kwargs = self._convert(plan, raw)
            except Exception:  # noqa: BLE001  (reported by execute_field, which works them out again)
                kwargs = None
            fixed = kwargs is not None and all(value.__class__ in _IMMUTABLE or isinstance(value, Enum)
                                               for value in kwargs.values())
            cached = self._argument_values[id(field_details_list)] = (field_details_list, raw, kwargs, fixed)
        kwargs = cached[2]
        if kwargs is None:
            return None
        if cached[3]:
            return dict(kwargs)
        try:
            return self._convert(plan, cached[1])
        except Exception:  # noqa: BLE001
            return None

    def _convert(self, plan: FieldPlan, raw: dict[str, Any]) -> dict[str, Any]:
        scalar_registry, config = self._converter  # type: ignore[misc]
        return convert_arguments(raw, plan.arguments, scalar_registry=scalar_registry,  # type: ignore[arg-type]
                                 config=config)

    def _info(self, plan: FieldPlan, parent_type: GraphQLObjectType, path: Path, field_details_list: Any) -> Any:
        return self.build_resolve_info(plan.definition, [details.node for details in field_details_list],
                                       parent_type, path)

    def _run(self, plan: FieldPlan, parent_type: GraphQLObjectType, source: Any, path: Path | None,
             response_name: str, field_details_list: Any, position_context: Any) -> Any:
        """``execute_field`` for a planned field: obtain the value, complete it by its shape, and hand what the
        shape declines to graphql-core with the same info and path. A leaf answered here needs no path."""
        info = None
        result = MISS
        if plan.batch is not None:  # the value its list's batch kept for this parent (execution_batches.py)
            answered = self._answered.get(id(field_details_list))
            if answered is not None and answered[0] is field_details_list:
                hit = answered[1].get(id(source))
                if hit is not None and hit[0] is source:
                    result = hit[1]
        if result is MISS:  # else answered by its list's batch: completed below as a synchronous value
            try:
                call = plan.call
                if call is None:
                    result = plan.read(source)  # type: ignore[misc]
                elif plan.arguments is not None:
                    kwargs = self._kwargs(plan, field_details_list)
                    if kwargs is None:  # an argument refused: graphql-core's execute_field reports it
                        return self.execute_field(parent_type, source, field_details_list,
                                                  _path(Path, (path, response_name, parent_type.name)),
                                                  position_context)
                    if plan.wants_info:
                        info = kwargs[plan.info_name] = self._info_class(self, plan, parent_type, path,
                                                                         response_name, field_details_list)
                    result = call(source, **kwargs)
                elif plan.wants_info:
                    info = self._info_class(self, plan, parent_type, path, response_name, field_details_list)
                    result = call(source, info)
                else:
                    result = call(source)
            except Exception as raw_error:
                self.handle_field_error(raw_error, plan.return_type, field_details_list,
                                        _path(Path, (path, response_name, parent_type.name)))
                return None
            if plan.is_async and self.abort_signal is None:
                return self._settle(plan, parent_type, _path(Path, (path, response_name, parent_type.name)),
                                    field_details_list, info, result, position_context)
        shape = plan.shape
        kind = shape.kind
        field_path = None
        if result is None:
            if not shape.non_null:
                return None
        elif result is Undefined:
            pass  # a null to graphql-core
        elif kind == "leaf":
            completed = shape.leaf(result)  # type: ignore[misc]
            if completed is not MISS:
                return completed
        elif position_context is not None or shape.custom_check:
            pass  # incremental delivery, or an is_type_of that may read its info: graphql-core completes
        elif kind == "object":
            check = shape.check
            if plain(result) if check is None else check(result, None) is True:
                object_type: GraphQLObjectType = shape.object_type  # type: ignore[assignment]
                grouped = self._subfields(object_type, field_details_list)
                if grouped is not None:
                    field_path = _path(Path, (path, response_name, parent_type.name))
                    try:
                        completed = self.execute_fields(object_type, result, field_path, grouped, None)
                    except Exception as raw_error:
                        self.handle_field_error(raw_error, plan.return_type, field_details_list, field_path)
                        return None
                    if completed.__class__ is dict:
                        return completed
                    return self._await_field(completed, plan.return_type, field_details_list, field_path)
        elif result.__class__ is list or result.__class__ is tuple:
            field_path = _path(Path, (path, response_name, parent_type.name))
            try:
                completed = self._list_of(plan, parent_type, field_details_list, field_path, result)
            except Exception as raw_error:
                self.handle_field_error(raw_error, plan.return_type, field_details_list, field_path)
                return None
            if completed is not MISS:
                if completed.__class__ is list:
                    return completed
                return self._await_field(completed, plan.return_type, field_details_list, field_path)
        # Declined: graphql-core completes (or reports) the value, as execute_field after the resolver call.
        if field_path is None:
            field_path = _path(Path, (path, response_name, parent_type.name))
        return_type = plan.return_type
        try:
            raw = info._raw_info if info is not None else self._info(plan, parent_type, field_path,
                                                                     field_details_list)
            if self.is_awaitable(result):
                return self.complete_awaitable_value(return_type, field_details_list, raw, field_path, result,
                                                     position_context)
            completed = self.complete_value(return_type, field_details_list, raw, field_path, result,
                                            position_context)
            if completed.__class__ not in _SETTLED and self.is_awaitable(completed):
                return self._await_field(completed, return_type, field_details_list, field_path)
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, field_details_list, field_path)
            return None
        return completed

    async def _settle(self, plan: FieldPlan, parent_type: GraphQLObjectType, path: Path, field_details_list: Any,
                      info: Any, awaitable: Awaitable[Any], position_context: Any) -> Any:
        """graphql-core's ``complete_awaitable_value`` for an ``async def`` method's coroutine (no abort signal:
        awaited as it is), with a leaf answered by its shape."""
        return_type = plan.return_type
        try:
            result = await awaitable
            shape = plan.shape
            if result is not None and result is not Undefined:
                if shape.kind == "leaf":
                    completed = shape.leaf(result)  # type: ignore[misc]
                    if completed is not MISS:
                        return completed
                elif shape.kind == "object" and position_context is None and not shape.custom_check and (
                        plain(result) if shape.check is None else shape.check(result, None) is True):
                    # an object (a connection, an organization): its fields planned, as in ``_run``
                    object_type: GraphQLObjectType = shape.object_type  # type: ignore[assignment]
                    grouped = self._subfields(object_type, field_details_list)
                    if grouped is not None:
                        completed = self.execute_fields(object_type, result, path, grouped, None)
                        if completed.__class__ is not dict:
                            completed = await completed
                        return completed
                elif (result.__class__ is list or result.__class__ is tuple) and position_context is None:
                    # a list (a connection's edges, a dashboard's days): completed as in ``_run``
                    completed = self._list_of(plan, parent_type, field_details_list, path, result)
                    if completed is not MISS:
                        return completed if completed.__class__ is list else await completed
            raw = info._raw_info if info is not None else self._info(plan, parent_type, path, field_details_list)
            completed = self.complete_value(return_type, field_details_list, raw, path, result, position_context)
            if self.is_awaitable(completed):
                completed = await completed
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, field_details_list, path)
            return None
        return completed

    def _list_of(self, plan: FieldPlan, parent_type: GraphQLObjectType, field_details_list: Any, path: Path,
                 items: list[Any] | tuple[Any, ...]) -> Any:
        """A list value completed by its shape (leaves, or plain objects with their fields planned): the list,
        an awaitable of it, or MISS when graphql-core must complete it. Raises what completing raised."""
        shape = plan.shape
        if shape.kind == "leaves":
            return _leaves(shape, items)
        if shape.kind == "objects" and self._lists and not shape.custom_check:
            grouped = self._subfields(shape.object_type, field_details_list)  # type: ignore[arg-type]
            if grouped is not None:
                return self._complete_objects(plan, shape, parent_type, grouped, field_details_list, path, items)
        return MISS

    async def _await_field(self, completed: Awaitable[Any], return_type: GraphQLOutputType,
                           field_details_list: Any, path: Path) -> Any:
        try:
            return await completed
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, field_details_list, path)
            return None

    def _subfields(self, object_type: GraphQLObjectType, field_details_list: Any) -> Any:
        """graphql-core's ``collect_subfields`` (memoized per request), or None with ``@defer`` in them."""
        cached = self._subfield_sets.get(id(field_details_list))
        if cached is not None and cached[0] is field_details_list and cached[1] is object_type:
            return cached[2]
        grouped, defers, _ = self.collect_subfields(object_type, field_details_list)
        grouped = None if defers else grouped
        self._subfield_sets[id(field_details_list)] = (field_details_list, object_type, grouped)
        return grouped

    def _complete_items(self, plan: FieldPlan, shape: Shape, parent_type: GraphQLObjectType, grouped: Any,
                        field_details_list: Any, path: Path, items: list[Any] | tuple[Any, ...]) -> Any:
        """graphql-core's ``complete_iterable_value`` for a list of objects: plain items completed here, any
        other item by graphql-core's own ``complete_list_item_value`` (or its awaitable variant)."""
        object_type: GraphQLObjectType = shape.object_type  # type: ignore[assignment]
        return_type: Any = plan.return_type
        item_type = (return_type.of_type if shape.non_null else return_type).of_type
        check = shape.check
        execute_fields = self.execute_fields
        is_awaitable = self.is_awaitable
        completed_results: list[Any] = []
        append = completed_results.append
        awaitable_indices: list[int] = []
        info = None
        index = 0
        try:
            for index, item in enumerate(items):  # noqa: B007  (index read after an error)
                item_path = _path(Path, (path, index, None))
                if item is not None and (plain(item) if check is None else check(item, None) is True):
                    try:
                        completed = execute_fields(object_type, item, item_path, grouped, None)
                    except Exception as raw_error:
                        self.handle_field_error(raw_error, item_type, field_details_list, item_path)
                        append(None)
                        continue
                    if completed.__class__ is dict:
                        append(completed)
                    else:
                        append(self._await_item(completed, item_type, field_details_list, item_path))
                        awaitable_indices.append(index)
                    continue
                if info is None:
                    info = self._info(plan, parent_type, path, field_details_list)
                if is_awaitable(item):
                    append(self.complete_awaitable_list_item_value(item, item_type, field_details_list, info,
                                                                   item_path, None))
                    awaitable_indices.append(index)
                elif self.complete_list_item_value(item, completed_results, item_type, field_details_list, info,
                                                   item_path, None):
                    awaitable_indices.append(index)
        except Exception:
            pending = [completed_results[i] for i in awaitable_indices]
            pending.extend(collect_iterator_awaitables(iter(items[index + 1:]), is_awaitable))
            if pending:
                self.settle_in_background(pending)
            raise

        if not awaitable_indices:
            return completed_results

        async def get_completed_results() -> list[Any]:
            if len(awaitable_indices) == 1:
                at = awaitable_indices[0]
                completed_results[at] = await completed_results[at]
            else:
                awaited = await gather_with_cancel(*(completed_results[at] for at in awaitable_indices))
                for at, value in zip(awaitable_indices, awaited, strict=True):
                    completed_results[at] = value
            return completed_results

        return get_completed_results()

    async def _await_item(self, completed: Awaitable[Any], item_type: GraphQLOutputType, field_details_list: Any,
                          item_path: Path) -> Any:
        try:
            return await completed
        except Exception as raw_error:
            self.handle_field_error(raw_error, item_type, field_details_list, item_path)
            return None


__all__ = ["CodexExecutionContext", "streamline"]
