"""What the compiled path covers: the domains declare their compilable fields here, the engine asks.

The vocabulary (each domain's ``compiled.py`` uses it; ``codex_graphql.compiled_fields`` imports them all
and binds the served schema):

- ``declare(type_name, fields, id_type=..., organization=...)``: an object type's compilable fields by
  GraphQL name: ``Scalar`` (a column or SQL expression and its converter), ``Composite`` (a function that
  adds what it needs to the row's shape and returns the emitter), ``Lateral`` (a connection read in the
  root's statement) and ``FollowUp`` (a subquery over the root's row, e.g. a dashboard). ``id`` and
  ``__typename`` come for free. Declaring the same type again adds fields (another domain's). A short,
  unpaginated list of declared objects is a ``Composite`` made by ``fastpath.lists.records``.
- ``declare_root(name, factory)``: a root field of Query and the class compiling it.
- ``fastpath.nodes.declare_node(type_name, factory)``: a type ``node(id:)`` and ``nodes(ids:)`` compile for
  (those two roots are the core's own, ``declare_generic_root``; the abstract types fragments may name are
  read by ``bind_schema`` too).
- ``bind_schema(schema)``: reads every declared field's guard from the served schema (``guards``); a
  field is compiled only once its guard is known, and only with a compiled check for each of its rules.

Public to the engine: ``compile_root(field, fragments, graft=...) -> root`` (raises ``NotCompilable``) and
``TypenameRoot``. With ``graft``, a field that does not compile (or whose compiled guard refuses the viewer)
on a type whose resolvers' parents are declared (``fastpath.grafts.declare_parents``) is grafted instead of
making the whole root not compilable; such a root comes wrapped in ``grafts.GraftedRoot``. A root has ``key``,
``bind(viewer, variables)``, ``async fetch(conn, viewer, bound)``, ``keys_to_sign(fetched)`` and
``build(fetched, rt)``.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from graphql import FieldNode, GraphQLObjectType, GraphQLUnionType

from codex_graphql.fastpath import grafts, guards, selection
from codex_graphql.fastpath.connections import Filter
from codex_graphql.fastpath.guards import Check
from codex_graphql.fastpath.selection import (
    ArgGetter,
    Fragments,
    NotCompilable,
    fields_of,
    leaf,
    response_key,
)
from codex_graphql.fastpath.shapes import (
    Emit,
    NeedsResolvers,
    Runtime,
    Shape,
    SignKey,
    constant,
    global_id,
    plain,
)

Param = Callable[[str], str]  # a named statement parameter -> its placeholder ($n); "viewer" is always $1


@dataclass(frozen=True)
class Scalar:
    """A leaf read from one column (``column``) or SQL expression (``sql``, over ``{t}``: the table alias)."""

    column: str
    convert: Callable[[str], Emit] = plain
    sql: str | None = None


@dataclass(frozen=True)
class Composite:
    """A field compiled by ``compile(shape, field, fragments) -> Emit`` into the row of its object.

    ``requires``: an option the enclosing root must offer (e.g. a single item's page), else not compiled."""

    compile: Callable[[Shape, FieldNode, Fragments], Emit]
    requires: str | None = None


@dataclass(frozen=True)
class Lateral:
    """A connection read in its root's statement (``LEFT JOIN LATERAL``), newest first by ``order``.

    ``where(param, parent_id)`` is the condition on ``table alias`` rows belonging to the parent;
    ``values`` gives the named parameters it uses from the viewer; ``filter`` compiles one more argument
    into the condition (``connections.Filter``); an argument in ``fallback_arguments`` is accepted by
    the plan but a non-null value sends the request to the resolvers."""

    node_type: str
    table: str
    alias: str
    where: Callable[[Param, str], str]
    values: Mapping[str, Callable[[Any], Any]] = field(default_factory=dict)
    order: tuple[str, str] = ("created_at", "id")
    arguments: frozenset[str] = frozenset({"first", "after"})
    fallback_arguments: frozenset[str] = frozenset()
    node_columns: tuple[str, ...] = ()
    filter: Filter | None = None


class SubPlan(Protocol):
    """A FollowUp's compiled form: a subquery answering at most one row over its root's row.

    ``bind`` (before any statement; NotCompilable leaves the root to the resolvers) gives the statement's
    variant (what is written into its text, hashable) and the named parameters' values; ``sql`` is the
    subquery over the root table's alias (its own columns only), its columns named with ``prefix``, answering
    no row unless ``condition`` (its guard, over the root's row; in its own WHERE, so that PostgreSQL tests
    it once before running anything else of it) holds; ``read`` takes them from the row (None: the subquery
    answered no row, the resolvers answer)."""

    def bind(self, viewer: Any, variables: dict[str, Any]) -> tuple[Any, dict[str, Any]]: ...
    def sql(self, param: Param, prefix: str, variant: Any, condition: str) -> str: ...
    def read(self, row: Any, prefix: str) -> Any: ...
    def keys_to_sign(self, fetched: Any) -> list[SignKey]: ...
    def build(self, fetched: Any, rt: Runtime) -> Any: ...


@dataclass(frozen=True)
class FollowUp:
    """A field of a root object answered by a subquery over the root's row (``SubPlan``):
    ``compile(field, fragments, head_shape) -> SubPlan``. ``fields``: what it compiles of ``type_name``.
    A single-row root reads it in its own statement (``LEFT JOIN LATERAL``), a root with a connection in
    one more statement over its row's id (``fastpath.tables``); either way only where its guard can hold."""

    type_name: str
    fields: frozenset[str]
    compile: Callable[[FieldNode, Fragments, Shape], SubPlan]


Declared = Scalar | Composite | Lateral | FollowUp


@dataclass
class ObjectType:
    name: str
    id_type: str | None  # the type named in its global id (None: no `id` field)
    organization: str | None  # its column naming the organization the guards check against
    fields: dict[str, Declared]


@dataclass(frozen=True)
class Deferred:
    """A root-level field the root fetches itself (a Lateral or FollowUp), with its guard."""

    key: str
    node: FieldNode
    declared: Lateral | FollowUp
    checks: tuple[Check, ...]
    organization: str | None  # the head row's column for the checks


OBJECTS: dict[str, ObjectType] = {}
ROOTS: dict[str, Callable[[FieldNode, Fragments], Any]] = {}
ROOT_TYPES: dict[str, str] = {}  # root field -> the GraphQL type it returns (for tests and guards)
GUARDS: dict[tuple[str, str], tuple[Check, ...]] = {}  # bound from the schema; absent: not compilable
REFUSED: dict[tuple[str, str], str] = {}  # fields whose guard has a rule without a compiled check
DEFERRED = constant(None)  # placeholder emitter of a Deferred field


def declare(type_name: str, fields: Mapping[str, Declared], *, id_type: str | None = None,
            organization: str | None = None) -> None:
    found = OBJECTS.get(type_name)
    if found is None:
        OBJECTS[type_name] = ObjectType(type_name, id_type, organization, dict(fields))
        return
    found.fields.update(fields)
    found.id_type = found.id_type or id_type
    found.organization = found.organization or organization


def declare_root(name: str, type_name: str, factory: Callable[[FieldNode, Fragments], Any]) -> None:
    ROOTS[name] = factory
    ROOT_TYPES[name] = type_name


# Root fields the core builds over every declared node type (fastpath.nodes: `node`, `nodes`). Not in
# `declared()`: they answer for the types declared there, whose fields are checked on their own roots.
GENERIC_ROOTS: dict[str, Callable[[FieldNode, Fragments], Any]] = {}


def declare_generic_root(name: str, factory: Callable[[FieldNode, Fragments], Any]) -> None:
    GENERIC_ROOTS[name] = factory


def _bind_supertypes(type_map: Mapping[str, Any]) -> None:
    """Record, for each object type, the interfaces and unions it belongs to (fragments on them apply)."""
    found: dict[str, set[str]] = {}
    for name, graphql_type in type_map.items():
        if isinstance(graphql_type, GraphQLObjectType):
            found.setdefault(name, set()).update(interface.name for interface in graphql_type.interfaces)
        elif isinstance(graphql_type, GraphQLUnionType):
            for member in graphql_type.types:
                found.setdefault(member.name, set()).add(name)
    selection.SUPERTYPES.clear()
    selection.SUPERTYPES.update({name: frozenset(names) for name, names in found.items()})


def declared() -> Iterator[tuple[str, str, Declared | None]]:
    """Every (type, field) the registry declares: roots on Query, object fields, follow-ups' fields."""
    for name in ROOTS:
        yield "Query", name, None
    for object_type in OBJECTS.values():
        for name, declaration in object_type.fields.items():
            yield object_type.name, name, declaration
            if isinstance(declaration, FollowUp):
                for inner in sorted(declaration.fields):
                    yield declaration.type_name, inner, None


def bind_schema(schema: Any) -> None:
    """Read the guard of every declared field from the served (strawberry) schema."""
    type_map = schema._schema.type_map
    _bind_supertypes(type_map)
    for type_name, name, _ in [*declared(), *(("Query", name, None) for name in GENERIC_ROOTS)]:
        graphql_type = type_map.get(type_name)
        graphql_field = getattr(graphql_type, "fields", {}).get(name)
        if graphql_field is None:
            REFUSED[(type_name, name)] = "not in the schema"
            GUARDS.pop((type_name, name), None)
            continue
        rules = guards.rules_of(graphql_field.extensions.get("strawberry-definition"))
        checks = [guards.check_of(rule) for rule in rules]
        if any(check is None for check in checks):
            REFUSED[(type_name, name)] = f"a rule without a compiled check: {rules}"
            GUARDS.pop((type_name, name), None)
            continue
        REFUSED.pop((type_name, name), None)
        GUARDS[(type_name, name)] = tuple(c for c in checks if c is not None)


def guard(type_name: str, name: str) -> tuple[Check, ...]:
    """The compiled checks of a field's guard; NotCompilable when it is unknown or cannot be checked."""
    checks = GUARDS.get((type_name, name))
    if checks is None:
        raise NotCompilable(f"{type_name}.{name}: {REFUSED.get((type_name, name), 'guard not bound')}")
    return checks


def _checked(emit: Emit, checks: tuple[Check, ...], organization: str | None, what: str,
             refused: Emit | None = None) -> Emit:
    """``emit`` behind the field's guard; refused, the field is grafted (``refused``) or the root resolved."""
    def checked_emit(row: Any, rt: Runtime) -> Any:
        if not guards.allowed(checks, rt.viewer, row[organization] if organization else None):
            if refused is not None:
                return refused(row, rt)  # the resolvers phrase the error, at the field's own path
            raise NeedsResolvers(f"{what} refused: the resolvers phrase the error")
        return emit(row, rt)
    return checked_emit


def compile_object(type_name: str, field_node: FieldNode, fragments: Fragments, prefix: str, *,
                   nullable: bool = False, options: frozenset[str] = frozenset(), root: bool = False) -> Shape:
    """The shape of a selection on ``type_name`` read from the table aliased ``prefix`` minus ``_``.

    ``nullable``: the row may be absent (a left join). ``root``: Lateral and FollowUp fields are allowed
    and left in ``shape.deferred`` for the root to fetch."""
    object_type = OBJECTS.get(type_name)
    if object_type is None:
        raise NotCompilable(type_name)
    shape = Shape(prefix, head=root)
    if nullable:
        shape.presence = shape.column("id")
    for child in fields_of(field_node.selection_set, type_name, fragments):
        key, name = response_key(child), child.name.value
        if name == "__typename":
            leaf(child)
            shape.emitters.append((key, constant(type_name)))
            continue
        if name == "id" and object_type.id_type is not None:
            leaf(child)
            shape.emitters.append((key, global_id(object_type.id_type, shape.column("id"))))
            continue
        if not grafts.graftable(type_name, object_type.id_type):
            shape.emitters.append((key, _compile_field(object_type, shape, child, fragments, options, root)))
            continue
        before, sites = _snapshot(shape), grafts.mark()
        try:
            emit = _compile_field(object_type, shape, child, fragments, options, root)
        except NotCompilable as reason:  # left to the resolvers, on their parent (from the row, or by id)
            _restore(shape, before)
            grafts.forget(sites)
            emit = grafts.site(type_name, key, str(reason), shape)
        shape.emitters.append((key, emit))
    return shape


def _compile_field(object_type: ObjectType, shape: Shape, child: FieldNode, fragments: Fragments,
                   options: frozenset[str], root: bool) -> Emit:
    """The emitter of one declared field of ``object_type`` (DEFERRED for a root's Lateral or FollowUp)."""
    type_name, key, name = object_type.name, response_key(child), child.name.value
    declaration = object_type.fields.get(name)
    if declaration is None:
        raise NotCompilable(f"{type_name}.{name}")
    checks = guard(type_name, name)
    organization = None
    if any(check.needs_organization for check in checks):
        if object_type.organization is None:
            raise NotCompilable(f"{type_name}.{name}: guarded, and the row names no organization")
        organization = shape.column(object_type.organization)
    emit: Emit
    if isinstance(declaration, Scalar):
        leaf(child)
        expression = declaration.sql.format(t=shape.table) if declaration.sql else None
        emit = declaration.convert(shape.column(declaration.column, expression))
    elif isinstance(declaration, Composite):
        if declaration.requires is not None and declaration.requires not in options:
            raise NotCompilable(f"{type_name}.{name} here")
        emit = declaration.compile(shape, child, fragments)
    elif root:
        shape.deferred.append(Deferred(key, child, declaration, checks, organization))
        return DEFERRED
    else:
        raise NotCompilable(f"{type_name}.{name} below a root")
    if checks:
        # A refusal reads the parent's row where it is one row (a root's); in a list, by id (an error path).
        refused = grafts.site(type_name, key, f"{type_name}.{name} refused", shape,
                              row=root) if grafts.graftable(type_name, object_type.id_type) else None
        emit = _checked(emit, checks, organization, f"{type_name}.{name}", refused)
    return emit


def _snapshot(shape: Shape) -> dict[str, Any]:
    """The shape's state, to undo what a field that then failed to compile added to it."""
    return {f.name: copy.copy(getattr(shape, f.name)) for f in dataclasses.fields(shape)}


def _restore(shape: Shape, state: dict[str, Any]) -> None:
    for name, value in state.items():
        setattr(shape, name, value)


def compile_follow_up(deferred: Deferred, fragments: Fragments, head: Shape) -> SubPlan:
    """A FollowUp's plan; its own fields must be declared and unguarded (there is no row to check them on)."""
    assert isinstance(deferred.declared, FollowUp)
    follow_up = deferred.declared
    for child in fields_of(deferred.node.selection_set, follow_up.type_name, fragments):
        name = child.name.value
        if name != "__typename" and (name not in follow_up.fields or guard(follow_up.type_name, name)):
            raise NotCompilable(f"{follow_up.type_name}.{name}")
    return follow_up.compile(deferred.node, fragments, head)


class TypenameRoot:
    def __init__(self, field_node: FieldNode) -> None:
        leaf(field_node)
        self.key = response_key(field_node)

    def bind(self, viewer: Any, variables: dict[str, Any]) -> Any:
        return None

    async def fetch(self, conn: Any, viewer: Any, bound: Any) -> Any:
        return None

    def keys_to_sign(self, fetched: Any) -> list[SignKey]:
        return []

    def build(self, fetched: Any, rt: Runtime) -> str:
        return "Query"


def compile_root(field: FieldNode, fragments: Fragments, *, graft: bool = False) -> Any:
    """The compiled form of one root field of a query, or NotCompilable (with the reason).

    ``graft``: a field inside that does not compile, on a type the resolvers load by id, becomes a graft site
    (``fastpath.grafts``) instead of making the whole root not compilable."""
    name = field.name.value
    if name == "__typename":
        return TypenameRoot(field)
    factory = ROOTS.get(name) or GENERIC_ROOTS.get(name)
    if factory is None:
        raise NotCompilable(f"Query.{name}")
    if guard("Query", name):
        raise NotCompilable(f"Query.{name}: guarded root fields run through the resolvers")
    if not graft:
        return factory(field, fragments)
    with grafts.collecting() as sites:
        root = factory(field, fragments)
    return grafts.GraftedRoot(root, sites) if sites else root


def argument_values(getters: dict[str, ArgGetter], variables: dict[str, Any]) -> dict[str, Any]:
    return {name: getter(variables) for name, getter in getters.items()}
