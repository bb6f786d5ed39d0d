"""Grafts: the fields of a compiled root that do not compile, resolved normally and put in place.

Inside a compiled root, a field that does not compile (undeclared, with arguments, a guard without a
compiled check, a detail field inside a list...) on an object type the resolvers can load by id becomes a
*graft site* (``registry.compile_object``): the rest of the root still runs as its one statement, the row
carries the object's id, and the field's place in the built answer holds a ``Pending`` marker. After the
root is built, ``collect`` finds the markers (each: the parent object's response path, its type and id).

The endpoint then (``prepare``, ``run``) gets the resolvers' own parent objects and runs graphql-core's
executor for the graft fields on them, with the request's document, operation, variables
and Context, the field nodes normal execution would collect there (``@skip``/``@include`` and fragments
included) and the real response path: field permission extensions run inside the resolvers as always, and
errors carry the path and locations normal execution gives them. A null in a non-null graft field
propagates up through the compiled positions (walked with the schema's types) to the nearest nullable one.

The parents (``declare_parents``: the domains say how, per type): where a type is declared ``from_row``,
the shape of every object of that type with a graft site also reads the columns its parent is built from
(under the shape's prefix, as ``<prefix>_<name>``, decoded by the driver like every other column), the
marker carries their values, and the parent is built from exactly the row the compiled statement read, with
the resolvers' own builder: no second read. A type declared with a ``load`` only has its parents loaded by
id, one batch per type, with the loaders its resolvers use (the row of that id as the request's tenant scope
lets it be read: row-level security applies to both). Either must hold for every position the type is
compiled at.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLOutputType,
    get_named_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
)
from graphql.execution.collect_fields import collect_fields
from graphql.pyutils import Path
from strawberry.execution import optimized_is_awaitable

log = logging.getLogger(__name__)

# type name -> async (ctx, ids) -> {id: the resolvers' parent object}; one statement per call
ParentLoader = Callable[[Any, list[Any]], Awaitable[dict[Any, Any]]]
PARENTS: dict[str, ParentLoader] = {}


@dataclass(frozen=True, slots=True)
class FromRow:
    """The resolvers' parent object of a type built from its row: ``columns`` (name, SQL expression over
    ``{t}``, the alias of the type's table), read beside the compiled ones, and ``build(values)`` (their
    values in that order, as the driver decoded them -> the parent). The expressions may also be read inside
    an anonymous record (a list aggregated in a statement), where the driver decodes no arrays: read those
    and JSON as text."""

    columns: tuple[tuple[str, str], ...]
    build: Callable[[tuple[Any, ...]], Any]


FROM_ROW: dict[str, FromRow] = {}


def declare_parents(type_name: str, load: ParentLoader | None = None, *,
                    from_row: FromRow | None = None) -> None:
    """How the resolvers' parent objects of ``type_name`` are made: ``from_row``, from the row the compiled
    statement read (preferred: no second read); ``load``, loaded by id (one batch for many ids)."""
    if load is None and from_row is None:
        raise ValueError(f"{type_name}: parents from the row, by id, or both")
    if load is not None:
        PARENTS[type_name] = load
    if from_row is not None:
        FROM_ROW[type_name] = from_row


@dataclass(frozen=True, slots=True)
class Site:
    """A field of a compiled object left to the resolvers: its response key, the object's type, and why."""

    type_name: str
    key: str
    reason: str


class Pending:
    """The placeholder a graft site emits in the built answer (replaced before the answer leaves); ``values``:
    the parent's row (``FromRow.columns``), or None when the parent is loaded by id."""

    __slots__ = ("parent_id", "site", "values")

    def __init__(self, site: Site, parent_id: Any, values: tuple[Any, ...] | None = None) -> None:
        self.site = site
        self.parent_id = parent_id
        self.values = values


# The sites of the root being compiled (None: grafting is not allowed, compile_object stays strict).
_SITES: ContextVar[list[Site] | None] = ContextVar("codex_graft_sites", default=None)


@contextmanager
def collecting() -> Iterator[list[Site]]:
    """Allow graft sites while a root compiles, and gather them."""
    sites: list[Site] = []
    token = _SITES.set(sites)
    try:
        yield sites
    finally:
        _SITES.reset(token)


def graftable(type_name: str, id_type: str | None) -> bool:
    made = type_name in FROM_ROW or type_name in PARENTS
    return id_type is not None and made and _SITES.get() is not None


def mark() -> int:
    sites = _SITES.get()
    return len(sites) if sites is not None else 0


def forget(mark_: int) -> None:
    """Drop the sites recorded since ``mark_`` (a field that failed to compile after adding some)."""
    sites = _SITES.get()
    if sites is not None:
        del sites[mark_:]


def site(type_name: str, key: str, reason: str, shape: Any, *,
         row: bool = True) -> Callable[[Any, Any], Pending]:
    """Record a graft site on the object ``shape`` compiles and return its emitter: a marker holding the
    row's id and, for a type built from its row, the parent's columns (added to the shape once).

    ``row=False``: a site that may never graft (a compiled guard's refusal), whose columns would cost every
    allowed viewer: its parent is loaded by id where the type has a loader, unless another site of the same
    object carries the row."""
    found = Site(type_name, key, reason)
    sites = _SITES.get()
    assert sites is not None
    sites.append(found)
    id_alias = shape.column("id")
    from_row = FROM_ROW.get(type_name)
    if from_row is None or not row and type_name in PARENTS:
        return lambda row, rt: Pending(found, row[id_alias])
    # "<prefix>_<name>": apart from the shape's own aliases, which may name an expression after a column
    aliases = tuple(shape.column(f"_{name}", sql.format(t=shape.table)) for name, sql in from_row.columns)
    return lambda row, rt: Pending(found, row[id_alias], tuple([row[alias] for alias in aliases]))


class GraftedRoot:
    """A compiled root with graft sites: everything is the inner root's; the engine collects the markers."""

    def __init__(self, root: Any, sites: list[Site]) -> None:
        self.root = root
        self.sites = tuple(sites)

    def __getattr__(self, name: str) -> Any:  # key, bind, fetch, keys_to_sign, build, whatever the root has
        return getattr(self.root, name)


@dataclass(slots=True)
class Graft:
    path: list[str | int]  # the parent object's response path
    site: Site
    parent_id: Any
    values: tuple[Any, ...] | None = None  # the parent's row, for a type built from it (FromRow)


def collect(value: Any, path: list[str | int], found: list[Graft]) -> None:
    """Find the markers in a built answer (a root's value at ``path``), replacing each with null."""
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, Pending):
                value[key] = None
                found.append(Graft(path, item.site, item.parent_id, item.values))
            elif isinstance(item, dict | list):
                collect(item, [*path, key], found)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, dict | list):
                collect(item, [*path, index], found)


@dataclass
class Grafts:
    """A response's graft sites to resolve, with what the executor needs to find them in the document."""

    document: DocumentNode
    operation_name: str | None
    found: list[Graft]

    @property
    def reasons(self) -> set[str]:
        return {graft.site.reason for graft in self.found}


class GraftsUnavailable(Exception):
    """The grafts cannot be resolved as planned (a parent is gone, a position is not placeable): the whole
    document runs through the resolvers instead."""


@dataclass
class _Job:
    """One parent object's graft fields."""

    keys: list[str | int]  # the parent's response path
    positions: list[tuple[Path, GraphQLOutputType]]  # each position from the root field down to the parent
    parent_type: GraphQLObjectType
    source: Any
    fields: dict[str, Any]  # response key -> field details, as normal execution collects them
    absent: list[str] = field(default_factory=list)  # graft keys this request's directives leave out


@dataclass
class Prepared:
    executor: Any
    jobs: list[_Job]


async def prepare(schema: Any, ctx: Any, grafts: Grafts, variables: dict[str, Any] | None) -> Prepared:
    """Load the parents (one batch per type) and place every graft in the document; GraftsUnavailable
    when that cannot be done (before anything ran for the resolvers)."""
    executor_class = schema.execution_context_class
    executor = executor_class.build(schema._schema, grafts.document, context_value=ctx,
                                    raw_variable_values=variables, operation_name=grafts.operation_name,
                                    is_awaitable=optimized_is_awaitable, operation_extensions=None)
    if isinstance(executor, list):
        raise GraftsUnavailable("the request's variables")
    by_parent: dict[tuple[str | int, ...], list[Graft]] = {}
    for graft in grafts.found:
        by_parent.setdefault(tuple(graft.path), []).append(graft)
    sources = _from_rows(by_parent)
    ids: dict[str, list[Any]] = {}  # the parents not built from their row, loaded by id
    for path, found in by_parent.items():
        if path not in sources:
            wanted = ids.setdefault(found[0].site.type_name, [])
            if found[0].parent_id not in wanted:
                wanted.append(found[0].parent_id)
    missing = [type_name for type_name in ids if type_name not in PARENTS]
    if missing:
        raise GraftsUnavailable(f"no parent loader for {missing}")
    parents = {type_name: await PARENTS[type_name](ctx, wanted) for type_name, wanted in ids.items()}
    root_type = executor.schema.query_type
    root_fields = collect_fields(executor.schema, executor.fragments, executor.variable_values, root_type,
                                 executor.operation, executor.hide_suggestions)[0]
    jobs = []
    for path, found in by_parent.items():
        type_name, parent_id = found[0].site.type_name, found[0].parent_id
        source = sources[path] if path in sources else parents[type_name].get(parent_id)
        if source is None:
            raise GraftsUnavailable(f"{type_name} {parent_id} is gone")
        positions, parent_type, details = _place(executor, root_fields, list(path), type_name)
        collected = executor.collect_subfields(parent_type, details)[0]
        job = _Job(list(path), positions, parent_type, source, {})
        for graft in found:
            key = graft.site.key
            if key in collected:
                job.fields[key] = collected[key]
            else:
                job.absent.append(key)
        jobs.append(job)
    return Prepared(executor, jobs)


def _from_rows(by_parent: dict[tuple[str | int, ...], list[Graft]]) -> dict[tuple[str | int, ...], Any]:
    """The parents built from the rows the compiled statements read, by response path (one per object,
    however many of its fields are grafted)."""
    sources: dict[tuple[str | int, ...], Any] = {}
    for path, found in by_parent.items():
        values = next((graft.values for graft in found if graft.values is not None), None)
        if values is None:
            continue
        try:
            sources[path] = FROM_ROW[found[0].site.type_name].build(values)
        except Exception as error:  # a defect of the declared builder: the resolvers answer, and it is logged
            log.exception("compiled graft parent %s could not be built from its row", found[0].site.type_name)
            raise GraftsUnavailable(f"{found[0].site.type_name} from its row") from error
    return sources


def _place(executor: Any, root_fields: Any, keys: list[str | int],
           type_name: str) -> tuple[list[tuple[Path, GraphQLOutputType]], GraphQLObjectType, Any]:
    """The positions (path and type) from the root field down to the parent at ``keys``, the parent's object
    type and the field details of its selection, walked as normal execution walks the document."""
    schema = executor.schema
    positions: list[tuple[Path, GraphQLOutputType]] = []
    path: Path | None = None
    current: GraphQLOutputType | None = None
    details: Any = None
    for key in keys:
        if isinstance(key, int):
            wrapped = current.of_type if current is not None and is_non_null_type(current) else current
            if not is_list_type(wrapped):
                raise GraftsUnavailable(f"no list at {key}")
            current = wrapped.of_type  # type: ignore[union-attr]
            path = Path(path, key, None)
        else:
            owner = schema.query_type if current is None else get_named_type(current)
            if not is_object_type(owner):
                raise GraftsUnavailable(f"an abstract type above {key}")
            grouped = root_fields if details is None else executor.collect_subfields(owner, details)[0]
            details = grouped.get(key)
            if details is None:
                raise GraftsUnavailable(f"{key} is not selected")
            definition = schema.get_field(owner, details[0].node.name.value)
            if definition is None:
                raise GraftsUnavailable(f"{owner.name} has no field for {key}")
            path = Path(path, key, owner.name)
            current = definition.type
        assert current is not None
        positions.append((path, current))
    parent = get_named_type(current) if current is not None else None
    if parent is None or not is_object_type(parent):
        parent = schema.get_type(type_name)  # an abstract position: the compiled object's own type
    if not is_object_type(parent) or details is None:
        raise GraftsUnavailable(f"no object at {keys}")
    return positions, parent, details  # type: ignore[return-value]


def _at(data: Any, keys: list[str | int]) -> Any:
    """The value at ``keys`` in the answer, or None where a position on the way is null."""
    for key in keys:
        if data is None:
            return None
        data = data[key]
    return data


@dataclass
class Outcome:
    data: dict[str, Any] | None  # None: a non-null error nulled every root up to `data`
    errors: list[GraphQLError]


async def run(prepared: Prepared, data: dict[str, Any]) -> Outcome:
    """Resolve the graft fields on their parents, concurrently, and put the values (or the nulls errors
    propagate) in place in ``data``."""
    executor = prepared.executor
    nulled: list[bool] = []

    async def one(job: _Job) -> None:
        parent = _at(data, job.keys)
        if parent is None:
            return
        for key in job.absent:
            del parent[key]
        if not job.fields:
            return
        try:
            result = executor.execute_fields(job.parent_type, job.source, job.positions[-1][0], job.fields, None)
            if executor.is_awaitable(result):
                result = await result
        except GraphQLError as error:  # a non-null graft field's error: the nearest nullable position nulls
            if _propagate(executor, data, job, error):
                nulled.append(True)
            return
        parent = _at(data, job.keys)  # another graft's error may have nulled an ancestor meanwhile
        if parent is not None:
            parent.update(result)

    await asyncio.gather(*(one(job) for job in prepared.jobs))
    return Outcome(None if nulled else data, list(executor.collected_errors.errors))


def _propagate(executor: Any, data: dict[str, Any], job: _Job, error: GraphQLError) -> bool:
    """Null the nearest nullable position above the parent (as normal execution does); True when none is
    nullable up to the root field (the whole `data` is null)."""
    for path, graphql_type in reversed(job.positions):
        if not is_non_null_type(graphql_type):
            if not executor.collected_errors.has_nulled_position(path):
                container = _at(data, path.prev.as_list()) if path.prev is not None else data
                if container is not None:
                    container[path.key] = None
            executor.collected_errors.add(error, path)
            return False
    executor.collected_errors.add(error, None)
    return True
