"""docs/architecture.md stays true: every file, module, function, class, table, SQL function and metric it
names exists (``<domain>/x.py`` must match at least one domain's file), it has its four diagrams, the
README's Architecture section points to it, and the modules on the request and event paths say in a
docstring what they are for. The checker returns its problems, so the last test proves it fails on an
invented name."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

from codex_graphql.models import Base

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "codex_graphql"
DOC = (ROOT / "docs" / "architecture.md").read_text()
PATH_LIKE = re.compile(r"[\w<>/.-]*[\w>]\.(?:py|md|graphql|toml)\b|[\w<>.-]+/(?:[\w<>.-]+/?)*")
# PostgreSQL's own functions the document may show.
POSTGRES_FUNCTIONS = {"set_config", "current_setting"}
MAIN_MODULES = ["app.py", "graphql_http.py", "db.py", "context.py", "events.py", "relay.py", "fastpath/__init__.py"]


@cache
def _sources() -> str:
    files = [*PACKAGE.rglob("*.py"), *(ROOT / "workers").rglob("*.py"), *(ROOT / "migrations").rglob("*.py")]
    return "\n".join(path.read_text() for path in files) + (ROOT / "schema.graphql").read_text()


@cache
def _stems() -> set[str]:
    paths = [*PACKAGE.rglob("*"), *(ROOT / "workers").rglob("*")]
    return {p.stem for p in paths if p.suffix == ".py"} | {p.name for p in paths if p.is_dir()}


def _path_exists(name: str) -> bool:
    pattern = name.rstrip("/").replace("<domain>", "*")
    for base in (ROOT, PACKAGE):
        if any(base.glob(pattern)):
            return True
    # A bare file name in a diagram ("commerce_actors.py"): somewhere in the package or the workers.
    return "/" not in pattern and any((*PACKAGE.rglob(pattern), *(ROOT / "workers").rglob(pattern)))


def _defined(name: str) -> bool:
    if name in _stems() or name in Base.metadata.tables or name in POSTGRES_FUNCTIONS:
        return True
    escaped = re.escape(name)
    patterns = (rf"\b(?:def|class)\s+{escaped}\b", rf"^\s*{escaped}\s*[:=]", rf"\bfunction\s+(?:public\.)?{escaped}\b",
                rf"^\s+{escaped}[(:]")
    return any(re.search(p, _sources(), re.MULTILINE | re.IGNORECASE) for p in patterns)


def _name_exists(token: str) -> bool:
    name = re.sub(r"\(.*\)$|\{.*\}$", "", token)
    if not re.fullmatch(r"[A-Za-z_][\w.-]*", name):
        return True  # prose or SQL keywords ("FOR UPDATE SKIP LOCKED"), not a name
    quoted = re.compile(rf"""["']{re.escape(name)}["']""", re.IGNORECASE)
    if quoted.search(_sources()) or re.search(rf"\b{re.escape(name)}\b", (ROOT / "schema.graphql").read_text()):
        return True  # a string the code uses (an event type, a header, a metric) or a schema name
    return "-" not in name and all(_defined(part) for part in name.split("."))


def problems(text: str) -> list[str]:
    found = []
    for token in sorted(set(PATH_LIKE.findall(text))):
        if token.startswith(("http", "//")) or "{" in token:
            continue
        if token.endswith((".py", ".md", ".graphql", ".toml", "/")) and not _path_exists(token):
            found.append(f"no file {token}")
    for token in sorted(set(re.findall(r"`([^`\n]+)`", text))):
        if PATH_LIKE.fullmatch(token) and token.endswith((".py", ".md", ".graphql", ".toml", "/")):
            continue
        if token == "<domain>":
            continue
        if not _name_exists(token):
            found.append(f"nothing named {token}")
    # The diagrams' labels: dotted names (``events.emit``) and class names (``OutboxRelay``).
    for block in re.findall(r"```mermaid\n(.*?)```", text, re.DOTALL):
        names = set(re.findall(r"\b[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+\b", block)) | set(
            re.findall(r"\b[A-Z][a-z]+[A-Z]\w*\b", block))
        for name in sorted(names):
            if not re.search(r"\.(?:py|md|graphql|toml)$", name) and not _name_exists(name):
                found.append(f"nothing named {name} (diagram)")
    return found


def test_everything_the_document_names_exists():
    assert problems(DOC) == []


def test_the_document_has_its_diagrams_and_sections():
    assert DOC.count("```mermaid") == 4
    for heading in ("## 1. The request path", "## 2. The event path", "## 3. The compiled path",
                    "## 4. No network call inside an open transaction"):
        assert heading in DOC
    assert 150 <= len(DOC.splitlines()) <= 260


def test_the_readme_architecture_section_points_to_the_map():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Architecture\n", 1)[1].split("\n## ", 1)[0]
    assert "docs/architecture.md" in section
    for words in ("request path", "event path", "compiled path"):
        assert words in section.lower()


def test_packages_and_main_modules_say_what_they_are_for():
    modules = [*PACKAGE.rglob("__init__.py"), *(ROOT / "workers").glob("__init__.py"),
               *(PACKAGE / name for name in MAIN_MODULES)]
    assert len(modules) > 15
    missing = [str(m.relative_to(ROOT)) for m in modules
               if len((ast.get_docstring(ast.parse(m.read_text())) or "").split()) < 6]
    assert missing == []


def test_the_checker_reads_the_diagrams():
    diagram = "```mermaid\nflowchart LR\n    a[\"events.emit, events.no_such_thing\"] --> b[\"NoSuchRelay\"]\n```\n"
    assert problems(diagram) == ["nothing named NoSuchRelay (diagram)", "nothing named events.no_such_thing (diagram)"]


def test_the_checker_finds_invented_names():
    invented = ("`codex_graphql/nowhere.py` and `<domain>/nothing.py` in `events.no_such_function`, "
                "table `no_such_table`, `fastpath/gone/` and `NoSuchClass`")
    assert problems(invented) == [
        "no file <domain>/nothing.py", "no file codex_graphql/nowhere.py", "no file fastpath/gone/",
        "nothing named NoSuchClass", "nothing named events.no_such_function", "nothing named no_such_table",
    ]
