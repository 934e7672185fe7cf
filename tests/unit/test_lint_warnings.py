"""Lint warnings: a rule that loads and runs but is almost certainly not what its author meant.

A form judged per member (absence, holds_for, sequence) without any group_by makes the whole kind
one group: one silent device never alerts. The lint warns with file and line and exits 0, unless
--strict; ``group_by: []`` written out says the author means one group, and is not warned about.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from typer.testing import CliRunner

from streams.cli import app
from tests.unit.conftest import pack_text

if TYPE_CHECKING:
    from tests.unit.conftest import LoadRules, WriteYaml

SENSOR = """\
- id: {id}
  title: t
  risk: public_safety
  on: sensor
  kind: heartbeat
"""
CYBER = """\
- id: {id}
  title: t
  risk: cyber_security
  on: cyber
"""

UNGROUPED = {
    "absent_for": SENSOR + "  absent_for: 15m\n  tier: blue\n",
    "holds_for": SENSOR + "  when: value != null && value > 1.0\n  holds_for: 2m\n  tier: blue\n",
    "sequence": CYBER
    + "  sequence:\n    - {{kind: auth_failure, count: {{at_least: 3, within: 5m}}}}\n"
    + "    - {{kind: auth_success}}\n  within: 15m\n  tier: orange\n",
}
CITY_WIDE = {
    "count": SENSOR + "  count: {{at_least: 3, within: 10m}}\n  tier: blue\n",
    "distinct": SENSOR + "  distinct: {{field: source_id, at_least: 3, within: 10m}}\n  tier: blue\n",
    "aggregate": SENSOR + "  aggregate: {{fn: avg, field: value, within: 10m, at_least: 5}}\n  tier: blue\n",
}


def line_of(rules: str, needle: str) -> int:
    for i, line in enumerate(pack_text(rules).splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(f"{needle!r} not in pack")


@pytest.mark.parametrize("form", sorted(UNGROUPED))
def test_a_per_member_form_without_group_by_is_warned_about_at_its_line(
    load_rules: LoadRules, form: str
) -> None:
    rules = UNGROUPED[form].format(id="r")
    ruleset = load_rules(rules)
    assert len(ruleset.rules) == 1, "a warning does not refuse the rule"
    (warning,) = ruleset.warnings
    assert warning.rule_id == "r"
    assert warning.location is not None and Path(warning.location.file).name == "test.yaml"
    assert warning.location.line == line_of(rules, f"{form}:")
    assert "group_by" in warning.message and "group_by: []" in warning.message


@pytest.mark.parametrize("form", sorted(UNGROUPED))
def test_group_by_written_out_is_not_warned_about(load_rules: LoadRules, form: str) -> None:
    for group_by in ("[source_id]", "[]"):
        rules = UNGROUPED[form].format(id="r") + f"  group_by: {group_by}\n"
        assert load_rules(rules).warnings == [], group_by


@pytest.mark.parametrize("form", sorted(CITY_WIDE))
def test_a_city_wide_window_without_group_by_is_a_sensible_figure(load_rules: LoadRules, form: str) -> None:
    assert load_rules(CITY_WIDE[form].format(id="r")).warnings == []


def test_the_absence_warning_says_why_one_silent_device_never_alerts(load_rules: LoadRules) -> None:
    (warning,) = load_rules(UNGROUPED["absent_for"].format(id="offline")).warnings
    assert "one silent device never alerts" in warning.message
    assert str(warning).startswith(f"{warning.location}: rule 'offline': absent_for without group_by")


# --- the command ----------------------------------------------------------------------------------


def lint(write_yaml: WriteYaml, routing: Path, rules: str, *args: str) -> tuple[int, str]:
    pack = write_yaml("packs/test.yaml", pack_text(rules))
    result = CliRunner().invoke(app, ["rules", "lint", str(pack), "--routing", str(routing), *args])
    return result.exit_code, result.output


def test_lint_prints_warnings_with_file_and_line_and_exits_0(
    write_yaml: WriteYaml, routing_file: Path
) -> None:
    rules = UNGROUPED["absent_for"].format(id="offline") + UNGROUPED["holds_for"].format(id="hot")
    code, output = lint(write_yaml, routing_file, rules)
    assert code == 0, output
    assert f"test.yaml:{line_of(rules, 'absent_for:')}:" in output
    assert f"test.yaml:{line_of(rules, 'holds_for:')}:" in output
    assert output.count("warning ") == 2
    assert "ok 2 rules in 1 file(s)" in output and "2 warning(s)" in output


def test_lint_strict_makes_warnings_errors(write_yaml: WriteYaml, routing_file: Path) -> None:
    rules = UNGROUPED["sequence"].format(id="brute")
    code, output = lint(write_yaml, routing_file, rules, "--strict")
    assert code == 1
    assert "1 warning(s) with --strict" in output
    assert "ok " not in output


def test_lint_strict_passes_rules_without_warnings(write_yaml: WriteYaml, routing_file: Path) -> None:
    rules = UNGROUPED["absent_for"].format(id="offline") + "  group_by: [source_id]\n"
    code, output = lint(write_yaml, routing_file, rules, "--strict")
    assert code == 0, output
    assert "warning" not in output
