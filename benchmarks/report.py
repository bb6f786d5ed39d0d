"""Markdown for the side-by-side harness (benchmarks/run.py): results tables, the targets of issue 8 and
the block between the harness markers in benchmarks/README.md.

    .venv/bin/python benchmarks/report.py benchmarks/results/<file>.json [--readme]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parent / "README.md"
BEGIN, END = "<!-- harness:begin -->", "<!-- harness:end -->"
LABELS = {"raw": "raw SQL", "codex-adhoc": "codex ad hoc", "codex-persisted": "codex persisted",
          "codex-resolvers": "codex resolvers (compiled path off)", "postgraphile-v4": "PostGraphile v4",
          "postgraphile-v5": "PostGraphile v5"}
ORDER = list(LABELS)
# (op, variant, minimum ratio of req/s to the raw server's)
THROUGHPUT_TARGETS = (("storefront", "codex-adhoc", 0.6), ("storefront", "codex-persisted", 0.8),
                      ("purchase_history", "codex-adhoc", 0.5), ("purchase_history", "codex-persisted", 0.5))
# Issue 22: every varied document at this share of the benchmark storefront's req/s on the same server,
# and the mixed workload (80 % benchmark shapes, 20 % varied) at this share of the raw server's.
VARIED_TARGET = 0.7
MIXED_TARGET = 0.6
# Issue 22, item 3: a document the compiled path cannot answer at this share of the raw server's req/s,
# measured with the compiled path off (codex-resolvers: every field through the resolvers).
RESOLVERS = "codex-resolvers"
RESOLVER_TARGET = 0.3
RSS_LIMIT_MB = 200.0
# Statements/request may differ by this much between page sizes and still count as independent of them:
# background statements that land in a run are noise of a few hundredths; an N+1 would add one per row.
PAGE_SIZE_TOLERANCE = 0.25
OTHER_CPU_WARNING = 0.15  # cores used by processes outside the run before a warning is printed


def _num(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def _shown(path: Path) -> str:
    root = README.parent.parent
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def _runs(out: dict[str, Any], kind: str) -> dict[tuple[str, str], list[dict[str, Any]]]:
    found: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for run in out["runs"]:
        if run["kind"] == kind and not run.get("skipped"):
            found.setdefault((run["op"], run["variant"]), []).append(run)
    return found


def _ratio(out: dict[str, Any], op: str, variant: str) -> float | None:
    closed = _runs(out, "closed")
    mine, raw = closed.get((op, variant)), closed.get((op, "raw"))
    if not mine or not raw or not raw[0]["rps"]:
        return None
    return mine[0]["rps"] / raw[0]["rps"]


def _rps(out: dict[str, Any], op: str, variant: str) -> float | None:
    found = _runs(out, "closed").get((op, variant))
    return found[0]["rps"] if found else None


def annotate(out: dict[str, Any]) -> None:
    """Into the results JSON: ``x_raw`` on every closed-loop run but the raw server's (its req/s over the raw
    server's on the same operation or mix) and ``resolver_path``, the compiled-path-off variant's ratios."""
    for run in out["runs"]:
        if run["kind"] == "closed" and not run.get("skipped") and run["variant"] != "raw":
            ratio = _ratio(out, run["op"], run["variant"])
            if ratio is not None:
                run["x_raw"] = round(ratio, 3)
    ratios = {op: round(ratio, 3) for op in out["meta"]["ops"] if (ratio := _ratio(out, op, RESOLVERS)) is not None}
    lowest = min(ratios.values(), default=None)
    out["resolver_path"] = {"variant": RESOLVERS, "setting": "FAST_PATH_ENABLED=false", "target": RESOLVER_TARGET,
                            "x_raw": ratios, "lowest": lowest, "met": None if lowest is None else lowest >= RESOLVER_TARGET,
                            "answers_differ": _differing(out, RESOLVERS)}


def _differing(out: dict[str, Any], variant: str) -> list[str]:
    """The operations whose answers from ``variant`` differed from the raw server's (never timed)."""
    return [op for op, check in (out.get("checks") or {}).get(variant, {}).items() if not check["equal"]]


def varied_table(out: dict[str, Any]) -> list[str]:
    """Each varied document's req/s as a share of the benchmark storefront's on the same server, and of
    the raw server's on the same document (its hand-written twin)."""
    varied = [op for op in out["meta"].get("varied") or [] if op in out["meta"]["ops"]]
    if not varied:
        return []
    lines = [f"Varied documents (operations/varied/; target ≥ {VARIED_TARGET}× the storefront's req/s on the same "
             "server):", "", "| document | server | req/s | × storefront | × raw (same document) |",
             "|---|---|---:|---:|---:|"]
    for op in varied:
        for variant in ORDER:
            rps, storefront = _rps(out, op, variant), _rps(out, "storefront", variant)
            if rps is None:
                continue
            share = f"{rps / storefront:.2f}" if storefront else "–"
            if storefront and variant != "raw" and rps / storefront < VARIED_TARGET:
                share = f"**{share}**"
            ratio = _ratio(out, op, variant)
            lines.append(f"| {op} | {LABELS[variant]} | {_num(rps)} | {share} | "
                         f"{f'{ratio:.2f}' if ratio is not None else '–'} |")
    return [*lines, ""]


def resolvers_note(out: dict[str, Any]) -> list[str]:
    if RESOLVERS not in (out["meta"].get("variants") or []):
        return []
    return ["", f"{LABELS[RESOLVERS]}: the same server with `FAST_PATH_ENABLED=false`, every field of every document "
                "through the resolvers, as for a document the compiled path cannot answer (ad hoc requests; "
                f"target ≥ {RESOLVER_TARGET}× raw), on "
                + ", ".join(f"`{op}`" for op in out["meta"].get("resolver_ops") or []) + "."]


def noise_line(out: dict[str, Any]) -> list[str]:
    noise = out.get("noise")
    if not noise or noise.get("spread") is None:
        return []
    a, b = noise["rps"]
    return [f"Noise: the raw server's `{noise['op']}` closed loop ran twice ({_num(a)} and {_num(b)} req/s, the second "
            f"after all its other runs): a spread of {noise['spread']:.1%}. Ratios closer than that are not "
            "different.", ""]


def results_table(out: dict[str, Any]) -> list[str]:
    fractions = out["meta"].get("open_fractions") or []
    rates = out["meta"].get("rates") or {}
    head = ["op", "server", "req/s", "× raw"]
    head += [f"open {f:.0%}: p50 / p95 / p99 ms" for f in fractions]
    head += ["app CPU ms/req", "PG CPU ms/req", "stmts/req", "peak RSS MB (largest process)", "errors"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---", "---"] + ["---:"] * (len(head) - 2)) + "|"]
    closed, opened = _runs(out, "closed"), _runs(out, "open")
    for op in out["meta"]["ops"]:
        op_rates = rates.get(op) or []
        op_cell = f"{op} ({', '.join(_num(r, 0) for r in op_rates)} req/s)" if op_rates else op
        for variant in ORDER:
            if (op, variant) not in closed:
                continue
            run = closed[(op, variant)][0]
            ratio = _ratio(out, op, variant)
            cells = [op_cell, LABELS[variant], _num(run["rps"]), f"{ratio:.2f}" if ratio is not None else "–"]
            errors = run["errors"]
            for fraction in fractions:
                match = [r for r in opened.get((op, variant), []) if r.get("fraction") == fraction]
                if any(r.get("skipped") and r["op"] == op and r["variant"] == variant and r["fraction"] == fraction
                       for r in out["runs"]):
                    cells.append(f"over capacity (> {out['meta'].get('open_overload', 1.5):g}× its req/s)")
                elif match:
                    lat, got = match[0]["latency_ms"], match[0]
                    cell = f"{_num(lat['p50'])} / {_num(lat['p95'])} / {_num(lat['p99'])}"
                    kept = got.get("window_rps", got["rps"])
                    if kept < 0.9 * got["rate"]:  # could not keep up: show what it managed
                        cell += f" (kept {_num(kept, 0)}/s)"
                    cells.append(cell)
                    errors += got["errors"]
                else:
                    cells.append("–")
            peak_total = max(r["rss_total_peak_mb"] for r in closed[(op, variant)] + opened.get((op, variant), []))
            peak_one = max(r["rss_max_process_peak_mb"] for r in closed[(op, variant)] + opened.get((op, variant), []))
            cells += [_num(run["app_cpu_ms_per_req"], 2), _num(run["pg_cpu_ms_per_req"], 2),
                      _num(run["statements_per_req"], 2), f"{_num(peak_total, 0)} ({_num(peak_one, 0)})", str(errors)]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def targets(out: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    rows: list[tuple[str, str, bool | None]] = []
    for op, variant, minimum in THROUGHPUT_TARGETS:
        ratio = _ratio(out, op, variant)
        rows.append((f"{op}, {LABELS[variant]} ≥ {minimum}× raw req/s",
                     "not run" if ratio is None else f"{ratio:.2f}×", None if ratio is None else ratio >= minimum))
    for variant in ("codex-adhoc", "codex-persisted"):
        if "mixed" in out["meta"]["ops"]:
            ratio = _ratio(out, "mixed", variant)
            rows.append((f"mixed workload (80 % shapes, 20 % varied), {LABELS[variant]} ≥ {MIXED_TARGET}× raw",
                         "not run" if ratio is None else f"{ratio:.2f}×",
                         None if ratio is None else ratio >= MIXED_TARGET))
        storefront = _rps(out, "storefront", variant)
        shares = {op: rps / storefront for op in out["meta"].get("varied") or []
                  if storefront and (rps := _rps(out, op, variant)) is not None}
        if shares:
            worst = min(shares, key=lambda op: shares[op])
            rows.append((f"every varied document, {LABELS[variant]} ≥ {VARIED_TARGET}× its storefront req/s",
                         f"lowest {shares[worst]:.2f}× ({worst}); {sum(v >= VARIED_TARGET for v in shares.values())}"
                         f" of {len(shares)} met", min(shares.values()) >= VARIED_TARGET))
    ratios = {op: ratio for op in out["meta"]["ops"] if (ratio := _ratio(out, op, RESOLVERS)) is not None}
    if ratios or RESOLVERS in (out["meta"].get("variants") or []):
        worst = min(ratios, key=lambda op: ratios[op]) if ratios else None
        differ = _differing(out, RESOLVERS)
        rows.append((f"a non-compilable document (compiled path off: every field through the resolvers) ≥ "
                     f"{RESOLVER_TARGET}× raw", ("not run" if worst is None else
                     f"lowest {ratios[worst]:.2f}× ({worst}); {sum(v >= RESOLVER_TARGET for v in ratios.values())} "
                     f"of {len(ratios)} met") + (f"; not timed, answers differ: {', '.join(differ)}" if differ else ""),
                     # unknown while some answers differ (untimed), unless a timed one already misses it
                     None if worst is None or (differ and ratios[worst] >= RESOLVER_TARGET)
                     else ratios[worst] >= RESOLVER_TARGET))
    for op in ("storefront", "purchase_history"):
        found = [r for r in out["page_size"] if r["variant"] == "codex-adhoc" and r["op"] == op]
        if not found:
            rows.append((f"{op}: statements/request independent of page size", "not run", None))
            continue
        values = [r.get("statements_per_req_net", r["statements_per_req"]) for r in found]
        shown = ", ".join(f"first={r['first']}: {_num(v, 2)}" for r, v in zip(found, values, strict=True))
        rows.append((f"{op}: statements/request independent of page size (net of idle background, "
                     f"spread < {PAGE_SIZE_TOLERANCE})", shown, max(values) - min(values) < PAGE_SIZE_TOLERANCE))
    codex = [r for r in out["runs"] if r["server"] == "codex" and not r.get("skipped")]
    if codex:
        one = max(r["rss_max_process_peak_mb"] for r in codex)
        total = max(r["rss_total_peak_mb"] for r in codex)
        rows.append((f"API RSS ≤ {RSS_LIMIT_MB:.0f} MB under load (largest server process)",
                     f"{one:.0f} MB per process, {total:.0f} MB for the whole tree "
                     f"({out['meta']['workers']} workers + supervisor)", one <= RSS_LIMIT_MB))
    else:
        rows.append((f"API RSS ≤ {RSS_LIMIT_MB:.0f} MB under load", "not run", None))
    return rows


def render(out: dict[str, Any], path: Path | None = None) -> str:
    meta, machine = out["meta"], out["meta"]["machine"]
    lines = [f"Run {meta['started']} (scale `{meta['scale']}`, database `{meta['database']}`)"
             + (f", results `{_shown(path)}`" if path else "") + ".", "",
             f"Command: `{meta['command']}`", "",
             f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gb']} GB, Linux "
             f"{machine['kernel']}; PostgreSQL {machine['postgresql']}, Python {machine['python']}, Node "
             f"{machine['node']}, {meta['wrk']}"
             + "".join(f"; {LABELS.get(k, k)} {v.get('postgraphile')} on Node {v.get('node')}"
                       for k, v in (meta.get("postgraphile") or {}).items())
             + ". Load generator, servers and PostgreSQL share the machine.", "",
             f"Closed loop: wrk -t{meta['wrk_threads']} -c{meta['connections']} for {meta['duration_s']:g} s after "
             f"{meta['warmup_s']:g} s of warm-up. "
             + (f"Open loop: benchmarks/openloop.py for {meta['open_duration_s']:g} s at the rates in brackets "
                f"({', '.join(f'{f:.0%}' for f in meta['open_fractions'])} of the raw server's saturation req/s for "
                "that operation)." if meta["open_fractions"] else "No open-loop runs (`--open-fractions ''`).")
             + f" Every server: {meta['workers']} worker processes.",
             *resolvers_note(out), "", *results_table(out), "", *varied_table(out), *noise_line(out)]
    lines += ["Targets:", "", "| target | measured | met |", "|---|---|---|"]
    for name, value, ok in targets(out):
        lines.append(f"| {name} | {value} | {'–' if ok is None else ('yes' if ok else '**no**')} |")
    if out["page_size"]:
        lines += ["", f"Statements per request vs page size ({out['page_size'][0].get('requests', 30)} sequential "
                      "requests each; net: less the idle baseline's background statements over the same time):", "",
                  "| op | first | edges returned | server | statements/req | net | app CPU ms/req | PG CPU ms/req |",
                  "|---|---:|---:|---|---:|---:|---:|---:|"]
        for r in out["page_size"]:
            lines.append(f"| {r['op']} | {r['first']} | {r['edges']} | {LABELS[r['variant']]} | "
                         f"{_num(r['statements_per_req'], 2)} | {_num(r.get('statements_per_req_net'), 2)} | "
                         f"{_num(r['app_cpu_ms_per_req'], 2)} | {_num(r.get('pg_cpu_ms_per_req'), 2)} |")
    if out["idle"]:
        lines += ["", "Idle baseline (3 s with no requests, after warm-up):", "",
                  "| server | app CPU ms/s | PG CPU ms/s | statements/s | RSS MB (largest process) |",
                  "|---|---:|---:|---:|---:|"]
        for name, idle in out["idle"].items():
            lines.append(f"| {name} | {_num(idle['app_cpu_ms_per_s'])} | {_num(idle['pg_cpu_ms_per_s'])} | "
                         f"{_num(idle['statements_per_s'])} | {_num(idle['rss_total_mb'], 0)} "
                         f"({_num(idle['rss_max_process_mb'], 0)}) |")
    wrk_util = [r["generator"]["cpu_util"] for r in out["runs"] if r["kind"] == "closed" and not r.get("skipped")]
    open_runs = [r for r in out["runs"] if r["kind"] == "open" and not r.get("skipped")]
    if wrk_util or open_runs:
        text = f"Load generators: wrk used up to {max(wrk_util, default=0):.0%} of a core"
        if open_runs:
            text += (f"; openloop.py up to {max(r['generator']['cpu_util'] for r in open_runs):.0%} of a core, "
                     f"send lag p99 ≤ {max(r['send_lag_ms']['p99'] or 0 for r in open_runs):.2f} ms")
        lines += ["", text + "."]
    busy = [r for r in out["runs"] if not r.get("skipped") and (r.get("other_cpu_cores") or 0) > OTHER_CPU_WARNING]
    if busy:
        worst = max(busy, key=lambda r: r["other_cpu_cores"])
        lines += ["", f"**Warning**: other processes used more than {OTHER_CPU_WARNING} of a core during {len(busy)} "
                      f"of {len(out['runs'])} runs (up to {worst['other_cpu_cores']:.2f} cores, {worst['variant']} "
                      f"{worst['op']} {worst['kind']} loop): the machine was not quiet; repeat the run."]
    shared = [r for r in out["runs"] if r.get("other_pg_sessions")]
    if shared:
        lines += ["", f"**Warning**: during {len(shared)} runs other databases of the benchmark cluster had client "
                      "sessions: PostgreSQL CPU per request includes their work; repeat the run."]
    for variant, ops in out["skipped"].items():
        lines += ["", f"**{LABELS.get(variant, variant)} not timed**: answers differ from the raw server's for "
                      f"{', '.join(ops)} (diffs in the results JSON under `checks`)."]
    for name, error in out["errors"].items():
        lines += ["", f"**{name} failed**: `{error.strip().splitlines()[-1][:300] if error.strip() else '?'}`"]
    return "\n".join(lines)


def update_readme(out: dict[str, Any], path: Path | None = None, readme: Path = README) -> None:
    text = readme.read_text()
    block = f"{BEGIN}\n{render(out, path)}\n{END}"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n## Side-by-side harness\n\n" + block + "\n"
    readme.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", type=Path)
    parser.add_argument("--readme", action="store_true", help="write the block into benchmarks/README.md")
    args = parser.parse_args()
    out = json.loads(args.results.read_text())
    path = args.results.resolve()
    if args.readme:
        update_readme(out, path)
    print(render(out, path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
