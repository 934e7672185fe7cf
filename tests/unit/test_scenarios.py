"""Scenarios: loading with file:line errors, casting and materialising per injection, expected alerts,
ground truth."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.scenarios import (
    SCENARIOS_FILE,
    Casting,
    GroundTruthLog,
    Injection,
    expected_alerts,
    ground_truth,
    load_scenarios,
    materialise,
    read_ground_truth,
    recent_casts,
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
      - {at: 50s, on: hotline, kind: fight_report, ticket_id: '110-20260105-0001', people_involved: 4,
         source_id: HOTLINE-110, address: 海勃湾区 某烧烤店, location: {grid: HBW-03-12}}
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


def one_scenario(tmp_path: Path, events: str, expect: str) -> ScenarioSpec:
    text = (
        "version: 1\nscenarios:\n  - name: s\n    description: d\n    risk: public_safety\n"
        f"    events:\n{events}    expect:\n{expect}"
    )
    return load_scenarios(write(tmp_path, text))[0]


def tiny(tmp_path: Path) -> ScenarioSpec:
    """A scenario whose one identifier has a single digit: nine numbers to cast it on."""
    return one_scenario(
        tmp_path,
        "      - {at: 0s, on: sensor, kind: smoke, source_id: G-1}\n",
        "      - {rule: smoke, group: {source_id: G-1}}\n",
    )


def injections(
    scenario: ScenarioSpec, n: int, gap: float, casting: Casting | None = None
) -> Iterator[Injection]:
    casting = casting or Casting(seed="test")
    for i in range(n):
        yield casting.injection(scenario, f"r{i}", T0 + timedelta(seconds=i * gap))


def injections_as_case(scenario: ScenarioSpec, n: int, gap: float, start: datetime = T0) -> PackCase:
    """``n`` injections of one scenario, ``gap`` seconds apart, as one rule test case.

    One case shares dispatch state across the injections, as the worker does, so a later
    injection only passes if it opens alerts of its own while earlier ones still cool down.
    """
    events: list[CaseEvent] = []
    expect: list[ExpectedAlert] = []
    for i, injection in enumerate(injections(scenario, n, gap)):
        offset = i * gap
        for at, ev in materialise(scenario, injection):
            fields = {k: v for k, v in ev.items() if k not in ("family", "time")}
            events.append(CaseEvent(at=at + offset, on=Family(ev["family"]), **fields))
        for exp in expected_alerts(scenario, injection.cast):
            moved = exp.at + offset if exp.at is not None else None
            expect.append(exp.model_copy(update={"at": moved}))
    spec = RuleCaseSpec(name=scenario.name, start=start, events=events, expect=expect)
    return PackCase(spec, Location("injections"))


def span(scenario: ScenarioSpec) -> float:
    return max(ev.at for ev in scenario.events) - min(ev.at for ev in scenario.events)


GroupKey = tuple[str, tuple[tuple[str, Any], ...]]


def group_keys(scenario: ScenarioSpec, injection: Injection) -> set[GroupKey]:
    expected = expected_alerts(scenario, injection.cast)
    return {(e.rule, tuple(sorted((e.group or {}).items()))) for e in expected}


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


def played(scenario: ScenarioSpec, injection: Injection) -> list[dict[str, Any]]:
    return [ev for _, ev in materialise(scenario, injection)]


# ------------------------------------------------------------------------------- on the wire


def test_materialised_events_are_timed_from_the_injection_start(scenario: ScenarioSpec) -> None:
    injection = Casting().injection(scenario, "r1", T0 + timedelta(hours=2))
    for (at, ev), spec in zip(materialise(scenario, injection), scenario.events, strict=True):
        assert at == spec.at
        assert datetime.fromisoformat(ev["time"]) == injection.start + timedelta(seconds=spec.at)


def test_materialised_event_ids_name_run_scenario_and_position(scenario: ScenarioSpec) -> None:
    ids = [ev["event_id"] for ev in played(scenario, Casting().injection(scenario, "r1", T0))]
    assert ids == [f"scn-r1-gas-leak-next-to-a-tank-farm-{i}" for i in (1, 2, 3, 4)]


def test_materialised_events_default_to_wuhai(scenario: ScenarioSpec) -> None:
    events = played(scenario, Casting().injection(scenario, "r1", T0))
    assert all(ev["location"]["city"] == "乌海市" for ev in events)


def test_no_identifier_carries_a_run_id() -> None:
    run_id = "m3k9x1a2f-4"
    casting = Casting(seed=1)
    for spec in load_scenarios(SCENARIOS_FILE):
        for ev in played(spec, casting.injection(spec, run_id, T0)):
            shown = [s for k, v in ev.items() if k != "event_id" for s in strings(v)]
            assert not [s for s in shown if run_id in s or "~" in s], spec.name


def test_an_injection_plays_devices_sites_grids_and_tickets_under_other_numbers_of_the_same_shape(
    scenario: ScenarioSpec,
) -> None:
    gas, _, tank, call = played(scenario, Casting().injection(scenario, "r1", T0))
    assert re.fullmatch(r"GAS-HBW-\d{4}", gas["source_id"]) and gas["source_id"] != "GAS-HBW-0001"
    assert re.fullmatch(r"HBW-03-\d{2}", gas["location"]["grid"]) and gas["location"]["grid"] != "HBW-03-12"
    assert re.fullmatch(r"WH-HC-\d{3}", tank["site_id"]) and tank["site_id"] != "WH-HC-001"
    assert re.fullmatch(r"110-\d{8}-\d{4}", call["ticket_id"]) and not call["ticket_id"].endswith("-0001")


def test_fields_that_name_no_place_or_device_are_played_as_written(scenario: ScenarioSpec) -> None:
    _, _, tank, _ = played(scenario, Casting().injection(scenario, "r1", T0))
    assert (tank["tank_id"], tank["kind"], tank["unit"]) == ("T-101", "tank_level", "%")


def test_one_identifier_is_recast_the_same_wherever_it_appears(scenario: ScenarioSpec) -> None:
    gas1, gas2, _, call = played(scenario, Casting().injection(scenario, "r1", T0))
    assert gas1["source_id"] == gas2["source_id"]
    assert gas1["location"]["grid"] == gas2["location"]["grid"] == call["location"]["grid"]


def test_different_identifiers_stay_different_within_an_injection() -> None:
    casting = Casting(seed=3)
    for spec in load_scenarios(SCENARIOS_FILE):
        cast = casting.cast(spec, T0)
        assert len(set(cast.values())) == len(cast), spec.name


def test_the_hotline_and_cyber_monitors_are_platforms_and_keep_their_ids(scenario: ScenarioSpec) -> None:
    *_, call = played(scenario, Casting().injection(scenario, "r1", T0))
    assert call["source_id"] == "HOTLINE-110"


def test_a_made_up_name_is_filled_in_once_per_injection_wherever_it_stands() -> None:
    wage = next(s for s in load_scenarios(SCENARIOS_FILE) if s.name == "wage-arrears-protest-12345")
    injection = Casting(seed=5).injection(wage, "r1", T0)
    name = injection.cast["某"]
    events = played(wage, injection)
    assert not [s for ev in events for s in strings(ev) if "某" in s]
    assert {ev["employer"] for ev in events if "employer" in ev} == {f"乌海市{name}建筑劳务有限公司"}
    platform = next(ev for ev in events if ev["kind"] == "wage_platform_alert")
    assert platform["enterprise"] == f"乌海市{name}建筑劳务有限公司"
    assert {ev["address"] for ev in events if "address" in ev} == {f"海勃湾区 滨河新区 {name}住宅项目"}


def test_a_web_address_becomes_another_department_site_of_the_same_domain() -> None:
    spec = next(s for s in load_scenarios(SCENARIOS_FILE) if s.name == "government-website-defacement")
    site = Casting(seed=2).injection(spec, "r1", T0).cast["www.wuhai.gov.cn"]
    assert re.fullmatch(r"[a-z]+\.wuhai\.gov\.cn", site) and site != "www.wuhai.gov.cn"


def test_a_ticket_id_carries_the_day_its_event_happens_in_wuhai(scenario: ScenarioSpec) -> None:
    evening = datetime(2026, 12, 1, 15, 59, 30, tzinfo=UTC)  # 23:59:30 in 乌海; the call comes 50 s later
    *_, call = played(scenario, Casting().injection(scenario, "r1", evening))
    assert call["ticket_id"].startswith("110-20261202-")


def test_expected_alert_groups_are_recast_like_the_events(scenario: ScenarioSpec) -> None:
    injection = Casting().injection(scenario, "r9", T0)
    gas, _, tank, call = played(scenario, injection)
    groups = [exp.group for exp in expected_alerts(scenario, injection.cast)]
    assert groups == [
        {"source_id": gas["source_id"]},
        {"source_id": gas["source_id"]},
        {"site_id": tank["site_id"], "tank_id": "T-101"},
        {"location.grid": call["location"]["grid"]},
    ]


# ----------------------------------------------------------------------------------- casting


def test_reinjecting_a_scenario_gives_group_keys_no_recent_injection_had(scenario: ScenarioSpec) -> None:
    seen: set[GroupKey] = set()
    for injection in injections(scenario, 60, gap=20):
        keys = group_keys(scenario, injection)
        assert not keys & seen
        seen |= keys


def test_shipped_scenarios_give_group_keys_no_recent_injection_had() -> None:
    casting = Casting(seed="demo")
    seen: set[GroupKey] = set()
    start = T0
    for _ in range(20):  # every scenario, twenty times over, 20 s apart (the demo's pace)
        for spec in load_scenarios(SCENARIOS_FILE):
            keys = group_keys(spec, casting.injection(spec, "r", start))
            assert not keys & seen, spec.name
            seen |= keys
            start += timedelta(seconds=20)


def test_the_same_seed_casts_the_same_injections(scenario: ScenarioSpec) -> None:
    once, again = (list(injections(scenario, 5, 60, Casting(seed=9))) for _ in range(2))
    assert once == again


def test_when_every_number_of_a_shape_is_in_use_the_one_free_longest_comes_back_first(tmp_path: Path) -> None:
    spec = tiny(tmp_path)
    used = [injection.cast["G-1"] for injection in injections(spec, 10, gap=60)]
    assert len(set(used[:8])) == 8  # G-1 itself is never drawn: eight others
    assert used[8] == used[0] and used[9] == used[1]


def test_an_identifier_is_free_again_once_its_reservation_has_run_out(tmp_path: Path) -> None:
    spec = tiny(tmp_path)
    casting = Casting(seed=1, reserve=timedelta(minutes=30))
    first = casting.cast(spec, T0)["G-1"]
    again = {casting.cast(spec, T0 + timedelta(minutes=31 + i))["G-1"] for i in range(40)}
    assert first in again


def test_a_casting_never_uses_the_citys_own_devices(tmp_path: Path) -> None:
    casting = Casting(seed=1, reserved={f"G-{n}" for n in range(2, 9)})
    assert {casting.cast(tiny(tmp_path), T0 + timedelta(minutes=i))["G-1"] for i in range(5)} == {"G-9"}


def test_a_casting_keeps_out_what_recent_ground_truth_shows_in_use(tmp_path: Path) -> None:
    spec = tiny(tmp_path)
    truth = tmp_path / "truth.jsonl"
    log = GroundTruthLog(truth)
    for n in (3, 4, 5):
        log.write(ground_truth(spec, Injection(f"old-{n}", T0, {"G-1": f"G-{n}"}), []))
    casting = Casting(seed=1)
    casting.remember(recent_casts(truth, since=T0 - timedelta(hours=1)))
    now = T0 + timedelta(minutes=5)
    assert {casting.cast(spec, now)["G-1"] for _ in range(5)} == {"G-2", "G-6", "G-7", "G-8", "G-9"}


def test_ground_truth_older_than_asked_holds_nothing(tmp_path: Path) -> None:
    spec = tiny(tmp_path)
    truth = tmp_path / "truth.jsonl"
    GroundTruthLog(truth).write(ground_truth(spec, Injection("old", T0, {"G-1": "G-3"}), []))
    assert list(recent_casts(truth, since=T0 + timedelta(seconds=1))) == []


def test_a_ground_truth_line_that_does_not_read_back_is_passed_over(tmp_path: Path) -> None:
    spec = tiny(tmp_path)
    truth = tmp_path / "truth.jsonl"
    GroundTruthLog(truth).write(ground_truth(spec, Injection("old", T0, {"G-1": "G-3"}), []))
    with truth.open("a", encoding="utf-8") as f:
        f.write('{"scenario": "cut short by a cra')
    assert [list(used) for _, used in recent_casts(truth, since=T0)] == [["G-3"]]


# ---------------------------------------------------------------------------------- replayed


def test_a_materialised_scenario_raises_exactly_its_expected_alerts(
    pack_rules: RuleSet, scenario: ScenarioSpec
) -> None:
    result = run_case(pack_rules, injections_as_case(scenario, 1, gap=0), clock_ticks=False)
    assert result.failures == []


def test_reinjecting_inside_the_cooldown_raises_the_alerts_again(
    pack_rules: RuleSet, scenario: ScenarioSpec
) -> None:
    case = injections_as_case(scenario, 3, gap=span(scenario) + 1)
    result = run_case(pack_rules, case, clock_ticks=False)
    assert result.failures == []
    assert len(result.notices) == 3 * len(scenario.expect)


def test_the_shipped_scenarios_file_loads() -> None:
    assert load_scenarios(SCENARIOS_FILE)


@pytest.mark.parametrize("gap", [20.0, 200.0, None], ids=["overlapping", "demo-pace", "back-to-back"])
def test_shipped_scenarios_raise_just_their_alerts_on_every_injection(
    shipped_rules: RuleSet, gap: float | None
) -> None:
    failures = {}
    for spec in load_scenarios(SCENARIOS_FILE):
        case = injections_as_case(spec, 5, gap=span(spec) + 1 if gap is None else gap)
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


def test_an_expected_group_that_every_injection_would_share_is_refused_with_its_line(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, TEST_SCENARIOS.replace("WH-HC-001", "WH-HC-MAIN"))
    with pytest.raises(RuleSetError) as info:
        load_scenarios(path)
    (error,) = info.value.errors
    assert str(error.location).startswith(f"{path}:18:")
    assert "would be the same in every injection" in error.message


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
    truths = []
    for injection in injections(scenario, 2, gap=60):
        ids = [ev["event_id"] for ev in played(scenario, injection)]
        truths.append(ground_truth(scenario, injection, ids))
    for truth in truths:
        log.write(truth)
    assert read_ground_truth(path) == truths
    assert truths[1].expected == expected_alerts(scenario, truths[1].cast)


def test_ground_truth_names_each_expected_alerts_group_as_played(scenario: ScenarioSpec) -> None:
    injection = Casting().injection(scenario, "r1", T0)
    truth = ground_truth(scenario, injection, [])
    gas = played(scenario, injection)[0]
    assert truth.expected[0].group == {"source_id": gas["source_id"]}
    assert truth.cast["GAS-HBW-0001"] == gas["source_id"]


def test_the_ground_truth_file_exists_as_soon_as_its_log_does(tmp_path: Path) -> None:
    path = tmp_path / "new" / "truth.jsonl"
    GroundTruthLog(path)
    assert path.read_text(encoding="utf-8") == ""
