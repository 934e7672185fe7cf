"""The shipped rule packs and incident scenarios: they load, pass their own tests, cover the five risks."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from rules.compiler import PackCase, RuleSet, load_ruleset
from rules.errors import Location, RuleSetError
from rules.model import Risk
from rules.routing import load_routing
from rules.schema import ScenarioFile, ScenarioSpec
from rules.testing import CaseResult, run_case, run_cases
from rules.yaml_source import load_yaml, to_plain

ROOT = Path(__file__).resolve().parents[2]
PACKS = ROOT / "rules" / "packs"
ROUTING = ROOT / "rules" / "routing.yaml"
SCENARIOS = ROOT / "connectors" / "scenarios.yaml"
RISK_PACKS = {risk: PACKS / f"{risk.value}.yaml" for risk in Risk}


@pytest.fixture(scope="module")
def ruleset() -> RuleSet:
    return load_ruleset([PACKS], load_routing(ROUTING))


@pytest.fixture(scope="module")
def scenarios() -> list[ScenarioSpec]:
    return list(ScenarioFile.model_validate(to_plain(load_yaml(SCENARIOS))).scenarios)


def _report(result: CaseResult) -> str:
    raised = "\n".join(
        f"    at {n.at:g}s rule={n.alert.rule_id} tier={n.alert.tier.value} "
        f"count_at_notice={n.alert.count} "
        f"agencies={sorted(n.alert.agencies)}"
        for n in result.notices
    )
    return f"{result.location} {result.name}:\n  " + "\n  ".join(result.failures) + f"\n  raised:\n{raised}"


def test_every_risk_has_its_own_pack_file() -> None:
    missing = [str(p) for p in RISK_PACKS.values() if not p.is_file()]
    assert not missing, f"missing pack files: {missing}"


def test_shipped_packs_lint_clean() -> None:
    try:
        loaded = load_ruleset([PACKS], load_routing(ROUTING))
    except RuleSetError as exc:
        pytest.fail(str(exc))
    assert sorted(p.name for p in loaded.files) == sorted(p.name for p in RISK_PACKS.values())


def test_every_pack_file_has_at_least_four_rules(ruleset: RuleSet) -> None:
    per_file = Counter(Path(r.location.file).name for r in ruleset.rules)
    few = {p.name: per_file[p.name] for p in RISK_PACKS.values() if per_file[p.name] < 4}
    assert not few, f"pack files with fewer than 4 rules: {few}"


def test_every_pack_file_has_at_least_four_test_cases(ruleset: RuleSet) -> None:
    per_file = Counter(Path(c.location.file).name for c in ruleset.cases)
    few = {p.name: per_file[p.name] for p in RISK_PACKS.values() if per_file[p.name] < 4}
    assert not few, f"pack files with fewer than 4 test cases: {few}"


def test_every_rule_sits_in_the_pack_file_of_its_risk(ruleset: RuleSet) -> None:
    misplaced = sorted(r.id for r in ruleset.rules if Path(r.location.file) != RISK_PACKS[r.spec.risk])
    assert not misplaced, f"rules outside their risk's pack file: {misplaced}"


def test_every_pack_test_case_passes(ruleset: RuleSet) -> None:
    failed = [r for r in run_cases(ruleset) if not r.passed]
    assert not failed, "\n".join(_report(r) for r in failed)


def test_every_enabled_rule_has_a_firing_test_case(ruleset: RuleSet) -> None:
    fired = {n.alert.rule_id for r in run_cases(ruleset) for n in r.notices}
    silent = sorted(r.id for r in ruleset.rules if r.spec.enabled and r.id not in fired)
    assert not silent, f"no pack test case makes these rules fire: {silent}"


def test_every_rule_has_an_action_and_a_summary(ruleset: RuleSet) -> None:
    bare = sorted(r.id for r in ruleset.rules if not r.spec.action or not r.spec.summary)
    assert not bare, f"rules without action or summary: {bare}"


@pytest.mark.parametrize("risk", list(Risk), ids=[r.value for r in Risk])
def test_each_risk_has_at_least_three_enabled_rules(ruleset: RuleSet, risk: Risk) -> None:
    enabled = [r.id for r in ruleset.rules if r.spec.enabled and r.spec.risk == risk]
    assert len(enabled) >= 3, f"{risk.value}: only {enabled}"


def test_scenario_file_has_at_least_seven_scenarios(scenarios: list[ScenarioSpec]) -> None:
    assert len(scenarios) >= 7, [s.name for s in scenarios]


def test_scenario_names_are_unique_slugs(scenarios: list[ScenarioSpec]) -> None:
    names = [s.name for s in scenarios]
    dupes = sorted(n for n, k in Counter(names).items() if k > 1)
    not_slugs = [n for n in names if not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", n)]
    assert not dupes and not not_slugs, f"duplicate: {dupes}; not slugs: {not_slugs}"


def test_every_scenario_passes_through_the_engine(ruleset: RuleSet, scenarios: list[ScenarioSpec]) -> None:
    results = [run_case(ruleset, PackCase(s, Location(SCENARIOS)), clock_ticks=False) for s in scenarios]
    failed = [r for r in results if not r.passed]
    assert not failed, "\n".join(_report(r) for r in failed)


def test_every_scenario_expects_at_least_one_alert(scenarios: list[ScenarioSpec]) -> None:
    empty = [s.name for s in scenarios if not s.expect]
    assert not empty, f"scenarios that expect nothing: {empty}"


def test_every_scenario_risk_is_covered_by_an_enabled_rule(
    ruleset: RuleSet, scenarios: list[ScenarioSpec]
) -> None:
    covered = {r.spec.risk for r in ruleset.rules if r.spec.enabled}
    uncovered = [(s.name, s.risk.value) for s in scenarios if s.risk not in covered]
    assert not uncovered, f"scenarios whose risk no rule covers: {uncovered}"


def test_scenarios_illustrate_every_risk(scenarios: list[ScenarioSpec]) -> None:
    missing = sorted(r.value for r in set(Risk) - {s.risk for s in scenarios})
    assert not missing, f"no scenario for: {missing}"


def test_every_scenario_raises_an_alert_of_its_own_risk(
    ruleset: RuleSet, scenarios: list[ScenarioSpec]
) -> None:
    off_topic = []
    for s in scenarios:
        result = run_case(ruleset, PackCase(s, Location(SCENARIOS)), clock_ticks=False)
        if s.risk not in {n.alert.risk for n in result.notices}:
            off_topic.append(s.name)
    assert not off_topic, f"scenarios raising no alert of their stated risk: {off_topic}"


def test_every_scenario_event_has_a_source_and_a_full_location(scenarios: list[ScenarioSpec]) -> None:
    keys = ("city", "district", "street", "community", "grid", "name", "lon", "lat")
    bad = []
    for s in scenarios:
        for i, ev in enumerate(s.events):
            extra = ev.model_extra or {}
            loc = extra.get("location") or {}
            if not extra.get("source_id") or any(loc.get(k) in (None, "") for k in keys):
                bad.append(f"{s.name} event {i + 1}")
            elif loc["city"] != "乌海市" or loc["district"] not in ("海勃湾区", "乌达区", "海南区"):
                bad.append(f"{s.name} event {i + 1}: not in 乌海市's three districts")
    assert not bad, f"events without source_id or full location: {bad}"
