"""`riskstream rules test` shows a failing case's notices whole: change, status and withheld reason,
marked against what was expected, with the expectation under a notice that differs from it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console

from rules.testing import CaseResult, run_cases
from streams.case_report import notice_line, print_result
from streams.tail import TIER_STYLE

if TYPE_CHECKING:
    from tests.unit.conftest import LoadRules

GAS = """\
- id: gas
  title: Gas
  risk: public_safety
  on: sensor
  kind: combustible_gas
  group_by: [location.grid]
  route: [fire]
  tier:
    red: value >= 50.0
    yellow: value >= 20.0
"""

CASE = """\
- name: a silenced leak
  events:
    - {at: 0s, on: sensor, kind: combustible_gas, value: 25.0, location: {city: C, grid: G-07}}
    - {at: 2m, on: sensor, kind: combustible_gas, value: 60.0, location: {city: C, grid: G-07}}
  actions:
    - {at: 1m, silence: {rule: gas}, for: 1h, by: wang, reason: drill}
  ignore: [resolved]
  expect:
    - {rule: gas, tier: yellow}
    - {rule: gas, tier: orange}
    - {rule: gas, tier: red}
"""


def report(result: CaseResult) -> list[str]:
    console = Console(record=True, width=400, force_terminal=False)
    print_result(console, result)
    return [line.strip() for line in console.export_text().splitlines()]


def test_a_failing_case_lists_each_notice_with_change_status_and_withheld_reason(
    load_rules: LoadRules,
) -> None:
    (result,) = run_cases(load_rules(GAS, CASE))
    lines = report(result)
    assert lines[0].startswith("FAIL ") and lines[0].endswith("a silenced leak")
    assert "- alert 2: tier: expected orange, got red" in lines
    first, second = (line for line in lines if line.startswith(("1. ", "2. ")))
    assert "change=opened status=firing delivered" in first and first.endswith("✓ alert 1")
    assert "change=tier_raised status=firing withheld=(silence " in second and "by wang: drill)" in second
    assert second.endswith("✗ alert 2")
    assert lines[lines.index(second) + 1] == "expected: rule=gas tier=orange"
    assert lines[-2:] == ["expected, not raised:", "✗ alert 3: rule=gas tier=red"]


def test_a_passing_case_is_one_line(load_rules: LoadRules) -> None:
    expected = "    - {rule: gas, tier: orange}\n    - {rule: gas, tier: red}\n"
    passing = CASE.replace(expected, "    - {rule: gas, tier: red, withheld: silence}\n")
    (result,) = run_cases(load_rules(GAS, passing))
    assert result.passed, result.failures
    assert len(report(result)) == 1


def test_the_tier_is_shown_in_its_colour(load_rules: LoadRules) -> None:
    (result,) = run_cases(load_rules(GAS, CASE))
    notice = result.notices[1]
    line = notice_line(1, notice, result.marks[1])
    tier_style = TIER_STYLE[notice.alert.tier]
    assert [line.plain[s.start : s.end] for s in line.spans if s.style == tier_style] == ["red"]
