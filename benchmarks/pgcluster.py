"""A PostgreSQL 15 cluster of its own for the benchmarks (not part of the test suite).

    .venv/bin/python benchmarks/pgcluster.py start [--port 55432] [--datadir /tmp/codex-bench-pg]
    .venv/bin/python benchmarks/pgcluster.py status | url | stop

The shared development server cannot load ``pg_stat_statements`` (it needs
``shared_preload_libraries`` and a restart), and the harness wants statements per request and the
database's CPU time without other people's traffic in them. This module runs Debian's binaries
(/usr/lib/postgresql/15/bin) as the ``postgres`` OS user (through ``runuser`` when we are root),
with the data directory under /tmp, listening on 127.0.0.1 only, trust authentication for local and
loopback connections.

Tuning for the 24 GiB, 2-core benchmark box: ``shared_buffers=1GB``, ``effective_cache_size=16GB``,
``work_mem=16MB``, ``max_connections=200`` (several server processes with their pools), a large
``max_wal_size`` so the bulk seed is not dominated by forced checkpoints. Durability stays honest:
``fsync``, ``synchronous_commit`` and ``full_page_writes`` are on, as in production, so write latency is
real. ``jit=off``: the benchmark queries are short OLTP statements, and JIT compilation (which kicks in
on cost estimates, e.g. an analytics scan of a 1M-row table) adds tens of milliseconds of compile time
to single requests and makes latency jumpy; production OLTP deployments usually turn it off too.

``pg_stat_statements.track=top`` counts the statements clients send (not those run inside functions
and triggers), with utility statements (BEGIN, COMMIT, SET) included: each is a round trip.
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import subprocess
import sys
import time
from pathlib import Path

BIN = Path("/usr/lib/postgresql/15/bin")
OS_USER = "postgres"
DEFAULT_PORT = int(os.environ.get("BENCH_PG_PORT", "55432"))
# Under /tmp so the postgres OS user can reach it (not under /root); initdb makes it 0700.
DEFAULT_DATADIR = Path(os.environ.get("BENCH_PG_DATADIR", "/tmp/codex-bench-pg"))  # noqa: S108
CONF_NAME = "codex_bench.conf"

SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "max_connections": "200",
    "shared_buffers": "'1GB'",
    "effective_cache_size": "'16GB'",
    "work_mem": "'16MB'",
    "maintenance_work_mem": "'512MB'",
    "max_wal_size": "'8GB'",
    "min_wal_size": "'1GB'",
    "checkpoint_completion_target": "0.9",
    "random_page_cost": "1.1",
    "effective_io_concurrency": "200",
    "fsync": "on",
    "synchronous_commit": "on",
    "full_page_writes": "on",
    "jit": "off",
    "shared_preload_libraries": "'pg_stat_statements'",
    "pg_stat_statements.track": "'top'",
    "pg_stat_statements.max": "10000",
    "track_io_timing": "on",
    "log_min_duration_statement": "-1",
    "log_checkpoints": "on",
}

HBA = """# codex benchmark cluster: trust on the local socket and loopback only
local   all   all                  trust
host    all   all   127.0.0.1/32   trust
host    all   all   ::1/128        trust
"""


def _run(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    command = [str(a) for a in args]
    if os.geteuid() == 0:
        command = ["runuser", "-u", OS_USER, "--", *command]
    return subprocess.run(command, check=check, capture_output=True, text=True)  # noqa: S603


def _datadir(datadir: str | Path | None) -> Path:
    return Path(datadir) if datadir else DEFAULT_DATADIR


def _pid_file_lines(datadir: str | Path | None = None) -> list[str] | None:
    try:
        return (_datadir(datadir) / "postmaster.pid").read_text().splitlines()
    except FileNotFoundError:
        return None


def is_running(datadir: str | Path | None = None) -> bool:
    path = _datadir(datadir)
    if not (path / "PG_VERSION").exists():
        return False
    return _run(BIN / "pg_ctl", "-D", path, "status", check=False).returncode == 0


def postmaster_pid(datadir: str | Path | None = None) -> int:
    lines = _pid_file_lines(datadir)
    # A stale postmaster.pid (after a crash) names a process that is gone or is something else.
    try:
        alive = bool(lines) and b"postgres" in Path(f"/proc/{int(lines[0])}/cmdline").read_bytes()
    except (FileNotFoundError, ValueError):
        alive = False
    if not alive:
        raise RuntimeError(f"the benchmark cluster in {_datadir(datadir)} is not running")
    return int(lines[0])


def port(datadir: str | Path | None = None) -> int:
    lines = _pid_file_lines(datadir)  # postmaster.pid line 4 is the port the server listens on
    if not lines or len(lines) < 4:
        raise RuntimeError(f"the benchmark cluster in {_datadir(datadir)} is not running")
    return int(lines[3])


def admin_url(datadir: str | Path | None = None) -> str:
    return f"postgresql://postgres@127.0.0.1:{port(datadir)}/postgres"


def _write_config(path: Path, listen_port: int) -> None:
    settings = dict(SETTINGS, port=str(listen_port), unix_socket_directories=f"'{path}'")
    lines = ["# Written by benchmarks/pgcluster.py on every start; edit SETTINGS there."]
    lines += [f"{name} = {value}" for name, value in settings.items()]
    owner = pwd.getpwnam(OS_USER)
    for name, text in ((CONF_NAME, "\n".join(lines) + "\n"), ("pg_hba.conf", HBA)):
        target = path / name
        target.write_text(text)
        if os.geteuid() == 0:
            os.chown(target, owner.pw_uid, owner.pw_gid)
        target.chmod(0o600)
    main_conf = path / "postgresql.conf"
    include = f"include_if_exists = '{CONF_NAME}'"
    if include not in main_conf.read_text():
        with main_conf.open("a") as handle:
            handle.write(f"\n{include}\n")


def _init(path: Path) -> None:
    owner = pwd.getpwnam(OS_USER)
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        os.chown(path, owner.pw_uid, owner.pw_gid)
    path.chmod(0o700)
    _run(BIN / "initdb", "-D", path, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8")


def start(port: int = DEFAULT_PORT, datadir: str | Path | None = None) -> str:
    """Start the cluster (initializing it the first time) and return its admin URL. A cluster already
    running in ``datadir`` is reused as it is, whatever port it listens on."""
    path = _datadir(datadir)
    if is_running(path):
        return admin_url(path)
    if not (path / "PG_VERSION").exists():
        _init(path)
    _write_config(path, port)
    log = path / "server.log"
    result = _run(BIN / "pg_ctl", "-D", path, "-l", log, "-w", "-t", "120", "start", check=False)
    if result.returncode != 0:
        tail = log.read_text()[-2000:] if log.exists() else ""
        raise RuntimeError(f"pg_ctl start failed: {result.stdout}{result.stderr}\n{tail}")
    return admin_url(path)


def stop(datadir: str | Path | None = None) -> None:
    path = _datadir(datadir)
    if is_running(path):
        _run(BIN / "pg_ctl", "-D", path, "-m", "fast", "-w", "-t", "120", "stop")


def destroy(datadir: str | Path | None = None) -> None:
    """Stop the cluster and delete its data directory."""
    path = _datadir(datadir)
    stop(path)
    shutil.rmtree(path, ignore_errors=True)


def _stat_fields(pid: int | str) -> list[str]:
    raw = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) is in parentheses and may contain spaces: split after the last ')'.
    return raw[raw.rindex(")") + 2:].split()


def cpu_seconds(datadir: str | Path | None = None) -> float:
    """CPU time (user + system) the cluster has used so far: the postmaster's own and that of its exited
    children it has reaped (cutime/cstime), plus every live child process (backends, checkpointer, WAL
    writer, ...). Take the difference of two readings around a run. A backend that exits between the two
    reads of one call can be missed or counted twice: negligible against a run of many seconds."""
    pid = postmaster_pid(datadir)
    ticks = 0
    # Fields after the command: 0 state, 1 ppid, ..., 11 utime, 12 stime, 13 cutime, 14 cstime.
    fields = _stat_fields(pid)
    ticks += sum(int(fields[i]) for i in (11, 12, 13, 14))
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fields = _stat_fields(entry.name)
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
        if int(fields[1]) == pid:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


STATEMENTS_QUERY = """
select coalesce(sum(calls), 0)::bigint from pg_stat_statements
where dbid = (select oid from pg_database where datname = current_database())
  and query not ilike '%pg_stat_statements%'
"""


async def reset_statements(url: str) -> None:
    """Forget the statement counters of the database ``url`` points to."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute("select pg_stat_statements_reset(0, (select oid from pg_database "
                           "where datname = current_database()), 0)")
    finally:
        await conn.close()


async def statement_calls(url: str) -> int:
    """Statements executed in the database ``url`` points to since the last reset (these queries excluded)."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval(STATEMENTS_QUERY))
    finally:
        await conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("start", "stop", "status", "url", "destroy"))
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--datadir", type=Path, default=DEFAULT_DATADIR)
    args = parser.parse_args()
    if args.action == "start":
        started = time.perf_counter()
        url = start(args.port, args.datadir)
        print(f"{url}  (pid {postmaster_pid(args.datadir)}, {time.perf_counter() - started:.1f}s)")
    elif args.action == "stop":
        stop(args.datadir)
    elif args.action == "destroy":
        destroy(args.datadir)
    elif not is_running(args.datadir):
        print(f"not running ({args.datadir})", file=sys.stderr)
        return 1
    elif args.action == "url":
        print(admin_url(args.datadir))
    else:
        print(f"running: pid {postmaster_pid(args.datadir)}, {admin_url(args.datadir)}, datadir {args.datadir}, "
              f"cpu {cpu_seconds(args.datadir):.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
