"""Mixed-load benchmark against a running server (run by hand, never by the test suite).

    python benchmarks/load.py --seed --url URL --database-url DB --tokens /tmp/load.json
    python benchmarks/load.py --url URL --tokens /tmp/load.json --clients 200 --duration 60 --secret-key KEY

Run the server with RATE_LIMIT_ENABLED=false (otherwise the per-IP limiter answers 429 to one-host load).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import re
import statistics
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from codex_graphql.accounts.security import hash_password  # noqa: E402
from codex_graphql.payments.signing import sign  # noqa: E402
from codex_graphql.relay import to_global_id  # noqa: E402

PASSWORD = "load test password 42"
LOGIN = "mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { token errors { code } } }"
CLAIM = "mutation($c: ID!) { claimFreeContent(input: {contentId: $c}) { errors { code message } } }"
BROWSE = """query($slug: String!) { organization(slug: $slug) { name branding { platformName }
  contents(first: 20) { edges { node { id title priceCents currency tags durationSeconds thumbnailUrl
  viewerHasAccess creator { name } } } pageInfo { hasNextPage endCursor } } } }"""
DETAIL = """query($c: ID!) { content(id: $c) { id title description priceCents viewerHasAccess
  playback { url expiresAt } } }"""
START = """mutation($c: ID!, $s: String!, $k: String!) { startCheckout(input: {contentId: $c, successUrl: $s,
  cancelUrl: $s, idempotencyKey: $k}) { checkoutUrl errors { code message } } }"""
ANALYTICS = """query($slug: String!) { organization(slug: $slug) { analytics { totalRevenueCents purchaseCount
  customerCount topContent { content { title } revenueCents } } } }"""


# --- seeding ----------------------------------------------------------------------------------------


async def seed(args: argparse.Namespace) -> None:
    tag = uuid.uuid4().hex[:8]
    conn = await asyncpg.connect(args.database_url)
    password = await hash_password(PASSWORD)
    emails = {"owner": f"load-owner-{tag}@example.com", "viewer": f"load-viewer-{tag}@example.com"}
    buyers = [f"load-buyer-{tag}-{i}@example.com" for i in range(args.buyers)]
    try:
        ids = {}
        for email in [*emails.values(), *buyers]:
            ids[email] = await conn.fetchval(
                "insert into user_account (id, email, name, password_hash, platform_role, email_verified_at) "
                "values (gen_random_uuid(), $1, 'Load', $2, 'CUSTOMER', now()) returning id", email, password)
        slug = f"load-{tag}"
        org = await conn.fetchval("insert into organization (id, slug, name) values (gen_random_uuid(), $1, "
                                  "'Load Org') returning id", slug)
        await conn.execute("insert into organization_membership (id, organization_id, user_id, role) values "
                           "(gen_random_uuid(), $1, $2, 'OWNER')", org, ids[emails["owner"]])
        contents = []
        for i in range(args.items):
            price = 0 if i == 0 else 500 + i
            cid = await conn.fetchval(
                "insert into content (id, organization_id, creator_id, kind, status, title, price_cents, storage_key,"
                " mime_type, original_filename, size_bytes, duration_seconds, published_at) values "
                "(gen_random_uuid(), $1, $2, 'VIDEO', 'PUBLISHED', $3, $4, $5, 'video/mp4', 'a.mp4', 100, 60, now()) returning id",
                org, ids[emails["owner"]], f"Load item {i}", price, f"orgs/{org}/content/load-{i}/original.mp4")
            contents.append(to_global_id("Content", cid))
    finally:
        await conn.close()
    gate = asyncio.Semaphore(4)  # password hashing is CPU-bound on the server
    async with httpx.AsyncClient(base_url=args.url, timeout=120) as http:
        async def login(email: str) -> str:
            async with gate:
                r = await http.post("/graphql", json={"query": LOGIN, "variables": {"e": email, "p": PASSWORD}})
            return r.json()["data"]["login"]["token"]

        tokens = {who: await login(email) for who, email in emails.items()}
        buyer_tokens = list(await asyncio.gather(*(login(e) for e in buyers)))
        r = await http.post("/graphql", json={"query": CLAIM, "variables": {"c": contents[0]}},
                            headers={"authorization": f"Bearer {tokens['viewer']}"})
        assert r.json()["data"]["claimFreeContent"]["errors"] == [], r.text
    seeded = {"slug": slug, "owner": tokens["owner"], "viewer": tokens["viewer"], "buyers": buyer_tokens,
              "free": contents[0], "paid": contents[1:]}
    Path(args.tokens).write_text(json.dumps(seeded))  # noqa: ASYNC240 (once, after the seeding)
    print(f"seeded org {slug}: {len(buyers)} buyers, {len(contents)} items -> {args.tokens}")


# --- load -------------------------------------------------------------------------------------------


class Failure(Exception):
    pass


async def gql(http: httpx.AsyncClient, query: str, variables: dict, token: str | None) -> dict:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    r = await http.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
    if r.status_code != 200 or "errors" in r.json():
        raise Failure(f"{r.status_code} {r.text[:200]}")
    return r.json()["data"]


async def run(args: argparse.Namespace) -> None:
    seeded = json.loads(Path(args.tokens).read_text())  # noqa: ASYNC240 (once, before the clients start)
    secret = args.webhook_secret or ("whsec_local_" + hashlib.sha256(
        b"codex-webhook:" + args.secret_key.encode()).hexdigest()[:32])  # payments.factory.webhook_secret
    timings: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, list[str]] = defaultdict(list)
    deadline = time.monotonic() + args.duration
    limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)

    async def op_browse(http: httpx.AsyncClient, client: int) -> None:
        data = await gql(http, BROWSE, {"slug": seeded["slug"]}, None)
        if not data["organization"]["contents"]["edges"]:
            raise Failure("empty storefront")

    async def op_playback(http: httpx.AsyncClient, client: int) -> None:
        data = await gql(http, DETAIL, {"c": seeded["free"]}, seeded["viewer"])
        if not (data["content"]["viewerHasAccess"] and data["content"]["playback"]["url"]):
            raise Failure(f"no playback: {data}")

    cursor = defaultdict(int)

    async def op_checkout(http: httpx.AsyncClient, client: int) -> None:
        buyer = seeded["buyers"][client % len(seeded["buyers"])]
        i = cursor[client]
        cursor[client] += 1
        content = seeded["paid"][(client // len(seeded["buyers"]) * 997 + i) % len(seeded["paid"])]
        data = await gql(http, START, {"c": content, "s": f"{args.url}/thanks", "k": uuid.uuid4().hex}, buyer)
        payload = data["startCheckout"]
        if payload["errors"]:
            if payload["errors"][0]["code"] == "ALREADY_OWNED":
                return
            raise Failure(str(payload["errors"]))
        paid = await http.post(payload["checkoutUrl"], follow_redirects=False)
        if paid.status_code != 303:
            raise Failure(f"checkout POST {paid.status_code} {paid.text[:200]}")

    async def op_webhook(http: httpx.AsyncClient, client: int) -> None:
        body = json.dumps({"id": f"evt_load_{uuid.uuid4().hex}", "object": "event", "type": "customer.updated",
                           "created": int(time.time()), "data": {"object": {"id": "cus_load"}}}).encode()
        r = await http.post("/webhooks/stripe", content=body, headers={
            "stripe-signature": sign(body, secret), "content-type": "application/json"})
        if r.status_code != 200:
            raise Failure(f"webhook {r.status_code} {r.text[:200]}")

    async def op_analytics(http: httpx.AsyncClient, client: int) -> None:
        data = await gql(http, ANALYTICS, {"slug": seeded["slug"]}, seeded["owner"])
        if data["organization"]["analytics"] is None:
            raise Failure("no analytics")

    ops = [("browse", op_browse, 40), ("content+playback", op_playback, 25), ("checkout", op_checkout, 10),
           ("webhook", op_webhook, 15), ("analytics", op_analytics, 10)]
    names, weights = [o[0] for o in ops], [o[2] for o in ops]
    fns = {o[0]: o[1] for o in ops}

    async def client(http: httpx.AsyncClient, n: int) -> None:
        rng = random.Random(n)  # noqa: S311 (operation mix, not security)
        while time.monotonic() < deadline:
            name = rng.choices(names, weights)[0]
            start = time.perf_counter()
            try:
                await fns[name](http, n)
            except (Failure, httpx.HTTPError, KeyError, TypeError) as exc:
                errors[name].append(repr(exc)[:300])
                continue
            timings[name].append(time.perf_counter() - start)

    async with httpx.AsyncClient(base_url=args.url, timeout=30, limits=limits) as http:
        before = await metrics(http)
        started = time.monotonic()
        await asyncio.gather(*(client(http, n) for n in range(args.clients)))
        elapsed = time.monotonic() - started
        after = await metrics(http)
    report(timings, errors, elapsed, args, before, after)


async def metrics(http: httpx.AsyncClient) -> dict[str, float]:
    r = await http.get("/metrics")
    values = {}
    for line in r.text.splitlines():
        m = re.match(r"^([a-zA-Z_:][\w:]*(?:\{[^}]*\})?) ([0-9.eE+-]+)$", line)
        if m and "pool" in m.group(1):
            values[m.group(1)] = float(m.group(2))
    return values


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] * 1000


def report(timings, errors, elapsed, args, before, after) -> None:  # type: ignore[no-untyped-def]
    everything = [t for ts in timings.values() for t in ts]
    total_errors = sum(len(e) for e in errors.values())
    print(f"clients={args.clients} duration={elapsed:.1f}s requests(ok)={len(everything)} errors={total_errors} "
          f"throughput={len(everything) / elapsed:.1f} ops/s")
    print("| operation | ok | errors | p50 ms | p95 ms | p99 ms | mean ms |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, ts in [*sorted(timings.items()), ("overall", everything)]:
        errs = total_errors if name == "overall" else len(errors.get(name, []))
        if ts:
            print(f"| {name} | {len(ts)} | {errs} | {pct(ts, 50):.1f} | {pct(ts, 95):.1f} | {pct(ts, 99):.1f} | "
                  f"{statistics.fmean(ts) * 1000:.1f} |")
    for name, errs in errors.items():
        print(f"errors in {name} (first 3 of {len(errs)}): {errs[:3]}")
    if after:
        print("pool metrics (before -> after):", {k: (before.get(k), v) for k, v in after.items()})
    else:
        print("pool metrics: /metrics exposes no pool gauge")
    if total_errors:
        sys.exit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--tokens", default="/tmp/codex-load-tokens.json")  # noqa: S108
    parser.add_argument("--seed", action="store_true", help="create org/users/content, write tokens, exit")
    parser.add_argument("--database-url", help="for --seed: a superuser URL of the server's database")
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--buyers", type=int, default=200)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--secret-key", default="", help="the server's SECRET_KEY (local payments webhook secret)")
    parser.add_argument("--webhook-secret", default="", help="STRIPE_WEBHOOK_SECRET, if the server has one")
    args = parser.parse_args()
    asyncio.run(seed(args) if args.seed else run(args))


if __name__ == "__main__":
    main()
