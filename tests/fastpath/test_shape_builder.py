"""Shape.build as one generated function (issue 22): the same dict, keys and order as calling every
emitter in turn, nested objects and their absence included, and errors raised from the same emitter."""

from __future__ import annotations

from typing import Any

import pytest

from codex_graphql.fastpath.shapes import NeedsResolvers, Runtime, Shape, constant, global_id, iso, plain
from codex_graphql.relay import to_global_id


def reference(shape: Shape, row: Any, rt: Runtime) -> dict[str, Any] | None:
    """What Shape.build did before it was generated."""
    if shape.presence is not None and row[shape.presence] is None:
        return None
    return {key: (reference(emit.__self__, row, rt) if isinstance(getattr(emit, "__self__", None), Shape)
                  else emit(row, rt)) for key, emit in shape.emitters}


def content_shape() -> Shape:
    creator = Shape("cu_", presence="cu_id")
    creator.emitters += [("id", global_id("User", "cu_id")), ("name", plain("cu_name")),
                         ("__typename", constant("User"))]
    shape = Shape("c_")
    shape.emitters += [("id", global_id("Content", "c_id")), ("title", plain("c_title")),
                       ("when", iso("c_at")), ("odd key's", plain("c_title")),
                       ("computed", lambda row, rt: (row["c_title"] or "") + rt.viewer),
                       ("creator", creator.build), ("title", plain("c_other"))]  # a repeated key: the last wins
    return shape


ROWS = [
    {"c_id": "1", "c_title": "A", "c_at": None, "c_other": "B", "cu_id": "9", "cu_name": "Ann"},
    {"c_id": "2", "c_title": None, "c_at": None, "c_other": None, "cu_id": None, "cu_name": None},
]


@pytest.mark.parametrize("row", ROWS)
def test_generated_build_equals_the_emitters_in_turn(row: dict[str, Any]) -> None:
    shape, rt = content_shape(), Runtime("v", None, {})
    built = shape.build(row, rt)
    assert built == reference(shape, row, rt)
    assert built is not None and list(built) == list(reference(shape, row, rt) or {})
    assert built["id"] == to_global_id("Content", row["c_id"])
    assert built["creator"] == (None if row["cu_id"] is None else
                                {"id": to_global_id("User", "9"), "name": "Ann", "__typename": "User"})
    assert shape.build(row, rt) == built  # the generated function is reused


def test_an_emitter_that_refuses_still_refuses_and_late_emitters_count() -> None:
    shape = Shape("c_")
    shape.emitters.append(("title", plain("c_title")))
    assert shape.build(ROWS[0], Runtime(None, None, {})) == {"title": "A"}

    def refuse(row: Any, rt: Runtime) -> Any:
        raise NeedsResolvers("guarded")
    shape.emitters.append(("secret", refuse))  # declared after a first build: built again
    with pytest.raises(NeedsResolvers):
        shape.build(ROWS[0], Runtime(None, None, {}))
