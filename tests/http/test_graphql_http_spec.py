"""The GraphQL-over-HTTP spec: graphql-http's own `serverAudits` against a real uvicorn, plus the media
type negotiation and status rules they do not reach (q-values, 406, the compiled fast path, field errors,
requests refused before execution).

The audit suite is the npm package `graphql-http` (pinned in tests/graphql_http_audit/package.json),
vendored into tests/graphql_http_audit/node_modules (gitignored) with `npm ci` on first use; node and npm
come from .ci/run.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from codex_graphql.authz import PlatformRole
from codex_graphql.graphql_http import GRAPHQL_RESPONSE_JSON, JSON, negotiate
from tests.support import bare
from tests.support.live_server import live_server
from tests.support.locks import exclusive

AUDIT_DIR = Path(__file__).resolve().parents[1] / "graphql_http_audit"
GRAPHQL_RESPONSE = {"accept": GRAPHQL_RESPONSE_JSON}
# A shape the compiled fast path answers (tests/http/test_http.py uses the same one).
ORG_QUERY = "query Org($s:String!){organization(slug:$s){ id name }}"


def npm_ci() -> None:
    """Vendor graphql-http (and its peer graphql) into tests/graphql_http_audit/node_modules; one process at a
    time (`npm ci` starts by deleting node_modules, under the feet of another worker's audit)."""
    modules = AUDIT_DIR / "node_modules"
    with exclusive(AUDIT_DIR):
        if (modules / "graphql-http" / "package.json").is_file() and (modules / "graphql" / "package.json").is_file():
            return
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=AUDIT_DIR, check=True, timeout=120,
                       capture_output=True)


@pytest.fixture(scope="module")
def audit_dependencies() -> None:
    missing = [name for name in ("node", "npm") if not shutil.which(name)]
    assert not missing, f"the spec audit needs {', '.join(missing)}: run .ci/run (apt-get install -y nodejs npm)"
    npm_ci()


async def run_audits(url: str) -> list[dict]:
    process = await asyncio.create_subprocess_exec(
        "node", str(AUDIT_DIR / "audit.mjs"), url, cwd=AUDIT_DIR,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode == 0, stderr.decode()
    return json.loads(stdout)


@pytest.mark.timeout(100)
async def test_every_must_and_should_audit_of_graphql_http_passes(audit_dependencies, app):
    async with live_server(app) as address:
        results = await run_audits(f"http://{address}/graphql")
    # The suite of graphql-http 1.23.1 has 13 MUST and 23 SHOULD audits; a run that silently executed
    # fewer (a broken script, another version) must not pass.
    levels = {level: [r for r in results if r["name"].startswith(f"{level} ")] for level in ("MUST", "SHOULD", "MAY")}
    assert (len(levels["MUST"]), len(levels["SHOULD"])) == (13, 23), [r["name"] for r in results]
    failing = [r for r in levels["MUST"] + levels["SHOULD"] if r["status"] != "ok"]
    report = "\n".join(f"- [{r['id']}] {r['name']}: {r.get('reason')} (HTTP {r.get('responseStatus')}, "
                       f"{r.get('responseContentType')}: {r.get('responseBody')})" for r in failing)
    assert not failing, f"{len(failing)} MUST/SHOULD audits fail:\n{report}"
    # The optional ones hold too (400 for bad parameters, GET with variables, mutations refused on GET).
    optional = [f"[{r['id']}] {r['name']}: {r.get('reason')}" for r in levels["MAY"] if r["status"] != "ok"]
    assert not optional, optional


@pytest.mark.parametrize(("accept", "expected"), [
    (None, JSON),
    ("", JSON),
    ("*/*", JSON),
    ("application/*", JSON),
    ("application/json", JSON),
    (GRAPHQL_RESPONSE_JSON, GRAPHQL_RESPONSE_JSON),
    ("application/graphql-response+json, application/json", GRAPHQL_RESPONSE_JSON),
    ("application/json, application/graphql-response+json", GRAPHQL_RESPONSE_JSON),
    ("application/graphql-response+json;q=0.9, application/json", JSON),
    ("application/graphql-response+json, application/json;q=0.9", GRAPHQL_RESPONSE_JSON),
    ("application/json;q=0.5, */*", GRAPHQL_RESPONSE_JSON),  # */* gives the other type q=1
    ("application/graphql-response+json;charset=utf-8", GRAPHQL_RESPONSE_JSON),
    ("APPLICATION/GRAPHQL-RESPONSE+JSON", GRAPHQL_RESPONSE_JSON),
    ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", JSON),  # a browser
    ("application/json;q=0, */*", GRAPHQL_RESPONSE_JSON),
    ("*/*;q=0.1, application/graphql-response+json;q=0", JSON),
    ("text/html", None),
    ("application/xml, text/plain", None),
    ("application/json;q=0", None),
    ("*/*;q=0", None),
    ("application/json;q=nonsense", JSON),  # an unparsable range is ignored: as if absent
    ("garbage", JSON),  # nothing parsable: as if absent
])
def test_accept_negotiation(accept, expected):
    assert negotiate(accept) == expected


async def test_request_errors_under_graphql_response_json_are_400_without_data(http):
    cases = [
        ({"query": "{"}, "GRAPHQL_PARSE_FAILED"),
        ({"query": "{ viewer { id } nope }"}, "GRAPHQL_VALIDATION_FAILED"),
        ({"query": "query Q($id: ID!) { node(id: $id) { id } }", "variables": {"id": None}}, "BAD_USER_INPUT"),
        ({"query": ORG_QUERY, "variables": {"s": 12}}, "BAD_USER_INPUT"),  # a fast-path shape
        ({"query": ORG_QUERY, "variables": {"s": "x"}, "operationName": "Other"}, "GRAPHQL_VALIDATION_FAILED"),
        ({"query": "subscription { purchaseEvents(organizationId: \"x\") { type } }"}, "OPERATION_NOT_ALLOWED"),
        ({"query": "{ viewer { id } }", "variables": [1]}, "BAD_REQUEST"),
        ({"notquery": "{ viewer { id } }"}, "BAD_REQUEST"),
    ]
    for body, code in cases:
        response = await http.post("/graphql", json=body, headers=GRAPHQL_RESPONSE)
        assert response.status_code == 400, (body, response.text)
        assert response.headers["content-type"] == f"{GRAPHQL_RESPONSE_JSON}; charset=utf-8"
        assert "accept" in response.headers["vary"].lower()
        payload = response.json()
        assert "data" not in payload, (body, payload)
        assert [e["extensions"]["code"] for e in payload["errors"]][:1] == [code], (body, payload)
        # The same request under application/json keeps the legacy answer: 200 (or 400 for a malformed
        # request body) with `"data": null`.
        legacy = await http.post("/graphql", json=body, headers={"accept": JSON})
        assert legacy.headers["content-type"] == JSON
        assert legacy.status_code == (400 if code in ("BAD_REQUEST", "OPERATION_NOT_ALLOWED") else 200), legacy.text
        assert legacy.json()["data"] is None


async def test_malformed_json_under_graphql_response_json(http):
    response = await http.post("/graphql", content=b'{"query": ', headers={
        "content-type": "application/json", **GRAPHQL_RESPONSE})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE_JSON)
    assert "data" not in response.json()
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_successful_answers_use_the_negotiated_type_on_both_executors(app, http, factory):
    owner = await factory.user()
    slug = f"spec-{uuid.uuid4().hex[:8]}"
    await factory.organization(owner, slug=slug)
    fast = app.state.runtime["graphql"].fast
    # Introspection keeps a document off the compiled path whole: the second one runs through the resolvers.
    through_resolvers = 'query Org($s:String!){organization(slug:$s){ id name viewerRole } __type(name: "Organization") { name }}'
    for query in (ORG_QUERY, through_resolvers):
        before = fast.compiled
        answers = {}
        for accept in (GRAPHQL_RESPONSE_JSON, JSON, "*/*"):
            response = await http.post("/graphql", json={"query": query, "variables": {"s": slug}},
                                       headers={"accept": accept, "authorization": f"Bearer {owner.token}"})
            assert response.status_code == 200, response.text
            expected = f"{GRAPHQL_RESPONSE_JSON}; charset=utf-8" if accept == GRAPHQL_RESPONSE_JSON else JSON
            assert response.headers["content-type"] == expected
            answers[accept] = bare(response.json())
        assert answers[GRAPHQL_RESPONSE_JSON] == answers[JSON] == answers["*/*"]
        assert answers[JSON]["data"]["organization"]["name"]
        if query == through_resolvers:
            assert answers[JSON]["data"]["organization"]["viewerRole"] == "OWNER"
            assert answers[JSON]["data"]["__type"] == {"name": "Organization"}
        # The first shape is answered by the compiled fast path, the second by the resolvers.
        assert fast.compiled == before + (1 if query == ORG_QUERY else 0)
    # GET works the same way.
    response = await http.get("/graphql", params={"query": ORG_QUERY, "variables": json.dumps({"s": slug})},
                              headers=GRAPHQL_RESPONSE)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE_JSON)
    assert response.json()["data"]["organization"]["name"]


async def test_field_errors_keep_data_and_200_under_graphql_response_json(http, factory):
    owner = await factory.user()
    slug = f"spec-field-{uuid.uuid4().hex[:8]}"
    await factory.organization(owner, slug=slug)
    query = "query($s:String!){ organization(slug:$s){ name members(first: 1000) { totalCount } } }"
    for accept in (GRAPHQL_RESPONSE_JSON, JSON):
        response = await http.post("/graphql", json={"query": query, "variables": {"s": slug}},
                                   headers={"accept": accept, "authorization": f"Bearer {owner.token}"})
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith(accept)
        payload = response.json()
        assert payload["data"] == {"organization": {"name": "Test Org", "members": None}}
        [error] = payload["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert error["path"] == ["organization", "members"]


async def test_mutation_over_get_is_405_under_both_types_and_changes_nothing(http, factory, admin_db):
    owner = await factory.user(role=PlatformRole.PLATFORM_OWNER)
    slug = f"spec-get-{uuid.uuid4().hex[:8]}"
    mutation = f'mutation {{ createOrganization(input: {{name: "Via GET", slug: "{slug}"}}) {{ errors {{ code }} }} }}'
    for accept in (GRAPHQL_RESPONSE_JSON, JSON):
        response = await http.get("/graphql", params={"query": mutation},
                                  headers={"accept": accept, "authorization": f"Bearer {owner.token}"})
        assert response.status_code == 405
        assert response.headers["allow"] == "POST"
        assert ("data" in response.json()) is (accept == JSON)
    assert await admin_db.fetchval("select count(*) from organization where slug = $1", slug) == 0


async def test_unacceptable_accept_is_406_and_executes_nothing(http, factory, admin_db):
    owner = await factory.user(role=PlatformRole.PLATFORM_OWNER)
    slug = f"spec-406-{uuid.uuid4().hex[:8]}"
    mutation = f'mutation {{ createOrganization(input: {{name: "No", slug: "{slug}"}}) {{ errors {{ code }} }} }}'
    for accept in ("text/html", "application/xml", "application/json;q=0"):
        response = await http.post("/graphql", json={"query": mutation},
                                   headers={"accept": accept, "authorization": f"Bearer {owner.token}"})
        assert response.status_code == 406, response.text
        assert response.headers["content-type"] == JSON
        assert response.json()["errors"][0]["extensions"]["code"] == "NOT_ACCEPTABLE"
    assert await admin_db.fetchval("select count(*) from organization where slug = $1", slug) == 0
    # A browser opening GET /graphql without a query still gets GraphiQL, whatever it accepts.
    response = await http.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")


async def test_introspection_refused_before_execution_is_a_request_error(settings, factory):
    import httpx

    from codex_graphql.app import create_app

    app = create_app(settings.model_copy(update={"introspection": "off"}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            strict = await client.post("/graphql", json={"query": "{ __schema { queryType { name } } }"},
                                       headers=GRAPHQL_RESPONSE)
            legacy = await client.post("/graphql", json={"query": "{ __schema { queryType { name } } }"})
    assert strict.status_code == 400 and "data" not in strict.json(), strict.text
    assert strict.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert legacy.status_code == 200 and legacy.json()["data"] is None


async def test_persisted_query_answers_under_graphql_response_json(http):
    query = f"query Probe{uuid.uuid4().hex[:8]} {{ viewer {{ id }} }}"
    digest = hashlib.sha256(query.encode()).hexdigest()
    by_hash = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}}}
    # Not found stays a 200 with `"data": null` (APQ clients resend the document on it, and read a 400
    # as "persisted queries unsupported").
    response = await http.post("/graphql", json=by_hash, headers=GRAPHQL_RESPONSE)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE_JSON)
    assert response.json()["data"] is None
    assert response.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    # A hash that does not match the document is a request error.
    wrong = {"query": query, "extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}}
    response = await http.post("/graphql", json=wrong, headers=GRAPHQL_RESPONSE)
    assert response.status_code == 400 and "data" not in response.json(), response.text
    assert response.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_HASH_MISMATCH"
    # Registering and running by hash then works under the new type.
    response = await http.post("/graphql", json={"query": query, **by_hash}, headers=GRAPHQL_RESPONSE)
    assert response.status_code == 200 and bare(response.json()) == {"data": {"viewer": None}}
    response = await http.post("/graphql", json=by_hash, headers=GRAPHQL_RESPONSE)
    assert response.status_code == 200 and bare(response.json()) == {"data": {"viewer": None}}


async def test_get_without_query_under_graphql_response_json(http):
    response = await http.get("/graphql", headers=GRAPHQL_RESPONSE)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE_JSON)
    assert "data" not in response.json()
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
