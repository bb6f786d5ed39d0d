"""Every operation in client-examples/operations is valid against the checked-in schema."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import build_schema, parse, validate

ROOT = Path(__file__).resolve().parents[2]
OPERATIONS = sorted((ROOT / "client-examples" / "operations").glob("*.graphql"))
SCHEMA = build_schema((ROOT / "schema.graphql").read_text())


def test_there_are_operations_for_each_kind_of_client():
    assert {p.stem for p in OPERATIONS} >= {"storefront", "admin", "integrator", "creator"}


@pytest.mark.parametrize("path", OPERATIONS, ids=lambda p: p.name)
def test_operations_validate_against_schema(path: Path):
    document = parse(path.read_text())
    errors = validate(SCHEMA, document)
    assert errors == [], [e.message for e in errors]
    names = [d.name.value for d in document.definitions if getattr(d, "name", None)]
    assert len(names) == len(set(names)) == len(document.definitions)  # every operation is named, once
