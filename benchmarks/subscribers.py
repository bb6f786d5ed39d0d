"""Subscription fan-out benchmark: N concurrent `purchaseEvents` WebSocket subscribers, purchases at a steady rate.

By default it starts its own `codex-graphql serve --workers W` on a scratch database (see webhook_ingest.py,
which this script shares its set-up with), seeds an organization with S staff members (ADMIN: the
subscription needs PURCHASES_READ) and a live session each, and opens `--subscribers` graphql-transport-ws
connections, `--per-user` per staff member (MAX_WS_CONNECTIONS_PER_USER is 10 by default; above that the
script raises it for its server), each subscribed to `purchaseEvents` of the organization. Connections land
on every server process; events reach them all through Redis pub/sub.

Purchases are made by signed `checkout.session.completed` webhooks to /webhooks/stripe (the local provider's
event, signed with its webhook secret) at `--rate` per second. For every subscriber and event it measures
the delay from the moment the webhook request was sent (and from the moment it was answered, i.e. the
purchase committed) to the arrival of the event at the subscriber, and counts lost events.

    .venv/bin/python benchmarks/subscribers.py --workers 2 --subscribers 1000 --rate 2 --events 40

Run by hand, never by the test suite. PostgreSQL (superuser) and Redis as for webhook_ingest.py.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from webhook_ingest import (  # noqa: E402
    ROOT,
    CpuMeter,
    Server,
    completed_event,
    local_webhook_secret,
    pct,
    post_event,
    scratch_server,
    seed_shop,
)

from codex_graphql.relay import to_global_id  # noqa: E402

SUBSCRIBE = """subscription($org: ID!) { purchaseEvents(organizationId: $org) {
  eventId type purchase { id amountCents currency contentTitle customerEmail status createdAt } } }"""
WARM_MAX = 50


# --- subscribers (in one or more client processes) ----------------------------------------------------


async def _subscriber(url: str, token: str, org: str, n: int, tag: str, arrivals: list[tuple[int, int, float]],
                      warm: Any, problems: list[str], stop: asyncio.Event, deflate: bool,
                      gate: asyncio.Semaphore) -> None:
    from websockets.asyncio.client import connect

    ws = None
    try:
        async with gate:  # opening (not holding) connections is what is rationed
            ws = await connect(url.replace("http", "ws", 1) + "/graphql", subprotocols=["graphql-transport-ws"],
                               compression="deflate" if deflate else None, proxy=None, ping_interval=None,
                               open_timeout=60, max_queue=None)
            await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
            ack = json.loads(await asyncio.wait_for(ws.recv(), 60))
            if ack.get("type") != "connection_ack":
                problems.append(f"connection refused: {ack}")
                return
            await ws.send(json.dumps({"id": "1", "type": "subscribe",
                                      "payload": {"query": SUBSCRIBE, "variables": {"org": org}}}))
        receiving = asyncio.ensure_future(_receive(ws, n, tag, arrivals, warm, problems))
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait([receiving, stopping], return_when=asyncio.FIRST_COMPLETED)
        receiving.cancel()
        stopping.cancel()
    except Exception as exc:  # counted, the run goes on
        problems.append(f"subscriber {n}: {exc!r}"[:300])
    finally:
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 5)


async def _receive(ws: Any, n: int, tag: str, arrivals: list[tuple[int, int, float]], warm: Any,
                   problems: list[str]) -> None:
    prefix = f"sub-{tag}-"
    async for raw in ws:
        now = time.time()
        message = json.loads(raw)
        kind = message.get("type")
        if kind == "ping":
            await ws.send(json.dumps({"type": "pong"}))
            continue
        if kind != "next":
            problems.append(f"subscriber {n}: {str(message)[:200]}")
            return
        event = (message["payload"].get("data") or {}).get("purchaseEvents") or {}
        email = ((event.get("purchase") or {}).get("customerEmail")) or ""
        if message["payload"].get("errors"):
            problems.append(f"subscriber {n}: {message['payload']['errors']}"[:300])
        if email.startswith(prefix + "warm-"):
            with warm.get_lock():
                warm[int(email[len(prefix) + 5:].split("@")[0])] += 1
        elif email.startswith(prefix):
            arrivals.append((n, int(email[len(prefix):].split("@")[0]), now))


async def _client(url: str, tokens: list[str], org: str, first: int, per_user: int, tag: str, warm: Any,
                  ready: Any, stop_flag: Any, deflate: bool) -> tuple[list[tuple[int, int, float]], list[str], int]:
    arrivals: list[tuple[int, int, float]] = []
    problems: list[str] = []
    stop = asyncio.Event()
    gate = asyncio.Semaphore(50)  # connections opened at once

    tasks = [asyncio.ensure_future(_subscriber(url, tokens[i // per_user], org, first + i, tag, arrivals, warm,
                                               problems, stop, deflate, gate))
             for i in range(len(tokens) * per_user)]
    with ready.get_lock():
        ready.value += 1
    await asyncio.to_thread(stop_flag.wait)
    stop.set()
    await asyncio.wait(tasks, timeout=15)
    return arrivals, problems, len(tasks)


def _client_process(url: str, tokens: list[str], org: str, first: int, per_user: int, tag: str, warm: Any,
                    ready: Any, stop_flag: Any, deflate: bool, results: Any) -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    results.put(asyncio.run(_client(url, tokens, org, first, per_user, tag, warm, ready, stop_flag, deflate)))


# --- the run ------------------------------------------------------------------------------------------------


async def run(server: Server, args: argparse.Namespace) -> int:
    staff = -(-args.subscribers // args.per_user)
    total_events = args.events + WARM_MAX
    print(f"seeding {staff} staff members and {total_events} checkouts ...", flush=True)
    shop = await seed_shop(server.database_url, checkouts=total_events, buyers=max(10, total_events // 5 + 1),
                           items=10, staff=staff)
    org = to_global_id("Organization", shop.organization_id)
    tag = uuid.uuid4().hex[:6]
    ctx = mp.get_context("spawn")
    warm = ctx.Array("i", WARM_MAX)
    ready = ctx.Value("i", 0)
    stop_flag = ctx.Event()
    results = ctx.Queue()
    users_per_proc = -(-staff // args.procs)
    procs = []
    for p in range(args.procs):
        tokens = shop.staff_tokens[p * users_per_proc:(p + 1) * users_per_proc]
        if not tokens:
            continue
        proc = ctx.Process(target=_client_process, args=(server.url, tokens, org, p * users_per_proc * args.per_user,
                                                         args.per_user, tag, warm, ready, stop_flag, args.deflate,
                                                         results))
        proc.start()
        procs.append(proc)
    subscribers = staff * args.per_user
    secret = server.webhook_secret
    sent: dict[int, float] = {}
    answered: dict[int, float] = {}
    failures: list[str] = []

    async def purchase(http: aiohttp.ClientSession, index: int, email: str) -> tuple[float, float] | None:
        payload = completed_event(shop, shop.checkouts[index], email)
        sent_at = time.time()
        try:
            status, body = await post_event(http, server.url, payload, secret)
        except (aiohttp.ClientError, TimeoutError) as exc:
            failures.append(repr(exc))
            return None
        if status != 200:
            failures.append(f"webhook {status} {body[:200]!r}")
        return sent_at, time.time()

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
        opened = time.monotonic()
        while ready.value < len(procs):  # noqa: ASYNC110 (a counter shared with the client processes)
            await asyncio.sleep(0.1)
        # Warm-up: an event every 2 s until one reaches every subscriber (connections are being opened
        # meanwhile; a subscription is live once an event reached it).
        live = False
        for k in range(WARM_MAX):
            await purchase(http, args.events + k, f"sub-{tag}-warm-{k}@example.com")
            deadline = time.monotonic() + 2
            while time.monotonic() < deadline and warm[k] < subscribers:  # noqa: ASYNC110 (shared counters)
                await asyncio.sleep(0.05)
            print(f"  warm-up event {k}: reached {warm[k]}/{subscribers} subscribers "
                  f"({time.monotonic() - opened:.0f} s since the connections started)", flush=True)
            if warm[k] >= subscribers:
                live = True
                break
        if not live:
            print("not every subscriber became live; measuring anyway")
        await asyncio.sleep(1)
        meter = CpuMeter(server.pid, server.database_url)
        await meter.begin()
        print(f"sending {args.events} purchases at {args.rate}/s to {subscribers} subscribers ...", flush=True)
        started = time.monotonic()
        tasks = []
        for i in range(args.events):
            await asyncio.sleep(max(0.0, started + i / args.rate - time.monotonic()))
            tasks.append(asyncio.ensure_future(purchase(http, i, f"sub-{tag}-{i}@example.com")))
        for i, task in enumerate(tasks):
            if (times := await task) is not None:
                sent[i], answered[i] = times
        await asyncio.sleep(args.grace)
        server_cpu, database_cpu = await meter.end()
    stop_flag.set()
    arrivals: list[tuple[int, int, float]] = []
    problems: list[str] = []
    for _ in procs:
        got, trouble, _count = results.get(timeout=120)
        arrivals += got
        problems += trouble
    for proc in procs:
        proc.join(timeout=30)
    return report(args, server, subscribers, sent, answered, arrivals, problems, failures, server_cpu, database_cpu)


def report(args: argparse.Namespace, server: Server, subscribers: int, sent: dict[int, float],
           answered: dict[int, float], arrivals: list[tuple[int, int, float]], problems: list[str],
           failures: list[str], server_cpu: float, database_cpu: float) -> int:
    seen: set[tuple[int, int]] = set()
    duplicates = 0
    from_send: list[float] = []
    from_commit: list[float] = []
    for n, i, at in arrivals:
        if (n, i) in seen:
            duplicates += 1
            continue
        seen.add((n, i))
        if i in sent:
            from_send.append((at - sent[i]) * 1000)
            from_commit.append((at - answered[i]) * 1000)
    expected = subscribers * len(sent)
    lost = expected - len(seen)
    print()
    print(f"server: codex-graphql serve --workers {server.workers or '?'}; subscribers {subscribers} "
          f"({args.per_user} per staff member, {args.procs} client process(es), "
          f"permessage-deflate {'on' if args.deflate else 'off'}); {len(sent)} purchases at {args.rate}/s")
    print(f"deliveries: {len(seen)} of {expected} expected; lost {lost}; duplicates {duplicates}; "
          f"webhook failures {len(failures)}; subscriber problems {len(problems)}")
    if from_send:
        print(f"latency from webhook sent  (ms): p50 {pct(from_send, 50):.0f}  p95 {pct(from_send, 95):.0f}  "
              f"p99 {pct(from_send, 99):.0f}  max {max(from_send):.0f}  mean {statistics.fmean(from_send):.0f}")
        print(f"latency from purchase committed (webhook answered) (ms): p50 {pct(from_commit, 50):.0f}  "
              f"p95 {pct(from_commit, 95):.0f}  p99 {pct(from_commit, 99):.0f}  max {max(from_commit):.0f}")
    per = subscribers * max(1, len(sent))
    print(f"CPU during the measured phase: server {server_cpu:.1f} s ({server_cpu / per * 1e6:.0f} us per delivered "
          f"event per subscriber), PostgreSQL {database_cpu:.1f} s; load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} CPUs")
    for problem in (problems + failures)[:5]:
        print("problem:", problem)
    ok = not lost and not duplicates and not failures and not problems and from_send and pct(from_send, 99) < 1000
    print("target p99 < 1 s with no loss:", "MET" if ok else "NOT MET")
    return 0 if ok else 1


async def main_async(args: argparse.Namespace) -> int:
    if args.url:
        if not (args.database_url and (args.secret_key or args.webhook_secret)):
            raise SystemExit("--url needs --database-url and --secret-key (or --webhook-secret)")
        secret = args.webhook_secret or local_webhook_secret(args.secret_key)
        return await run(Server(args.url.rstrip("/"), args.database_url, args.secret_key, secret, "", 0), args)
    tag = f"{int(time.time())}_{uuid.uuid4().hex[:4]}"
    env = {"DB_POOL_SIZE": str(args.pool_size), "DB_MAX_OVERFLOW": str(args.max_overflow),
           **dict(item.split("=", 1) for item in args.server_env)}
    if args.per_user > 10:
        env["MAX_WS_CONNECTIONS_PER_USER"] = str(args.per_user)
    if args.profile:
        args.workers = 1
    async with scratch_server(args.workers, args.port, tag=tag, keep=args.keep, env=env, profile=args.profile,
                              root=Path(args.server_root)) as server:
        print(f"server {server.url} workers={server.workers} database={server.database_url} log={server.log_path}")
        return await run(server, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="target a running server instead of starting one (needs --database-url)")
    parser.add_argument("--database-url", help="with --url: a superuser URL of that server's database")
    parser.add_argument("--secret-key", default="", help="with --url: the server's SECRET_KEY")
    parser.add_argument("--webhook-secret", default="", help="with --url: STRIPE_WEBHOOK_SECRET, if it has one")
    parser.add_argument("--workers", type=int, default=2, help="server processes when starting one (default 2)")
    parser.add_argument("--port", type=int, default=8792)
    parser.add_argument("--pool-size", type=int, default=10, help="DB_POOL_SIZE per server process")
    parser.add_argument("--max-overflow", type=int, default=5, help="DB_MAX_OVERFLOW per server process")
    parser.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for the server (repeatable)")
    parser.add_argument("--server-root", default=str(ROOT), help="source tree to run the server from (A/B runs)")
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--per-user", type=int, default=4, help="connections per staff member (default 4)")
    parser.add_argument("--procs", type=int, default=1, help="client processes holding the connections")
    parser.add_argument("--rate", type=float, default=2.0, help="purchases per second")
    parser.add_argument("--events", type=int, default=40, help="measured purchases")
    parser.add_argument("--grace", type=float, default=5.0, help="seconds to wait for stragglers after the last")
    parser.add_argument("--deflate", action=argparse.BooleanOptionalAction, default=True,
                        help="negotiate permessage-deflate, as browsers do (default on)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database and Redis keys")
    parser.add_argument("--profile", default="", help="run one server process under cProfile (pyinstrument for a "
                        ".txt/.html/.pyisession path), output to this file")
    args = parser.parse_args()
    sys.exit(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
