"""Webhook ingest benchmark: verified Stripe `checkout.session.completed` events per second, exactly once.

By default it builds everything it needs and removes it afterwards: a scratch database (migrated), a
`codex-graphql serve --workers W` on loopback with its own REDIS_NAMESPACE and PAYMENTS_PROVIDER=local,
an organization with buyers, items and one open checkout per event (written straight into the database,
as the load benchmark seeds). Then C concurrent clients deliver N distinct events, each signed
`t=...,v1=...` with the local webhook secret exactly as the server verifies it, and each delivered
`--copies` times at once (duplicates, as Stripe's retries and parallel deliveries produce). Afterwards it
checks exactly-once effects in the database: per distinct event one stored inbox row, one purchase, one
live entitlement, one `purchase.completed` outbox event and one `send_purchase_email` job, and waits for
the outbox relay to publish everything.

    .venv/bin/python benchmarks/webhook_ingest.py --workers 2 --events 6000 --clients 64 --copies 2-3
    .venv/bin/python benchmarks/webhook_ingest.py --workers 2 --events 6000 --copies 1

Needs PostgreSQL as a superuser (BENCH_ADMIN_URL, default postgresql://postgres@127.0.0.1:5432/postgres)
and Redis (BENCH_REDIS_URL, default redis://127.0.0.1:6379/0). Run by hand, never by the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import os
import random
import signal
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import asyncpg
import httpx
import orjson
import redis.asyncio as aioredis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from codex_graphql.payments.signing import sign  # noqa: E402

ADMIN_URL = os.environ.get("BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def local_webhook_secret(secret_key: str) -> str:
    """payments.factory.webhook_secret for PAYMENTS_PROVIDER=local without STRIPE_WEBHOOK_SECRET."""
    return "whsec_local_" + hashlib.sha256(b"codex-webhook:" + secret_key.encode()).hexdigest()[:32]


def db_url(name: str) -> str:
    return f"{ADMIN_URL.rpartition('/')[0]}/{name}"


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] if ordered else float("nan")


# --- a scratch server ---------------------------------------------------------------------------------


@dataclass
class Server:
    url: str
    database_url: str
    secret_key: str
    webhook_secret: str
    namespace: str
    workers: int
    log_path: str = ""
    pid: int | None = None  # the server's main process (its workers are its children)


@contextlib.asynccontextmanager
async def scratch_server(workers: int, port: int, *, tag: str, keep: bool = False,
                         env: dict[str, str] | None = None, profile: str = "",
                         root: Path = ROOT) -> AsyncIterator[Server]:
    """A migrated scratch database and `codex-graphql serve --workers N`; both removed on exit. With
    ``profile`` the (single) server process runs under cProfile and writes its stats there on exit. ``root``:
    the source tree the server runs from (another checkout, to compare two versions)."""
    name = f"codex_bench_{tag}"
    namespace = f"codex-bench-{tag}"
    secret_key = f"bench-secret-key-{tag}-0123456789abcdef"
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    base = f"http://127.0.0.1:{port}"
    server_env = {**os.environ, "DATABASE_URL": db_url(name), "REDIS_URL": REDIS_URL, "REDIS_NAMESPACE": namespace,
                  "SECRET_KEY": secret_key, "PAYMENTS_PROVIDER": "local", "RATE_LIMIT_ENABLED": "false",
                  "PUBLIC_BASE_URL": base, "LOG_LEVEL": "WARNING", "ENVIRONMENT": "development",
                  "DATA_DIR": f"/tmp/{namespace}", **(env or {})}  # noqa: S108
    python = sys.executable
    process = None
    log_path = f"/tmp/{namespace}-server.log"  # noqa: S108
    try:
        migrate = await asyncio.create_subprocess_exec(
            python, "-m", "codex_graphql.cli", "migrate", cwd=root, env=server_env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        _, errors = await migrate.communicate()
        if migrate.returncode:
            raise RuntimeError(f"migrate failed: {errors.decode()[-2000:]}")
        profiler = []
        renderer = {".txt": "text", ".html": "html", ".pyisession": "pyisession"}.get(Path(profile).suffix)
        if renderer:  # pyinstrument (sampling) must be importable, e.g. via PYTHONPATH
            profiler = ["-m", "pyinstrument", "-r", renderer, "-o", profile]
        elif profile:
            profiler = ["-m", "cProfile", "-o", profile]
        with open(log_path, "wb") as log:  # noqa: ASYNC230 (set-up, before any load)
            process = await asyncio.create_subprocess_exec(
                python, *profiler, "-m", "codex_graphql.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
                "--workers", str(workers), cwd=root, env=server_env, stdout=log, stderr=asyncio.subprocess.STDOUT)
        async with httpx.AsyncClient(timeout=2) as http:
            deadline = time.monotonic() + 60
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{base}/readyz")).status_code == 200:
                        break
                if process.returncode is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"server did not start; see {log_path}")
                await asyncio.sleep(0.2)
        await asyncio.sleep(1.0 if workers > 1 else 0.2)  # let every worker process finish its start-up
        yield Server(base, db_url(name), secret_key, local_webhook_secret(secret_key), namespace, workers, log_path,
                     process.pid)
    finally:
        if process is not None:
            # SIGINT under cProfile: uvicorn re-raises the signal after its graceful shutdown, and only a
            # KeyboardInterrupt (not SIGTERM's default action) lets cProfile write its stats.
            if process.returncode is None:
                process.send_signal(signal.SIGINT) if profile else process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await asyncio.wait_for(process.wait(), 10)
        if not keep:
            admin = await asyncpg.connect(ADMIN_URL)
            try:
                await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            finally:
                await admin.close()
            client = aioredis.Redis.from_url(REDIS_URL)
            try:
                keys = [key async for key in client.scan_iter(match=f"{namespace}*", count=1000)]
                for i in range(0, len(keys), 1000):
                    await client.delete(*keys[i:i + 1000])
            finally:
                await client.aclose()


# --- CPU accounting (the machine is shared: CPU per event is steadier than events per second) ------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:  # noqa: PTH123
            return f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def process_tree(pid: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat(int(entry))):
            parents[int(entry)] = int(fields[1])
    tree, frontier = [pid], [pid]
    while frontier:
        frontier = [child for child, parent in parents.items() if parent in frontier]
        tree += frontier
    return tree


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes (children that exited are not counted)."""
    total = 0
    for pid in pids:
        if fields := _stat(pid):
            total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


class CpuMeter:
    """CPU seconds used by the server's processes and by the PostgreSQL backends of its database."""

    def __init__(self, server_pid: int | None, database_url: str) -> None:
        self.server_pid = server_pid
        self.database_url = database_url
        self.start: tuple[float, float] = (0.0, 0.0)

    async def _sample(self) -> tuple[float, float]:
        conn = await asyncpg.connect(self.database_url)
        try:
            backends = [r["pid"] for r in await conn.fetch(
                "select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()")]
        finally:
            await conn.close()
        server = cpu_seconds(process_tree(self.server_pid)) if self.server_pid else float("nan")
        return server, cpu_seconds(backends)

    async def begin(self) -> None:
        self.start = await self._sample()

    async def end(self) -> tuple[float, float]:
        server, database = await self._sample()
        return server - self.start[0], database - self.start[1]


# --- seeding --------------------------------------------------------------------------------------------


@dataclass
class Checkout:
    id: uuid.UUID
    session_id: str
    user_id: uuid.UUID
    content_id: uuid.UUID
    amount: int


@dataclass
class Shop:
    organization_id: uuid.UUID
    slug: str
    checkouts: list[Checkout]
    staff_tokens: list[str] = field(default_factory=list)


async def seed_shop(database_url: str, *, checkouts: int, buyers: int = 200, items: int = 100, staff: int = 0,
                    staff_role: str = "ADMIN") -> Shop:
    """An organization, `buyers` customers, `items` published paid items and `checkouts` open checkouts,
    each a distinct (buyer, item) pair; `staff` members with a live session each (tokens returned)."""
    if checkouts > buyers * items:
        raise ValueError("need buyers * items >= checkouts (one checkout per distinct buyer and item)")
    tag = uuid.uuid4().hex[:8]
    conn = await asyncpg.connect(database_url)
    try:
        org = uuid.uuid4()
        slug = f"bench-{tag}"
        await conn.execute("insert into organization (id, slug, name) values ($1, $2, 'Bench Org')", org, slug)
        creator = uuid.uuid4()
        users = [(creator, f"bench-creator-{tag}@example.com")]
        buyer_ids = [uuid.uuid4() for _ in range(buyers)]
        users += [(b, f"bench-buyer-{tag}-{i}@example.com") for i, b in enumerate(buyer_ids)]
        staff_ids = [uuid.uuid4() for _ in range(staff)]
        users += [(s, f"bench-staff-{tag}-{i}@example.com") for i, s in enumerate(staff_ids)]
        await conn.copy_records_to_table(
            "user_account", columns=["id", "email", "name", "password_hash", "platform_role", "email_verified_at"],
            records=[(u, e, "Bench", "!", "CUSTOMER", datetime_in(hours=0)) for u, e in users])
        await conn.copy_records_to_table(
            "organization_membership", columns=["id", "organization_id", "user_id", "role"],
            records=[(uuid.uuid4(), org, creator, "OWNER")] + [(uuid.uuid4(), org, s, staff_role) for s in staff_ids])
        content_ids = [uuid.uuid4() for _ in range(items)]
        await conn.executemany(
            "insert into content (id, organization_id, creator_id, kind, status, title, price_cents, storage_key,"
            " mime_type, original_filename, size_bytes, duration_seconds, published_at) values "
            "($1, $2, $3, 'VIDEO', 'PUBLISHED', $4, $5, $6, 'video/mp4', 'a.mp4', 100, 60, now())",
            [(c, org, creator, f"Bench item {i}", 500 + i, f"orgs/{org}/content/{c}/original.mp4")
             for i, c in enumerate(content_ids)])
        rows = []
        for k in range(checkouts):
            buyer, item = k % buyers, (k // buyers) % items
            rows.append(Checkout(uuid.uuid4(), f"cs_bench_{tag}_{k}", buyer_ids[buyer], content_ids[item], 500 + item))
        await conn.copy_records_to_table(
            "checkout_session",
            columns=["id", "organization_id", "user_id", "content_id", "provider", "provider_session_id", "checkout_url",
                     "amount_cents", "currency", "status", "success_url", "cancel_url"],
            records=[(c.id, org, c.user_id, c.content_id, "local", c.session_id, "http://127.0.0.1/checkout", c.amount,
                      "USD", "OPEN", "http://127.0.0.1/ok", "http://127.0.0.1/cancel") for c in rows])
        tokens = [f"bench-token-{tag}-{i}-{uuid.uuid4().hex}" for i in range(staff)]
        await conn.copy_records_to_table(
            "user_session", columns=["id", "user_id", "token_hash", "expires_at", "active_organization_id"],
            records=[(uuid.uuid4(), s, hashlib.sha256(t.encode()).hexdigest(),
                      datetime_in(hours=6), org) for s, t in zip(staff_ids, tokens, strict=True)])
        await conn.execute("analyze")
    finally:
        await conn.close()
    return Shop(org, slug, rows, tokens)


def datetime_in(hours: int):  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime, timedelta

    return datetime.now(UTC) + timedelta(hours=hours)


def completed_event(shop: Shop, checkout: Checkout, email: str) -> bytes:
    """The Stripe-shaped event payments.local.LocalProvider.completed_event sends for a paid checkout."""
    return orjson.dumps({
        "id": "evt_bench_" + uuid.uuid5(uuid.NAMESPACE_URL, "paid:" + checkout.session_id).hex,
        "object": "event", "type": "checkout.session.completed", "created": int(time.time()), "livemode": False,
        "data": {"object": {
            "id": checkout.session_id, "object": "checkout.session", "mode": "payment", "status": "complete",
            "payment_status": "paid", "amount_total": checkout.amount, "amount_subtotal": checkout.amount,
            "currency": "usd", "client_reference_id": str(checkout.id), "customer_details": {"email": email},
            "metadata": {"organization_id": str(shop.organization_id), "content_id": str(checkout.content_id),
                         "user_id": str(checkout.user_id), "checkout_id": str(checkout.id)},
            "payment_intent": "pi_bench_" + uuid.uuid5(uuid.NAMESPACE_URL, checkout.session_id).hex,
            "total_details": {"amount_tax": 0},
        }},
    })


async def post_event(http: aiohttp.ClientSession, url: str, payload: bytes, secret: str) -> tuple[int, bytes]:
    headers = {"stripe-signature": sign(payload, secret), "content-type": "application/json"}
    async with http.post(f"{url}/webhooks/stripe", data=payload, headers=headers) as response:
        return response.status, await response.read()


# --- the run --------------------------------------------------------------------------------------------


def parse_copies(text: str) -> tuple[int, int]:
    low, _, high = text.partition("-")
    return int(low), int(high or low)


async def ingest(server: Server, args: argparse.Namespace) -> int:
    print(f"seeding {args.events} checkouts ...", flush=True)
    shop = await seed_shop(server.database_url, checkouts=args.events, buyers=args.buyers, items=args.items)
    low, high = parse_copies(args.copies)
    rng = random.Random(7)  # noqa: S311 (duplicate counts, not security)
    work = [(c, rng.randint(low, high)) for c in shop.checkouts]
    queue: asyncio.Queue[tuple[Checkout, int]] = asyncio.Queue()
    for item in work:
        queue.put_nowait(item)
    latencies: list[float] = []
    failures: list[str] = []
    accepted_events = 0

    async def client(http: aiohttp.ClientSession) -> None:
        nonlocal accepted_events
        while True:
            try:
                checkout, copies = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            payload = completed_event(shop, checkout, f"buyer-{checkout.session_id}@example.com")

            async def one(payload: bytes = payload) -> None:
                start = time.perf_counter()
                try:
                    status, body = await post_event(http, server.url, payload, server.webhook_secret)
                except (aiohttp.ClientError, TimeoutError) as exc:
                    failures.append(repr(exc))
                    return
                latencies.append(time.perf_counter() - start)
                if status != 200 or b'"received":true' not in body:
                    failures.append(f"{status} {body[:200]!r}")

            await asyncio.gather(*(one() for _ in range(copies)))  # duplicates at the same moment
            accepted_events += 1

    connector = aiohttp.TCPConnector(limit=args.clients * high, limit_per_host=args.clients * high)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        # Warm up connections and code paths outside the measurement (no events: an ignored type).
        for _ in range(20):
            body = orjson.dumps({"id": f"evt_warm_{uuid.uuid4().hex}", "object": "event", "type": "customer.updated",
                                 "created": int(time.time()), "data": {"object": {"id": "cus_warm"}}})
            await post_event(http, server.url, body, server.webhook_secret)
        print(f"sending {len(work)} events ({sum(c for _, c in work)} deliveries, copies {low}-{high}) "
              f"from {args.clients} clients ...", flush=True)
        meter = CpuMeter(server.pid, server.database_url)
        await meter.begin()
        started, client_cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(client(http) for _ in range(args.clients)))
        elapsed, client_cpu = time.perf_counter() - started, time.process_time() - client_cpu
    deliveries = len(latencies)
    drained = await wait_for_outbox(server.database_url, limit=args.drain_timeout)
    server_cpu, database_cpu = await meter.end()  # includes the relay publishing what the run queued
    problems = await check_exactly_once(server.database_url, shop)
    ms = [v * 1000 for v in latencies]
    print()
    print(f"server: codex-graphql serve --workers {server.workers}; clients {args.clients}; copies {low}-{high}")
    print(f"distinct events: {accepted_events} in {elapsed:.1f} s = {accepted_events / elapsed:.0f} events/s; "
          f"deliveries (each verified): {deliveries} = {deliveries / elapsed:.0f} deliveries/s; failures: {len(failures)}")
    if ms:
        print(f"delivery latency ms: p50 {pct(ms, 50):.1f}  p95 {pct(ms, 95):.1f}  p99 {pct(ms, 99):.1f}  "
              f"max {max(ms):.1f}  mean {statistics.fmean(ms):.1f}")
    print(f"outbox drained {drained:.1f} s after the last delivery" if drained >= 0
          else f"outbox NOT drained in {args.drain_timeout:.0f} s")
    print(f"CPU per distinct event: server {server_cpu / accepted_events * 1000:.2f} ms, PostgreSQL backends "
          f"{database_cpu / accepted_events * 1000:.2f} ms, this load generator {client_cpu / accepted_events * 1000:.2f} ms "
          f"(server {server_cpu:.1f} s, PostgreSQL {database_cpu:.1f} s, generator {client_cpu:.1f} s; "
          f"load average at the end {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    for failure in failures[:5]:
        print("failure:", failure)
    print("exactly-once: OK" if not problems else "exactly-once: FAILED")
    for problem in problems:
        print("  ", problem)
    return 1 if failures or problems or drained < 0 else 0


async def wait_for_outbox(database_url: str, limit: float) -> float:
    conn = await asyncpg.connect(database_url)
    started = time.monotonic()
    try:
        while time.monotonic() - started < limit:
            if not await conn.fetchval("select count(*) from outbox_message where published_at is null"):
                return time.monotonic() - started
            await asyncio.sleep(0.2)
        return -1.0
    finally:
        await conn.close()


async def check_exactly_once(database_url: str, shop: Shop) -> list[str]:
    conn = await asyncpg.connect(database_url)
    n = len(shop.checkouts)
    sessions = [c.session_id for c in shop.checkouts]
    problems: list[str] = []
    try:
        def expect(label: str, value: int, wanted: int) -> None:
            print(f"  {label}: {value} (expected {wanted})")
            if value != wanted:
                problems.append(f"{label}: {value}, expected {wanted}")

        print("database checks:")
        expect("inbox rows (stripe_event) handled as purchase_created", await conn.fetchval(
            "select count(*) from stripe_event where id like 'evt_bench_%' and processed_at is not null "
            "and outcome = 'purchase_created'"), n)
        expect("inbox rows in total", await conn.fetchval("select count(*) from stripe_event where id like 'evt_bench_%'"), n)
        expect("purchases", await conn.fetchval(
            "select count(*) from purchase where provider_session_id = any($1::text[])", sessions), n)
        expect("distinct checkouts purchased", await conn.fetchval(
            "select count(distinct provider_session_id) from purchase where provider_session_id = any($1::text[])",
            sessions), n)
        expect("checkouts COMPLETED", await conn.fetchval(
            "select count(*) from checkout_session where organization_id = $1 and status = 'COMPLETED'",
            shop.organization_id), n)
        expect("live entitlements from these purchases", await conn.fetchval(
            "select count(*) from content_entitlement e join purchase p on p.id = e.source_id "
            "where p.provider_session_id = any($1::text[]) and e.revoked_at is null", sessions), n)
        expect("purchase.completed outbox events", await conn.fetchval(
            "select count(*) from outbox_message where topic = 'purchase.completed' and organization_id = $1",
            shop.organization_id), n)
        expect("purchases with exactly one purchase.completed event", await conn.fetchval(
            "select count(*) from (select p.id from purchase p join outbox_message o on o.topic = 'purchase.completed' "
            "and o.payload ->> 'purchaseId' = p.id::text where p.organization_id = $1 group by p.id having count(*) = 1) x",
            shop.organization_id), n)
        expect("send_purchase_email jobs", await conn.fetchval(
            "select count(*) from outbox_message where topic = 'send_purchase_email' and organization_id = $1",
            shop.organization_id), n)
        expect("purchases with exactly one email job", await conn.fetchval(
            "select count(*) from (select p.id from purchase p join outbox_message o on o.topic = 'send_purchase_email' "
            "and o.payload ->> 'purchase_id' = p.id::text where p.organization_id = $1 group by p.id having count(*) = 1) x",
            shop.organization_id), n)
        jobs = await conn.fetch("select topic, count(*) from outbox_message where kind = 'job' group by topic order by 1")
        print("  outbox jobs by topic:", {r["topic"]: r["count"] for r in jobs})
    finally:
        await conn.close()
    return problems


async def main_async(args: argparse.Namespace) -> int:
    if args.url:
        if not (args.database_url and (args.secret_key or args.webhook_secret)):
            raise SystemExit("--url needs --database-url and --secret-key (or --webhook-secret)")
        secret = args.webhook_secret or local_webhook_secret(args.secret_key)
        server = Server(args.url.rstrip("/"), args.database_url, args.secret_key, secret, "", 0)
        return await ingest(server, args)
    tag = f"{int(time.time())}_{uuid.uuid4().hex[:4]}"
    env = {"DB_POOL_SIZE": str(args.pool_size), "DB_MAX_OVERFLOW": str(args.max_overflow),
           **dict(item.split("=", 1) for item in args.server_env)}
    if args.profile:
        args.workers = 1
    async with scratch_server(args.workers, args.port, tag=tag, keep=args.keep, env=env, profile=args.profile,
                              root=Path(args.server_root)) as server:
        print(f"server {server.url} workers={server.workers} database={server.database_url} log={server.log_path}")
        return await ingest(server, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="target a running server instead of starting one (needs --database-url)")
    parser.add_argument("--database-url", help="with --url: a superuser URL of that server's database")
    parser.add_argument("--secret-key", default="", help="with --url: the server's SECRET_KEY")
    parser.add_argument("--webhook-secret", default="", help="with --url: STRIPE_WEBHOOK_SECRET, if it has one")
    parser.add_argument("--workers", type=int, default=2, help="server processes when starting one (default 2)")
    parser.add_argument("--port", type=int, default=8791)
    parser.add_argument("--pool-size", type=int, default=10, help="DB_POOL_SIZE per server process")
    parser.add_argument("--max-overflow", type=int, default=5, help="DB_MAX_OVERFLOW per server process")
    parser.add_argument("--events", type=int, default=6000, help="distinct events")
    parser.add_argument("--copies", default="2-3", help="deliveries of each event, at once: N or LOW-HIGH (default 2-3)")
    parser.add_argument("--clients", type=int, default=64, help="concurrent senders (each sends an event's copies at once)")
    parser.add_argument("--buyers", type=int, default=200)
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database and Redis keys")
    parser.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for the server (repeatable)")
    parser.add_argument("--drain-timeout", type=float, default=120, help="how long to wait for the outbox relay")
    parser.add_argument("--server-root", default=str(ROOT), help="source tree to run the server from (A/B runs)")
    parser.add_argument("--profile", default="", help="run one server process under cProfile (pyinstrument for a .txt/.html/.pyisession path), "
                        "output to this file")
    args = parser.parse_args()
    sys.exit(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
