"""The rule test runner: a case passes when its events raise exactly the expected alerts."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from typer.testing import CliRunner

from rules.testing import CaseResult, run_case, run_cases
from streams.cli import app
from tests.unit.conftest import pack_text

if TYPE_CHECKING:
    from tests.unit.conftest import LoadRules, WriteYaml

GAS = """\
- id: gas
  title: Gas
  risk: public_safety
  on: sensor
  kind: combustible_gas
  group_by: [location.grid]
  cooldown: 5m
  route: [fire]
  tier:
    red: value >= 50.0
    yellow: value >= 20.0
"""

EVENTS = """\
  events:
    - {at: 0s, on: sensor, kind: combustible_gas, value: 25.0, location: {city: C, grid: G-07}}
    - {at: 1m, on: sensor, kind: combustible_gas, value: 30.0, location: {city: C, grid: G-07}}
    - {at: 2m, on: sensor, kind: combustible_gas, value: 60.0, location: {city: C, grid: G-07}}
"""


def case(load_rules: LoadRules, expect: str, events: str = EVENTS) -> CaseResult:
    tests = f"- name: gas rises\n{events}  expect:\n{expect}" if expect else (f"- name: gas rises\n{events}")
    ruleset = load_rules(GAS, tests)
    (result,) = run_cases(ruleset)
    return result


GOOD_EXPECT = """\
    - {rule: gas, tier: yellow, group: {location.grid: G-07}, agencies: [fire], at: 0s}
    - {rule: gas, tier: red, agencies: [fire, governance], count: 3, at: 2m}
"""


def test_a_good_case_passes(load_rules: LoadRules) -> None:
    result = case(load_rules, GOOD_EXPECT)
    assert result.failures == []
    assert result.passed
    assert [n.alert.tier.value for n in result.notices] == ["yellow", "red"]
    assert [n.at for n in result.notices] == [0.0, 120.0]


def test_result_names_the_case_and_its_line(load_rules: LoadRules) -> None:
    result = case(load_rules, GOOD_EXPECT)
    assert result.name == "gas rises"
    assert result.location.line is not None and str(result.location).endswith(
        f":{result.location.line}:{result.location.column}"
    )


def test_wrong_tier_is_reported_with_expected_and_actual(load_rules: LoadRules) -> None:
    result = case(load_rules, GOOD_EXPECT.replace("tier: yellow", "tier: orange"))
    assert result.failures == ["alert 1: tier: expected orange, got yellow"]


def test_missing_alert_is_reported(load_rules: LoadRules) -> None:
    result = case(load_rules, GOOD_EXPECT + "    - {rule: gas, tier: red}\n")
    assert result.failures == ["alert 3: expected rule=gas tier=red, got (nothing)"]


def test_extra_alert_is_reported_with_what_was_raised(load_rules: LoadRules) -> None:
    result = case(load_rules, GOOD_EXPECT.splitlines(keepends=True)[0])
    assert result.failures == [
        "alert 2: expected nothing more, got rule=gas tier=red change=tier_raised "
        "group={'location.grid': 'G-07'} agencies=['fire', 'governance'] at 120s"
    ]


def test_case_without_expectations_fails_when_anything_fires(load_rules: LoadRules) -> None:
    result = case(load_rules, "")
    assert len(result.failures) == 2
    assert all("expected nothing more" in f for f in result.failures)


def test_wrong_count_is_reported(load_rules: LoadRules) -> None:
    result = case(load_rules, GOOD_EXPECT.replace("count: 3", "count: 2"))
    assert result.failures == ["alert 2: count: expected 2, got 3"]


def test_wrong_group_agencies_and_time_are_each_reported(load_rules: LoadRules) -> None:
    expect = (
        "    - {rule: gas, group: {location.grid: G-08}, agencies: [police], at: 10s}\n    - {rule: gas}\n"
    )
    result = case(load_rules, expect)
    assert result.failures == [
        "alert 1: group: expected {'location.grid': 'G-08'}, got {'location.grid': 'G-07'}",
        "alert 1: agencies: expected ['police'], got ['fire']",
        "alert 1: at: expected 10s, raised at 0s",
    ]


def test_wrong_rule_is_reported(load_rules: LoadRules) -> None:
    result = case(load_rules, "    - {rule: other}\n    - {rule: gas}\n")
    assert result.failures == [
        "expect 1 names rule 'other', which no pack loaded defines",
        "alert 1: rule: expected other, got gas",
    ]


def test_events_arrive_in_written_order_so_an_earlier_time_written_later_arrives_late(
    load_rules: LoadRules,
) -> None:
    lines = EVENTS.splitlines(keepends=True)
    red_first = lines[0] + lines[3] + lines[1] + lines[2]
    result = case(load_rules, "    - {rule: gas, tier: red, count: 3, at: 2m}\n", events=red_first)
    assert result.failures == []


def test_invalid_event_in_a_case_is_a_failure_naming_it(load_rules: LoadRules) -> None:
    events = "  events:\n    - {at: 30s, on: sensor, kind: combustible_gas, value: lots}\n"
    result = case(load_rules, "", events=events)
    assert result.failures == [
        "event 1 (at 30s) is not a valid event: sensor.value: "
        "Input should be a valid number, unable to parse string as a number"
    ]


def test_evaluation_error_in_a_case_is_a_failure(load_rules: LoadRules) -> None:
    events = "  events:\n    - {at: 0s, on: sensor, kind: combustible_gas}\n"
    result = case(load_rules, "", events=events)
    # Both ladder conditions compare a null value: each is reported.
    assert len(result.failures) == 2
    assert all(f.startswith("evaluation error: rule gas: ") for f in result.failures)


def test_each_case_runs_with_fresh_state(load_rules: LoadRules) -> None:
    first_two = "".join(EVENTS.splitlines(keepends=True)[:3])
    one = f"- name: NAME\n{first_two}  expect:\n    - {{rule: gas, tier: yellow, count: 2}}\n"
    ruleset = load_rules(GAS, one.replace("NAME", "a") + one.replace("NAME", "b"))
    for c in ruleset.cases:
        result = run_case(ruleset, c)
        assert result.failures == [], (c.spec.name, result.failures)
        assert len(result.notices) == 1


# --- late events: listed at their own time and when decided, in the order decided ----------------

LATE_EVENTS = """\
  events:
    - {at: 0s, on: sensor, kind: combustible_gas, value: 25.0, location: {city: C, grid: G-07}}
    - {at: 3m, on: sensor, kind: combustible_gas, value: 25.0, location: {city: C, grid: G-08}}
    - {at: 2m, on: sensor, kind: combustible_gas, value: 60.0, location: {city: C, grid: G-07}}
"""


def test_a_late_event_s_notice_carries_its_own_time_and_the_time_it_was_decided(
    load_rules: LoadRules,
) -> None:
    expect = (
        "    - {rule: gas, group: {location.grid: G-07}, at: 0s, decided: 0s}\n"
        "    - {rule: gas, group: {location.grid: G-08}, at: 3m, decided: 3m}\n"
        "    - {rule: gas, tier: red, group: {location.grid: G-07}, at: 2m, decided: 3m}\n"
    )
    result = case(load_rules, expect, events=LATE_EVENTS)
    assert result.failures == []
    assert [(n.at, n.decided, n.late) for n in result.notices] == [
        (0.0, 0.0, False),
        (180.0, 180.0, False),
        (120.0, 180.0, True),
    ]
    assert [n.when() for n in result.notices] == [
        "at 0s",
        "at 180s",
        "at 120s (late event, decided at 180s)",
    ]


def test_a_wrong_decision_time_is_reported_with_both_times(load_rules: LoadRules) -> None:
    expect = (
        "    - {rule: gas}\n    - {rule: gas}\n"
        "    - {rule: gas, tier: red, at: 3m, decided: 2m}\n"
    )
    result = case(load_rules, expect, events=LATE_EVENTS)
    assert result.failures == [
        "alert 3: at: expected 180s, raised at 120s (late event, decided at 180s)",
        "alert 3: decided: expected at 120s, decided at 180s",
    ]


def test_rules_test_lists_the_raised_alerts_numbered_in_the_order_decided(
    write_yaml: WriteYaml, routing_file: Path
) -> None:
    tests = f"- name: late red\n{LATE_EVENTS}  expect:\n    - {{rule: gas}}\n"
    pack = write_yaml("packs/test.yaml", pack_text(GAS, tests))
    result = CliRunner().invoke(
        app, ["rules", "test", str(pack), "--routing", str(routing_file)], env={"COLUMNS": "240"}
    )
    assert result.exit_code == 1
    lines = [line.strip() for line in result.output.splitlines()]
    header = next(i for i, line in enumerate(lines) if line.startswith("alerts raised, in the order decided"))
    listed = lines[header + 1 :][:3]
    assert [line.split(" rule=")[0] for line in listed] == [
        "1. at 0s",
        "2. at 180s",
        "3. at 120s (late event, decided at 180s)",
    ]
    assert "tier=red" in listed[2] and "change=tier_raised" in listed[2]
