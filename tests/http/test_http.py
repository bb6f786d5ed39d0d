"""The /graphql endpoint: request parsing, limits, status codes, caches and error masking."""

from __future__ import annotations

import logging
import uuid
from types import SimpleNamespace

import asyncpg
import httpx
import pytest

from codex_graphql.app import create_app
from codex_graphql.authz import PlatformRole
from codex_graphql.db import Database
from codex_graphql.organizations import repository as org_repository
from codex_graphql.settings import Settings
from tests.conftest import REDIS_URL, RUN_ID, admin_execute, db_url
from tests.support import Factory, GraphQLClient, bare

ORG_QUERY = "query Org($s:String!){organization(slug:$s){ id name }}"
# The same lookup with a field the compiled fast path leaves to the resolvers: for tests of resolver
# execution itself (error masking, strawberry's parse and validation caches).
RESOLVED_ORG_QUERY = "query Org($s:String!){organization(slug:$s){ id name viewerRole }}"  # on `resolvers`


def _error(response, status: int, code: str, message_part: str = "") -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == code, body
    assert message_part in error["message"], body
    return error


# The endpoint's request handling is stateless, so this module shares one database and one app
# (unique slugs keep tests apart); argon2 is made cheap so signing users in costs little.


@pytest.fixture(scope="module")
async def shared(template_db):
    name = f"codex_t_{RUN_ID}_http_{uuid.uuid4().hex[:6]}"
    await admin_execute(f"CREATE DATABASE {name} TEMPLATE {template_db}")
    url = db_url(name)
    settings = Settings(
        environment="test", database_url=url, redis_url=REDIS_URL, redis_namespace=f"codex-test-{uuid.uuid4().hex[:10]}",
        secret_key="test-secret-key-not-for-production", public_base_url="http://testserver", log_json=False,
        relay_poll_seconds=0.1,
    )
    app = create_app(settings)
    database = Database(settings.database_url or "", pool_size=2, max_overflow=2)
    admin = await asyncpg.connect(url)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 4321))
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                yield SimpleNamespace(http=client, gql=GraphQLClient(client), settings=settings, app=app,
                                      factory=Factory(database, GraphQLClient(client)), admin_db=admin)
    finally:
        await admin.close()
        await database.dispose()
        await admin_execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="module")
async def resolvers(shared):
    """The same database behind an app whose compiled path is off: for what only the resolvers' executor does
    (its repository calls, its document caches, its masking of a resolver's exception)."""
    app = create_app(shared.settings.model_copy(update={"fast_path_enabled": False}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 4321))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield SimpleNamespace(http=client, gql=GraphQLClient(client), app=app)


@pytest.fixture
def http(shared):
    shared.http.cookies.clear()
    return shared.http


@pytest.fixture
def gql(shared):
    return shared.gql


@pytest.fixture
def settings(shared):
    return shared.settings


@pytest.fixture
def factory(shared):
    return shared.factory


@pytest.fixture
def admin_db(shared):
    return shared.admin_db


@pytest.fixture
def count_org_lookups(monkeypatch):
    """Counts executions of the `organization(slug:)` resolver's repository call."""
    calls: list[str] = []
    original = org_repository.by_slug

    async def counting(session, slug):
        calls.append(slug)
        return await original(session, slug)

    monkeypatch.setattr(org_repository, "by_slug", counting)
    return calls


async def test_malformed_json_is_400(http):
    response = await http.post("/graphql", content=b'{"query": ', headers={"content-type": "application/json"})
    _error(response, 400, "BAD_REQUEST", "not valid JSON")


async def test_get_variables_must_be_json(http):
    response = await http.get("/graphql", params={"query": "{viewer{id}}", "variables": "{nope"})
    _error(response, 400, "BAD_REQUEST", "`variables` is not valid JSON")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""])
async def test_non_json_post_is_415(http, content_type):
    response = await http.post("/graphql", content=b'{"query":"{viewer{id}}"}', headers={"content-type": content_type})
    _error(response, 415, "UNSUPPORTED_MEDIA_TYPE", "application/json")


async def test_json_with_charset_is_accepted(http):
    response = await http.post("/graphql", content=b'{"query":"{viewer{id}}"}',
                               headers={"content-type": "application/json; charset=utf-8"})
    assert response.status_code == 200
    assert bare(response.json()) == {"data": {"viewer": None}}


async def test_body_over_limit_is_413(http, settings):
    query = "{viewer{id}}" + " " * settings.max_body_bytes
    response = await http.post("/graphql", json={"query": query})
    _error(response, 413, "PAYLOAD_TOO_LARGE", str(settings.max_body_bytes))


async def test_streamed_body_over_limit_is_413(http, settings):
    # No content-length: the limit still holds while reading the stream.
    async def chunks():
        yield b'{"query": "{viewer{id}}", "pad": "'
        for _ in range(settings.max_body_bytes // 65536 + 2):
            yield b"x" * 65536
        yield b'"}'

    response = await http.post("/graphql", content=chunks(), headers={"content-type": "application/json"})
    _error(response, 413, "PAYLOAD_TOO_LARGE")


@pytest.mark.parametrize("body", [{}, {"query": ""}, {"query": "   "}, {"query": 42}, {"variables": {}}])
async def test_missing_query_is_400(http, body):
    response = await http.post("/graphql", json=body)
    _error(response, 400, "BAD_REQUEST", "`query`")


@pytest.mark.parametrize("variables", [[1, 2], "x", 3])
async def test_variables_not_an_object_is_400(http, variables):
    response = await http.post("/graphql", json={"query": "{viewer{id}}", "variables": variables})
    _error(response, 400, "BAD_REQUEST", "`variables` must be a JSON object")


async def test_operation_name_not_a_string_is_400(http):
    response = await http.post("/graphql", json={"query": "{viewer{id}}", "operationName": 5})
    _error(response, 400, "BAD_REQUEST", "`operationName`")


@pytest.mark.parametrize("raw", [b"null", b"42", b'"query"'])
async def test_body_not_an_object_is_400(http, raw):
    response = await http.post("/graphql", content=raw, headers={"content-type": "application/json"})
    _error(response, 400, "BAD_REQUEST", "JSON object")


async def test_batched_array_is_400(http):
    response = await http.post("/graphql", json=[{"query": "{viewer{id}}"}, {"query": "{viewer{id}}"}])
    _error(response, 400, "BAD_REQUEST", "Batched requests are not supported")


async def test_mutation_over_get_is_405_and_changes_nothing(http, factory, admin_db):
    owner = await factory.user(role=PlatformRole.PLATFORM_OWNER)
    before = await admin_db.fetchval("select count(*) from organization")
    slug = f"via-get-{uuid.uuid4().hex[:8]}"
    mutation = f'mutation {{ createOrganization(input: {{name: "Via GET", slug: "{slug}"}}) {{ errors {{ code }} }} }}'
    response = await http.get("/graphql", params={"query": mutation}, headers={"authorization": f"Bearer {owner.token}"})
    _error(response, 405, "OPERATION_NOT_ALLOWED", "POST")
    assert response.headers["allow"] == "POST"
    assert await admin_db.fetchval("select count(*) from organization") == before
    assert await admin_db.fetchval("select count(*) from organization where slug = $1", slug) == 0
    # The same mutation over POST does work, so the refusal above is about the method.
    response = await http.post("/graphql", json={"query": mutation}, headers={"authorization": f"Bearer {owner.token}"})
    assert bare(response.json()) == {"data": {"createOrganization": {"errors": []}}}
    assert await admin_db.fetchval("select count(*) from organization where slug = $1", slug) == 1


async def test_mutation_named_in_a_get_document_is_refused(http, factory, admin_db):
    owner = await factory.user(role=PlatformRole.PLATFORM_OWNER)
    document = 'query Q { viewer { id } } mutation M { createOrganization(input: {name: "X", slug: "sneaky"}) { errors { code } } }'
    response = await http.get("/graphql", params={"query": document, "operationName": "M"},
                              headers={"authorization": f"Bearer {owner.token}"})
    _error(response, 405, "OPERATION_NOT_ALLOWED")
    assert await admin_db.fetchval("select count(*) from organization where slug = 'sneaky'") == 0


async def test_subscription_over_post_is_refused_with_a_pointer_to_websocket(http):
    response = await http.post("/graphql", json={"query": "subscription { whatever }"})
    _error(response, 400, "OPERATION_NOT_ALLOWED", "WebSocket")


async def test_get_query_works(http, factory):
    person = await factory.user()
    response = await http.get("/graphql", params={"query": "{viewer{email}}"}, headers={"authorization": f"Bearer {person.token}"})
    assert response.status_code == 200
    assert bare(response.json()) == {"data": {"viewer": {"email": person.email}}}
    response = await http.get("/graphql", params={"query": ORG_QUERY, "variables": '{"s": "nobody"}', "operationName": "Org"})
    assert bare(response.json()) == {"data": {"organization": None}}


async def test_put_is_not_allowed(http):
    response = await http.put("/graphql", json={"query": "{viewer{id}}"})
    assert response.status_code == 405


async def test_unknown_field_is_a_validation_error(gql, count_org_lookups):
    body = await gql('{ organization(slug: "x") { id } nope }')
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "nope" in error["message"]
    assert count_org_lookups == []


async def test_unknown_operation_name_is_a_validation_error(http, count_org_lookups):
    response = await http.post("/graphql", json={"query": ORG_QUERY, "variables": {"s": "x"}, "operationName": "Other"})
    error = _error(response, 200, "GRAPHQL_VALIDATION_FAILED", "Other")
    assert error["message"] == 'Unknown operation named "Other".'
    assert count_org_lookups == []


async def test_bad_variable_values_are_client_errors(gql, caplog):
    caplog.set_level(logging.ERROR)
    body = await gql(ORG_QUERY, {"s": 12})
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]
    assert "$s" in body["errors"][0]["message"]
    body = await gql(ORG_QUERY, {})
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]
    # The client's mistake is not logged as a server error.
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_syntax_error_is_a_parse_error(gql):
    body = await gql("{ viewer { id ")
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    assert error["message"].startswith("Syntax Error")


def _deep_query(levels: int) -> str:
    inner = "id"
    for _ in range(levels):
        inner = f"members(first: 1) {{ nodes {{ organization {{ {inner} }} }} }}"
    return f'{{ organization(slug: "x") {{ {inner} }} }}'


async def test_depth_over_limit_is_refused_before_execution(resolvers, settings, count_org_lookups):
    gql = resolvers.gql
    body = await gql(_deep_query(5))  # 1 + 3 * 5 + 1 = 17 levels > 12
    assert body["data"] is None
    codes = {e["extensions"]["code"] for e in body["errors"]}
    assert codes == {"GRAPHQL_VALIDATION_FAILED"}
    assert any(f"maximum operation depth of {settings.max_query_depth}" in e["message"] for e in body["errors"])
    assert count_org_lookups == []
    # Within the limit, the same shape executes.
    body = await gql(_deep_query(3))  # 11 levels
    assert "errors" not in body and body["data"] == {"organization": None}
    assert count_org_lookups == ["x"]


async def test_aliases_over_limit_are_refused_before_execution(gql, settings, count_org_lookups):
    too_many = " ".join(f'a{i}: organization(slug: "x") {{ id }}' for i in range(settings.max_aliases + 1))
    body = await gql(f"{{ {too_many} }}")
    assert body["data"] is None
    assert {e["extensions"]["code"] for e in body["errors"]} == {"GRAPHQL_VALIDATION_FAILED"}
    assert any("aliases" in e["message"] for e in body["errors"])
    assert count_org_lookups == []
    at_limit = " ".join(f'a{i}: organization(slug: "x") {{ id }}' for i in range(settings.max_aliases))
    body = await gql(f"{{ {at_limit} }}")
    assert "errors" not in body
    # At the limit every alias runs (as compiled statements here: the shape is on the fast path).
    assert len(body["data"]) == settings.max_aliases


async def test_tokens_over_limit_are_refused_before_execution(gql, settings, count_org_lookups):
    fields = " ".join(["name"] * settings.max_tokens)
    body = await gql(f'{{ organization(slug: "x") {{ {fields} }} }}')
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    assert str(settings.max_tokens) in error["message"]
    assert count_org_lookups == []


async def test_validation_and_parse_caches_are_hit(resolvers):
    gql = resolvers.gql
    caches = resolvers.app.state.runtime["graphql"].schema.document_caches
    validate_cache, parse_cache = caches.validated, caches.parsed
    query = f'query CacheProbe {{ organization(slug: "cache-{uuid.uuid4().hex}") {{ id viewerRole }} }}'  # unique
    await gql(query)
    validate_before, parse_before = (validate_cache.hits, validate_cache.misses), (parse_cache.hits, parse_cache.misses)
    await gql(query)
    assert (validate_cache.hits, validate_cache.misses) == (validate_before[0] + 1, validate_before[1])
    assert (parse_cache.hits, parse_cache.misses) == (parse_before[0] + 1, parse_before[1])


async def test_unexpected_exceptions_are_masked_and_logged_with_the_request_id(resolvers, monkeypatch, caplog):
    http = resolvers.http
    async def broken(session, slug):
        raise RuntimeError("secret connection string postgres://u:p@db")

    monkeypatch.setattr(org_repository, "by_slug", broken)
    caplog.set_level(logging.ERROR)
    response = await http.post("/graphql", json={"query": RESOLVED_ORG_QUERY, "variables": {"s": "x"}})
    assert response.status_code == 200
    body = response.json()
    request_id = response.headers["x-request-id"]
    assert request_id
    assert body["data"] == {"organization": None}
    [error] = body["errors"]
    assert error["message"] == "Internal server error."
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}
    assert error["path"] == ["organization"]
    assert "secret" not in response.text and "RuntimeError" not in response.text
    records = [r for r in caplog.records if getattr(r, "request_id", None) == request_id]
    assert records, [r.__dict__ for r in caplog.records]
    assert any(r.exc_info and isinstance(r.exc_info[1], RuntimeError) for r in records)


async def test_a_client_supplied_request_id_is_echoed(resolvers, monkeypatch, caplog):
    http = resolvers.http
    async def broken(session, slug):
        raise RuntimeError("boom")

    monkeypatch.setattr(org_repository, "by_slug", broken)
    caplog.set_level(logging.ERROR)
    response = await http.post("/graphql", json={"query": RESOLVED_ORG_QUERY, "variables": {"s": "x"}},
                               headers={"x-request-id": "client-trace-123"})
    assert response.headers["x-request-id"] == "client-trace-123"
    assert response.json()["errors"][0]["extensions"]["requestId"] == "client-trace-123"
    assert any(getattr(r, "request_id", None) == "client-trace-123" for r in caplog.records)


async def test_unsafe_request_ids_are_replaced(http):
    response = await http.get("/healthz", headers={"x-request-id": "x" * 300})
    assert response.headers["x-request-id"] != "x" * 300
    assert 0 < len(response.headers["x-request-id"]) <= 100


@pytest.fixture
async def org_with_owner(factory):
    owner = await factory.user()
    slug = f"org-{uuid.uuid4().hex[:8]}"
    await factory.organization(owner, slug=slug)
    return owner, slug


MEMBERS = ("query($s:String!,$f:Int,$a:String){organization(slug:$s){ name members(first:$f, after:$a){ totalCount "
           "nodes { role } pageInfo { hasPreviousPage } } }}")


@pytest.mark.parametrize("first", [101, 1000, -1])
async def test_first_out_of_range_is_bad_user_input(gql, org_with_owner, first):
    owner, slug = org_with_owner
    body = await gql(MEMBERS, {"s": slug, "f": first}, owner.token)
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "100" in error["message"]
    assert error["path"] == ["organization", "members"]
    assert body["data"]["organization"] == {"name": "Test Org", "members": None}


async def test_first_at_the_cap_is_accepted(gql, org_with_owner):
    owner, slug = org_with_owner
    data = await gql.ok(MEMBERS, {"s": slug, "f": 100}, owner.token)
    assert data["organization"]["members"]["totalCount"] == 1


@pytest.mark.parametrize("cursor", [
    "not-a-cursor", "%%%", "é", "MjAyMC0wMS0wMXx4",  # base64 of "2020-01-01|x"
    "OTk5OS0xMi0zMVQyMzo1OTo1OS0yMzo1OXwwMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDA=",  # year 9999, -23:59
    "MDAwMS0wMS0wMVQwMDowMDowMCsyMzo1OXwwMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDA=",  # year 1, +23:59
    "", "=",
])
async def test_invalid_cursor_is_bad_user_input(gql, org_with_owner, cursor):
    owner, slug = org_with_owner
    body = await gql(MEMBERS, {"s": slug, "f": 5, "a": cursor}, owner.token)
    if cursor == "":
        # An empty `after` means "from the start".
        assert "errors" not in body
        assert body["data"]["organization"]["members"]["totalCount"] == 1
        assert body["data"]["organization"]["members"]["pageInfo"] == {"hasPreviousPage": False}
        return
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", body
    assert error["message"] == "Invalid cursor."


async def test_graphiql_is_served_to_browsers(http):
    response = await http.get("/graphql", headers={"accept": "text/html,application/xhtml+xml"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "graphiql" in response.text.lower()
    # A GET without query that is not a browser gets a JSON hint instead.
    response = await http.get("/graphql", headers={"accept": "application/json"})
    _error(response, 400, "BAD_REQUEST", "query")


async def test_graphiql_can_be_turned_off(settings):
    import httpx

    from codex_graphql.app import create_app

    app = create_app(settings.model_copy(update={"graphiql": False}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            response = await client.get("/graphql", headers={"accept": "text/html"})
    _error(response, 400, "BAD_REQUEST")


@pytest.mark.parametrize("raw", [
    b"\xff\xfe{}",  # not UTF-8
    b"[" * 5000 + b"]" * 5000,  # nesting beyond the JSON parser's limit
    b'{"query": "{ viewer { id } }", "variables": {"x": 1e999999}}',
    b'{"query": "\\u0000"}',
    b'{"query": "{ __typename }", "extensions": {"persistedQuery": {"sha256Hash": "x"}}}',
    b'{"query": "fragment F on Query { __typename }"}',  # no operation at all
    b'{"query": "query Q($v: [[[String!]!]!]) { __typename }", "variables": {"v": [[["a", null]]]}}',
    b'{"query": "{ node(id: 12345678901234567890) { id } }"}',
    b'{"query": "{ viewer { id } }", "operationName": null, "variables": null}',
])
async def test_odd_requests_never_cause_a_500(http, raw):
    response = await http.post("/graphql", content=raw, headers={"content-type": "application/json"})
    assert response.status_code < 500, response.text
    body = response.json()
    for error in body.get("errors", []):
        assert error["extensions"]["code"] != "INTERNAL_SERVER_ERROR", body
