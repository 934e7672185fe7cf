"""The shipped packs' accuracy on a simulated city day, and the day itself: seeded, every scenario
injected, every sensor alive; the incidents' sensors reporting on after them, offline and live.

The day here is the README's Accuracy run made cheap for the unit suite: the same 24 hours and
injections, with a tenth of the background rate and sensors reporting hourly instead of every five
minutes (hourly is what NB-IoT devices do; `sensor-offline` waits two hours). The full day is
`riskstream score --city-day`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import orjson
import pytest
from typer.testing import CliRunner

from connectors import simulator
from connectors.city_day import DayPlan, city_day
from connectors.incident_sensors import IncidentSensors
from connectors.scenarios import SCENARIOS_FILE, load_scenarios
from connectors.simulator import run_simulation
from rules.alerts import to_cloudevent
from rules.backtest import Backtest
from rules.compiler import RuleSet, load_ruleset
from rules.routing import load_routing
from rules.schema import ScenarioSpec
from rules.score import Score, score
from streams import score_cli
from streams.cli import app
from streams.kafka_io import Window
from streams.settings import Settings
from tests.unit.test_simulator import FakeProducer, scenario  # noqa: F401  (the fixture)

ROOT = Path(__file__).resolve().parents[2]
UNIT_DAY = DayPlan(rate=0.2, heartbeat=3600)
"""The seeded day of the accuracy targets, cheapened for the unit suite (see the module's doc)."""
TARGET_RECALL = 1.0
TARGET_PRECISION = 0.95


@pytest.fixture(scope="module")
def shipped() -> RuleSet:
    return load_ruleset([ROOT / "rules" / "packs"], load_routing(ROOT / "rules" / "routing.yaml"))


@pytest.fixture(scope="module")
def scenarios() -> list[ScenarioSpec]:
    return load_scenarios(SCENARIOS_FILE)


@pytest.fixture(scope="module")
def day_score(shipped: RuleSet, scenarios: list[ScenarioSpec]) -> Score:
    """The recorded day, backtested line by line as `riskstream rules backtest` does, and scored."""
    day = city_day(scenarios, UNIT_DAY)
    test = Backtest(shipped)
    for number, line in enumerate(day.lines(), start=1):
        test.feed(line, "day", number)
    assert test.rejected == 0
    return score(day.truths, [n.alert for n in test.finish(3600)],
                 {r.spec.id: r.spec.risk for r in shipped.rules})


# ------------------------------------------------------------------------------ the targets


def test_the_shipped_packs_raise_every_expected_alert_of_the_city_day(day_score: Score) -> None:
    missed = [f"{o.scenario} {o.run_id}: {o.rule} {o.group}" for o in day_score.outcomes if not o.raised]
    assert day_score.overall.recall == TARGET_RECALL, f"missed: {missed}"


def test_at_least_95_percent_of_the_city_days_alerts_are_expected(day_score: Score) -> None:
    false = [f"{f.alert.rule} {dict(f.alert.group)} ({f.scenario or 'background'})"
             for f in day_score.false_alerts]
    precision = day_score.overall.precision
    assert precision is not None and precision >= TARGET_PRECISION, f"false positives: {false}"


def test_every_expected_alert_of_the_city_day_reaches_its_tier(day_score: Score) -> None:
    short = [f"{o.scenario}: {o.rule} reached {o.reached}, expected {o.tier}"
             for o in day_score.outcomes if o.tier_short]
    assert not short


def test_the_city_day_injects_every_shipped_scenario(day_score: Score, scenarios: list[ScenarioSpec]) -> None:
    assert {o.scenario for o in day_score.outcomes} == {s.name for s in scenarios}
    assert day_score.injections == 96
    assert day_score.partial == 0


# -------------------------------------------------------------------------------------- the day


def test_the_same_plan_gives_the_same_day(scenarios: list[ScenarioSpec]) -> None:
    plan = DayPlan(hours=1, rate=0.2, heartbeat=3600)
    first, second = city_day(scenarios, plan), city_day(scenarios, plan)
    assert first.events == second.events
    assert first.truths == second.truths


def test_another_seed_gives_another_day(scenarios: list[ScenarioSpec]) -> None:
    plan = DayPlan(hours=1, rate=0.2, heartbeat=3600)
    other = DayPlan(seed=8, hours=1, rate=0.2, heartbeat=3600)
    assert city_day(scenarios, plan).events != city_day(scenarios, other).events


def test_a_days_events_are_in_time_order_and_within_the_day(scenarios: list[ScenarioSpec]) -> None:
    plan = DayPlan(hours=2, rate=0.5, heartbeat=1800)
    times = [datetime.fromisoformat(e["time"]) for e in city_day(scenarios, plan).events]
    assert times == sorted(times)
    assert plan.start <= times[0] and times[-1] < plan.start + timedelta(hours=2)


def test_an_injection_that_would_outlast_the_day_gives_way_to_the_next_scenario(
    scenarios: list[ScenarioSpec],
) -> None:
    plan = DayPlan(hours=3, rate=0.0, heartbeat=3600)
    day = city_day(scenarios, plan)
    injected = [t.scenario for t in day.truths]
    assert "wage-arrears-protest-12345" not in injected  # 22 hours long
    assert len(injected) == 3 * 3600 / plan.every  # every slot still has an injection
    assert set(injected) == {s.name for s in scenarios} - {"wage-arrears-protest-12345"}


def test_every_sensor_reports_at_least_once_a_period_to_the_end_of_the_day(
    scenarios: list[ScenarioSpec],
) -> None:
    plan = DayPlan(hours=6, rate=0.2, heartbeat=3600)
    seen: dict[str, list[datetime]] = defaultdict(list)
    for event in city_day(scenarios, plan).events:
        if event["family"] == "sensor":
            seen[event["source_id"]].append(datetime.fromisoformat(event["time"]))
    end = plan.start + timedelta(hours=6)
    period = timedelta(seconds=plan.heartbeat)
    for source, times in seen.items():
        gaps = [b - a for a, b in zip([*times], [*times[1:], end], strict=True)]
        assert max(gaps) <= period, f"{source} silent for {max(gaps)}"


# ------------------------------------------------------------------------ incidents' sensors


def test_an_incidents_sensor_beats_one_period_after_its_last_incident_event() -> None:
    sensors = IncidentSensors("r1", period=300)
    t0 = datetime.fromisoformat("2026-01-05T10:00:00+08:00")
    for minutes in (0, 31):
        when = (t0 + timedelta(minutes=minutes)).isoformat()
        sensors.saw({"family": "sensor", "source_id": "LIFT-1", "time": when, "location": {"grid": "G"}})
    beats = list(sensors.due(t0 + timedelta(minutes=42)))
    assert [b["time"] for b in beats] == [(t0 + timedelta(minutes=m)).isoformat() for m in (36, 41)]
    assert {b["kind"] for b in beats} == {"heartbeat"}


def test_an_incidents_other_families_do_not_beat() -> None:
    sensors = IncidentSensors("r1", period=300)
    sensors.saw({"family": "hotline", "source_id": "HOTLINE-110", "time": "2026-01-05T10:00:00+08:00",
                 "location": {}})
    assert len(sensors) == 0


async def test_the_live_simulator_keeps_an_incidents_sensors_reporting(
    monkeypatch: pytest.MonkeyPatch, scenario: ScenarioSpec  # noqa: F811
) -> None:
    monkeypatch.setattr(simulator, "AIOKafkaProducer", FakeProducer)
    monkeypatch.setattr(simulator, "KEEP_REPORTING_EVERY", 0.001)
    t0 = datetime.fromisoformat("2026-01-05T10:00:00+08:00")
    calls = iter(range(1_000_000))

    def clock() -> datetime:  # ten virtual minutes pass between looks
        return t0 + timedelta(minutes=10 * next(calls))

    await run_simulation(Settings().kafka_target(), 0, 0.5, [scenario], 60, None, False, 7, True,
                         time_scale=0, clock=clock, run_id="live")
    events = [orjson.loads(v) for _, _, v in FakeProducer.sent]
    gas = {e["source_id"] for e in events if e["kind"] == "combustible_gas"}
    beats = [e for e in events if e["kind"] == "heartbeat"]
    assert beats
    assert {b["source_id"] for b in beats} == gas


# ------------------------------------------------------------------------------------ the command


def test_score_of_a_city_day_prints_recall_precision_and_time_to_alert() -> None:
    result = CliRunner().invoke(app, ["score", "--city-day", "--hours", "1", "--rate", "0.2", "--heartbeat",
                                      "3600", "--run-on", "0s"])
    assert result.exit_code == 0, result.output
    assert "recall 100.0%" in result.output and "precision 100.0%" in result.output
    assert "time to alert median" in result.output


def test_score_of_notices_from_a_backtest_matches_score_of_the_same_events(tmp_path: Path) -> None:
    runner = CliRunner()
    day = ["--hours", "1", "--rate", "0.2", "--heartbeat", "3600"]
    kept = runner.invoke(app, ["score", "--city-day", *day, "--keep", str(tmp_path), "--json"])
    assert kept.exit_code == 0, kept.output
    events, truth, notices = tmp_path / "events.jsonl", tmp_path / "ground-truth.jsonl", tmp_path / "n.jsonl"
    backtest = runner.invoke(app, ["rules", "backtest", str(events), "--notices", str(notices)])
    assert backtest.exit_code == 0, backtest.output
    from_events = runner.invoke(app, ["score", str(truth), "--events", str(events), "--json"])
    from_notices = runner.invoke(app, ["score", str(truth), "--notices", str(notices), "--json"])
    assert orjson.loads(from_events.output)["overall"] == orjson.loads(from_notices.output)["overall"]
    assert orjson.loads(from_notices.output)["overall"]["expected"] > 0


def test_score_exits_1_below_a_required_precision(tmp_path: Path) -> None:
    truth = tmp_path / "truth.jsonl"
    runner = CliRunner()
    runner.invoke(app, ["score", "--city-day", "--hours", "1", "--rate", "0", "--heartbeat", "3600",
                        "--keep", str(tmp_path)])
    (tmp_path / "ground-truth.jsonl").rename(truth)
    lines = truth.read_bytes().splitlines()
    truth.write_bytes(lines[0] + b"\n")  # the other injections' alerts are now unexplained
    result = runner.invoke(app, ["score", str(truth), "--events", str(tmp_path / "events.jsonl"),
                                 "--min-precision", "0.95"])
    assert result.exit_code == 1
    assert "precision" in result.output and "is below 95%" in result.output


def test_score_wants_exactly_one_source_of_alerts(tmp_path: Path) -> None:
    truth = tmp_path / "truth.jsonl"
    truth.write_text("", encoding="utf-8")
    result = CliRunner().invoke(app, ["score", str(truth)])
    assert result.exit_code == 2
    assert "--events PATH, --notices PATH, --audit or --city-day" in result.output


def test_score_of_the_audit_topic_reads_it_from_just_before_the_first_injection(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, shipped: RuleSet, scenarios: list[ScenarioSpec]
) -> None:
    day = city_day(scenarios, DayPlan(hours=1, rate=0, heartbeat=3600))
    day.write(tmp_path / "events.jsonl", tmp_path / "truth.jsonl")
    test = Backtest(shipped)
    for number, line in enumerate(day.lines(), start=1):
        test.feed(line, "day", number)
    audit = [to_cloudevent(n.alert).model_dump_json().encode() for n in test.finish()]
    asked: dict[str, object] = {}

    async def audit_topic(settings: Settings, topics: list[str], since: datetime) -> AsyncIterator[object]:
        asked.update(topics=topics, since=since)
        yield Window({}, {})
        for offset, value in enumerate(audit):
            yield SimpleNamespace(topic=topics[0], partition=0, offset=offset, value=value)

    monkeypatch.setattr(score_cli, "read_since", audit_topic)
    result = CliRunner().invoke(app, ["score", str(tmp_path / "truth.jsonl"), "--audit", "--json"])
    assert result.exit_code == 0, result.output
    overall = orjson.loads(result.output)["overall"]
    assert (overall["recall"], overall["precision"]) == (1.0, 1.0)
    assert overall["alerts"] == len({n.alert.alert_id for n in test.finish()})
    assert asked == {"topics": [Settings().topic(Settings().topic_audit)],
                     "since": min(t.injected_at for t in day.truths) - score_cli.AUDIT_SLACK}
