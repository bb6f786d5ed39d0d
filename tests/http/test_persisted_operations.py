"""Persisted operations: a manifest of trusted documents by SHA-256 (compiled at startup), automatic
persisted queries shared through Redis, and the persisted-only mode."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import orjson
import pytest

from codex_graphql.app import create_app
from codex_graphql.persisted import document_hash, load_manifest
from tests.support import GraphQLClient, bare

ROOT = Path(__file__).resolve().parents[2]
STOREFRONT = (ROOT / "benchmarks" / "operations" / "storefront.graphql").read_text()
VIEWER_NAME = "query ViewerName { viewer { name } }"


def by_hash(digest: str, variables: dict | None = None, query: str | None = None) -> dict:
    body: dict = {"variables": variables or {}, "extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}}}
    if query is not None:
        body["query"] = query
    return body



@pytest.fixture
def manifest_file(tmp_path) -> Path:
    path = tmp_path / "persisted.json"
    path.write_bytes(orjson.dumps({document_hash(STOREFRONT): STOREFRONT}))
    return path


@pytest.fixture
async def persisted_app(settings, manifest_file):
    app = create_app(settings.model_copy(update={"persisted_operations_file": manifest_file}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 4321))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield app, http


async def test_manifest_operations_are_compiled_at_startup_and_run_by_hash(persisted_app, factory):
    app, http = persisted_app
    fast = app.state.runtime["graphql"].fast
    assert fast.compiled == 1  # before any request
    owner = await factory.user()
    await factory.organization(owner, slug="persisted-shop")
    response = await http.post("/graphql", json=by_hash(document_hash(STOREFRONT), {"slug": "persisted-shop"}))
    adhoc = await http.post("/graphql", json={"query": STOREFRONT, "variables": {"slug": "persisted-shop"}})
    assert response.status_code == 200
    assert bare(response.json()) == bare(adhoc.json())
    assert response.json()["data"]["organization"]["contents"]["edges"] == []
    assert fast.compiled == 1  # the ad-hoc copy of the same text reused the plan
    get = await http.get("/graphql", params={
        "extensions": json.dumps({"persistedQuery": {"version": 1, "sha256Hash": document_hash(STOREFRONT)}}),
        "variables": json.dumps({"slug": "persisted-shop"})})
    assert bare(get.json()) == bare(adhoc.json())


async def test_apq_registers_unknown_documents_and_shares_them_between_instances(gql, http, settings):
    digest = document_hash(VIEWER_NAME)
    first = await http.post("/graphql", json=by_hash(digest))
    assert first.status_code == 200
    assert first.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    registered = await http.post("/graphql", json=by_hash(digest, query=VIEWER_NAME))
    assert bare(registered.json()) == {"data": {"viewer": None}}
    assert bare((await http.post("/graphql", json=by_hash(digest))).json()) == {"data": {"viewer": None}}
    other = create_app(settings)  # another instance: it finds the document in Redis
    async with other.router.lifespan_context(other):
        transport = httpx.ASGITransport(app=other, client=("203.0.113.8", 4321))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as second:
            assert bare((await second.post("/graphql", json=by_hash(digest))).json()) == {"data": {"viewer": None}}


async def test_a_document_that_does_not_match_its_hash_is_refused(http):
    response = await http.post("/graphql", json=by_hash("0" * 64, query=VIEWER_NAME))
    assert response.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_HASH_MISMATCH"
    assert "data" in response.json() and response.json()["data"] is None


async def test_persisted_only_mode_runs_the_manifest_and_nothing_else(settings, manifest_file):
    app = create_app(settings.model_copy(update={"persisted_operations_file": manifest_file,
                                                 "persisted_operations_only": True}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 4321))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            gql = GraphQLClient(http)
            refused = await gql.raw(VIEWER_NAME)
            assert refused.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_REQUIRED"
            register = await http.post("/graphql", json=by_hash(document_hash(VIEWER_NAME), query=VIEWER_NAME))
            assert register.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_SUPPORTED"
            allowed = await http.post("/graphql", json=by_hash(document_hash(STOREFRONT), {"slug": "none"}))
            assert bare(allowed.json()) == {"data": {"organization": None}}


def test_a_tampered_manifest_is_refused(tmp_path):
    path = tmp_path / "bad.json"
    path.write_bytes(orjson.dumps({document_hash(STOREFRONT): STOREFRONT + " "}))
    with pytest.raises(ValueError, match="does not match"):
        load_manifest(path)


def test_the_cli_builds_a_validated_manifest(tmp_path):
    output = tmp_path / "manifest.json"
    cli = [sys.executable, "-m", "codex_graphql.cli"]
    done = subprocess.run([*cli, "persisted-manifest", str(ROOT / "benchmarks" / "operations"), "-o", str(output)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    manifest = load_manifest(output)
    documents = {document_hash(file.read_text()) for file in (ROOT / "benchmarks" / "operations").rglob("*.graphql")}
    assert document_hash(STOREFRONT) in manifest and set(manifest) == documents and len(documents) > 5
    broken = tmp_path / "broken.graphql"
    broken.write_text("{ noSuchField }")
    failed = subprocess.run([*cli, "persisted-manifest", str(broken)], capture_output=True, text=True, timeout=60,
                            check=False)
    assert failed.returncode != 0 and "noSuchField" in failed.stderr
