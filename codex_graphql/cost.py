"""Query cost analysis: computed once per (document, operation) and evaluated per request.

Rules (Shopify/GitHub style):
- leaf fields (scalars, enums) cost 0; ``__typename`` costs 0;
- a field returning an object (or a list of objects) costs 1 plus the cost of its selections;
- a connection (a ``...Connection`` type taking ``first``) costs 1, plus ``first`` times the cost of one
  item: ``nodes { ... }`` costs ``first * (1 + selections)``, ``edges { cursor node { ... } }`` costs
  ``first * (selections of the edge)`` (the edge wrapper itself is free, its ``node`` is an object), and
  its other fields (``pageInfo`` 1, ``totalCount`` 0) are counted once. ``first`` comes from the literal,
  from the variable (or its default) per request, or is ``relay.DEFAULT_PAGE_SIZE`` when omitted; it is
  clamped to ``0..MAX_PAGE_SIZE`` (larger values are refused by the resolver anyway);
- nesting multiplies: ``contents(first: 10) { nodes { tags comments(first: 5) { nodes { id } } } }``
  costs ``1 + 10 * (1 + 1 + 5 * 1)``;
- fragments on a concrete parent type add up; on an abstract parent (``node(id:)``), type-conditioned
  fragments for different types take the maximum (only one of them can apply); ``@skip``/``@include``
  are ignored (an upper bound).

The analysis of a document is a small expression tree (ints, ``first`` variables, sums, products,
maxima), so the cache keyed by (SHA-256 of the document, operation name) and bounded by bytes
(``COST_CACHE_BYTES``, doccache.ByteLRU) stays valid whatever the variables are. ``actualQueryCost``
is reported equal to ``requestedQueryCost`` (no refund of unused page capacity).

No request is free: the bucket is charged ``request_charge``: the query cost plus ``MIN_REQUEST_COST``
plus ``DOCUMENT_COST_PER_KB`` per full KiB of document text (so ``{ __typename }`` behind a large
comment, whose query cost is 0, still pays for the bytes it made the server read and parse).
``MAX_QUERY_COST`` applies to the query cost alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    get_operation_ast,
    is_leaf_type,
)
from graphql.type.introspection import SchemaMetaFieldDef, TypeMetaFieldDef

from codex_graphql.doccache import ENTRY_OVERHEAD, ByteLRU, document_digest
from codex_graphql.relay import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

EXPR_NODE_BYTES = 120  # estimated memory of one node of a cost expression


@dataclass(frozen=True, slots=True)
class Var:
    """``first: $name``: the variable's value per request, else ``default``."""

    name: str
    default: int


@dataclass(frozen=True, slots=True)
class Sum:
    terms: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Product:
    factors: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Max:
    options: tuple[Expr, ...]


Expr = Union[int, Var, Sum, Product, Max]  # noqa: UP007  (a runtime alias used in dataclass annotations)


def _clamp(value: Any, default: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        return default
    return max(0, min(MAX_PAGE_SIZE, value))


def evaluate(expr: Expr, variables: dict[str, Any] | None) -> int:
    if isinstance(expr, int):
        return expr
    if isinstance(expr, Var):
        values = variables or {}
        return _clamp(values[expr.name], expr.default) if values.get(expr.name) is not None else expr.default
    if isinstance(expr, Sum):
        return sum(evaluate(t, variables) for t in expr.terms)
    if isinstance(expr, Product):
        result = 1
        for factor in expr.factors:
            result *= evaluate(factor, variables)
        return result
    return max((evaluate(o, variables) for o in expr.options), default=0)


def _sum(terms: list[Expr]) -> Expr:
    flat: list[Expr] = []
    for term in terms:
        flat += term.terms if isinstance(term, Sum) else [term]
    constant = sum(t for t in flat if isinstance(t, int))
    rest = [t for t in flat if not isinstance(t, int)]
    if not rest:
        return constant
    if len(rest) == 1 and not constant:
        return rest[0]
    return Sum(tuple(rest + ([constant] if constant else [])))


def _product(a: Expr, b: Expr) -> Expr:
    if isinstance(a, int) and isinstance(b, int):
        return a * b
    if a == 0 or b == 0:
        return 0
    if a == 1:
        return b
    if b == 1:
        return a
    return Product((a, b))


def _max(options: list[Expr]) -> Expr:
    if all(isinstance(o, int) for o in options):
        return max((o for o in options if isinstance(o, int)), default=0)
    return Max(tuple(options))


@dataclass(frozen=True, slots=True)
class Analysis:
    """What the guard needs to know about one operation of one document."""

    cost: Expr
    operation: OperationType | None
    root_fields: int  # top-level field selections (each alias counts): the mutation count
    introspection: bool  # selects __schema or __type


class _Walker:
    def __init__(self, schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode) -> None:
        self.schema = schema
        self.fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        self.defaults: dict[str, int] = {}
        for definition in operation.variable_definitions or ():
            value = definition.default_value
            self.defaults[definition.variable.name.value] = (
                _clamp(int(value.value), DEFAULT_PAGE_SIZE) if isinstance(value, IntValueNode) else DEFAULT_PAGE_SIZE
            )
        self.introspection = False

    def fields(self, selection_set: SelectionSetNode | None) -> list[FieldNode]:
        """Field nodes of a selection set, through fragments (for counting root fields)."""
        out: list[FieldNode] = []
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                out.append(selection)
            elif isinstance(selection, InlineFragmentNode):
                out += self.fields(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value in self.fragments:
                out += self.fields(self.fragments[selection.name.value].selection_set)
        return out

    def selections(self, selection_set: SelectionSetNode | None, parent: Any) -> Expr:
        if selection_set is None:
            return 0
        abstract = isinstance(parent, GraphQLInterfaceType | GraphQLUnionType)
        terms: list[Expr] = []
        conditional: dict[str, list[Expr]] = {}
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                terms.append(self.field(selection, parent))
                continue
            if isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition.name.value if selection.type_condition else parent.name
                inner = selection.selection_set
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value in self.fragments:
                fragment = self.fragments[selection.name.value]
                condition, inner = fragment.type_condition.name.value, fragment.selection_set
            else:
                continue
            target = self.schema.get_type(condition) or parent
            cost = self.selections(inner, target)
            if not abstract or condition == parent.name:
                terms.append(cost)
            else:
                conditional.setdefault(condition, []).append(cost)
        if conditional:
            terms.append(_max([_sum(costs) for costs in conditional.values()]))
        return _sum(terms)

    def field(self, node: FieldNode, parent: Any) -> Expr:
        name = node.name.value
        if name == "__typename":
            return 0
        if name in ("__schema", "__type"):
            self.introspection = True
            definition = SchemaMetaFieldDef if name == "__schema" else TypeMetaFieldDef
        else:
            fields = getattr(parent, "fields", None) or {}
            definition = fields.get(name)
            if definition is None:
                return 0
        named = get_named_type(definition.type)
        if is_leaf_type(named):
            return 0
        if "first" in definition.args and named.name.endswith("Connection") and isinstance(named, GraphQLObjectType):
            return self.connection(node, named)
        return _sum([1, self.selections(node.selection_set, named)])

    def connection(self, node: FieldNode, connection_type: GraphQLObjectType) -> Expr:
        first: Expr = DEFAULT_PAGE_SIZE
        for argument in node.arguments or ():
            if argument.name.value != "first":
                continue
            if isinstance(argument.value, IntValueNode):
                first = _clamp(int(argument.value.value), DEFAULT_PAGE_SIZE)
            elif isinstance(argument.value, VariableNode):
                variable = argument.value.name.value
                first = Var(variable, self.defaults.get(variable, DEFAULT_PAGE_SIZE))
        per_item: list[Expr] = []
        once: list[Expr] = [1]
        for child in self.fields(node.selection_set):
            child_name = child.name.value
            definition = connection_type.fields.get(child_name)
            if definition is None:
                continue
            named = get_named_type(definition.type)
            if child_name == "edges":
                per_item.append(self.selections(child.selection_set, named))
            elif child_name == "nodes":
                per_item.append(_sum([1, self.selections(child.selection_set, named)]))
            else:
                once.append(self.field(child, connection_type))
        return _sum(once + [_product(first, _sum(per_item))])


def analyze(schema: GraphQLSchema, document: DocumentNode, operation_name: str | None) -> Analysis:
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return Analysis(cost=0, operation=None, root_fields=0, introspection=False)
    walker = _Walker(schema, document, operation)
    root = schema.get_root_type(operation.operation)
    cost = walker.selections(operation.selection_set, root)
    return Analysis(cost=cost, operation=operation.operation, root_fields=len(walker.fields(operation.selection_set)),
                    introspection=walker.introspection)


def _expr_nodes(expr: Expr) -> int:
    if isinstance(expr, int | Var):
        return 1
    children = expr.terms if isinstance(expr, Sum) else expr.factors if isinstance(expr, Product) else expr.options
    return 1 + sum(_expr_nodes(child) for child in children)


def overhead(document_size: int, min_request_cost: int, cost_per_kb: int) -> int:
    """What a request costs beyond its query cost: the minimum, plus the size of its document."""
    return max(0, min_request_cost) + max(0, cost_per_kb) * (max(0, document_size) // 1024)


class CostCalculator:
    """``analyze`` behind an LRU keyed by (document hash, operation name), bounded by bytes."""

    def __init__(self, budget_bytes: int = 4_000_000) -> None:
        self._cache: ByteLRU[Analysis] = ByteLRU(budget_bytes)

    @property
    def cache(self) -> ByteLRU[Analysis]:
        return self._cache

    @property
    def hits(self) -> int:
        return self._cache.hits

    @property
    def misses(self) -> int:
        return self._cache.misses

    def analysis(self, schema: GraphQLSchema, query: str | None, document: DocumentNode,
                 operation_name: str | None) -> Analysis:
        if query is None:
            return analyze(schema, document, operation_name)
        key = (document_digest(query), operation_name)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        result = analyze(schema, document, operation_name)
        self._cache.put(key, result, ENTRY_OVERHEAD + EXPR_NODE_BYTES * _expr_nodes(result.cost))
        return result
