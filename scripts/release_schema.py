"""Safe schema evolution: compare the served schema with the last released one, and cut releases.

    python scripts/release_schema.py check               # exit 1 and print the CHANGELOG.md lines to add
    python scripts/release_schema.py cut 0.2.0           # snapshot + changelog section + pyproject version
    python scripts/release_schema.py cut 0.1.0 --force   # re-copy the newest snapshot (only before publishing it)

`releases/schema-X.Y.Z.graphql` holds the schema of each release; the newest one is "the released schema".
The served schema (`codex_graphql.schema.printed_schema()`) is compared with it by graphql-core's
`find_schema_changes` (the successor of `find_breaking_changes` / `find_dangerous_changes`), and every change
is named by its schema coordinate (`Type`, `Type.field`, `Type.field(arg:)`, `Enum.VALUE`, `@directive`).
The rules (tests/schema/test_schema_evolution.py runs them; docs/api.md "Versioning and deprecation policy"):

- a breaking change is listed under `### Schema: removed or changed (breaking)` in a CHANGELOG.md section of an
  unreleased version that may break: a new major, or, while the major is 0, a new minor (semver's 0.x rule);
- a removed field, argument, input field or enum value was deprecated (with a reason) in the released schema,
  unless its entry says "no deprecation period";
- a dangerous change (enum value, union member, interface or optional argument/input field added, a default
  changed) and a newly deprecated element are listed in an unreleased section (`## [Unreleased]`);
- every deprecated element of the served schema has a reason and a `### Schema: deprecated` entry.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from graphql import (
    DEFAULT_DEPRECATION_REASON,
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    build_schema,
    specified_directives,
)
from graphql.utilities.find_schema_changes import (
    BreakingChangeType,
    DangerousChangeType,
    SafeChangeType,
    find_schema_changes,
)

ROOT = Path(__file__).resolve().parent.parent
RELEASES = ROOT / "releases"
CHANGELOG = ROOT / "CHANGELOG.md"
PYPROJECT = ROOT / "pyproject.toml"
SNAPSHOT_NAME = re.compile(r"^schema-(\d+\.\d+\.\d+)\.graphql$")
UNRELEASED = "Unreleased"
ROOTS = ("Query", "Mutation", "Subscription")

# The changelog's schema subsections, by kind of entry.
TITLES = {
    "added": "Schema: added",
    "deprecated": "Schema: deprecated",
    "breaking": "Schema: removed or changed (breaking)",
    "dangerous": "Schema: dangerous",
}
KIND_OF_TITLE = {title.lower(): kind for kind, title in TITLES.items()}
NO_DEPRECATION_PERIOD = "no deprecation period"
REMOVALS = {BreakingChangeType.FIELD_REMOVED, BreakingChangeType.VALUE_REMOVED_FROM_ENUM,
            BreakingChangeType.ARG_REMOVED}
ADDITIONS = {SafeChangeType.TYPE_ADDED, SafeChangeType.FIELD_ADDED, SafeChangeType.DIRECTIVE_ADDED,
             SafeChangeType.OPTIONAL_ARG_ADDED, SafeChangeType.OPTIONAL_INPUT_FIELD_ADDED,
             SafeChangeType.OPTIONAL_DIRECTIVE_ARG_ADDED}

Version = tuple[int, int, int]


def parse_version(text: str) -> Version:
    match = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", text.strip())
    if not match:
        raise ValueError(f"not a version (MAJOR.MINOR.PATCH): {text!r}")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def show(version: Version) -> str:
    return ".".join(map(str, version))


def may_break(released: Version, candidate: Version) -> bool:
    """Semver with its 0.x rule: while the major is 0, a minor bump may break (0.1.x -> 0.2.0)."""
    if released[0] == 0:
        return candidate[:2] > released[:2]
    return candidate[0] > released[0]


def next_breaking(released: Version) -> Version:
    return (0, released[1] + 1, 0) if released[0] == 0 else (released[0] + 1, 0, 0)


# --- CHANGELOG.md ---------------------------------------------------------------------------------------

@dataclass
class Entry:
    coordinate: str
    line: str


@dataclass
class Section:
    name: str  # "Unreleased" or a version
    date: str | None
    entries: dict[str, list[Entry]] = field(default_factory=lambda: {kind: [] for kind in TITLES})

    @property
    def version(self) -> Version | None:
        return None if self.name == UNRELEASED else parse_version(self.name)

    def coordinates(self, *kinds: str) -> set[str]:
        return {e.coordinate for kind in (kinds or TITLES) for e in self.entries[kind]}


@dataclass
class Changelog:
    sections: list[Section]
    errors: list[str]

    def upcoming(self, released: Version | None) -> list[Section]:
        """Sections not released yet: `[Unreleased]` and versions newer than the released one."""
        return [s for s in self.sections if s.version is None or released is None or s.version > released]


HEADING = re.compile(r"^## \[(?P<name>[^\]]+)\](?:\s+-\s+(?P<date>\S.*?))?\s*$")
SUBHEADING = re.compile(r"^### (?P<title>.+?)\s*$")
BULLET = re.compile(r"^[-*] +(?P<text>.*)$")
CODE = re.compile(r"`([^`]+)`")


def parse_changelog(text: str) -> Changelog:
    sections: list[Section] = []
    errors: list[str] = []
    kind: str | None = None
    for number, line in enumerate(text.splitlines(), 1):
        if heading := HEADING.match(line):
            name = heading["name"].strip()
            if name != UNRELEASED:
                try:
                    parse_version(name)
                except ValueError:
                    errors.append(f"CHANGELOG.md:{number}: `## [{name}]` is neither [Unreleased] nor a version")
                    continue
            sections.append(Section(name, heading["date"]))
            kind = None
        elif line.startswith("## "):
            errors.append(f"CHANGELOG.md:{number}: a release heading reads `## [VERSION] - YYYY-MM-DD`")
            kind = None
        elif sub := SUBHEADING.match(line):
            title = sub["title"]
            kind = KIND_OF_TITLE.get(title.lower())
            if kind is None and title.lower().startswith("schema"):
                errors.append(f"CHANGELOG.md:{number}: unknown schema subsection {title!r}; "
                              f"use one of {sorted(TITLES.values())}")
        elif kind is not None and sections and (bullet := BULLET.match(line)):
            code = CODE.search(bullet["text"])
            if code is None:
                errors.append(f"CHANGELOG.md:{number}: a schema entry starts with its `coordinate`")
                continue
            sections[-1].entries[kind].append(Entry(code[1], line))
    return Changelog(sections, errors)


# --- schema changes ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Change:
    kind: str  # breaking | dangerous | added | deprecated
    type: str  # graphql-core's change type name, or DEPRECATED
    coordinate: str
    description: str

    @property
    def line(self) -> str:
        if self.kind == "added" or not self.description:
            return f"- `{self.coordinate}`"
        return f"- `{self.coordinate}`: {self.description}"


QUALIFIED = re.compile(r"@\w+(?:\(\w+:\))?|\b\w+\.\w+(?:\(\w+:\))?")


def coordinate_of(change_type: str, description: str) -> str:
    """The schema coordinate a graphql-core change description is about."""
    if "UNION" in change_type:
        return re.search(r"union type (\w+)\.$", description)[1]  # type: ignore[index]
    if change_type == "IMPLEMENTED_INTERFACE_ADDED":
        return re.search(r"implemented by (\w+)\.$", description)[1]  # type: ignore[index]
    if change_type in ("TYPE_REMOVED", "TYPE_ADDED"):
        return re.search(r"(\w+) was (?:removed|added)", description)[1]  # type: ignore[index]
    if qualified := QUALIFIED.search(description):
        return qualified[0]
    return description.split()[0]


def deprecations(schema: GraphQLSchema) -> dict[str, str]:
    """Every deprecated field, argument, input field and enum value, by coordinate, with its reason."""
    found: dict[str, str | None] = {}
    for name, graphql_type in schema.type_map.items():
        if name.startswith("__"):
            continue
        if isinstance(graphql_type, GraphQLObjectType | GraphQLInterfaceType):
            for field_name, definition in graphql_type.fields.items():
                found[f"{name}.{field_name}"] = definition.deprecation_reason
                for arg_name, arg in definition.args.items():
                    found[f"{name}.{field_name}({arg_name}:)"] = arg.deprecation_reason
        elif isinstance(graphql_type, GraphQLInputObjectType):
            for field_name, definition in graphql_type.fields.items():
                found[f"{name}.{field_name}"] = definition.deprecation_reason
        elif isinstance(graphql_type, GraphQLEnumType):
            for value_name, value in graphql_type.values.items():
                found[f"{name}.{value_name}"] = value.deprecation_reason
    for directive in schema.directives:
        if directive not in specified_directives:
            for arg_name, arg in directive.args.items():
                found[f"@{directive.name}({arg_name}:)"] = arg.deprecation_reason
    return {coordinate: reason for coordinate, reason in found.items() if reason is not None}


def has_reason(reason: str) -> bool:
    return bool(reason.strip()) and reason != DEFAULT_DEPRECATION_REASON


def changes(old_sdl: str, new_sdl: str) -> list[Change]:
    old, new = build_schema(old_sdl), build_schema(new_sdl)
    found = []
    for change in find_schema_changes(old, new):
        if isinstance(change.type, BreakingChangeType):
            kind = "breaking"
        elif isinstance(change.type, DangerousChangeType):
            kind = "dangerous"
        elif change.type in ADDITIONS:
            kind = "added"
        else:
            continue  # descriptions, safe type changes, added defaults
        found.append(Change(kind, change.type.name, coordinate_of(change.type.name, change.description),
                            change.description))
    was_deprecated = deprecations(old)
    found += [Change("deprecated", "DEPRECATED", coordinate, reason)
              for coordinate, reason in deprecations(new).items() if coordinate not in was_deprecated]
    return found


# --- the check -----------------------------------------------------------------------------------------

@dataclass
class Report:
    released: str
    problems: list[str] = field(default_factory=list)
    # heading -> kind -> lines to add
    missing: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, problem: str, heading: str | None = None, kind: str = "", line: str = "") -> None:
        self.problems.append(problem)
        if heading:
            lines = self.missing.setdefault(heading, {}).setdefault(kind, [])
            if line not in lines:
                lines.append(line)

    def render(self) -> str:
        out = [f"The served schema does not evolve safely from {self.released}:"]
        out += [f"  * {problem}" for problem in self.problems]
        if self.missing:
            out += ["", "Add these lines to CHANGELOG.md (a heading that already exists takes just the entries):"]
            for heading, kinds in self.missing.items():
                out += ["", heading]
                for kind, lines in kinds.items():
                    out += ["", f"### {TITLES[kind]}", "", *lines]
        return "\n".join(out)


def check(new_sdl: str, released_sdl: str, released: Version, changelog: Changelog,
          released_name: str | None = None) -> Report:
    report = Report(released_name or f"the released schema {show(released)}")
    for error in changelog.errors:
        report.add(error)
    upcoming = changelog.upcoming(released)
    breaking_sections = [s for s in upcoming if s.version is not None and may_break(released, s.version)]
    breaking_heading = (f"## [{breaking_sections[0].name}]" if breaking_sections
                        else f"## [{show(next_breaking(released))}] - Unreleased   "
                             f"(rename `## [{UNRELEASED}]` to this)")
    unreleased_heading = f"## [{upcoming[0].name}]" if upcoming else f"## [{UNRELEASED}]"
    upcoming_coordinates = set().union(*(s.coordinates() for s in upcoming))
    released_deprecations = deprecations(build_schema(released_sdl))
    found = changes(released_sdl, new_sdl)

    for change in found:
        if change.kind == "breaking":
            listed = [e for s in breaking_sections for e in s.entries["breaking"]
                      if e.coordinate == change.coordinate]
            if not listed:
                report.add(f"breaking: {change.description} List `{change.coordinate}` as breaking under a "
                           f"new major version (0.x: a new minor), at least {show(next_breaking(released))}.",
                           breaking_heading, "breaking", change.line)
            elif (BreakingChangeType[change.type] in REMOVALS
                  and change.coordinate not in released_deprecations
                  and not any(NO_DEPRECATION_PERIOD in e.line.lower() for e in listed)):
                report.add(f"`{change.coordinate}` is removed without being deprecated in {show(released)} "
                           f"first: deprecate it with a reason in a release, remove it in a later major, or "
                           f"say \"{NO_DEPRECATION_PERIOD}\" in its changelog entry.")
        elif change.kind == "dangerous" and change.coordinate not in upcoming_coordinates:
            report.add(f"dangerous: {change.description} List `{change.coordinate}` in an unreleased section.",
                       unreleased_heading, "dangerous", change.line)
        elif change.kind == "deprecated" and not any(change.coordinate in s.coordinates("deprecated")
                                                     for s in upcoming):
            report.add(f"deprecated since {show(released)}: `{change.coordinate}` needs a deprecated entry "
                       f"in an unreleased section.", unreleased_heading, "deprecated", change.line)
    newly_deprecated = {c.coordinate for c in found if c.kind == "deprecated"}
    for coordinate, problem in deprecation_problems(new_sdl, changelog):
        if not (coordinate in newly_deprecated and problem.endswith(NOT_LISTED)):
            report.add(problem)
    return report


NOT_LISTED = "CHANGELOG.md has no deprecated entry for it."


def deprecation_problems(sdl: str, changelog: Changelog) -> list[tuple[str, str]]:
    """Every deprecated element of `sdl` has a reason and is listed under some `### Schema: deprecated`."""
    listed = set().union(*(s.coordinates("deprecated") for s in changelog.sections))
    problems = []
    for coordinate, reason in deprecations(build_schema(sdl)).items():
        if not has_reason(reason):
            problems.append((coordinate, f"`{coordinate}` is deprecated without a reason: say what to use "
                                         f"instead (@deprecated(reason: \"Use ...\"))."))
        if coordinate not in listed:
            problems.append((coordinate, f"`{coordinate}` is deprecated but {NOT_LISTED}"))
    return problems


# --- the files -----------------------------------------------------------------------------------------

def snapshots() -> dict[Version, Path]:
    found = {}
    for path in RELEASES.glob("schema-*.graphql") if RELEASES.is_dir() else ():
        if match := SNAPSHOT_NAME.match(path.name):
            found[parse_version(match[1])] = path
    return dict(sorted(found.items()))


def served_schema() -> str:
    from codex_graphql.schema import printed_schema

    return printed_schema()


def check_repository(new_sdl: str | None = None) -> Report:
    released = snapshots()
    if not released:
        raise SystemExit(f"no release snapshot in {RELEASES}: cut the first with `release_schema.py cut 0.1.0`")
    version, path = next(reversed(released.items()))
    return check(served_schema() if new_sdl is None else new_sdl, path.read_text(), version,
                 parse_changelog(CHANGELOG.read_text()), f"{path.relative_to(ROOT)}")


# --- cutting a release ---------------------------------------------------------------------------------

def _split_sections(text: str) -> tuple[list[str], list[list[str]]]:
    preamble: list[str] = []
    sections: list[list[str]] = []
    for line in text.splitlines():
        if HEADING.match(line):
            sections.append([line])
        elif sections:
            sections[-1].append(line)
        else:
            preamble.append(line)
    return preamble, sections


def _add_entries(body: list[str], kind: str, lines: list[str]) -> list[str]:
    """Insert `lines` at the end of the body's `### <kind title>` subsection (created when missing)."""
    if not lines:
        return body
    title = f"### {TITLES[kind]}"
    if title not in body:
        while body and not body[-1].strip():
            body = body[:-1]
        return [*body, "", title, "", *lines, ""]
    start = body.index(title) + 1
    end = next((i for i in range(start, len(body)) if body[i].startswith("#")), len(body))
    while end > start and not body[end - 1].strip():
        end -= 1
    return [*body[:end], *lines, *body[end:]]


def release_changelog(text: str, version: Version, date: str, new_changes: list[Change]) -> str:
    """`[Unreleased]` (and a planned `[version]` section) become `## [version] - date`, with the added,
    deprecated and dangerous entries not yet listed; a fresh empty `[Unreleased]` goes on top."""
    preamble, sections = _split_sections(text)
    body: list[str] = []
    rest: list[list[str]] = []
    for lines in sections:
        name = HEADING.match(lines[0])["name"].strip()  # type: ignore[index]
        if name in (UNRELEASED, show(version)):
            body += ["", *lines[1:]]
        else:
            rest.append(lines)
    listed = parse_changelog("\n".join([f"## [{show(version)}]", *body])).sections[0].coordinates()
    for kind in ("added", "deprecated", "dangerous"):
        body = _add_entries(body, kind, [c.line for c in new_changes
                                         if c.kind == kind and c.coordinate not in listed])
    while body and not body[-1].strip():
        body.pop()
    while body and not body[0].strip():
        body.pop(0)
    released = [f"## [{show(version)}] - {date}", "", *body, ""]
    fresh = [f"## [{UNRELEASED}]", ""]
    out = [*preamble, *fresh, *released]
    for lines in rest:
        out += lines
    return "\n".join(out).rstrip("\n") + "\n"


def cut(version_text: str, *, force: bool = False, date: str | None = None) -> Path:
    version = parse_version(version_text)
    released = snapshots()
    newest = max(released, default=None)
    if newest is not None and (version < newest or (version == newest and not force)):
        raise SystemExit(f"{show(version)} is not newer than the released {show(newest)} "
                         f"(--force re-copies the newest snapshot before it is published)")
    new_sdl = served_schema()
    base = max((v for v in released if v < version), default=None)
    text = CHANGELOG.read_text()
    if base is None:  # the first release: its root fields are what it adds
        schema = build_schema(new_sdl)
        new_changes = [Change("added", "FIELD_ADDED", f"{root}.{name}", "")
                       for root in ROOTS if root in schema.type_map for name in schema.type_map[root].fields]
        new_changes += [Change("deprecated", "DEPRECATED", coordinate, reason)
                        for coordinate, reason in deprecations(schema).items()]
    else:
        report = check(new_sdl, released[base].read_text(), base, parse_changelog(text))
        if not report.ok:
            raise SystemExit(report.render())
        new_changes = changes(released[base].read_text(), new_sdl)
        if any(c.kind == "breaking" for c in new_changes) and not may_break(base, version):
            raise SystemExit(f"the schema has breaking changes since {show(base)}: release "
                             f"{show(next_breaking(base))} or later, not {show(version)}")
    RELEASES.mkdir(exist_ok=True)
    snapshot = RELEASES / f"schema-{show(version)}.graphql"
    snapshot.write_text(new_sdl)
    CHANGELOG.write_text(release_changelog(text, version, date or dt.date.today().isoformat(), new_changes))
    pyproject = PYPROJECT.read_text()
    bumped = re.sub(r'(?m)^version = "[^"]*"$', f'version = "{show(version)}"', pyproject, count=1)
    if bumped != pyproject:
        PYPROJECT.write_text(bumped)
    return snapshot


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check schema evolution against the last release, or cut one.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="compare the served schema with the newest releases/ snapshot")
    cut_parser = sub.add_parser("cut", help="snapshot the served schema as VERSION and close its changelog section")
    cut_parser.add_argument("version")
    cut_parser.add_argument("--force", action="store_true", help="re-copy the newest snapshot (not yet published)")
    cut_parser.add_argument("--date", default=None, help="release date (default: today)")
    args = parser.parse_args(argv)
    if args.command == "check":
        report = check_repository()
        if not report.ok:
            print(report.render(), file=sys.stderr)
            return 1
        print(f"The served schema evolves safely from {report.released}.")
        return 0
    snapshot = cut(args.version, force=args.force, date=args.date)
    print(f"Wrote {snapshot.relative_to(ROOT)}; CHANGELOG.md has its [{args.version}] section and pyproject.toml "
          f"version {args.version}. Review the entries, then commit.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
