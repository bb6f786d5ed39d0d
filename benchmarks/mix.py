"""The mixed workload and the noise figure of the side-by-side harness (issue 22, item 7).

The mix: 80 % of requests are the benchmark shapes (``MIX_SHAPES``, in equal parts), 20 % the varied
documents of operations/varied/ (``workload.VARIED``, in equal parts), as a real frontend's traffic would
be. One cycle of ``CYCLE`` requests holds exactly those shares, shuffled once with a fixed seed, and
wrk/mix.lua sends it round and round over all connections, each request with its own path, token and
body. The raw server runs the same cycle against its hand-written SQL twins, so the ratio compares like
with like. PostGraphile has no equivalents of the varied documents and does not run the mix.

The noise figure: the raw server's closed loop on one operation, run again after all its other runs;
the relative spread of the two rates is what a difference between servers must exceed to mean anything.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__:  # imported as benchmarks.mix (the tests)
    from benchmarks.workload import BY_KEY, VARIED, Operation
else:  # next to run.py, which puts benchmarks/ on sys.path
    from workload import BY_KEY, VARIED, Operation

MIX_SHAPES = ("storefront", "content_detail", "purchase_history", "admin_dashboard")
VARIED_SHARE = 0.2
CYCLE = 50  # requests per cycle: 40 benchmark shapes (10 each) and 10 varied documents (1 each)
SCRIPT = Path(__file__).resolve().parent / "wrk" / "mix.lua"

Request = tuple[str, bytes, dict[str, str]]


def cycle(seed: int = 22) -> list[Operation]:
    """One cycle of the mix: ``CYCLE`` operations, 80 % shapes and 20 % varied, in a fixed shuffled order."""
    varied_count = round(CYCLE * VARIED_SHARE)
    shapes = [BY_KEY[key] for key in MIX_SHAPES]
    ops = [shapes[i % len(shapes)] for i in range(CYCLE - varied_count)]
    ops += [VARIED[i % len(VARIED)] for i in range(varied_count)]
    random.Random(seed).shuffle(ops)  # noqa: S311 (a fixed order, not a secret)
    return ops


def components() -> list[Operation]:
    """Every operation the mix sends, once each (their answers are checked before the mix is timed)."""
    seen: dict[str, Operation] = {}
    for op in cycle():
        seen.setdefault(op.key, op)
    return list(seen.values())


def _lua_string(text: str) -> str:
    level = 1
    while f"]{'=' * level}]" in text:
        level += 1
    return f"[{'=' * level}[{text}]{'=' * level}]"


def write_requests(path: Path, requests: list[Request]) -> Path:
    """The request list wrk/mix.lua reads (Lua source returning a table)."""
    entries = []
    for target, body, headers in requests:
        fields = ", ".join(f"[ {_lua_string(k)} ] = {_lua_string(v)}" for k, v in headers.items())
        entries.append(f"  {{path = {_lua_string(target)}, headers = {{{fields}}}, body = {_lua_string(body.decode())}}}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("return {\n" + ",\n".join(entries) + "\n}\n")
    return path


def mixed_run(build: Callable[[Operation, dict[str, Any]], Request], fixture: dict[str, Any], port: int,
              work_dir: Path, name: str, connections: int, threads: int, duration: float,
              run_wrk: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """One closed-loop run of the mix against a server; ``build`` makes a request for one operation."""
    ops = cycle()
    requests = [build(op, fixture) for op in ops]
    path = write_requests(work_dir / f"{name}-mixed.lua", requests)
    headers = work_dir / f"{name}-mixed.headers"
    headers.write_text("")
    result = run_wrk(port, requests[0][0], (path, headers), connections, threads, duration, script=SCRIPT)
    result["mix"] = {"cycle": CYCLE, "varied_share": VARIED_SHARE, "shapes": list(MIX_SHAPES),
                     "varied": [op.key for op in VARIED]}
    return result


def noise(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """The relative spread of two closed-loop runs of the same server on the same operation."""
    a, b = first["rps"], second["rps"]
    mean = (a + b) / 2
    return {"op": first["op"], "variant": first["variant"], "rps": [a, b],
            "spread": round(abs(a - b) / mean, 4) if mean else None}
