"""`codex-graphql`: dev | serve | migrate | worker | seed | create-owner | export-schema.

Exit codes: 0 done, 1 failed (e.g. database unreachable), 2 refused (bad arguments or input).
Without DATABASE_URL, `dev`, `migrate`, `seed` and `create-owner` use the embedded PostgreSQL
kept under DATA_DIR; `serve` and `worker` require real services.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import logging
import os
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from pydantic import ValidationError

import codex_graphql
from codex_graphql.settings import Settings, UnsafeSettings, check_forwarded_allow_ips

log = logging.getLogger("codex_graphql.cli")

EXIT_OK, EXIT_FAILED, EXIT_REFUSED = 0, 1, 2
APP_FACTORY = "codex_graphql.app:app_factory"
EMBEDDED_DATABASE = "codex"
SINGLE_INSTANCE_WARNING = (
    "REDIS_URL is not set: jobs run inside this process on an in-memory broker, and pub/sub, caches and "
    "rate limits are in-process. This mode is single-instance only: do not run several API processes or "
    "`codex-graphql worker` against it; set REDIS_URL for that."
)


def _database_errors() -> tuple[type[BaseException], ...]:
    import asyncpg
    from sqlalchemy.exc import SQLAlchemyError

    return (OSError, asyncio.TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, SQLAlchemyError)


DATABASE_ERRORS = _database_errors()


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


def _configure_logging(settings: Settings) -> None:
    from codex_graphql.observability import configure_logging

    configure_logging(settings.log_level, settings.log_json)


# -- database ---------------------------------------------------------------------------------

@contextlib.contextmanager
def database_url(settings: Settings) -> Iterator[str]:
    """DATABASE_URL when set; otherwise the embedded PostgreSQL (started if needed, stopped after if we started it)."""
    if settings.database_url:
        yield settings.database_url
        return
    from codex_graphql.embedded import EmbeddedError, EmbeddedPostgres, ensure_database

    embedded = EmbeddedPostgres(settings.data_dir / "postgres")
    try:
        admin_url = embedded.start()
        url = ensure_database(admin_url, EMBEDDED_DATABASE)
    except EmbeddedError as exc:
        raise CliError(f"DATABASE_URL is not set and the embedded PostgreSQL could not start: {exc}") from exc
    log.info(f"DATABASE_URL is not set: using the embedded PostgreSQL, database {url}")
    try:
        yield url
    finally:
        if embedded.started_here:
            embedded.stop()


def alembic_config(url: str):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    ini = Path(codex_graphql.__file__).resolve().parent.parent / "alembic.ini"
    if not ini.is_file():
        raise CliError(f"alembic.ini not found at {ini}: run from a source checkout (pip install -e .).")
    config = Config(str(ini))
    config.attributes["url"] = url
    config.attributes["skip_logging"] = True  # keep our logging setup (JSON or plain)
    return config


def run_migrations(url: str) -> None:
    """alembic upgrade head. Synchronous: migrations/env.py runs its own event loop."""
    logging.getLogger("alembic").setLevel(logging.INFO)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # set before importing alembic
    from alembic import command

    try:
        command.upgrade(alembic_config(url), "head")
    except DATABASE_ERRORS as exc:
        raise CliError(f"Migrating the database failed: {type(exc).__name__}: {exc}") from exc


async def _with_db(url: str, work: Callable):  # type: ignore[no-untyped-def]
    from codex_graphql.db import Database

    db = Database(Settings(database_url=url).database_url or url, pool_size=2, max_overflow=0)
    try:
        return await work(db)
    except DATABASE_ERRORS as exc:
        raise CliError(f"Database error: {type(exc).__name__}: {exc}") from exc
    finally:
        await db.dispose()


def _demo_password(explicit: str | None) -> str:
    """--password, else DEMO_PASSWORD, else the documented default; refused (exit 2) when too weak."""
    from codex_graphql.seed import DEFAULT_DEMO_PASSWORD, InvalidInput, check_demo_password

    password = explicit or os.environ.get("DEMO_PASSWORD") or DEFAULT_DEMO_PASSWORD
    try:
        check_demo_password(password)
    except InvalidInput as exc:
        raise CliError(str(exc), EXIT_REFUSED) from exc
    return password


def run_seed(url: str, password: str) -> None:
    """Demo accounts and organization, then the demo catalogue (media into the configured storage)."""
    from codex_graphql.seed import DEMO_ORG_SLUG, DEMO_USERS, seed_demo
    from codex_graphql.storage.factory import build_storage

    settings = Settings(database_url=url)  # the rest (DATA_DIR, storage, PUBLIC_BASE_URL) from the environment

    async def work(db):  # type: ignore[no-untyped-def]
        storage = build_storage(settings)
        try:
            return await seed_demo(db, password, storage=storage, settings=settings)
        finally:
            await storage.close()

    started = time.monotonic()
    report = asyncio.run(_with_db(url, work))
    for item in report.created:
        log.info(f"seed: created {item}")
    log.info("seed: demo data ready", extra={"rows_created": len(report.created), "rows_unchanged": len(report.existing),
                                             "seconds": round(time.monotonic() - started, 2)})
    if report.ffmpeg_missing:
        print("Demo catalogue: empty, because ffmpeg is not installed (install it and run `codex-graphql seed`).")
    for problem in report.problems:
        print(f"Demo data problem: {problem}", file=sys.stderr)
    accounts = ", ".join(f"{u.email} ({u.org_role.value if u.org_role else u.platform_role.value})" for u in DEMO_USERS)
    print(f"Demo organization `{DEMO_ORG_SLUG}` ready: {len(report.created)} rows created, {len(report.existing)} already there.")
    print(f"Demo accounts: {accounts}")
    if report.created:
        print(f"Password of the accounts created now: {password}")
    else:
        print(f"The accounts already existed and keep their password (the seed password is {password}).")


# -- commands ---------------------------------------------------------------------------------

def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    with database_url(settings) as url:
        run_migrations(url)
    print("Database schema is at the latest revision.")
    return EXIT_OK


def cmd_seed(args: argparse.Namespace, settings: Settings) -> int:
    if settings.is_production:
        raise CliError("Refusing to seed demo accounts with a known password in ENVIRONMENT=production.", EXIT_REFUSED)
    password = _demo_password(args.password)
    with database_url(settings) as url:
        run_seed(url, password)
    return EXIT_OK


def cmd_create_owner(args: argparse.Namespace, settings: Settings) -> int:
    from codex_graphql.seed import InvalidInput, OwnerOutcome, check_owner_input, create_owner

    try:
        check_owner_input(args.email, args.password)
    except InvalidInput as exc:
        raise CliError(str(exc), EXIT_REFUSED) from exc
    with database_url(settings) as url:
        outcome, email = asyncio.run(_with_db(url, lambda db: create_owner(db, args.email, args.password, args.name)))
    message = {
        OwnerOutcome.CREATED: f"Created platform owner {email}.",
        OwnerOutcome.PROMOTED: f"Promoted existing account {email} to PLATFORM_OWNER (its password was not changed).",
        OwnerOutcome.UNCHANGED: f"{email} is already a platform owner; nothing changed (its password was not changed).",
    }[outcome]
    print(message)
    return EXIT_OK


def cmd_platform_fee(args: argparse.Namespace, settings: Settings) -> int:
    from codex_graphql.earnings.service import set_platform_fee
    from codex_graphql.errors import DomainError

    with database_url(settings) as url:
        try:
            percent = asyncio.run(_with_db(url, lambda db: set_platform_fee(db, args.percent)))
        except DomainError as exc:
            raise CliError(str(exc), EXIT_REFUSED) from exc
    print(f"Platform fee: {percent}% of every sale's net (tax excluded), taken before the creators' share.")
    return EXIT_OK


def cmd_close_creator_pool(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import date

    from codex_graphql.earnings import pool

    try:
        year, month = (int(part) for part in args.month.split("-"))
        first = date(year, month, 1)
    except ValueError as exc:
        raise CliError(f"--month must be YYYY-MM, not {args.month!r}.", EXIT_REFUSED) from exc
    with database_url(settings) as url:
        try:
            closed = asyncio.run(_with_db(url, lambda db: pool.close_month(db, first,
                                                                          organization_slug=args.organization)))
        except pool.MonthNotOver as exc:
            raise CliError(str(exc), EXIT_REFUSED) from exc
    for period in closed:
        d = period.division
        print(f"{period.organization_id} {first:%Y-%m} {period.currency}: revenue {d.revenue_cents}, platform "
              f"{d.platform_cents}, pool {d.pool_cents} over {d.plays} plays, {len(d.creators)} creator rows, "
              f"organization {d.organization_cents}")
    print(f"Creator pool {first:%Y-%m}: {len(closed)} period(s) closed now (periods closed before are left as they are).")
    return EXIT_OK


def cmd_run_payouts(args: argparse.Namespace, settings: Settings) -> int:
    from codex_graphql.earnings.payout_jobs import run_payouts
    from codex_graphql.payments.factory import build_payments

    try:
        provider = build_payments(settings)
    except RuntimeError as exc:
        raise CliError(str(exc), EXIT_REFUSED) from exc
    with database_url(settings) as url:
        run = asyncio.run(_with_db(url, lambda db: run_payouts(db, provider, organization_slug=args.organization)))
    print(f"Payouts: {run.organizations} organizations, {run.reserved} payouts taken up, {run.paid} paid, "
          f"{run.failed} failed, {run.unknown} with an unknown outcome (retried next run), {run.skipped} creators "
          "skipped (no account able to receive transfers).")
    return EXIT_OK


def cmd_persisted_manifest(args: argparse.Namespace, settings: Settings) -> int:
    import orjson
    from graphql import GraphQLError, parse, validate

    from codex_graphql.persisted import build_manifest
    from codex_graphql.schema import build_schema

    manifest = build_manifest([Path(p) for p in args.paths])
    schema = build_schema(Settings(database_url=None))._schema
    for document in manifest.values():
        try:
            errors = validate(schema, parse(document))
        except GraphQLError as error:
            errors = [error]
        if errors:
            raise CliError(f"invalid document: {errors[0].message}\n{document[:200]}", EXIT_REFUSED)
    text = orjson.dumps(manifest, option=orjson.OPT_INDENT_2).decode() + "\n"
    if args.output:
        Path(args.output).write_text(text)
    else:
        print(text, end="")
    return EXIT_OK


def cmd_export_schema(args: argparse.Namespace, settings: Settings) -> int:
    from codex_graphql.schema import printed_schema

    text = printed_schema()
    if args.output in (None, "-"):
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text)
        print(f"Wrote {args.output} ({text.count(chr(10))} lines).", file=sys.stderr)
    return EXIT_OK


def _uvicorn_fast_paths() -> dict[str, str]:
    return {
        "loop": "uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        # httptools with one socket write per response (app.CoalescingHttpToolsProtocol).
        "http": "codex_graphql.app:CoalescingHttpToolsProtocol" if importlib.util.find_spec("httptools") else "h11",
    }


def _ensure_secret_key(settings: Settings, persist_to: Path | None) -> None:
    """Child processes (uvicorn workers, the reloader) must share one SECRET_KEY."""
    if "secret_key" in settings.model_fields_set:
        return
    if persist_to is not None:
        persist_to.parent.mkdir(parents=True, exist_ok=True)
        if not persist_to.exists():
            persist_to.write_text(secrets.token_urlsafe(32))
            persist_to.chmod(0o600)
        os.environ["SECRET_KEY"] = persist_to.read_text().strip()
        return
    log.warning("SECRET_KEY is not set: using a random key for this server only; signed links and tokens will "
                "not survive a restart or work across instances. Set SECRET_KEY in production.")
    os.environ["SECRET_KEY"] = secrets.token_urlsafe(32)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    if not settings.database_url:
        raise CliError("DATABASE_URL is not set. `serve` is the production server; use `codex-graphql dev` for the "
                       "embedded database.", EXIT_REFUSED)
    if args.workers < 1:
        raise CliError("--workers must be at least 1.", EXIT_REFUSED)
    if not settings.redis_url:
        if args.workers > 1:
            raise CliError("REDIS_URL is required with --workers > 1: without Redis each process would have its own "
                           "jobs, pub/sub and caches.", EXIT_REFUSED)
        log.warning(SINGLE_INSTANCE_WARNING)
    _ensure_secret_key(settings, None)
    forwarded = args.forwarded_allow_ips or settings.forwarded_allow_ips
    try:
        check_forwarded_allow_ips(settings.environment, forwarded)
    except UnsafeSettings as exc:
        raise CliError(str(exc), EXIT_REFUSED) from exc
    os.environ["FORWARDED_ALLOW_IPS"] = forwarded  # the app in each server process checks it again
    log.info("serving", extra={"host": args.host, "port": args.port, "workers": args.workers})
    uvicorn.run(
        APP_FACTORY, factory=True, host=args.host, port=args.port, workers=args.workers,
        proxy_headers=True, forwarded_allow_ips=forwarded, server_header=False,
        log_config=None, timeout_graceful_shutdown=args.graceful_timeout, lifespan="on",
        **_uvicorn_fast_paths(),
    )
    return EXIT_OK


def cmd_dev(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    if settings.is_production:
        raise CliError("`dev` is for development; use `codex-graphql serve` with ENVIRONMENT=production.", EXIT_REFUSED)
    password = _demo_password(None)
    started = time.monotonic()
    with database_url(settings) as url:
        # The seed, the server and (with --reload) its reloaded children read settings from the environment.
        os.environ["DATABASE_URL"] = url
        os.environ.setdefault("PUBLIC_BASE_URL", f"http://{args.host}:{args.port}")
        _ensure_secret_key(settings, settings.data_dir / "secret_key")
        run_migrations(url)
        run_seed(url, password)
        log.info(f"dev: database, migrations and demo data ready in {time.monotonic() - started:.1f} s")
        if not settings.redis_url:
            log.warning(SINGLE_INSTANCE_WARNING)
        print(f"Codex GraphQL dev server: http://{args.host}:{args.port}/graphql (GraphiQL in a browser)", flush=True)
        root = Path(codex_graphql.__file__).resolve().parent.parent
        uvicorn.run(
            APP_FACTORY, factory=True, host=args.host, port=args.port, log_config=None, lifespan="on",
            reload=args.reload,
            reload_dirs=[str(root / "codex_graphql"), str(root / "workers")] if args.reload else None,
            **_uvicorn_fast_paths(),
        )
    return EXIT_OK


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.redis_url:
        raise CliError("REDIS_URL is not set: workers take jobs from Redis. Without Redis the API process runs "
                       "jobs itself (single-instance mode) and no worker is needed.", EXIT_REFUSED)
    if not settings.database_url:
        raise CliError("DATABASE_URL is not set: workers need the same database as the API.", EXIT_REFUSED)
    command = [sys.executable, "-m", "dramatiq", "workers.main",
               "--processes", str(args.processes), "--threads", str(args.threads)]
    log.info("starting Dramatiq workers", extra={"processes": args.processes, "threads": args.threads})
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, command)  # noqa: S606 (replace this process: signals go straight to Dramatiq)
    return EXIT_OK  # not reached


# -- parser -----------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="codex-graphql",
        description="Codex GraphQL server. Configuration comes from environment variables (see README).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    dev = sub.add_parser("dev", help="development server: embedded PostgreSQL when DATABASE_URL is unset, "
                                     "migrations, demo data, auto-reload")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=8000)
    dev.add_argument("--reload", action=argparse.BooleanOptionalAction, default=True,
                     help="restart when source files change (default: on)")
    dev.set_defaults(func=cmd_dev)

    serve = sub.add_parser("serve", help="production server (uvicorn, app factory, proxy headers)")
    serve.add_argument("--host", default="0.0.0.0")  # noqa: S104 (a server in a container listens on all interfaces)
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="server processes (default 1)")
    serve.add_argument("--forwarded-allow-ips", default=None,
                       help="proxies trusted for X-Forwarded-* headers (default: $FORWARDED_ALLOW_IPS or 127.0.0.1)")
    serve.add_argument("--graceful-timeout", type=int, default=30,
                       help="seconds to let requests finish on shutdown (default 30)")
    serve.set_defaults(func=cmd_serve)

    migrate = sub.add_parser("migrate", help="apply database migrations (alembic upgrade head)")
    migrate.set_defaults(func=cmd_migrate)

    worker = sub.add_parser("worker", help="run Dramatiq workers (needs REDIS_URL and DATABASE_URL)")
    worker.add_argument("--processes", type=int, default=2)
    worker.add_argument("--threads", type=int, default=4)
    worker.set_defaults(func=cmd_worker)

    seed = sub.add_parser("seed", help="create the demo organization and accounts (idempotent)")
    seed.add_argument("--password", default=None,
                      help="password of demo accounts created now (default: $DEMO_PASSWORD or the documented dev password)")
    seed.set_defaults(func=cmd_seed)

    owner = sub.add_parser("create-owner", help="create a platform owner, or promote an existing account")
    owner.add_argument("--email", required=True)
    owner.add_argument("--password", required=True)
    owner.add_argument("--name", default="")
    owner.set_defaults(func=cmd_create_owner)

    fee = sub.add_parser("platform-fee", help="show the platform fee, or set it (percent of each sale, taken first)")
    fee.add_argument("percent", nargs="?", type=int, default=None, help="0 to 100; omit to show the current fee")
    fee.set_defaults(func=cmd_platform_fee)

    pool = sub.add_parser("close-creator-pool", help="close a finished month's subscription pool (divide its "
                          "subscription revenue between platform, creators and organization; once per period)")
    pool.add_argument("--month", required=True, help="the month, YYYY-MM (UTC); it must have ended")
    pool.add_argument("--organization", default=None, help="only this organization (slug); default: every "
                      "organization whose creatorPoolPercent is above 0")
    pool.set_defaults(func=cmd_close_creator_pool)

    payouts = sub.add_parser("run-payouts", help="run the creator payout job once (what workers run every hour)")
    payouts.add_argument("--organization", default=None, metavar="SLUG", help="only this organization")
    payouts.set_defaults(func=cmd_run_payouts)

    export = sub.add_parser("export-schema", help="print the GraphQL schema (SDL)")
    export.add_argument("--output", "-o", default=None, help="write to this file instead of stdout")
    export.set_defaults(func=cmd_export_schema)

    persisted = sub.add_parser("persisted-manifest", help="write the persisted-operations manifest (sha256 -> "
                               "document) of .graphql files, for PERSISTED_OPERATIONS_FILE")
    persisted.add_argument("paths", nargs="+", help=".graphql files or folders holding them")
    persisted.add_argument("--output", "-o", default=None, help="write to this file instead of stdout")
    persisted.set_defaults(func=cmd_persisted_manifest)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        try:
            settings = Settings()
        except ValidationError as exc:
            raise CliError(f"invalid configuration in the environment:\n{exc}", EXIT_REFUSED) from exc
        _configure_logging(settings)
        return int(args.func(args, settings))
    except CliError as exc:
        print(f"codex-graphql {args.command}: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
