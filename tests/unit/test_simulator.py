"""The simulator without a broker: city traffic, scenario injection, ground truth and pacing."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
import typer
from typer.testing import CliRunner

from connectors import simulator
from connectors.simulator import (
    SCENARIOS_FILE,
    CityModel,
    Event,
    GroundTruthLog,
    TokenBucket,
    expected_alerts,
    ground_truth,
    load_scenarios,
    materialise,
    read_ground_truth,
    run_simulation,
)
from rules.compiler import PackCase, RuleSet, load_ruleset
from rules.engine import Engine
from rules.errors import Location, RuleError, RuleSetError
from rules.events import EVENT_ADAPTER, Family
from rules.routing import load_routing
from rules.schema import CaseEvent, ExpectedAlert, RuleCaseSpec, ScenarioSpec
from rules.testing import run_case
from streams.settings import Settings, get_settings
from streams.simulate_cli import simulate

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)


def fixed_clock() -> datetime:
    return T0


def traffic(n: int, seed: int = 7, rate: float = 50, run_id: str = "r1") -> list[Event]:
    events = CityModel(seed).background_events(rate, run_id, fixed_clock)
    return list(itertools.islice(events, n))


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


# ------------------------------------------------------------------------------ background


def test_the_same_seed_gives_the_same_traffic() -> None:
    assert traffic(2000, seed=11) == traffic(2000, seed=11)


def test_a_different_seed_gives_a_different_city() -> None:
    assert traffic(200, seed=1) != traffic(200, seed=2)


def test_every_device_has_its_own_source_id() -> None:
    ids = [d.source_id for d in CityModel(7).devices()]
    assert len(set(ids)) == len(ids)


def test_background_covers_all_five_families() -> None:
    assert {ev["family"] for ev in traffic(2000)} == {f.value for f in Family}


def test_background_mix_is_sensors_then_cameras_cyber_safety_hotline() -> None:
    counts = Counter(ev["family"] for ev in traffic(20_000))
    ranked = [family for family, _ in counts.most_common()]
    assert ranked == ["sensor", "camera", "cyber", "safety", "hotline"]


def test_every_background_event_meets_the_event_contract() -> None:
    for ev in traffic(5000):
        EVENT_ADAPTER.validate_python(ev)


def test_background_events_are_located_in_wuhai_grids() -> None:
    for ev in traffic(2000):
        loc = ev["location"]
        assert loc["city"] == "乌海市"
        assert loc["district"] in {"海勃湾区", "乌达区", "海南区"}
        assert 106.5 < loc["lon"] < 107.1 and 39.3 < loc["lat"] < 39.9


def test_background_event_ids_are_unique_and_name_the_run() -> None:
    ids = [ev["event_id"] for ev in traffic(5000, run_id="abc")]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith("bg-abc-") for i in ids)


def test_background_event_time_comes_from_the_injected_clock() -> None:
    assert {ev["time"] for ev in traffic(100)} == {T0.isoformat()}


def test_background_includes_sensor_heartbeats() -> None:
    kinds = Counter(ev["kind"] for ev in traffic(5000) if ev["family"] == "sensor")
    assert kinds["heartbeat"] > 0


def test_heartbeat_share_falls_as_the_rate_rises() -> None:
    def beats(rate: float) -> int:
        return sum(ev["kind"] == "heartbeat" for ev in traffic(10_000, rate=rate))

    assert beats(20) > beats(200) > beats(2000)


def test_no_shipped_rule_fires_on_background_traffic(shipped_rules: RuleSet) -> None:
    errors: list[str] = []
    engine = Engine(shipped_rules.rules, on_error=lambda rule, msg: errors.append(f"{rule}: {msg}"))
    fired = Counter[str]()
    for ev in traffic(20_000):
        for cand in engine.evaluate(EVENT_ADAPTER.validate_python(ev)):
            fired[f"{cand.rule_id} on {ev['kind']}"] += 1
    assert not fired, f"background traffic raised alerts: {dict(fired)}"
    assert not errors


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
            out |= {ev["event_id"], ev["source_id"], ev.get("site_id", ""),
                    ev.get("ticket_id", ""), ev["location"].get("grid", "")}
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
    result = run_case(pack_rules, injections_as_case(scenario, ["r1"], gap=0))
    assert result.failures == []


def test_reinjecting_inside_the_cooldown_raises_the_alerts_again(
    pack_rules: RuleSet, scenario: ScenarioSpec
) -> None:
    result = run_case(pack_rules, injections_as_case(scenario, ["r1", "r2"], gap=span(scenario) + 1))
    assert result.failures == []
    assert len(result.notices) == 2 * len(scenario.expect)


def test_the_shipped_scenarios_file_loads() -> None:
    assert load_scenarios(SCENARIOS_FILE)


def test_shipped_scenarios_raise_their_alerts_on_every_injection(shipped_rules: RuleSet) -> None:
    failures = {}
    for spec in load_scenarios(SCENARIOS_FILE):
        case = injections_as_case(spec, ["r1", "r2"], gap=span(spec) + 1)
        result = run_case(shipped_rules, case)
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


# ----------------------------------------------------------------------------------- pacing


def test_a_token_bucket_starts_empty() -> None:
    assert TokenBucket(rate=100, burst=50).take(now=10.0) == 0


def test_a_token_bucket_allows_rate_times_elapsed_time() -> None:
    bucket = TokenBucket(rate=100, burst=50)
    bucket.take(0.0)
    assert bucket.take(0.25) == 25


def test_a_token_bucket_carries_fractions_so_the_rate_does_not_drift() -> None:
    bucket = TokenBucket(rate=2000, burst=500)
    total = sum(bucket.take(i * 0.0013) for i in range(1001))
    assert total == pytest.approx(2000 * 1.3, abs=1)


def test_a_token_bucket_caps_the_catch_up_after_a_stall() -> None:
    bucket = TokenBucket(rate=100, burst=25)
    bucket.take(0.0)
    assert bucket.take(60.0) == 25


def test_a_token_bucket_waits_until_the_next_whole_token() -> None:
    bucket = TokenBucket(rate=100, burst=50)
    bucket.take(0.0)
    bucket.take(0.0255)
    assert bucket.wait() == pytest.approx(0.0045)


# ------------------------------------------------------------------------- run, with a fake


class FakeProducer:
    """Stands in for AIOKafkaProducer: records what would have been sent."""

    sent: ClassVar[list[tuple[str, bytes, bytes]]] = []

    def __init__(self, **config: Any):
        self.config = config

    async def start(self) -> None:
        FakeProducer.sent = []

    async def send(self, topic: str, value: bytes, key: bytes) -> asyncio.Future[None]:
        FakeProducer.sent.append((topic, key, value))
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut

    async def partitions_for(self, topic: str) -> set[int]:
        return {0}

    async def flush(self) -> None:
        return None

    async def stop(self) -> None:
        return None


async def test_a_run_paces_background_and_injects_each_scenario_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, scenario: ScenarioSpec
) -> None:
    monkeypatch.setattr(simulator, "AIOKafkaProducer", FakeProducer)
    truth = tmp_path / "truth.jsonl"
    stats = await run_simulation(Settings(), 400, 1.0, [scenario], 60, truth, False, 7, True,
                                 time_scale=0, run_id="t1")
    assert stats.background_sent == pytest.approx(400, rel=0.15)
    assert stats.scenario_events_sent == len(scenario.events)
    assert [t.run_id for t in read_ground_truth(truth)] == ["t1-0"]
    topics = {topic for topic, _, _ in FakeProducer.sent}
    assert topics == set(Settings().input_topics().values())


async def test_a_once_run_without_duration_ends_after_the_scenarios(
    monkeypatch: pytest.MonkeyPatch, scenario: ScenarioSpec
) -> None:
    monkeypatch.setattr(simulator, "AIOKafkaProducer", FakeProducer)
    stats = await asyncio.wait_for(
        run_simulation(Settings(), 0, None, [scenario], 60, None, False, 7, True, time_scale=0),
        timeout=5,
    )
    assert stats.scenarios_completed == 1


# ------------------------------------------------------------------------------------- CLI


def cli() -> typer.Typer:
    app = typer.Typer()
    app.command()(simulate)
    return app


def test_an_unknown_scenario_name_lists_the_known_ones(tmp_path: Path) -> None:
    path = write(tmp_path, TEST_SCENARIOS)
    result = CliRunner().invoke(cli(), ["--scenarios-file", str(path), "-s", "nope"])
    assert result.exit_code == 2
    assert "unknown scenario 'nope'" in result.output
    assert "gas leak next to a tank farm" in result.output


def test_an_unreachable_kafka_says_how_to_start_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RISKSTREAM_KAFKA_BOOTSTRAP", "127.0.0.1:1")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli(), ["--every", "0", "--duration", "1"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert "cannot reach Kafka at 127.0.0.1:1" in result.output
    assert "make kafka" in result.output and "RISKSTREAM_KAFKA_BOOTSTRAP" in result.output
