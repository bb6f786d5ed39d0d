"""docs/operations.md stays honest: every setting, command, option, metric, route, file and table it names
exists, its YAML parses, its Prometheus rules only use metrics the server exports, and its SQL runs.

Each checker returns the problems it found, so the last tests can prove they fail on an invented name."""

from __future__ import annotations

import argparse
import importlib
import re
import uuid
from pathlib import Path

import asyncpg
import pytest
import yaml
from alembic.config import CommandLine
from sqlalchemy.pool import QueuePool

from codex_graphql.app import create_app
from codex_graphql.cli import build_parser
from codex_graphql.models import Base
from codex_graphql.observability import Metrics
from codex_graphql.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DOC_PATH = ROOT / "docs" / "operations.md"
DOC = DOC_PATH.read_text()

# Names the guide makes up for the operator (roles and databases it tells them to create).
OPERATOR_NAMES = {"codex_owner", "codex_backup", "codex_restored", "codex_drill"}
# Standard OpenTelemetry SDK environment variables (specification names) the guide may show.
OTEL_VARIABLES = {
    "OTEL_SDK_DISABLED", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_TRACES_EXPORTER",
    "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG", "OTEL_PROPAGATORS", "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_BSP_SCHEDULE_DELAY",
    "OTEL_BSP_MAX_QUEUE_SIZE", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "OTEL_LOGS_EXPORTER", "OTEL_METRICS_EXPORTER",
}
PROMETHEUS_BUILTINS = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
TARGET_LABELS = {"instance", "job", "le", "__name__"}
PROMQL_FUNCTIONS = {
    "sum", "avg", "min", "max", "count", "stddev", "stdvar", "topk", "bottomk", "quantile", "count_values",
    "group", "rate", "irate", "increase", "delta", "idelta", "deriv", "predict_linear", "histogram_quantile",
    "clamp_min", "clamp_max", "clamp", "abs", "absent", "absent_over_time", "max_over_time", "min_over_time",
    "avg_over_time", "sum_over_time", "count_over_time", "quantile_over_time", "last_over_time", "resets",
    "changes", "label_replace", "label_join", "vector", "scalar", "time", "timestamp", "round", "ceil", "floor",
    "sort", "sort_desc", "ln", "log2", "log10", "exp", "sqrt",
}
PROMQL_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
                   "unless", "offset"}
LABEL_LIST_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right"}


# -- what exists ------------------------------------------------------------------------------------

def setting_names() -> set[str]:
    return {name.upper() for name in Settings.model_fields}


def code_identifiers() -> set[str]:
    """UPPER_SNAKE string literals of the server (error codes, statuses) and the schema's enum values."""
    found: set[str] = set()
    for path in (ROOT / "codex_graphql").rglob("*.py"):
        found |= set(re.findall(r"""["']([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)["']""", path.read_text()))
        found |= set(re.findall(r"^\s+([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+) = ", path.read_text(), re.MULTILINE))
    found |= set(re.findall(r"^\s+([A-Z][A-Z0-9_]+)\b", (ROOT / "schema.graphql").read_text(), re.MULTILINE))
    return found


def exported_metrics() -> dict[str, set[str]]:
    """Series names the API exports (observability.Metrics, pool gauges included) -> their labels."""
    metrics = Metrics()
    metrics.watch_pool(QueuePool(lambda: None, pool_size=5, max_overflow=5))  # never connects
    series: dict[str, set[str]] = {}
    collectors = metrics.registry._names_to_collectors
    for family in metrics.registry.collect():
        collector = next(collectors[n] for n in (family.name, family.name + "_total", family.name + "_count")
                         if n in collectors)
        labels = set(getattr(collector, "_labelnames", ()))
        suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}[family.type]
        for suffix in suffixes:
            series[family.name + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
    return series


def cli_options() -> dict[str, set[str]]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {name: set(p._option_string_actions) for name, p in sub.choices.items()}


def uvicorn_options() -> set[str]:
    command = importlib.import_module("uvicorn.main").main
    return {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}


def app_routes() -> set[str]:
    app = create_app(Settings(environment="test"))
    return {route.path for route in app.routes}


def code_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, re.MULTILINE | re.DOTALL)


# -- checkers ---------------------------------------------------------------------------------------

def check_settings(text: str) -> list[str]:
    known = setting_names() | code_identifiers() | OTEL_VARIABLES
    names = set(re.findall(r"(?<![\w-])[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b", text))
    return [f"{name} is neither a setting (codex_graphql/settings.py), a code the server uses, nor a standard "
            "OTEL_* variable" for name in sorted(names - known)]


def check_commands(text: str) -> list[str]:
    problems: list[str] = []
    options = cli_options()
    for command, rest in re.findall(r"codex-graphql[ \t]+([a-z][a-z-]*)([^`\n|#]*)", text):
        if command not in options:
            problems.append(f"`codex-graphql {command}` is not a command of codex_graphql/cli.py")
            continue
        for option in re.findall(r"(?<!\S)(--[a-z][a-z-]*)", rest):
            if option not in options[command]:
                problems.append(f"`codex-graphql {command}` has no option {option}")
    uvicorn = uvicorn_options()
    for line in re.findall(r"^uvicorn (?:[^\n]*\\\n)*[^\n]*", text, re.MULTILINE):
        for option in re.findall(r"(?<!\S)(--[a-z][a-z-]*)", line):
            if option not in uvicorn:
                problems.append(f"uvicorn has no option {option}")
    alembic = CommandLine().parser
    for line in re.findall(r"^alembic ([^\n#]*)", text, re.MULTILINE):
        try:
            alembic.parse_args(line.split())
        except SystemExit:
            problems.append(f"`alembic {line.strip()}` is not a valid alembic command line")
    return problems


def check_codex_names(text: str) -> list[str]:
    """`codex_*` words are exported metrics, or roles/functions/schemas the migrations create."""
    series = exported_metrics()
    migrations = "\n".join(p.read_text() for p in (ROOT / "migrations").rglob("*.py"))
    migrations += (ROOT / "codex_graphql" / "db.py").read_text() + (ROOT / "codex_graphql" / "migration_helpers.py").read_text()
    problems = []
    histograms = {name.removesuffix("_bucket") for name in series if name.endswith("_bucket")}
    for name in sorted(set(re.findall(r"\b(codex_[a-z0-9_]+)\b(?![./])", text))):
        if name in series or name in histograms or name in OPERATOR_NAMES:
            continue
        if name.startswith(("codex_graphql_", "codex_http_", "codex_db_")) or not re.search(rf"\b{name}\b", migrations):
            problems.append(f"{name} is neither a metric of observability.Metrics nor a role/function the migrations create")
    return problems


def check_paths(text: str) -> list[str]:
    problems = []
    routes = app_routes()
    for path in sorted(set(re.findall(r"`(?:GET |POST )?(/[a-z][a-z/_-]*)`", text))):
        if path not in routes:
            problems.append(f"route {path} is not served by create_app")
    for path in sorted(set(re.findall(r"`((?:codex_graphql|tests|migrations|workers|client-examples|scripts|docs)/[\w./-]*)`", text))):
        if not (ROOT / path).exists():
            problems.append(f"{path} does not exist in the repository")
    return problems


def _label_matchers(body: str, series: dict[str, set[str]], routes: set[str], where: str) -> list[str]:
    problems = []
    if not body.strip():
        return problems
    for matcher in body.split(","):
        match = re.fullmatch(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"\s*', matcher)
        if not match:
            problems.append(f"{where}: bad label matcher {matcher!r}")
            continue
        label, op, value = match.groups()
        if label not in TARGET_LABELS and not any(label in labels for labels in series.values()):
            problems.append(f"{where}: no exported metric has the label {label!r}")
        if op.startswith(("=~", "!~")):
            try:
                re.compile(value)
            except re.error:
                problems.append(f"{where}: bad regular expression {value!r}")
        elif label == "route" and value not in routes and value != "other":
            problems.append(f"{where}: route {value!r} is not served")
    return problems


def check_promql(expr: str, series: dict[str, set[str]], routes: set[str], records: set[str], where: str) -> list[str]:
    """A PromQL-ish check: balanced brackets, valid matchers and durations, known functions, and every
    metric name one the server (or Prometheus itself, or a recording rule here) defines."""
    problems: list[str] = []
    stack: list[str] = []
    pairs = {")": "(", "]": "[", "}": "{"}
    for char in re.sub(r'"[^"]*"', '""', expr):
        if char in "([{":
            stack.append(char)
        elif char in pairs and (not stack or stack.pop() != pairs[char]):
            return [f"{where}: unbalanced brackets in {expr!r}"]
    if stack:
        return [f"{where}: unbalanced brackets in {expr!r}"]
    for body in re.findall(r"\{([^}]*)\}", expr):
        problems += _label_matchers(body, series, routes, where)
    for duration in re.findall(r"\[([^\]]*)\]", expr):
        if not re.fullmatch(r"\d+[smhdw](?::\d+[smhdw])?", duration):
            problems.append(f"{where}: bad range {duration!r}")
    stripped = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", re.sub(r'"[^"]*"', '""', expr))
    for keyword, labels in re.findall(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)", stripped):
        for label in filter(None, (part.strip() for part in labels.split(","))):
            if label not in TARGET_LABELS and not any(label in names for names in series.values()):
                problems.append(f"{where}: {keyword} ({label}): no exported metric has that label")
    stripped = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", stripped)
    used = set()
    for name, call in re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(\s*\()?", stripped):
        if re.fullmatch(r"\d.*", name) or name in PROMQL_KEYWORDS - LABEL_LIST_KEYWORDS:
            continue
        if call:
            if name not in PROMQL_FUNCTIONS:
                problems.append(f"{where}: unknown function {name}()")
            continue
        if name in series or name in PROMETHEUS_BUILTINS or name in records:
            used.add(name)
        else:
            problems.append(f"{where}: metric {name} is not exported by the server")
    if not used:
        problems.append(f"{where}: the expression uses no metric")
    return problems


def check_rules(text: str) -> list[str]:
    problems: list[str] = []
    series, routes = exported_metrics(), app_routes()
    rule_files = []
    for block in code_blocks(text, "yaml"):
        try:
            parsed = yaml.safe_load(block)
        except yaml.YAMLError as exc:
            problems.append(f"a yaml block does not parse: {exc}")
            continue
        if isinstance(parsed, dict) and "groups" in parsed:
            rule_files.append(parsed)
    if not rule_files:
        return [*problems, "no Prometheus rule file (a yaml block with `groups:`) in the guide"]
    for parsed in rule_files:
        rules = [rule for group in parsed["groups"] for rule in group["rules"]]
        records = {rule["record"] for rule in rules if "record" in rule}
        for group in parsed["groups"]:
            if not group.get("name") or not group.get("rules"):
                problems.append("a rule group needs a name and rules")
        for rule in rules:
            name = rule.get("alert") or rule.get("record")
            if not name or set(rule) - {"alert", "record", "expr", "for", "labels", "annotations", "keep_firing_for"}:
                problems.append(f"rule {rule!r}: needs alert or record, and only known keys")
                continue
            if "for" in rule and not re.fullmatch(r"\d+[smhd]", str(rule["for"])):
                problems.append(f"{name}: bad `for` {rule['for']!r}")
            if "record" in rule and not re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", name):
                problems.append(f"{name}: not a valid recording rule name")
            problems += check_promql(str(rule.get("expr", "")), series, routes, records - {name}, name)
    return problems


def check_trace_names(text: str) -> list[str]:
    """Span and attribute names in "Reading a trace" are the ones the tracing code writes."""
    section = text.split("## Reading a trace", 1)[-1].split("\n## ", 1)[0]
    source = "\n".join((ROOT / path).read_text() for path in (
        "codex_graphql/tracing.py", "codex_graphql/observability.py", "codex_graphql/graphql_http.py",
        "workers/broker.py", "workers/main.py"))
    # Names built with f-strings ("codex.{kind}.system") count as patterns.
    templates = [re.compile(re.sub(r"\\\{[a-z_]+\\\}", "[a-z_]+", re.escape(t)))
                 for t in re.findall(r'f"([^"{]+\{[a-z_]+\}[^"]*)"', source)]
    problems = []
    for name in sorted(set(re.findall(r"(?<![\w./-])((?:graphql|codex|http|url|messaging)\.[a-z_]+(?:\.[a-z_]+)*)", section))):
        if f'"{name}"' not in source and not any(t.fullmatch(name) for t in templates):
            problems.append(f"trace attribute or span name {name} is not written by the tracing code")
    for word in ("trace_id", "span_id", "compiled", "resolved", "codex-graphql-worker"):
        if word in section and f'"{word}"' not in source and f"'{word}'" not in source and f'{word}"' not in source:
            problems.append(f"{word} does not appear in the tracing code")
    return problems


def check_log_messages(text: str) -> list[str]:
    """The log messages the "Logs" section tells operators to alert on are ones the code writes."""
    section = text.split("### Logs", 1)[-1].split("\n## ", 1)[0]
    source = "\n".join(path.read_text() for folder in ("codex_graphql", "workers")
                       for path in (ROOT / folder).rglob("*.py"))
    return [f"no log message {message!r} in the code" for message in re.findall(r"`([a-z][a-z ;]+ [a-z]+)`", section)
            if message not in source]


# -- the guide --------------------------------------------------------------------------------------

def test_readme_links_the_guide_from_operations():
    readme = (ROOT / "README.md").read_text()
    operations = readme.split("\n## Operations\n", 1)[1].split("\n## ", 1)[0]
    assert "docs/operations.md" in operations


def test_guide_covers_the_topics():
    for heading in ("## Deploying several API and worker processes", "## The production database role",
                    "## Backups and restores", "## Zero-downtime migrations", "## Metrics and alerting",
                    "## Reading a trace"):
        assert heading in DOC
    for needle in ("pg_dump", "pg_restore", "pgBackRest", "WAL-G", "point-in-time", "Restore drills",
                   "sticky sessions", "pool_mode = session", "versioning", "lifecycle", "expand", "contract"):
        assert needle.lower() in DOC.lower(), needle


def test_every_setting_and_code_exists():
    assert check_settings(DOC) == []


def test_every_command_and_option_exists():
    assert check_commands(DOC) == []


def test_every_metric_role_and_function_exists():
    assert check_codex_names(DOC) == []


def test_every_route_and_file_exists():
    assert check_paths(DOC) == []


def test_log_messages_exist():
    assert len(re.findall(r"`[a-z][a-z ;]+ [a-z]+`", DOC.split("### Logs", 1)[1].split("\n## ", 1)[0])) >= 4
    assert check_log_messages(DOC) == []
    assert check_log_messages("### Logs\nalert on `outbox relay crashed`\n") == [
        "no log message 'outbox relay crashed' in the code"]


def test_trace_names_exist():
    assert check_trace_names(DOC) == []


def test_prometheus_rules_parse_and_use_exported_metrics():
    assert check_rules(DOC) == []


def test_alerts_cover_what_operators_need():
    rules = next(yaml.safe_load(b) for b in code_blocks(DOC, "yaml") if "groups:" in b)
    exprs = " ".join(rule["expr"] for group in rules["groups"] for rule in group["rules"])
    assert 'codex_graphql_errors_total{code="INTERNAL_SERVER_ERROR"}' in exprs  # error rate
    assert "histogram_quantile(0.99" in exprs and "codex_graphql_request_duration_seconds_bucket" in exprs
    assert "codex_db_pool_saturated_total" in exprs
    assert 'route="/webhooks/stripe"' in exprs
    assert 'status=~"5.."' in exprs


async def test_the_guides_sql_runs_under_row_level_security(admin_db: asyncpg.Connection):
    """The outbox queries: as a role that is neither superuser nor an API role (like the owner, forced
    row-level security applies to it), `SET codex.platform = 'on'` admits the rows, and the re-send
    statement of "After losing Redis" makes a published job unsent again."""
    blocks = code_blocks(DOC, "sql")
    resend = next(b for b in blocks if "UPDATE outbox_message" in b)
    backlog = next(b for b in blocks if "FROM outbox_message" in b and "SELECT" in b)
    inbox = next(b for b in blocks if "FROM stripe_event" in b)
    for block in blocks:
        for table in re.findall(r"\b(?:FROM|UPDATE|INTO)\s+([a-z_]+)\b(?!\s*\()", block):
            assert table in Base.metadata.tables, f"the guide's SQL names a table that does not exist: {table}"

    role = f"codex_doc_check_{uuid.uuid4().hex[:8]}"
    published = uuid.uuid4()
    await admin_db.execute(
        "insert into outbox_message (id, kind, topic, payload, created_at, published_at, attempts) "
        "values ($1, 'job', 'send_account_email', '{}', now() - interval '10 minutes', now() - interval '5 minutes', 0)",
        published)
    await admin_db.execute(f"create role {role} nologin")
    try:
        await admin_db.execute(f"grant select, update on outbox_message, stripe_event to {role}")
        async with admin_db.transaction():
            await admin_db.execute(f"set local role {role}")
            # Without the platform scope the policies hide every row.
            assert await admin_db.fetchval("select count(*) from outbox_message") == 0
            for statement in filter(str.strip, _sql_statements(resend)):
                await admin_db.execute(statement.replace("SET codex.platform", "SET LOCAL codex.platform"))
            row = await admin_db.fetchrow(_sql_statements(backlog)[-1])
            assert row["unsent"] == 1 and row["oldest_seconds"] >= 600 and row["failing"] == 0
            assert await admin_db.fetchval(_sql_statements(inbox)[-1]) == 0
        assert await admin_db.fetchval("select published_at from outbox_message where id = $1", published) is None
    finally:
        await admin_db.execute(f"revoke all on outbox_message, stripe_event from {role}")
        await admin_db.execute(f"drop role {role}")


def _sql_statements(block: str) -> list[str]:
    lines = [line.split("--", 1)[0] for line in block.splitlines()]
    return [s.strip() for s in " ".join(lines).split(";") if s.strip()]


# -- the checkers can fail ----------------------------------------------------------------------------

def test_checkers_catch_invented_names():
    assert check_settings("set `DB_POOL_TIMEOUT=5`") == [
        "DB_POOL_TIMEOUT is neither a setting (codex_graphql/settings.py), a code the server uses, nor a standard "
        "OTEL_* variable"]
    assert check_settings("`DB_POOL_SIZE` and `OTEL_SERVICE_NAME`") == []
    assert check_commands("`codex-graphql restart`") == ["`codex-graphql restart` is not a command of codex_graphql/cli.py"]
    assert check_commands("`codex-graphql serve --threads 4`") == ["`codex-graphql serve` has no option --threads"]
    assert check_commands("uvicorn app --factory \\\n  --keepalive 5\n") == ["uvicorn has no option --keepalive"]
    assert check_commands("alembic upgrad head\n") == ["`alembic upgrad head` is not a valid alembic command line"]
    assert check_codex_names("alert on `codex_outbox_backlog`") != []
    assert check_codex_names("`codex_graphql_requests` (no _total)") != []
    assert check_codex_names("`codex_set_scope`, `codex_db_pool_checked_out`") == []
    assert check_trace_names("## Reading a trace\n`codex.graphql.depth` and `graphql.operation.name`\n") == [
        "trace attribute or span name codex.graphql.depth is not written by the tracing code"]
    assert check_paths("`/status` and `tests/test_nothing_here.py`") == [
        "route /status is not served by create_app", "tests/test_nothing_here.py does not exist in the repository"]


@pytest.mark.parametrize(("expr", "problem"), [
    ("rate(codex_outbox_unsent_total[5m]) > 0", "metric codex_outbox_unsent_total is not exported"),
    ('sum(rate(codex_http_requests_total{route="/webhook"}[5m]))', "route '/webhook' is not served"),
    ('sum by (tenant) (rate(codex_graphql_requests_total[5m]))', "by (tenant)"),
    ("sum(rate(codex_graphql_requests_total[5m])", "unbalanced brackets"),
    ("rate(codex_graphql_requests_total[5 minutes])", "bad range"),
    ("percentile(0.99, codex_db_pool_size)", "unknown function percentile()"),
    ('codex_db_pool_size{pool=~"("}', "no exported metric has the label 'pool'"),
])
def test_promql_check_rejects(expr: str, problem: str):
    problems = check_promql(expr, exported_metrics(), app_routes(), set(), "rule")
    assert any(problem in p for p in problems), problems


def test_rules_check_rejects_a_broken_file():
    broken = "```yaml\ngroups:\n  - name: x\n    rules:\n      - alert: A\n        expr: up == 0\n        for: 5 minutes\n```\n"
    assert check_rules(broken) == ["A: bad `for` '5 minutes'"]
    assert check_rules("```yaml\ngroups: [\n```\n")[0].startswith("a yaml block does not parse")
