"""Operations endpoints: liveness, readiness, metrics, request ids."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from codex_graphql.app import create_app
from tests.conftest import db_url, module_database

# These tests only read; one database serves the module.
database_url = module_database("ops")


async def _client_for(settings):
    app = create_app(settings)
    return app, httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def test_healthz(http):
    response = await http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_when_everything_is_up(http):
    response = await http.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


async def test_readyz_names_redis_when_it_is_down(settings):
    # Port 1 on loopback: nothing listens, connections are refused at once.
    app, client = await _client_for(settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}))
    async with app.router.lifespan_context(app), client:
        started = time.monotonic()
        response = await client.get("/readyz")
        elapsed = time.monotonic() - started
        health = await client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("unavailable")
    assert elapsed < 5  # bounded: a readiness probe must answer even when a dependency hangs
    assert health.status_code == 200  # the process itself is alive


async def test_readyz_names_the_database_when_it_is_down(settings):
    broken = settings.model_copy(update={"database_url": db_url(f"codex_missing_{uuid.uuid4().hex[:8]}").replace(
        "postgresql://", "postgresql+asyncpg://")})
    app, client = await _client_for(broken)
    async with app.router.lifespan_context(app), client:
        response = await client.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"].startswith("unavailable") and checks["redis"] == "ok"


def _sample(metrics_text: str, name: str, labels: dict[str, str]) -> float | None:
    """The value of one sample in Prometheus text format (label order does not matter)."""
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return None


async def test_metrics_count_requests_and_latency_by_operation(http, gql):
    await gql("query ViewerProbe { viewer { id } }")
    await gql("query ViewerProbe { viewer { id } }")
    await gql("{ viewer { id } }")
    await gql("query Broken { nope }")
    response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert _sample(text, "codex_graphql_requests_total", {"operation": "ViewerProbe"}) == 2.0
    assert _sample(text, "codex_graphql_requests_total", {"operation": "anonymous"}) == 1.0
    assert _sample(text, "codex_graphql_request_duration_seconds_count", {"operation": "ViewerProbe"}) == 2.0
    assert _sample(text, "codex_graphql_request_duration_seconds_bucket", {"operation": "ViewerProbe", "le": "+Inf"}) == 2.0
    assert _sample(text, "codex_graphql_request_duration_seconds_sum", {"operation": "ViewerProbe"}) > 0
    assert _sample(text, "codex_graphql_errors_total", {"operation": "Broken", "code": "GRAPHQL_VALIDATION_FAILED"}) == 1.0
    assert _sample(text, "codex_http_requests_total", {"route": "/graphql", "status": "200"}) == 4.0


async def test_metric_labels_stay_bounded(http, gql):
    await gql("query " + "A" * 80 + " { viewer { id } }")  # not a label-worthy name
    await http.get("/no/such/path/" + uuid.uuid4().hex)
    text = (await http.get("/metrics")).text
    assert "A" * 80 not in text
    assert _sample(text, "codex_graphql_requests_total", {"operation": "anonymous"}) == 1.0
    assert _sample(text, "codex_http_requests_total", {"route": "other", "status": "404"}) == 1.0


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"), ("POST", "/graphql"), ("GET", "/graphql"),
    ("GET", "/nowhere"),
])
async def test_every_response_carries_a_request_id(http, method, path):
    kwargs = {"json": {"query": "{ viewer { id } }"}} if method == "POST" else {}
    first = await http.request(method, path, **kwargs)
    second = await http.request(method, path, **kwargs)
    assert first.headers["x-request-id"] and second.headers["x-request-id"]
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    echoed = await http.request(method, path, headers={"x-request-id": "trace-abc.123"}, **kwargs)
    assert echoed.headers["x-request-id"] == "trace-abc.123"
    for bad in ("has space", "x" * 101, "quote\"d"):
        replaced = await http.request(method, path, headers={"x-request-id": bad}, **kwargs)
        assert replaced.headers["x-request-id"] != bad


async def test_metrics_expose_database_pool_state(app, gql, http):
    await gql("{ __typename }")
    await gql("query Probe { organization(slug: \"nope\") { id } }")
    body = (await http.get("/metrics")).text
    for name in ("codex_db_pool_size", "codex_db_pool_checked_out", "codex_db_pool_overflow",
                 "codex_db_pool_saturated_total"):
        assert f"\n{name}" in body, name
    size = next(line for line in body.splitlines() if line.startswith("codex_db_pool_size "))
    assert float(size.split()[1]) == app.state.settings.db_pool_size


async def test_server_processes_collect_young_objects_less_often(monkeypatch, settings):
    """app_factory (what `serve` runs) tunes the collector; apps built in tests leave it alone."""
    import gc

    from codex_graphql import app as app_module

    before = gc.get_threshold()
    monkeypatch.setattr(app_module, "Settings", lambda: settings)
    monkeypatch.setattr("codex_graphql.observability.configure_logging", lambda *args: None)  # keep test logging
    server_app = app_module.app_factory()
    try:
        async with server_app.router.lifespan_context(server_app):
            assert gc.get_threshold()[0] == app_module.GC_THRESHOLD
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
