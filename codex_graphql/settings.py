"""Typed settings read from the environment; the defaults serve the embedded dev mode."""

from __future__ import annotations

import secrets
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
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
    # Server-side limits on every connection the app opens (the SQLAlchemy pool of the API and the workers,
    # and the compiled read path's asyncpg pool; not migrations or CLI commands): a statement running longer
    # is cancelled (the request answers INTERNAL_SERVER_ERROR), and a session left idle inside an open
    # transaction this long is ended by the server, releasing its locks. 0 disables either.
    database_statement_timeout_ms: int = Field(default=15_000, ge=0)
    database_idle_in_transaction_timeout_ms: int = Field(default=60_000, ge=0)

    session_ttl_seconds: int = 30 * 24 * 3600
    session_cookie_name: str = "codex_session"
    session_cache_ttl_seconds: int = 300
    email_token_ttl_seconds: int = 24 * 3600
    password_reset_ttl_seconds: int = 3600
    login_max_failures: int = 5
    login_failure_window_seconds: int = 900

    # GraphiQL at GET /graphql for browsers; unset means on, except in production.
    graphiql: bool | None = None
    max_query_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 5000
    max_body_bytes: int = 1_000_000
    # Largest GraphQL document (the `query` text, by POST, GET or APQ registration), refused before
    # parsing, caching or storing (413 DOCUMENT_TOO_LARGE).
    max_document_bytes: int = 100_000
    # Per-document caches are keyed by the document's SHA-256 and bounded by estimated bytes (doccache.py).
    parser_cache_bytes: int = 32_000_000
    validation_cache_bytes: int = 8_000_000
    # Compiled execution of the hottest read shapes (codex_graphql/fastpath); off runs everything
    # through the resolvers. Plans are cached per (document, operation name).
    fast_path_enabled: bool = True
    fast_path_cache_bytes: int = 32_000_000
    # Persisted operations: a JSON manifest {"<sha256 of the document>": "<document>"} built from the
    # clients' documents (`codex-graphql persisted build`), loaded, parsed and validated at startup.
    persisted_operations_file: Path | None = None
    # Only operations from the manifest (or already registered by APQ when that is on) may run.
    persisted_operations_only: bool = False
    # Automatic persisted queries (Apollo's protocol): clients may send a hash and register unknown ones.
    apq_enabled: bool = True
    apq_ttl_seconds: int = 7 * 24 * 3600  # documents registered by signed-in callers
    apq_anonymous_ttl_seconds: int = 3600  # documents registered by anonymous callers
    apq_anonymous_registrations_per_hour: int = 20  # per client address; beyond it documents run unstored
    apq_user_registrations_per_hour: int = 200  # per signed-in user
    apq_local_cache_bytes: int = 16_000_000  # each process's in-memory copy of registered documents
    # How long a process trusts its in-memory copy of a resolved session before asking Redis and
    # PostgreSQL again; logouts and role changes made through the API drop it at once on every instance.
    session_local_cache_seconds: float = 5.0

    # Security limits (README "Security"). Query cost: leaves 0, objects 1, connections 1 + `first` x item.
    max_query_cost: int = 5000  # per request; above it QUERY_TOO_COMPLEX, nothing executes
    cost_cache_bytes: int = 4_000_000  # cached cost analyses, keyed by (document hash, operation name)
    # No request is free: every operation is charged this much on top of its query cost, plus
    # DOCUMENT_COST_PER_KB for every full KiB of document text.
    min_request_cost: int = 1
    document_cost_per_kb: int = 1
    # Token bucket per caller (user id, or client IP when anonymous), charged by the requested cost.
    rate_limit_enabled: bool = True
    rate_limit_capacity: int = 10000  # points a caller may spend in a burst (keep >= MAX_QUERY_COST)
    rate_limit_restore_rate: float = 500.0  # points restored per second
    rate_limit_http_429: bool = True  # THROTTLED answers 429 + Retry-After; false: 200 (GraphQL-purist clients)
    max_mutations_per_request: int = 10  # top-level mutation fields in one operation; else TOO_MANY_MUTATIONS
    max_ws_connections_per_user: int = 10  # live WebSockets per user (per IP when anonymous)
    ws_connection_lease_seconds: int = 300  # a connection's slot expires this long after its process died
    max_subscriptions_per_connection: int = 20  # operations in flight on one WebSocket
    # Web security. Origins allowed to call the API from browsers (comma-separated; credentials allowed).
    cors_allowed_origins: str = ""
    # Introspection: `on` (everyone), `off`, `staff` (organization members and platform owners);
    # unset means `staff` in production, `on` otherwise.
    introspection: Literal["on", "off", "staff"] | None = None
    # Remove "Did you mean ...?" from error messages; unset means hidden in production only.
    hide_field_suggestions: bool | None = None
    # GET /metrics: with a token, only `Authorization: Bearer <METRICS_TOKEN>` is served (401 otherwise).
    # Without one it is open outside production and answers 404 in production unless METRICS_PUBLIC=true
    # (for a listener only the scraper reaches). Unset METRICS_PUBLIC means: open except in production.
    metrics_token: SecretStr | None = None
    metrics_public: bool | None = None
    # Proxies whose X-Forwarded-For/-Proto uvicorn believes (comma-separated IPs or CIDR networks; the
    # same FORWARDED_ALLOW_IPS variable uvicorn reads). "*" (anyone may claim any client address, which
    # defeats per-IP rate limits, sign-in throttling and audit IPs) makes a production server refuse to
    # start (create_app and `codex-graphql serve`, check_forwarded_allow_ips).
    forwarded_allow_ips: str = "127.0.0.1"

    stripe_secret_key: str | None = None
    stripe_webhook_secret: str | None = None
    # The signing secret of the Stripe endpoint that receives Connect events (connected accounts'
    # ``account.updated``): Stripe gives that endpoint its own secret, even at the same URL.
    stripe_connect_webhook_secret: str | None = None
    stripe_api_base: str | None = None
    payments_provider: Literal["stripe", "local"] = "local"
    stripe_tax_enabled: bool = False
    # Origins that checkout success/cancel URLs may point to (comma-separated); PUBLIC_BASE_URL is always allowed.
    allowed_redirect_origins: str = ""

    # Conferencing (docs/conferencing.md): meetings for the sessions of online offerings. "local" gives every
    # organization without a connected provider a demo meeting page on this server (never in production);
    # "none" creates meetings only for organizations that connected Zoom or Google Meet.
    conferencing_provider: Literal["local", "none"] = "local"
    zoom_client_id: str | None = None
    zoom_client_secret: str | None = None
    zoom_webhook_secret: str | None = None  # the Zoom app's "secret token" that signs its webhooks
    zoom_api_base: str = "https://api.zoom.us"
    zoom_oauth_base: str = "https://zoom.us"
    google_client_id: str | None = None
    google_client_secret: str | None = None
    google_oauth_base: str = "https://accounts.google.com"
    google_token_url: str = "https://oauth2.googleapis.com/token"
    google_calendar_api_base: str = "https://www.googleapis.com/calendar/v3"

    storage_backend: Literal["s3", "local"] = "local"
    storage_max_object_bytes: int = 5 * 1024**3
    s3_endpoint_url: str | None = None
    s3_bucket: str = "codex-media"
    s3_region: str = "us-east-1"
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None

    # HLS ladder (docs/media.md): the processing job transcodes each video into H.264 + AAC renditions of these
    # heights (comma-separated; a rung taller than the source is skipped, never upscaled; a source shorter
    # than the smallest rung gets one rendition at its own size) and each audio item into one AAC rendition
    # at HLS_AUDIO_BITRATE; segments are HLS_SEGMENT_SECONDS long, each starting on a keyframe. Off: the
    # item is READY after probing and thumbnails, and the original file is what plays (small installations).
    hls_enabled: bool = True
    hls_segment_seconds: int = Field(default=4, ge=1, le=30)
    hls_ladder: str = "240,360,720,1080"
    hls_audio_bitrate: str = Field(default="128k", pattern=r"^[1-9][0-9]{1,3}k$")
    # A video longer than twice this is split into chunks of about this many seconds (a multiple of
    # HLS_SEGMENT_SECONDS), each transcoded by its own job, so several workers share one long file; 0: never.
    hls_chunk_seconds: int = Field(default=300, ge=0, le=24 * 3600)
    # After the ladder, one progressive MP4 per rendition (remuxed from its segments) for rendition downloads.
    hls_rendition_downloads: bool = True

    smtp_url: str | None = None
    mail_from: str = "Codex <no-reply@codex.local>"
    # Where links in emails point (a storefront may serve /account/verify-email itself).
    account_link_base_url: str | None = None

    enable_multi_org: bool = False
    relay_poll_seconds: float = 1.0
    # How often the storage hygiene job runs (expired uploads, replaced logos, purged items' files).
    upload_cleanup_seconds: float = 600.0
    # How often the scheduled-publishing job publishes items whose scheduled time has come (README, Operations).
    scheduled_publish_seconds: float = Field(default=60.0, gt=0)
    # A deleted item with no active entitlement is purged (its files deleted) this many days after deletion.
    content_purge_retention_days: int = Field(default=30, ge=0)
    # The dunning reminder goes to a PAST_DUE subscriber once their access ends within this many hours.
    dunning_reminder_window_hours: int = Field(default=24, ge=1, le=24 * 60)
    # Dramatiq's Redis broker: a worker silent this long is dead and its unacknowledged jobs are
    # requeued by the next maintenance pass, which runs on about chance/1,000,000 broker commands.
    job_heartbeat_timeout_ms: int = 15_000
    job_maintenance_chance: int = 10_000
    log_level: str = "INFO"
    log_json: bool = True
    # OpenTelemetry traces (README "Tracing"): off unless TRACING_ENABLED=true or OTEL_TRACES_EXPORTER names an
    # exporter; the OTEL_* variables configure the export. An incoming W3C `traceparent` is continued only
    # from these callers (comma-separated IPs or CIDR networks; unset: FORWARDED_ALLOW_IPS; "" trusts nobody).
    tracing_enabled: bool | None = None
    trace_trusted_ips: str | None = None

    @field_validator("hls_ladder")
    @classmethod
    def _ladder_heights(cls, value: str) -> str:
        heights = [part.strip() for part in value.split(",") if part.strip()]
        if not heights or not all(h.isdigit() and 16 <= int(h) <= 4320 for h in heights):
            raise ValueError("HLS_LADDER must list heights in pixels (16 to 4320), e.g. 240,360,720,1080")
        return ",".join(str(h) for h in sorted({int(h) for h in heights}))

    @field_validator("database_url")
    @classmethod
    def _asyncpg_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        for prefix in ("postgresql://", "postgres://", "postgresql+psycopg://", "postgresql+psycopg2://"):
            if value.startswith(prefix):
                return "postgresql+asyncpg://" + value[len(prefix):]
        return value

    @model_validator(mode="after")
    def _production_defaults(self) -> Settings:
        production = self.environment == "production"
        if self.graphiql is None:
            self.graphiql = not production
        if self.introspection is None:
            self.introspection = "staff" if production else "on"
        if self.hide_field_suggestions is None:
            self.hide_field_suggestions = production
        if self.metrics_public is None:
            self.metrics_public = not production
        return self

    @property
    def cors_origins(self) -> set[str]:
        return {o.strip().rstrip("/") for o in self.cors_allowed_origins.split(",") if o.strip()}

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

    @property
    def content_purge_retention(self) -> timedelta:
        return timedelta(days=self.content_purge_retention_days)

    @property
    def dunning_reminder_window(self) -> timedelta:
        return timedelta(hours=self.dunning_reminder_window_hours)


# Trusting every peer for X-Forwarded-*: uvicorn's wildcard and the networks that contain every address.
WILDCARD_PROXIES = frozenset({"*", "0.0.0.0/0", "::/0"})


class UnsafeSettings(ValueError):
    """A configuration the server refuses to start with."""


def check_forwarded_allow_ips(environment: str, value: str | None) -> None:
    """Refuse (in production) a trusted-proxy list that lets any client forge its address."""
    if environment != "production" or not value:
        return
    if WILDCARD_PROXIES & {part.strip() for part in value.split(",")}:
        raise UnsafeSettings(
            f"FORWARDED_ALLOW_IPS={value!r} trusts X-Forwarded-For from any client, so anyone could forge "
            "the client address that rate limits, sign-in throttling and the audit log rely on. In production "
            "list the load balancer's addresses or networks instead (for example 10.0.0.0/8)."
        )


def load_settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]
