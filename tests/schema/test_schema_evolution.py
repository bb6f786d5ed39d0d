"""Safe evolution: the served schema may break clients only in a new major version listed in CHANGELOG.md.

The rules live in scripts/release_schema.py (the release tool runs the same check); these tests run them
on the real schema, then on synthetic schemas to show each rule fails when it should.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import sys
from pathlib import Path

import pytest
from graphql import build_schema

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("release_schema", ROOT / "scripts" / "release_schema.py")
assert _spec and _spec.loader
rs = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("release_schema", rs)  # dataclasses look their module up
_spec.loader.exec_module(rs)


@functools.cache
def printed_schema() -> str:
    from codex_graphql.schema import printed_schema

    return printed_schema()


# --- the repository ------------------------------------------------------------------------------------

def test_served_schema_evolves_safely_from_the_last_release():
    report = rs.check_repository(printed_schema())
    if not report.ok:
        print(report.render())  # the lines to add, also shown with -s
    assert report.ok, report.render()


def test_a_breaking_change_to_the_served_schema_fails_the_check():
    served = printed_schema()
    query = served.index("type Query")
    renamed = served[:query] + served[query:].replace("\n  viewer", "\n  currentViewer", 1)
    assert renamed != served
    report = rs.check_repository(renamed)
    assert not report.ok
    assert "- `Query.viewer`: Field Query.viewer was removed." in report.render()


def test_every_deprecated_element_has_a_reason_and_a_changelog_entry():
    problems = rs.deprecation_problems(printed_schema(), rs.parse_changelog(rs.CHANGELOG.read_text()))
    assert problems == [], [problem for _, problem in problems]


def test_changelog_snapshots_and_version_agree():
    changelog = rs.parse_changelog(rs.CHANGELOG.read_text())
    assert changelog.errors == []
    assert changelog.sections[0].name == "Unreleased", "CHANGELOG.md starts with `## [Unreleased]`"
    released = rs.snapshots()
    assert released, "releases/ holds no schema snapshot"
    dated = {s.version: s.date for s in changelog.sections if s.version is not None}
    for version, path in released.items():
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", dated.get(version) or ""), (
            f"{path.name} has no `## [{rs.show(version)}] - YYYY-MM-DD` section in CHANGELOG.md")
        build_schema(path.read_text())  # a snapshot is a whole, valid schema
    newest = max(released)
    pyproject = re.search(r'(?m)^version = "([^"]+)"$', rs.PYPROJECT.read_text())[1]
    assert rs.parse_version(pyproject) == newest, "pyproject.toml's version is the newest release's"
    for older, newer in zip(released, list(released)[1:], strict=False):
        breaking = [c for c in rs.changes(released[older].read_text(), released[newer].read_text())
                    if c.kind == "breaking"]
        assert not breaking or rs.may_break(older, newer), (older, newer, breaking)


def test_first_release_lists_the_root_operations():
    section = next(s for s in rs.parse_changelog(rs.CHANGELOG.read_text()).sections if s.version == (0, 1, 0))
    first = build_schema(rs.snapshots()[(0, 1, 0)].read_text())
    for root in ("Query", "Mutation", "Subscription"):
        for name in first.type_map[root].fields:
            assert f"{root}.{name}" in section.coordinates("added")


# --- the rules, on synthetic schemas -------------------------------------------------------------------

RELEASED = '''
type Query {
  item(id: ID!): Item
  items(first: Int = 10): [Item!]!
}

type Item {
  id: ID!
  title: String!
  legacyTitle: String @deprecated(reason: "Use `title`.")
  level: Level!
}

enum Level {
  NONE
  PRE
  POST
  LIGHT @deprecated(reason: "Use POST; it behaves the same.")
}
'''

# One removed field, one changed argument type, one removed enum value: three breaking changes.
BROKEN = (RELEASED.replace('  legacyTitle: String @deprecated(reason: "Use `title`.")\n', "")
          .replace("item(id: ID!)", "item(id: Int!)")
          .replace('  LIGHT @deprecated(reason: "Use POST; it behaves the same.")\n', ""))

CHANGELOG_HEAD = "# Changelog\n\n## [Unreleased]\n\n"
RELEASED_SECTION = "## [0.1.0] - 2026-12-06\n\n### Schema: deprecated\n\n- `Item.legacyTitle`: use `title`.\n" \
                   "- `Level.LIGHT`: use `POST`.\n"
BREAKING_LINES = ("### Schema: removed or changed (breaking)\n\n"
                  "- `Item.legacyTitle`: removed.\n"
                  "- `Query.item(id:)`: now `Int!`.\n"
                  "- `Level.LIGHT`: removed.\n")


def run(new: str, changelog: str, released: str = RELEASED, version=(0, 1, 0)):
    return rs.check(new, released, version, rs.parse_changelog(changelog))


def test_the_released_schema_against_itself_passes():
    assert run(RELEASED, CHANGELOG_HEAD + RELEASED_SECTION).ok


def test_breaking_changes_are_reported_with_the_lines_to_add():
    report = run(BROKEN, CHANGELOG_HEAD + RELEASED_SECTION)
    assert not report.ok
    text = report.render()
    for line in ("- `Item.legacyTitle`: Field Item.legacyTitle was removed.",
                 "- `Query.item(id:)`: Argument Query.item(id:) has changed type from ID! to Int!.",
                 "- `Level.LIGHT`: Enum value Level.LIGHT was removed."):
        assert line in text
    assert "## [0.2.0] - Unreleased" in text
    assert "### Schema: removed or changed (breaking)" in text
    assert len(report.problems) == 3


@pytest.mark.parametrize("heading", [
    "## [Unreleased]",            # no version: it does not say the next release is a new major
    "## [0.1.1] - Unreleased",    # a patch release may not break
    "## [0.1.0] - 2026-12-06",    # the released version itself
])
def test_breaking_changes_listed_without_a_new_major_still_fail(heading):
    if heading.startswith("## [0.1.0]"):
        changelog = f"{CHANGELOG_HEAD}{RELEASED_SECTION}\n{BREAKING_LINES}"
    else:
        changelog = f"# Changelog\n\n{heading}\n\n{BREAKING_LINES}\n{RELEASED_SECTION}"
    report = run(BROKEN, changelog)
    coordinates = ("Item.legacyTitle", "Query.item(id:)", "Level.LIGHT")
    assert [c for c in coordinates if any(f"`{c}`" in problem for problem in report.problems)] == list(coordinates)


@pytest.mark.parametrize("heading", ["## [0.2.0] - Unreleased", "## [1.0.0] - Unreleased"])
def test_breaking_changes_listed_under_a_new_major_pass(heading):
    assert run(BROKEN, f"# Changelog\n\n{heading}\n\n{BREAKING_LINES}\n{RELEASED_SECTION}").ok


def test_the_printed_lines_are_enough():
    report = run(BROKEN, CHANGELOG_HEAD + RELEASED_SECTION)
    heading, kinds = next(iter(report.missing.items()))
    section = heading.split("   ")[0] + "\n\n" + "".join(
        f"### {rs.TITLES[kind]}\n\n" + "\n".join(lines) + "\n\n" for kind, lines in kinds.items())
    assert run(BROKEN, f"# Changelog\n\n{section}{RELEASED_SECTION}").ok


def test_after_1_0_only_a_new_major_may_break():
    for heading, ok in (("## [1.5.0] - Unreleased", False), ("## [2.0.0] - Unreleased", True)):
        report = run(BROKEN, f"# Changelog\n\n{heading}\n\n{BREAKING_LINES}\n" +
                     RELEASED_SECTION.replace("0.1.0", "1.4.0"), version=(1, 4, 0))
        assert report.ok is ok, report.render()


def test_removing_what_was_never_deprecated_is_reported():
    never_deprecated = RELEASED.replace(' @deprecated(reason: "Use `title`.")', "")
    changelog = (f"# Changelog\n\n## [0.2.0] - Unreleased\n\n{BREAKING_LINES}\n"
                 "## [0.1.0] - 2026-12-06\n\n### Schema: deprecated\n\n- `Level.LIGHT`: use `POST`.\n")
    report = run(BROKEN, changelog, released=never_deprecated)
    assert [p for p in report.problems if "without being deprecated" in p] == [
        f"`Item.legacyTitle` is removed without being deprecated in 0.1.0 first: deprecate it with a reason in a "
        f"release, remove it in a later major, or say \"{rs.NO_DEPRECATION_PERIOD}\" in its changelog entry."]
    assert len(report.problems) == 1
    urgent = changelog.replace("- `Item.legacyTitle`: removed.", "- `Item.legacyTitle`: removed (no deprecation "
                               "period: it leaked private data).")
    assert run(BROKEN, urgent, released=never_deprecated).ok


def test_dangerous_changes_must_be_listed_in_an_unreleased_section():
    dangerous = (RELEASED.replace("  POST\n", "  POST\n  STRICT\n")
                 .replace("items(first: Int = 10)", "items(first: Int = 20, after: String)"))
    report = run(dangerous, CHANGELOG_HEAD + RELEASED_SECTION)
    assert sorted(report.missing["## [Unreleased]"]["dangerous"]) == [
        "- `Level.STRICT`: Enum value Level.STRICT was added.",
        "- `Query.items(after:)`: An optional argument Query.items(after:) was added.",
        "- `Query.items(first:)`: Query.items(first:) has changed defaultValue from 10 to 20.",
    ]
    listed_as_released = RELEASED_SECTION + "\n### Schema: added\n\n- `Level.STRICT`\n- `Query.items(after:)`\n" \
                                            "- `Query.items(first:)`\n"
    assert len(run(dangerous, CHANGELOG_HEAD + listed_as_released).problems) == 3
    fixed = CHANGELOG_HEAD + "### Schema: dangerous\n\n" + "\n".join(
        report.missing["## [Unreleased]"]["dangerous"]) + "\n\n" + RELEASED_SECTION
    assert run(dangerous, fixed).ok


def test_additions_are_safe():
    added = RELEASED.replace("  level: Level!\n", "  level: Level!\n  summary: String\n") + \
        "\ntype Shelf {\n  items: [Item!]!\n}\n"
    assert run(added, CHANGELOG_HEAD + RELEASED_SECTION).ok
    kinds = {(c.kind, c.coordinate) for c in rs.changes(RELEASED, added)}
    assert kinds == {("added", "Item.summary"), ("added", "Shelf")}


def test_deprecations_need_a_reason_and_an_entry():
    newly = RELEASED.replace("  title: String!\n", '  title: String! @deprecated(reason: "Use `name`.")\n'
                             "  name: String!\n")
    report = run(newly, CHANGELOG_HEAD + RELEASED_SECTION)
    assert report.missing == {"## [Unreleased]": {"deprecated": ["- `Item.title`: Use `name`."]}}
    assert report.problems == ["deprecated since 0.1.0: `Item.title` needs a deprecated entry in an unreleased "
                               "section."]
    listed = CHANGELOG_HEAD + "### Schema: deprecated\n\n- `Item.title`: Use `name`.\n\n" + RELEASED_SECTION
    assert run(newly, listed).ok

    no_reason = RELEASED.replace('  LIGHT @deprecated(reason: "Use POST; it behaves the same.")',
                                 "  LIGHT @deprecated")
    problems = rs.deprecation_problems(no_reason, rs.parse_changelog(CHANGELOG_HEAD + RELEASED_SECTION))
    assert [p for _, p in problems] == ["`Level.LIGHT` is deprecated without a reason: say what to use instead "
                                        "(@deprecated(reason: \"Use ...\"))."]
    unlisted = rs.deprecation_problems(RELEASED, rs.parse_changelog(CHANGELOG_HEAD))
    assert sorted(c for c, _ in unlisted) == ["Item.legacyTitle", "Level.LIGHT"]


def test_changelog_typos_are_errors():
    changelog = rs.parse_changelog("## [Unreleased]\n\n### Schema: removed\n\n- `Query.x`\n\n"
                                   "## [next]\n\n### Schema: added\n\n- Query.y without backticks\n")
    assert len(changelog.errors) == 3, changelog.errors
    assert not run(RELEASED, "## [Unreleased]\n\n### Schema: removd\n").ok


# --- cutting a release ---------------------------------------------------------------------------------

@pytest.fixture
def workspace(tmp_path, monkeypatch):
    (tmp_path / "CHANGELOG.md").write_text("# Changelog\n\nPreamble.\n\n## [Unreleased]\n\n### Fixed\n\n- A bug.\n")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "0.0.0"\n')
    monkeypatch.setattr(rs, "ROOT", tmp_path)
    monkeypatch.setattr(rs, "RELEASES", tmp_path / "releases")
    monkeypatch.setattr(rs, "CHANGELOG", tmp_path / "CHANGELOG.md")
    monkeypatch.setattr(rs, "PYPROJECT", tmp_path / "pyproject.toml")
    served = {"sdl": RELEASED}
    monkeypatch.setattr(rs, "served_schema", lambda: served["sdl"])
    return tmp_path, served


def test_cut_writes_the_snapshot_the_section_and_the_version(workspace, capsys):
    root, served = workspace
    rs.cut("0.1.0", date="2026-12-06")
    assert (root / "releases" / "schema-0.1.0.graphql").read_text() == RELEASED
    assert 'version = "0.1.0"' in (root / "pyproject.toml").read_text()
    text = (root / "CHANGELOG.md").read_text()
    assert text.startswith("# Changelog\n\nPreamble.\n\n## [Unreleased]\n\n## [0.1.0] - 2026-12-06\n\n### Fixed\n")
    assert "### Schema: added\n\n- `Query.item`\n- `Query.items`\n" in text
    assert rs.check_repository().ok

    with pytest.raises(SystemExit, match="not newer"):
        rs.cut("0.1.0")
    served["sdl"] = BROKEN
    assert not rs.check_repository().ok
    assert rs.main(["check"]) == 1
    assert "## [0.2.0] - Unreleased" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="removed or changed"):
        rs.cut("0.2.0")  # refused until the breaking changes are listed
    (root / "CHANGELOG.md").write_text(text.replace("## [Unreleased]\n", f"## [0.2.0] - Unreleased\n\n"
                                                    f"{BREAKING_LINES}", 1))
    assert rs.check_repository().ok
    rs.cut("0.2.0", date="2027-01-10")
    text = (root / "CHANGELOG.md").read_text()
    assert "## [Unreleased]\n\n## [0.2.0] - 2027-01-10\n\n### Schema: removed or changed (breaking)" in text
    assert text.count("## [0.2.0]") == 1 and text.index("## [0.2.0]") < text.index("## [0.1.0]")
    assert rs.snapshots().keys() == {(0, 1, 0), (0, 2, 0)}
    assert rs.check_repository().ok


def test_cut_scaffolds_added_and_deprecated_entries_and_refuses_a_breaking_patch(workspace):
    root, served = workspace
    rs.cut("0.1.0", date="2026-12-06")
    served["sdl"] = RELEASED.replace("  title: String!\n", '  title: String! @deprecated(reason: "Use `name`.")\n'
                                     "  name: String!\n")
    with pytest.raises(SystemExit, match="Item.title"):
        rs.cut("0.1.1")  # the new deprecation is not listed yet
    text = (root / "CHANGELOG.md").read_text()
    (root / "CHANGELOG.md").write_text(text.replace("## [Unreleased]\n", "## [Unreleased]\n\n### Schema: deprecated"
                                                    "\n\n- `Item.title`: use `name`.\n", 1))
    rs.cut("0.1.1", date="2026-12-20")
    section = next(s for s in rs.parse_changelog((root / "CHANGELOG.md").read_text()).sections
                   if s.version == (0, 1, 1))
    assert section.coordinates("added") == {"Item.name"}
    assert section.coordinates("deprecated") == {"Item.title"}

    served["sdl"] = BROKEN.replace("  title: String!\n", '  title: String! @deprecated(reason: "Use `name`.")\n'
                                   "  name: String!\n")
    text = (root / "CHANGELOG.md").read_text()
    (root / "CHANGELOG.md").write_text(text.replace("## [Unreleased]\n", f"## [0.2.0] - Unreleased\n\n"
                                                    f"{BREAKING_LINES}", 1))
    with pytest.raises(SystemExit, match="not newer"):
        rs.cut("0.1.0")
    with pytest.raises(SystemExit):
        rs.cut("0.1.2")  # breaking changes need 0.2.0
    assert rs.snapshots().keys() == {(0, 1, 0), (0, 1, 1)}
