"""The lint reports every error of a rule in one run, and offers the nearest known key, field, kind,
agency or rule for a typo."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from typer.testing import CliRunner

from rules.errors import ErrorList, Location, RuleError, RuleSetError
from rules.schema import PackSpec
from rules.suggest import did_you_mean, keys_at, nearest
from streams.cli import app
from tests.unit.conftest import pack_text

if TYPE_CHECKING:
    from tests.unit.conftest import LoadRules, WriteYaml

GOOD = """\
- id: gas
  title: Gas
  risk: public_safety
  on: sensor
  kind: combustible_gas
  when: value >= 20.0
  group_by: [location.grid]
  route: [fire]
  tier: red
"""


def errors_of(load_rules: LoadRules, rules: str, tests: str = "") -> list[RuleError]:
    with pytest.raises(RuleSetError) as info:
        load_rules(rules, tests)
    return info.value.errors


def line_of(rules: str, text: str) -> int:
    """The line of the pack file (rules start on line 4) where ``text`` is written."""
    return next(i for i, line in enumerate(rules.splitlines(), 4) if text in line)


def test_nearest_offers_a_close_name_and_nothing_for_a_stranger() -> None:
    assert nearest("whne", ["when", "tier", "kind"]) == "when"
    assert nearest("Value", ["value", "unit"]) == "value"
    assert nearest("zzz", ["when", "tier"]) is None
    assert did_you_mean("zzz", ["when"]) == ""
    assert did_you_mean(["vaule", "nme"], ["value", "name"], "x.") == " (did you mean 'x.value', 'x.name'?)"


def test_keys_at_follows_lists_unions_and_aliases_into_the_model_there() -> None:
    assert "within" in keys_at(PackSpec, ["rules", 0, "count"])
    assert "for" in keys_at(PackSpec, ["tests", 2, "actions", 0])
    assert "every" in keys_at(PackSpec, ["tests", 0, "events", 3])
    assert keys_at(PackSpec, ["rules", 0, "tier"]) == []


@pytest.mark.parametrize(
    ("rules", "tests", "suggested"),
    [
        (GOOD.replace("  when:", "  whne:"), "", "unknown key 'whne'; did you mean 'when'?"),
        (GOOD + "  count: {at_least: 3, within: 10m, at_leastt: 2}\n", "", "did you mean 'at_least'?"),
        (GOOD, "- name: c\n  events: [{at: 0s, on: sensor}]\n  expcet: []\n", "did you mean 'expect'?"),
    ],
)
def test_an_unknown_key_offers_the_nearest_key_of_its_mapping(
    load_rules: LoadRules, rules: str, tests: str, suggested: str
) -> None:
    (err,) = errors_of(load_rules, rules, tests)
    assert suggested in err.message


@pytest.mark.parametrize(
    ("old", "new", "suggested"),
    [
        ("kind: combustible_gas", "kind: combustible_gs", "(did you mean 'combustible_gas'?)"),
        ("when: value >= 20.0", "when: vaule >= 20.0", "(did you mean 'value'?)"),
        ("when: value >= 20.0", "when: location.gird == 'G1'", "(did you mean 'location.grid'?)"),
        ("group_by: [location.grid]", "group_by: [location.gird]", "(did you mean 'location.grid'?)"),
        ("route: [fire]", "route: [fier]", "(did you mean 'fire'?)"),
        ("title: Gas", "title: Gas\n  summary: '{valeu}'", "(did you mean 'value'?)"),
    ],
)
def test_a_mistyped_name_offers_the_nearest_known_one(
    load_rules: LoadRules, old: str, new: str, suggested: str
) -> None:
    (err,) = errors_of(load_rules, GOOD.replace(old, new))
    assert suggested in err.message


def test_every_meaning_error_of_a_rule_is_reported_each_with_its_line(load_rules: LoadRules) -> None:
    rules = (
        GOOD.replace("kind: combustible_gas", "kind: combustible_gs")
        .replace("when: value >= 20.0", "when: vaule >= 20.0")
        .replace("group_by: [location.grid]", "group_by: [location.gird, sorce_id]")
        .replace("route: [fire]", "route: [fier]")
    )
    errors = errors_of(load_rules, rules)
    assert [(e.rule_id, e.location.line if e.location else None) for e in errors] == [
        ("gas", line_of(rules, "kind:")),
        ("gas", line_of(rules, "when:")),
        ("gas", line_of(rules, "group_by:")),
        ("gas", line_of(rules, "group_by:")),
        ("gas", line_of(rules, "route:")),
    ]
    written = next(line for line in pack_text(rules).splitlines() if "group_by:" in line)
    columns = [written.index("location.gird") + 1, written.index("sorce_id") + 1]
    assert [e.location.column for e in errors[2:4] if e.location] == columns


def test_every_tier_condition_in_error_is_reported(load_rules: LoadRules) -> None:
    rules = GOOD.replace("tier: red", "tier:\n    red: density > 4\n    yellow: people > 100")
    errors = errors_of(load_rules, rules)
    lines = [line_of(rules, "red:"), line_of(rules, "yellow:")]
    assert [e.location.line for e in errors if e.location] == lines


def test_a_broken_stateful_form_does_not_bring_guesses_about_the_figures_it_would_have(
    load_rules: LoadRules,
) -> None:
    form = "count: {at_least: 3, within: 30s}\n  tier:\n    red: window.count >= 5"
    rules = GOOD.replace("tier: red", form)
    (err,) = errors_of(load_rules, rules)
    assert "shorter than the allowed lateness" in err.message


def test_the_errors_of_every_rule_of_a_pack_are_reported(load_rules: LoadRules) -> None:
    other = GOOD.replace("id: gas", "id: gas-2").replace("route: [fire]", "route: [polise]")
    errors = errors_of(load_rules, GOOD.replace("route: [fire]", "route: [fier]") + other)
    assert [e.rule_id for e in errors] == ["gas", "gas-2"]


def test_one_error_per_place_a_check_failing_where_another_did_adds_nothing() -> None:
    here, there = Location("p.yaml", 3, 5), Location("p.yaml", 4, 5)
    problems = ErrorList()
    problems.add(RuleError("first", here))
    problems.attempt(lambda: (_ for _ in ()).throw(RuleError("again", here)), None)
    problems.add(RuleError("elsewhere", there))
    assert [e.message for e in problems.errors] == ["first", "elsewhere"]
    with pytest.raises(RuleSetError):
        problems.raise_any()


def test_rules_lint_refuses_a_test_case_naming_a_rule_that_is_not_loaded(
    write_yaml: WriteYaml, routing_file: Path
) -> None:
    tests = "- name: c\n  events: [{at: 0s, on: sensor, kind: combustible_gas, value: 30}]\n"
    tests += "  expect: [{rule: gass}]\n"
    pack = write_yaml("packs/test.yaml", pack_text(GOOD, tests))
    result = CliRunner().invoke(
        app, ["rules", "lint", str(pack), "--routing", str(routing_file)], env={"COLUMNS": "240"}
    )
    assert result.exit_code == 1
    assert f"{pack}:" in result.output
    assert "test 'c': expect 1 names rule 'gass', which no pack loaded defines (did you mean 'gas'?)" in (
        result.output
    )
