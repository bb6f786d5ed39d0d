"""Typed seams (issue 14, item 4): the session's state, the request's loaders, the process's limits and parts,
and the cross-domain fields, each reached through a typed name in one place rather than a string."""

from __future__ import annotations

import ast
import subprocess
import sys
import uuid
from functools import cached_property
from pathlib import Path

import pytest
import strawberry
from aiodataloader import DataLoader
from sqlalchemy import text

from codex_graphql import audit, events
from codex_graphql import loaders as loaders_module
from codex_graphql.authz import Viewer
from codex_graphql.context import Context
from codex_graphql.contributions import contribute
from codex_graphql.db import (
    TenantScope,
    acting_in,
    outbox_dirty,
    rescope,
    scope_of,
    state_of,
    take_outbox_pending,
)
from codex_graphql.loaders import Loaders
from codex_graphql.ratelimit import Limits, RedisBucket, limits_for
from codex_graphql.services import Services, build_services
from tests.conftest import module_database

ROOT = Path(__file__).resolve().parents[2]
database_url = module_database("typed_seams")


def _python_files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


# --- 1. the session's state ----------------------------------------------------------------------------

def session_info_uses(source: str) -> list[int]:
    """Lines where ``<something>.info`` is read or written as a container (``x.info[...]``, ``x.info.get``,
    ``x.info.pop``...); a call such as ``log.info(...)`` is not one."""
    tree = ast.parse(source)
    called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    return sorted(node.lineno for node in ast.walk(tree)
                  if isinstance(node, ast.Attribute) and node.attr == "info" and id(node) not in called
                  and not (isinstance(node.value, ast.Name) and node.value.id == "info"))


def test_the_checker_finds_session_info_uses():
    assert session_info_uses('s = session.info["scope"]\nlog.info("x")\n') == [1]
    assert session_info_uses('session.info.get("outbox_dirty")\n') == [1]
    assert session_info_uses('connection.info[KEY] = 1\ninfo.context.db\nlogger.info("y", 1)\n') == [1]


def test_no_module_but_db_touches_session_info():
    offenders = {str(path.relative_to(ROOT)): lines for path in _python_files("codex_graphql", "workers")
                 if path != ROOT / "codex_graphql" / "db.py"
                 and (lines := session_info_uses(path.read_text()))}
    assert offenders == {}, "use the typed accessors of codex_graphql.db (state_of, scope_of, outbox_dirty...)"


async def test_session_state_follows_the_transaction(db, admin_db):
    org_id, user_id = uuid.uuid4(), uuid.uuid4()
    await admin_db.execute("insert into organization (id, slug, name) values ($1, $2, 'Seams')", org_id, f"s-{org_id.hex[:10]}")
    scope = TenantScope(organization_id=org_id)
    async with db.transaction(scope) as session:
        assert scope_of(session) == scope and state_of(session) is state_of(session.sync_session)
        assert not outbox_dirty(session)
        event_id = events.emit(session, "seams.checked", {"n": 1}, org_id)
        assert outbox_dirty(session) and [row["id"] for row in state_of(session).outbox_pending] == [event_id]
        other = TenantScope(user_id=user_id, organization_id=org_id)
        await rescope(session, other)  # writes the pending row first, in the scope it was emitted in
        assert scope_of(session) == other and state_of(session).outbox_pending == []
        assert await session.scalar(text("select codex_current_user()::text")) == str(user_id)
        async with acting_in(session, org_id):
            assert scope_of(session) == TenantScope(user_id=user_id, organization_id=org_id)
        assert scope_of(session) == other
        audit.attach(session, audit.AuditContext(user_id, "req-1", "203.0.113.9", "tests"))
        assert audit.context_of(session).request_id == "req-1"
    assert outbox_dirty(session)  # stays true after the commit (the caller wakes the relay)
    assert await admin_db.fetchval("select count(*) from outbox_message where id = $1", event_id) == 1


async def test_pending_rows_vanish_with_a_rollback(db, admin_db):
    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with db.transaction() as session:
            await session.execute(text("select 1"))  # a transaction is open (its rollback drops the rows)
            events.emit(session, "seams.lost", {"n": 2})
            raise Boom
    assert take_outbox_pending(session) == [] and audit.context_of(session) == audit.AuditContext()


# --- 2. the request's loaders ----------------------------------------------------------------------------

def test_every_loader_kind_is_a_typed_attribute():
    kinds = {name: value for name, value in vars(Loaders).items() if isinstance(value, cached_property)}
    assert len(kinds) >= 14
    for name, prop in kinds.items():  # each kind names its loader class (postponed annotations: strings)
        assert prop.func.__annotations__["return"] in {"ViewRecorder"} | {
            n for n in vars(loaders_module) if n.endswith("Loader")}, name
    assert not hasattr(Context, "loader")  # no string-keyed way back
    calls = [f"{path.relative_to(ROOT)}:{node.lineno}" for path in _python_files("codex_graphql", "workers")
             for node in ast.walk(ast.parse(path.read_text()))
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "loader"]
    assert calls == []


async def test_one_loader_per_kind_per_request_until_the_viewer_or_event_changes():
    ctx = Context(services=None, viewer=Viewer(), request_id="r")  # type: ignore[arg-type]
    users = ctx.loaders.users
    assert isinstance(users, DataLoader) and ctx.loaders.users is users
    assert ctx.loaders.organizations is not ctx.loaders.users
    await ctx.become(Viewer(user_id=uuid.uuid4()))
    assert ctx.loaders.users is not users
    after_become = ctx.loaders.users
    await ctx.next_event()
    assert ctx.loaders.users is not after_become


# --- 3. and 4. the process's parts, one type for the API and the workers ----------------------------------

async def test_limits_are_built_with_the_services(settings):
    async def send(actor: str, job_id: str, payload: dict) -> None:  # type: ignore[type-arg]
        raise AssertionError("not used")

    services = build_services(settings, send)
    try:
        assert isinstance(services.limits, Limits) and isinstance(services.limits.bucket, RedisBucket)
        assert limits_for(services) is services.limits
        report = await services.limits.charge(f"seams:{uuid.uuid4()}", 3)  # a real bucket in Redis
        assert report.charged == 3 and not report.throttled and report.available < report.capacity
    finally:
        await services.close()


async def test_workers_share_the_services_type(settings, monkeypatch):
    from workers import runtime as worker_runtime

    monkeypatch.setattr(worker_runtime, "_settings", None)
    monkeypatch.setattr(worker_runtime, "_runtime", None)
    assert worker_runtime.Runtime is Services
    worker_runtime.configure(settings)
    built = worker_runtime.runtime()
    try:
        assert isinstance(built, Services) and worker_runtime.runtime() is built
        assert built.db.engine.pool.size() == worker_runtime.WORKER_POOL_SIZE
        assert built.relay.poll_seconds == worker_runtime.WORKER_RELAY_POLL_SECONDS  # settings say 0.1
        await built.db.ping()  # its pool reaches the database and Redis (either raises when it cannot)
        await built.kv.ping()
    finally:
        await worker_runtime.shutdown()
    assert worker_runtime._runtime is None


def test_importing_the_runtime_declares_no_actor():
    """``set_broker()`` must run before actors are imported: the runtime module imports none."""
    code = ("import sys, workers.runtime; "
            "print(sorted(m for m in sys.modules if m.startswith('workers.') and m.endswith('actors')))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# --- 5. cross-domain fields with one home ----------------------------------------------------------------

DOMAIN_MODULES = [
    "codex_graphql.organizations.types", "codex_graphql.commerce.types", "codex_graphql.analytics.types",
    "codex_graphql.audit.types", "codex_graphql.accounts.viewer", "codex_graphql.commerce.organization_fields",
    "codex_graphql.analytics.organization_fields", "codex_graphql.audit.organization_fields",
    "codex_graphql.commerce.viewer_fields",  # (each package's __init__ holds only its docstring)
]


@pytest.mark.parametrize("module", DOMAIN_MODULES)
def test_each_domain_module_imports_alone(module):
    result = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def _imports(path: Path) -> tuple[list[str], list[str]]:
    """(module-level ``codex_graphql`` imports, function-level ones) of a file."""
    tree = ast.parse(path.read_text())
    top = [node.module or "" for node in tree.body if isinstance(node, ast.ImportFrom)]
    nested = [f"{node.module}:{node.lineno}" for function in ast.walk(tree)
              if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
              for node in ast.walk(function) if isinstance(node, ast.ImportFrom | ast.Import)
              and any(name.startswith("codex_graphql") for name in
                      ([node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]))]
    return top, nested


@pytest.mark.parametrize("path", ["codex_graphql/organizations/types.py", "codex_graphql/accounts/viewer.py"])
def test_types_import_no_domain_that_contributes_to_them(path):
    top, nested = _imports(ROOT / path)
    assert nested == []
    source = (ROOT / path).read_text()
    assert "strawberry.lazy" not in source and "TYPE_CHECKING" not in source
    reaching = [m for m in top if m.split(".")[1:2] in (["commerce"], ["analytics"], ["audit"])]
    assert reaching == []


def test_contributed_fields_are_in_place_once():
    import codex_graphql.schema  # noqa: F401  (assembly attaches the fields)
    from codex_graphql.accounts.viewer import Viewer as ViewerType
    from codex_graphql.commerce.organization_fields import OrganizationCommerce
    from codex_graphql.organizations.types import Organization

    names = [f.python_name for f in Organization.__strawberry_definition__.fields]
    assert names.index("contents") < names.index("purchases") < names.index("creator_earnings") \
        < names.index("analytics") < names.index("customers") < names.index("audit_log") < names.index("members")
    viewer_names = [f.python_name for f in ViewerType.__strawberry_definition__.fields]
    assert viewer_names.index("active_organization") + 1 == viewer_names.index("purchases")
    contribute(Organization, OrganizationCommerce, before="members")  # again: nothing changes
    assert [f.python_name for f in Organization.__strawberry_definition__.fields] == names


def test_a_field_with_two_homes_is_refused():
    @strawberry.type(description="target")
    class Target:
        @strawberry.field(description="own")
        def name(self) -> str:
            return "t"

    @strawberry.type(description="source")
    class Other:
        @strawberry.field(description="again")
        def name(self) -> str:
            return "o"

    @strawberry.type(description="source")
    class Extra:
        @strawberry.field(description="extra")
        def extra(self) -> str:
            return "e"

    with pytest.raises(TypeError, match="declared twice"):
        contribute(Target, Other)
    with pytest.raises(TypeError, match="no field 'missing'"):
        contribute(Target, Extra, before="missing")
    contribute(Target, Extra, before="name")
    assert [f.python_name for f in Target.__strawberry_definition__.fields] == ["extra", "name"]
    schema = strawberry.Schema(query=Target)
    assert schema.execute_sync("{ name extra }").data == {"name": "t", "extra": "e"}
