"""Rule tests that say what the author means: a subset of notices, changes that do not matter,
what must never happen, which notices are one alert, and the counts a notice carries."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from rules.compiler import load_ruleset
from rules.errors import RuleSetError
from rules.routing import load_routing
from rules.testing import CaseResult, run_cases
from tests.unit.conftest import ROUTING_YAML, pack_text

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

RISING = """\
  events:
    - {at: 0s, on: sensor, kind: combustible_gas, value: 25.0, location: {city: C, grid: G-07}}
    - {at: 1m, on: sensor, kind: combustible_gas, value: 30.0, location: {city: C, grid: G-07}}
    - {at: 2m, on: sensor, kind: combustible_gas, value: 60.0, location: {city: C, grid: G-07}}
  until: 10m
"""
"""Notices: 1. yellow opened at 0s, 2. red tier_raised at 2m, 3. resolved at 7m."""


def case(load_rules: LoadRules, body: str, events: str = RISING) -> CaseResult:
    (result,) = run_cases(load_rules(GAS, f"- name: gas rises\n{events}{body}"))
    return result


# --- match: subset --------------------------------------------------------------------------------


def test_a_subset_case_names_only_the_notice_that_matters(load_rules: LoadRules) -> None:
    body = "  match: subset\n  expect:\n    - {rule: gas, tier: red, at: 2m}\n"
    assert case(load_rules, body).failures == []


def test_the_same_expectation_without_subset_fails_on_the_other_notices(load_rules: LoadRules) -> None:
    result = case(load_rules, "  expect:\n    - {rule: gas, tier: red, at: 2m}\n")
    assert result.failures[0] == "alert 1: tier: expected red, got yellow"


def test_subset_notices_must_occur_in_the_order_named(load_rules: LoadRules) -> None:
    body = "  match: subset\n  expect:\n    - {rule: gas, tier: red}\n    - {rule: gas, tier: yellow}\n"
    assert case(load_rules, body).failures == [
        "alert 2: expected rule=gas tier=yellow, not raised after notice 2 "
        "(notice 1 meets it, but comes before)"
    ]


def test_a_subset_expectation_not_met_names_the_closest_notice_and_how_it_differs(
    load_rules: LoadRules,
) -> None:
    body = "  match: subset\n  expect:\n    - {rule: gas, tier: orange, at: 2m}\n"
    result = case(load_rules, body)
    assert result.failures == [
        "alert 1: expected rule=gas tier=orange at=120s, not raised; "
        "closest is notice 2 at 120s: tier: expected orange, got red"
    ]
    assert result.missing == [0]
    assert [m.mark for m in result.marks] == ["unnamed", "differs", "unnamed"]


# --- ignore ---------------------------------------------------------------------------------------


def test_ignored_changes_are_left_out_before_an_exact_match(load_rules: LoadRules) -> None:
    body = (
        "  ignore: [tier_raised]\n  expect:\n"
        "    - {rule: gas, tier: yellow, change: opened}\n    - {rule: gas, change: resolved, at: 7m}\n"
    )
    result = case(load_rules, body)
    assert result.failures == []
    assert [m.mark for m in result.marks] == ["ok", "ignored", "ok"]


def test_an_expectation_of_an_ignored_change_is_refused(load_rules: LoadRules) -> None:
    body = "  ignore: [resolved]\n  expect:\n    - {rule: gas, change: resolved}\n"
    with pytest.raises(RuleSetError, match="expect 1 is a 'resolved' notice, which 'ignore' leaves out"):
        load_rules(GAS, f"- name: c\n{RISING}{body}")


# --- never ----------------------------------------------------------------------------------------


def test_never_passes_when_nothing_matches_within_its_time_range(load_rules: LoadRules) -> None:
    body = "  match: subset\n  never:\n    - {rule: gas, tier: red, from: 0s, to: 1m}\n"
    assert case(load_rules, body).failures == []


def test_never_fails_naming_the_notice_that_broke_it(load_rules: LoadRules) -> None:
    body = "  match: subset\n  never:\n    - {rule: gas, tier: red, to: 2m}\n"
    result = case(load_rules, body)
    assert result.failures == [
        "never 1 (rule=gas tier=red from 0s to 2m): notice 2 at 120s rule=gas tier=red change=tier_raised "
        "group={'location.grid': 'G-07'} agencies=['fire', 'governance']"
    ]
    assert result.marks[1].never == (0,)


def test_never_an_agency_counts_only_notices_delivered_to_it(load_rules: LoadRules) -> None:
    silenced = "  actions:\n    - {at: 0s, silence: {rule: gas}, for: 1h}\n  match: subset\n"
    assert case(load_rules, silenced + "  never:\n    - {agency: fire}\n").failures == []
    assert len(case(load_rules, silenced + "  never:\n    - {rule: gas}\n").failures) == 3


def test_never_must_name_a_rule_or_an_agency(load_rules: LoadRules) -> None:
    with pytest.raises(RuleSetError, match="'never' names a rule, an agency or both"):
        load_rules(GAS, f"- name: c\n{RISING}  never:\n    - {{tier: red}}\n")


# --- alert identity and counts --------------------------------------------------------------------

TWO_GRIDS = """\
  events:
    - {at: 0s, on: sensor, kind: combustible_gas, value: 25.0, location: {city: C, grid: G-07}}
    - {at: 1m, on: sensor, kind: combustible_gas, value: 25.0, location: {city: C, grid: G-08}}
    - {at: 2m, on: sensor, kind: combustible_gas, value: 60.0, location: {city: C, grid: G-07}}
"""
"""Notices: 1. G-07 yellow, 2. G-08 yellow, 3. G-07 red."""


def test_notices_labelled_alike_must_be_one_alert(load_rules: LoadRules) -> None:
    body = "  expect:\n    - {rule: gas, alert: a}\n    - {rule: gas, alert: a}\n    - {rule: gas}\n"
    assert case(load_rules, body, TWO_GRIDS).failures == [
        "alert 'a': expected one alert, notices 1 and 2 are 2 different alerts"
    ]


def test_notices_labelled_differently_must_be_different_alerts(load_rules: LoadRules) -> None:
    body = "  expect:\n    - {rule: gas, alert: a}\n    - {rule: gas}\n    - {rule: gas, alert: b}\n"
    (failure,) = case(load_rules, body, TWO_GRIDS).failures
    assert failure.startswith("alerts 'a' and 'b': expected different alerts, they are one (alert ")


def test_a_subset_match_finds_the_notices_that_keep_the_labels(load_rules: LoadRules) -> None:
    body = "  match: subset\n  expect:\n    - {rule: gas, alert: a}\n    - {rule: gas, alert: a}\n"
    result = case(load_rules, body, TWO_GRIDS)
    assert result.failures == []
    assert [m.mark for m in result.marks] == ["ok", "unnamed", "ok"]


def test_notice_count_is_what_each_notice_carries_and_count_the_final_one(load_rules: LoadRules) -> None:
    body = "  match: subset\n  expect:\n    - {rule: gas, tier: yellow, notice_count: 1, count: 3}\n"
    assert case(load_rules, body).failures == []
    wrong = body.replace("notice_count: 1", "notice_count: 3")
    (failure,) = case(load_rules, wrong).failures
    assert failure.endswith("closest is notice 1 at 0s: notice_count: expected 3, the notice carries 1")


INHIBITING = """\
- id: quake
  title: Quake
  risk: public_safety
  on: sensor
  kind: bridge_strain
  group_by: [location.district]
  cooldown: 5m
  tier: red
- id: gas
  title: Gas
  risk: public_safety
  on: sensor
  kind: combustible_gas
  group_by: [location.grid]
  tier: yellow
"""


def test_inhibited_count_is_checked_on_the_inhibiting_alert_s_notice(
    write_yaml: WriteYaml, tmp_path: Path
) -> None:
    routing = write_yaml(
        "routing.yaml",
        ROUTING_YAML + "inhibit:\n  - name: big\n    source: {tier: [red]}\n    target: {tier: [yellow]}\n",
    )
    tests = """\
- name: a quake holds back a gas alert in its district
  events:
    - {at: 0s, on: sensor, kind: bridge_strain, location: {city: C, district: D1}}
    - {at: 1m, on: sensor, kind: combustible_gas, location: {city: C, district: D1, grid: G-07}}
  until: 10m
  match: subset
  expect:
    - {rule: gas, withheld: inhibited}
    - {rule: quake, change: resolved, inhibited_count: INHIBITED}
"""
    for inhibited, failures in ((1, 0), (2, 1)):
        pack = write_yaml("packs/p.yaml", pack_text(INHIBITING, tests.replace("INHIBITED", str(inhibited))))
        (result,) = run_cases(load_ruleset([pack], load_routing(routing)))
        assert len(result.failures) == failures, result.failures


# --- names the packs do not have ------------------------------------------------------------------


def test_a_mistyped_rule_or_agency_in_a_case_is_a_failure_offering_the_nearest(
    load_rules: LoadRules,
) -> None:
    body = (
        "  match: subset\n  expect:\n    - {rule: gass, agencies: [fier]}\n"
        "  never:\n    - {agency: polise}\n"
    )
    failures = case(load_rules, body).failures
    assert failures[:3] == [
        "expect 1 names rule 'gass', which no pack loaded defines (did you mean 'gas'?)",
        "expect 1 names agency 'fier', which the routing file does not declare (did you mean 'fire'?)",
        "never 1 names agency 'polise', which the routing file does not declare (did you mean 'police'?)",
    ]
