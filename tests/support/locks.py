"""A lock between processes on this machine (parallel test workers, test runs of several checkouts), for
one-time setup that writes to a shared place such as an `npm ci` into a node_modules folder."""

from __future__ import annotations

import fcntl
import hashlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def lock_path(resource: Path) -> Path:
    """The lock file of ``resource`` (outside the checkout, so that nothing untracked is left there)."""
    digest = hashlib.sha256(str(resource.resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"codex-graphql-tests-{digest}.lock"


@contextmanager
def exclusive(resource: Path) -> Iterator[None]:
    """Held by one process at a time; the kernel releases it when the process dies."""
    with open(lock_path(resource), "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
