"""Batched fields (batched.py) in the resolvers' executor (execution.py): before a list of objects completes,
``answers`` of every batched field its items lead to is called once with all of them (through attributes and
other batched fields, level by level), and kept per field and parent for the items' fields to read
(``CodexExecutionContext._run``). A list whose items were prefilled already (reached by an outer prefill) is
not prefilled again; a failed batch is forgotten (each item resolves alone and reports its own error)."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLObjectType
from graphql.pyutils import Path

from codex_graphql.execution_plans import FieldPlan, Shape, plain

# What a prefill visits: (the field's plan, its field details, its object type, its selection when the
# prefill goes on below it)
Step = tuple[FieldPlan, Any, Any, Any]


def _objects(shape: Shape, values: list[Any] | tuple[Any, ...]) -> list[Any]:
    """The plain objects of ``shape``'s type among field values (objects, or lists of them, by its kind), each
    once, in order: the parents of the next level of a prefill."""
    check = shape.check
    found: dict[int, Any] = {}
    for value in values:
        for item in (value if shape.kind == "objects" and value.__class__ in (list, tuple) else
                     () if shape.kind == "objects" else (value,)):
            if item is not None and (plain(item) if check is None else check(item, None) is True):
                found.setdefault(id(item), item)
    return list(found.values())


class BatchPrefill:
    """The prefill half of ``CodexExecutionContext`` (which provides ``_entries_of``, ``_subfields``,
    ``_complete_items``, ``context_value`` and the per-request ``_steps``, ``_answered`` and ``_prefilled``)."""

    _steps: dict[int, tuple[Any, list[Step]]]
    _answered: dict[int, tuple[Any, dict[int, tuple[Any, Any]]]]
    _prefilled: dict[int, tuple[Any, set[int]]]
    context_value: Any

    def _complete_objects(self, plan: FieldPlan, shape: Shape, parent_type: GraphQLObjectType, grouped: Any,
                          field_details_list: Any, path: Path, items: list[Any] | tuple[Any, ...]) -> Any:
        """``_complete_items``, after the batches of the batched fields the items lead to (batched.py)."""
        steps = self._batch_steps(shape.object_type, grouped)  # type: ignore[arg-type]
        if steps and len(items) > 1:
            parents = _objects(shape, (items,))
            seen = self._prefilled.get(id(grouped))
            if len(parents) > 1 and (seen is None or seen[0] is not grouped or id(parents[0]) not in seen[1]):
                return self._complete_prefilled(steps, grouped, parents, plan, shape, parent_type,
                                                field_details_list, path, items)
        return self._complete_items(plan, shape, parent_type, grouped, field_details_list, path, items)

    async def _complete_prefilled(self, steps: list[Step], grouped: Any, parents: list[Any], plan: FieldPlan,
                                  shape: Shape, parent_type: GraphQLObjectType, field_details_list: Any, path: Path,
                                  items: list[Any] | tuple[Any, ...]) -> Any:
        await self._prefill(steps, grouped, parents)
        completed = self._complete_items(plan, shape, parent_type, grouped, field_details_list, path, items)
        return completed if completed.__class__ is list else await completed

    def _batch_steps(self, object_type: GraphQLObjectType, grouped: Any) -> list[Step]:
        """What a prefill visits in a selection on ``object_type`` (memoized per request): its batched fields,
        and its attribute fields of object type whose own selection leads to one, each with its object type
        and, when the prefill goes on below it, its selection."""
        cached = self._steps.get(id(grouped))
        if cached is not None and cached[0] is grouped:
            return cached[1]
        steps: list[Step] = []
        for _response_name, field_details_list, _leaf, plan in self._entries_of(object_type, grouped):
            if plan is None or (plan.batch is None and plan.read is None):
                continue
            shape = plan.shape
            child_type = shape.object_type if shape.kind in ("object", "objects") and not shape.custom_check else None
            child = self._subfields(child_type, field_details_list) if child_type is not None else None
            if child is not None and not self._batch_steps(child_type, child):  # type: ignore[arg-type]
                child = None
            if plan.batch is not None or child is not None:
                steps.append((plan, field_details_list, child_type, child))
        self._steps[id(grouped)] = (grouped, steps)
        return steps

    async def _prefill(self, steps: list[Step], grouped: Any, parents: list[Any]) -> None:
        """Run the batches ``steps`` lead to for ``parents`` (plain objects of the selection's type) and keep
        their answers for the parents' fields; a failed batch is left to each parent's own resolver."""
        seen = self._prefilled.get(id(grouped))
        if seen is None or seen[0] is not grouped:
            seen = self._prefilled[id(grouped)] = (grouped, set())
        seen[1].update(map(id, parents))
        context = self.context_value
        for plan, field_details_list, child_type, child in steps:
            if plan.batch is not None:
                try:
                    values = await plan.batch(context, parents)
                except Exception:  # noqa: BLE001,S112  (each parent's resolver runs alone and reports the error)  # noqa: BLE001,S112  (each parent's resolver runs alone and reports the error)
                    continue
                if len(values) != len(parents):
                    continue
                answered = self._answered.get(id(field_details_list))
                if answered is None or answered[0] is not field_details_list:
                    answered = self._answered[id(field_details_list)] = (field_details_list, {})
                answered[1].update({id(parent): (parent, value) for parent, value in zip(parents, values,
                                                                                          strict=True)})
            else:
                read = plan.read
                values = []
                for parent in parents:
                    try:
                        values.append(read(parent))  # type: ignore[misc]
                    except Exception:  # noqa: BLE001,PERF203  (the field reads it again and reports the error)
                        values.append(None)
            if child is not None:
                children = _objects(plan.shape, values)
                if children:
                    await self._prefill(self._batch_steps(child_type, child), child, children)  # type: ignore[arg-type]


__all__ = ["BatchPrefill", "Step"]
