"""Typed settings read from the environment; the defaults serve the embedded dev mode."""

from __future__ import annotations

import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    import os
    import tempfile

    if os.geteuid() == 0:
        # pgserver refuses to keep a root-owned cluster outside /tmp.
        return Path(tempfile.gettempdir()) / "codex-graphql"
    return Path.home() / ".cache" / "codex-graphql"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    environment: Literal["development", "test", "production"] = "development"
    database_url: str | None = None
    redis_url: str | None = None
    redis_namespace: str = "codex"
    secret_key: str = Field(default_factory=lambda: secrets.token_urlsafe(32))
    public_base_url: str = "http://127.0.0.1:8000"
    data_dir: Path = Field(default_factory=_default_data_dir)

    db_pool_size: int = 10
    db_max_overflow: int = 10

    session_ttl_seconds: int = 30 * 24 * 3600
    session_cookie_name: str = "codex_session"
    session_cache_ttl_seconds: int = 300
    email_token_ttl_seconds: int = 24 * 3600
    password_reset_ttl_seconds: int = 3600
    login_max_failures: int = 5
    login_failure_window_seconds: int = 900

    graphiql: bool = True
    max_query_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 5000
    max_body_bytes: int = 1_000_000
    parser_cache_size: int = 1000
    validation_cache_size: int = 1000

    stripe_secret_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_api_base: str | None = None
    payments_provider: Literal["stripe", "local"] = "local"
    stripe_tax_enabled: bool = False
    # Origins that checkout success/cancel URLs may point to (comma-separated); PUBLIC_BASE_URL is always allowed.
    allowed_redirect_origins: str = ""

    storage_backend: Literal["s3", "local"] = "local"
    storage_max_object_bytes: int = 5 * 1024**3
    s3_endpoint_url: str | None = None
    s3_bucket: str = "codex-media"
    s3_region: str = "us-east-1"
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None

    smtp_url: str | None = None
    mail_from: str = "Codex <no-reply@codex.local>"
    # Where links in emails point (a storefront may serve /account/verify-email itself).
    account_link_base_url: str | None = None

    enable_multi_org: bool = False
    relay_poll_seconds: float = 1.0
    upload_cleanup_seconds: float = 600.0
    log_level: str = "INFO"
    log_json: bool = True

    @field_validator("database_url")
    @classmethod
    def _asyncpg_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        for prefix in ("postgresql://", "postgres://", "postgresql+psycopg://", "postgresql+psycopg2://"):
            if value.startswith(prefix):
                return "postgresql+asyncpg://" + value[len(prefix):]
        return value

    @cached_property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def link_base(self) -> str:
        return (self.account_link_base_url or self.public_base_url).rstrip("/")

    @property
    def redirect_origins(self) -> set[str]:
        from urllib.parse import urlsplit

        origins = {o.strip().rstrip("/") for o in self.allowed_redirect_origins.split(",") if o.strip()}
        base = urlsplit(self.public_base_url)
        origins.add(f"{base.scheme}://{base.netloc}")
        return origins

    @property
    def embedded_redis(self) -> bool:
        return not self.redis_url


def load_settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]
