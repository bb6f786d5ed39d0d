"""The answer check of the side-by-side harness (benchmarks/run.py, the README's harness section, step 3):
before anything is timed, every variant's answer to every operation it times (and to the mix's components
when it runs the mix) must equal the raw server's, after ``compare.normalize`` (signed URLs verified with
the servers' key, then their expiry and signature replaced by placeholders) or, for PostGraphile, its own
``normalize``/``normalize_codex`` pair. The raw server's answers are the reference: they must carry data
and no errors.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from typing import Any

Request = tuple[str, bytes, dict[str, str]]  # path, body, headers


def comparable(variant: Any, op: Any, answer: Any, reference: Any, storage: Any) -> tuple[Any, Any]:
    """Both answers normalized the way ``variant`` is compared (``variant.compare``: raw or postgraphile)."""
    if variant.compare == "postgraphile":
        import postgraphile_servers as pgs  # next to run.py, which puts benchmarks/ on sys.path

        return pgs.normalize(op.key, answer, storage), pgs.normalize_codex(op.key, reference, storage)
    if __package__:  # imported as benchmarks.answers (the tests)
        from benchmarks.compare import normalize
    else:
        from compare import normalize
    return normalize(answer, storage), normalize(reference, storage)


def diff_text(left: Any, right: Any, limit: int = 40) -> str:
    a = json.dumps(left, indent=1, sort_keys=True, default=str).splitlines()
    b = json.dumps(right, indent=1, sort_keys=True, default=str).splitlines()
    lines = list(difflib.unified_diff(b, a, "reference (raw)", "this server", lineterm="", n=2))
    return "\n".join(lines[:limit]) + ("\n…" if len(lines) > limit else "")


def check_answers(variant: Any, send: Callable[[Request], tuple[int, bytes]], ops: list[Any],
                  fixture: dict[str, Any], reference: dict[str, Any], storage: Any) -> dict[str, Any]:
    """``{op key: {"equal": bool, "diff": text}}`` for one variant; ``send`` posts one request to its server
    and returns (status, body). The raw variant fills ``reference`` (checked first, in run.py's order)."""
    checks: dict[str, Any] = {}
    for op in ops:
        status, body = send(variant.build(op, fixture))
        try:
            answer = json.loads(body)
        except ValueError:
            checks[op.key] = {"equal": False, "diff": f"HTTP {status}, not JSON: {body[:300]!r}"}
            continue
        try:
            if variant.key == "raw":  # the reference: no errors, and its signed URLs verify
                reference[op.key] = answer
                comparable(variant, op, answer, answer, storage)
                ok = status == 200 and "errors" not in answer and answer.get("data") is not None
                checks[op.key] = {"equal": ok, "diff": "" if ok else f"HTTP {status}: {body[:500]!r}"}
                continue
            left, right = comparable(variant, op, answer, reference[op.key], storage)
        except Exception as exc:  # a signed URL that does not verify, an answer of another shape
            checks[op.key] = {"equal": False, "diff": f"HTTP {status}, normalization refused the answer: "
                                                      f"{exc!r}\n{body[:500]!r}"}
            continue
        equal = status == 200 and left == right
        checks[op.key] = {"equal": equal, "diff": "" if equal else f"HTTP {status}\n{diff_text(left, right)}"}
    return checks
