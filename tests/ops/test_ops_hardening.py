"""GET /metrics access (METRICS_TOKEN, METRICS_PUBLIC) and the refusal to trust X-Forwarded-For from
anyone in production (FORWARDED_ALLOW_IPS), through the real app and the real CLI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from codex_graphql.app import create_app
from codex_graphql.settings import Settings, UnsafeSettings, check_forwarded_allow_ips
from tests.ops.test_cli import cli_env, run_cli
from tests.support.live_server import free_port

TOKEN = "metrics-token-0123456789"


@asynccontextmanager
async def metrics_client(settings: Settings, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The app's routes without its lifespan: /metrics needs nothing the lifespan starts, which lets
    production settings (local payments and storage are refused there) serve it in a test."""
    app = create_app(settings.model_copy(update=overrides))
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 1234))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def production(**values: Any) -> Settings:
    """Production settings built (and validated) the way the server builds them."""
    return Settings(environment="production", database_url=None, secret_key="s" * 32, **values)


@pytest.mark.parametrize("environment", ["test", "production"])
async def test_metrics_token_required_when_set(settings: Settings, environment: str) -> None:
    async with metrics_client(settings, environment=environment, metrics_token=SecretStr(TOKEN),
                              metrics_public=True) as client:
        for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": f"Basic {TOKEN}"},
                        {"authorization": f"Bearer {TOKEN}x"}, {"authorization": TOKEN},
                        {"authorization": f"Bearer {TOKEN[:-1]}"}):
            refused = await client.get("/metrics", headers=headers)
            assert refused.status_code == 401, headers
            assert refused.headers["www-authenticate"].startswith("Bearer")
            assert "codex_" not in refused.text
        served = await client.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"})
        assert served.status_code == 200
        assert "codex_http_requests_total" in served.text
        lower = await client.get("/metrics", headers={"authorization": f"bearer  {TOKEN} "})
        assert lower.status_code == 200


async def test_metrics_hidden_in_production_without_a_token(settings: Settings) -> None:
    validated = production()
    assert validated.metrics_public is False and validated.metrics_token is None
    async with metrics_client(settings, environment="production", metrics_public=validated.metrics_public) as client:
        for headers in ({}, {"authorization": "Bearer anything"}):
            response = await client.get("/metrics", headers=headers)
            assert response.status_code == 404
            assert "codex_" not in response.text
    # Copied settings that skipped validation (metrics_public unset) are closed in production too.
    async with metrics_client(settings, environment="production", metrics_public=None) as client:
        assert (await client.get("/metrics")).status_code == 404


async def test_metrics_public_in_production_only_when_asked(settings: Settings) -> None:
    assert production(metrics_public=True).metrics_public is True
    async with metrics_client(settings, environment="production", metrics_public=True) as client:
        response = await client.get("/metrics")
        assert response.status_code == 200 and "codex_http_requests_total" in response.text


async def test_metrics_open_outside_production_by_default(settings: Settings) -> None:
    assert Settings(environment="development").metrics_public is True
    async with metrics_client(settings, metrics_public=None) as client:
        assert (await client.get("/metrics")).status_code == 200


@pytest.mark.parametrize("value", ["*", "10.0.0.1, *", "0.0.0.0/0", "::/0,127.0.0.1"])
def test_production_refuses_wildcard_trusted_proxies(settings: Settings, value: str) -> None:
    with pytest.raises(UnsafeSettings, match="FORWARDED_ALLOW_IPS"):
        check_forwarded_allow_ips("production", value)
    with pytest.raises(UnsafeSettings, match="trusts X-Forwarded-For from any client"):
        create_app(settings.model_copy(update={"environment": "production", "forwarded_allow_ips": value}))
    # Outside production a wildcard is the developer's choice (e.g. behind a local tunnel).
    create_app(settings.model_copy(update={"forwarded_allow_ips": value}))


@pytest.mark.parametrize("value", ["127.0.0.1", "10.0.0.0/8, 192.168.1.5", "fd00::/8"])
def test_production_accepts_listed_proxies(settings: Settings, value: str) -> None:
    check_forwarded_allow_ips("production", value)
    create_app(settings.model_copy(update={"environment": "production", "forwarded_allow_ips": value}))


def test_forwarded_allow_ips_reads_uvicorns_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().forwarded_allow_ips == "127.0.0.1"
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.1.2.3")
    assert Settings().forwarded_allow_ips == "10.1.2.3"


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_serve_refuses_wildcard_proxies_in_production(tmp_path: Any, how: str) -> None:
    env = cli_env(ENVIRONMENT="production", DATABASE_URL="postgresql://postgres@127.0.0.1/unused",
                  SECRET_KEY="cli-test-secret")
    args = ["serve", "--port", str(free_port())]
    if how == "flag":
        args += ["--forwarded-allow-ips", "*"]
    else:
        env["FORWARDED_ALLOW_IPS"] = "*"
    result = run_cli(*args, env=env, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "trusts X-Forwarded-For from any client" in result.stderr
    assert "Application startup" not in result.stderr + result.stdout

