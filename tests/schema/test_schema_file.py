"""schema.graphql is the contract clients read: it must be the schema the server serves."""

from pathlib import Path

from codex_graphql.schema import printed_schema

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema.graphql"


def test_checked_in_schema_matches_the_served_schema():
    assert SCHEMA_FILE.is_file(), "schema.graphql is missing: run `codex-graphql export-schema --output schema.graphql`"
    assert SCHEMA_FILE.read_text() == printed_schema(), (
        "schema.graphql is stale: run `codex-graphql export-schema --output schema.graphql`"
    )
