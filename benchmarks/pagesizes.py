"""Statements per request against page size, for benchmarks/run.py (the README's harness section, item 6)."""

from __future__ import annotations

import http.client
import json
from typing import Any

import procstats
from harness_setup import log
from workload import BY_KEY

PAGE_SIZES = {"storefront": (5, 50, 100), "purchase_history": (5, 20, 50)}


def page_size_check(variant: Any, port: int, fixture: dict[str, Any], meter: procstats.Meter,
                    idle_statements_per_s: float, requests: int = 100) -> list[dict[str, Any]]:
    """Statements per request for several page sizes: ``requests`` sequential requests on one keep-alive
    connection each. ``net``: less the server's idle background statements over the same time."""
    rows = []
    for key, sizes in PAGE_SIZES.items():
        op = BY_KEY[key]
        for first in sizes:
            path, body, headers = variant.build(op, fixture, {**op.variables(fixture), "first": first})
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            headers = {"Content-Type": "application/json", **headers}

            def load(n: int = requests, path: str = path, body: bytes = body, headers: dict = headers,
                     conn: http.client.HTTPConnection = conn) -> dict[str, Any]:
                statuses, last = set(), b""
                for _ in range(n):
                    conn.request("POST", path, body=body, headers=headers)
                    response = conn.getresponse()
                    statuses.add(response.status)
                    last = response.read()
                return {"requests": n, "status": sorted(statuses), "body": last}

            try:
                load(5)  # warm
                result = meter(load)
            finally:
                conn.close()
            answer = json.loads(result["body"])
            node = (answer.get("data") or {}).get("organization" if key == "storefront" else "viewer") or {}
            edges = len((node.get("contents" if key == "storefront" else "purchases") or {}).get("edges") or [])
            net = (result["statements"] - idle_statements_per_s * result["meter_wall_s"]) / requests
            rows.append({"variant": variant.key, "op": key, "first": first, "edges": edges, "requests": requests,
                         "statements_per_req": result["statements_per_req"], "statements_per_req_net": round(net, 3),
                         "status": result["status"], "errors": "errors" in answer,
                         "app_cpu_ms_per_req": result["app_cpu_ms_per_req"],
                         "pg_cpu_ms_per_req": result["pg_cpu_ms_per_req"]})
            log(f"  page size {variant.key} {key} first={first}: {edges} edges, "
                f"{result['statements_per_req']} statements/request ({net:.2f} net of background)")
    return rows
