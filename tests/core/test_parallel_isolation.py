"""The locks that let test processes run side by side (pytest-xdist workers, other checkouts' runs): the
advisory lock around cluster-wide setup, the file lock around installs into a shared folder, and the lock
around pgserver's machine-wide setup."""

from __future__ import annotations

import fcntl
import threading
from pathlib import Path

import asyncpg

from tests.conftest import ADMIN_URL, CLUSTER_SETUP_LOCK, cluster_setup_lock
from tests.support.locks import exclusive, lock_path


async def test_cluster_setup_lock_is_held_by_one_session_at_a_time() -> None:
    other = await asyncpg.connect(ADMIN_URL)
    try:
        async with cluster_setup_lock():
            assert await other.fetchval("select pg_try_advisory_lock($1)", CLUSTER_SETUP_LOCK) is False
        # Released: the other session gets it (waiting, as another worker may be building its template now).
        await other.execute("select pg_advisory_lock($1)", CLUSTER_SETUP_LOCK, timeout=60)
        assert await other.fetchval("select pg_advisory_unlock($1)", CLUSTER_SETUP_LOCK) is True
    finally:
        await other.close()


def test_exclusive_makes_a_second_holder_wait(tmp_path: Path) -> None:
    folder = tmp_path / "node_project"
    assert lock_path(folder) == lock_path(tmp_path / "." / "node_project")  # one lock per folder, however named
    assert lock_path(folder) != lock_path(tmp_path / "other")
    order: list[str] = []
    with exclusive(folder):
        # flock locks belong to the open file: a second open of the same lock file is a second holder.
        with open(lock_path(folder), "a+b") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                order.append("taken while held")
            except BlockingIOError:
                order.append("refused while held")

        def second() -> None:
            with exclusive(folder):
                order.append("second")

        waiter = threading.Thread(target=second)
        waiter.start()
        waiter.join(timeout=0.3)
        assert waiter.is_alive()  # still waiting
        order.append("first done")
    waiter.join(timeout=5)
    assert order == ["refused while held", "first done", "second"]


def test_pgserver_setup_is_done_by_one_process_at_a_time(monkeypatch, tmp_path: Path) -> None:
    """As root, pgserver's first use runs `useradd pgserver`: two workers starting embedded clusters at once
    (tests/ops/test_faults.py, the CLI's and the migrations' embedded tests) must take turns."""
    from types import SimpleNamespace

    from codex_graphql import embedded

    seen: list[str] = []

    def get_server(pgdata: Path, **options: object) -> object:
        with open(embedded.MACHINE_LOCK, "a+b") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                seen.append("not held")
            except BlockingIOError:
                seen.append("held")
        return SimpleNamespace(pgdata=pgdata)

    monkeypatch.setattr(embedded, "load_pgserver", lambda: SimpleNamespace(get_server=get_server))
    server = embedded.EmbeddedPostgres(tmp_path)
    assert server._server().pgdata == server.pgdata  # noqa: SLF001
    assert seen == ["held"]
    with open(embedded.MACHINE_LOCK, "a+b") as handle:  # and released afterwards
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
