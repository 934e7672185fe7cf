"""Scenarios: loading with file:line errors, materialising per run, expected alerts, ground truth."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.scenarios import (
    SCENARIOS_FILE,
    GroundTruthLog,
    expected_alerts,
    ground_truth,
    load_scenarios,
    materialise,
    read_ground_truth,
)
from rules.compiler import PackCase, RuleSet, load_ruleset
from rules.errors import Location, RuleError, RuleSetError
from rules.events import Family
from rules.routing import load_routing
from rules.schema import CaseEvent, ExpectedAlert, RuleCaseSpec, ScenarioSpec
from rules.testing import run_case

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def shipped_rules() -> RuleSet:
    router = load_routing(ROOT / "rules" / "routing.yaml")
    return load_ruleset([ROOT / "rules" / "packs"], router)


TEST_PACK = """\
version: 1
pack: simulator-test
rules:
  - id: gas-high
    title: gas high
    risk: public_safety
    on: sensor
    kind: combustible_gas
    when: value >= 20.0
    tier: {red: 'value >= 50.0', yellow: 'true'}
    group_by: [source_id]
    cooldown: 10m
  - id: tank-full
    title: tank full
    risk: public_safety
    on: safety
    kind: tank_level
    when: value >= 85.0
    tier: yellow
    group_by: [site_id, tank_id]
    cooldown: 15m
  - id: grid-fight
    title: fight reported
    risk: public_order
    on: hotline
    kind: fight_report
    tier: blue
    group_by: [location.grid]
    cooldown: 15m
"""

TEST_SCENARIOS = """\
version: 1
scenarios:
  - name: gas leak next to a tank farm
    description: a leak rises to red while a tank overfills and a fight is reported nearby
    risk: public_safety
    events:
      - {at: 0s, on: sensor, kind: combustible_gas, value: 25.0, unit: '%LEL',
         source_id: GAS-HBW-0001, location: {district: 海勃湾区, grid: HBW-03-12}}
      - {at: 30s, on: sensor, kind: combustible_gas, value: 55.0, unit: '%LEL',
         source_id: GAS-HBW-0001, location: {district: 海勃湾区, grid: HBW-03-12}}
      - {at: 40s, on: safety, kind: tank_level, value: 91.0, unit: '%', site_id: WH-HC-001,
         tank_id: T-101}
      - {at: 50s, on: hotline, kind: fight_report, ticket_id: '110-0001', people_involved: 4,
         location: {grid: HBW-03-12}}
    expect:
      - {rule: gas-high, tier: yellow, group: {source_id: GAS-HBW-0001}, at: 0s}
      - {rule: gas-high, tier: red, group: {source_id: GAS-HBW-0001}, count: 2, at: 30s}
      - {rule: tank-full, group: {site_id: WH-HC-001, tank_id: T-101}, at: 40s}
      - {rule: grid-fight, group: {location.grid: HBW-03-12}, at: 50s}
"""


@pytest.fixture()
def pack_rules(tmp_path: Path) -> RuleSet:
    pack = tmp_path / "pack.yaml"
    pack.write_text(TEST_PACK, encoding="utf-8")
    return load_ruleset([pack], load_routing(ROOT / "rules" / "routing.yaml"))


@pytest.fixture()
def scenario(tmp_path: Path) -> ScenarioSpec:
    path = tmp_path / "scenarios.yaml"
    path.write_text(TEST_SCENARIOS, encoding="utf-8")
    return load_scenarios(path)[0]


def injections_as_case(
    scenario: ScenarioSpec, run_ids: list[str], gap: float, start: datetime = T0
) -> PackCase:
    """Several injections of one scenario, ``gap`` seconds apart, as one rule test case.

    One case shares dispatch state across the injections, as the worker does, so a later
    injection only passes if it does not fall inside an earlier injection's cooldown.
    """
    events: list[CaseEvent] = []
    expect: list[ExpectedAlert] = []
    for n, run_id in enumerate(run_ids):
        offset = n * gap
        for at, ev in materialise(scenario, run_id, start + timedelta(seconds=offset)):
            fields = {k: v for k, v in ev.items() if k not in ("family", "time")}
            events.append(CaseEvent(at=at + offset, on=Family(ev["family"]), **fields))
        for exp in expected_alerts(scenario, run_id):
            moved = exp.at + offset if exp.at is not None else None
            expect.append(exp.model_copy(update={"at": moved}))
    spec = RuleCaseSpec(name=scenario.name, start=start, events=events, expect=expect)
    return PackCase(spec, Location("injections"))


def span(scenario: ScenarioSpec) -> float:
    return max(ev.at for ev in scenario.events) - min(ev.at for ev in scenario.events)


# ------------------------------------------------------------------------------- scenarios


def test_materialised_events_are_timed_from_the_injection_start(scenario: ScenarioSpec) -> None:
    start = T0 + timedelta(hours=2)
    events = materialise(scenario, "r1", start)
    for (at, ev), spec in zip(events, scenario.events, strict=True):
        assert at == spec.at
        assert datetime.fromisoformat(ev["time"]) == start + timedelta(seconds=spec.at)


def test_materialised_event_ids_name_run_scenario_and_position(scenario: ScenarioSpec) -> None:
    ids = [ev["event_id"] for _, ev in materialise(scenario, "r1", T0)]
    assert ids == [f"scn-r1-gas-leak-next-to-a-tank-farm-{i}" for i in (1, 2, 3, 4)]


def test_materialise_suffixes_identity_fields_with_the_run_id(scenario: ScenarioSpec) -> None:
    gas, _, tank, ticket = (ev for _, ev in materialise(scenario, "r9", T0))
    assert gas["source_id"] == "GAS-HBW-0001~r9"
    assert gas["location"]["grid"] == "HBW-03-12~r9"
    assert tank["site_id"] == "WH-HC-001~r9"
    assert ticket["ticket_id"] == "110-0001~r9"


def test_two_runs_share_no_event_id_or_identity_value(scenario: ScenarioSpec) -> None:
    def identities(run_id: str) -> set[str]:
        out = set()
        for _, ev in materialise(scenario, run_id, T0):
            out |= {
                ev["event_id"],
                ev["source_id"],
                ev.get("site_id", ""),
                ev.get("ticket_id", ""),
                ev["location"].get("grid", ""),
            }
        return out - {""}

    assert not identities("a") & identities("b")


def test_materialised_events_default_to_wuhai(scenario: ScenarioSpec) -> None:
    assert all(ev["location"]["city"] == "乌海市" for _, ev in materialise(scenario, "r1", T0))


def test_expected_alert_groups_are_rewritten_like_the_events(scenario: ScenarioSpec) -> None:
    groups = [exp.group for exp in expected_alerts(scenario, "r9")]
    assert groups == [
        {"source_id": "GAS-HBW-0001~r9"},
        {"source_id": "GAS-HBW-0001~r9"},
        {"site_id": "WH-HC-001~r9", "tank_id": "T-101"},
        {"location.grid": "HBW-03-12~r9"},
    ]


def test_a_materialised_scenario_raises_exactly_its_expected_alerts(
    pack_rules: RuleSet, scenario: ScenarioSpec
) -> None:
    result = run_case(pack_rules, injections_as_case(scenario, ["r1"], gap=0), clock_ticks=False)
    assert result.failures == []


def test_reinjecting_inside_the_cooldown_raises_the_alerts_again(
    pack_rules: RuleSet, scenario: ScenarioSpec
) -> None:
    result = run_case(
        pack_rules, injections_as_case(scenario, ["r1", "r2"], gap=span(scenario) + 1), clock_ticks=False
    )
    assert result.failures == []
    assert len(result.notices) == 2 * len(scenario.expect)


def test_the_shipped_scenarios_file_loads() -> None:
    assert load_scenarios(SCENARIOS_FILE)


def test_shipped_scenarios_raise_their_alerts_on_every_injection(shipped_rules: RuleSet) -> None:
    failures = {}
    for spec in load_scenarios(SCENARIOS_FILE):
        case = injections_as_case(spec, ["r1", "r2"], gap=span(spec) + 1)
        result = run_case(shipped_rules, case, clock_ticks=False)
        if result.failures:
            failures[spec.name] = result.failures
    assert failures == {}


# ---------------------------------------------------------------------------- scenario file


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenarios.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_misspelt_scenario_key_is_reported_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, TEST_SCENARIOS.replace("    risk: public_safety", "    risks: x"))
    with pytest.raises(RuleSetError) as info:
        load_scenarios(path)
    messages = [str(e) for e in info.value.errors]
    assert any(f"{path}:5:" in m and "unknown key 'risks'" in m for m in messages), messages


def test_an_invalid_scenario_event_is_reported_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, TEST_SCENARIOS.replace("people_involved: 4", "people_involved: -4"))
    with pytest.raises(RuleSetError) as info:
        load_scenarios(path)
    (error,) = info.value.errors
    assert str(error.location) == f"{path}:13:9"
    assert "event 4" in error.message and "people_involved" in error.message


def test_duplicate_scenario_names_are_refused(tmp_path: Path) -> None:
    body = TEST_SCENARIOS.split("scenarios:\n", 1)[1]
    path = write(tmp_path, TEST_SCENARIOS + body)
    with pytest.raises(RuleSetError, match="duplicate scenario name"):
        load_scenarios(path)


def test_a_missing_scenarios_file_is_a_rule_error(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match="file not found"):
        load_scenarios(tmp_path / "nope.yaml")


# ----------------------------------------------------------------------------- ground truth


def test_ground_truth_lines_read_back_as_written(tmp_path: Path, scenario: ScenarioSpec) -> None:
    path = tmp_path / "gt" / "truth.jsonl"
    log = GroundTruthLog(path)
    ids = [ev["event_id"] for _, ev in materialise(scenario, "r1", T0)]
    truths = [ground_truth(scenario, run, T0, ids) for run in ("r1", "r2")]
    for truth in truths:
        log.write(truth)
    assert read_ground_truth(path) == truths
    assert truths[1].expected == expected_alerts(scenario, "r2")
