"""The Kafka runner without a broker: pacing, a run against a fake producer, and the CLI."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pytest
import typer
from typer.testing import CliRunner

from connectors import simulator
from connectors.city import CityModel
from connectors.scenarios import load_scenarios, read_ground_truth
from connectors.simulator import TokenBucket, run_simulation
from rules.schema import ScenarioSpec
from streams.settings import Settings, get_settings
from streams.simulate_cli import simulate
from tests.unit.test_scenarios import TEST_SCENARIOS, tiny, write


@pytest.fixture()
def scenario(tmp_path: Path) -> ScenarioSpec:
    path = tmp_path / "scenarios.yaml"
    path.write_text(TEST_SCENARIOS, encoding="utf-8")
    return load_scenarios(path)[0]


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
    stats = await run_simulation(Settings().kafka_target(), 400, 1.0, [scenario], 60, truth, False, 7, True,
                                 time_scale=0, run_id="t1")
    assert stats.background_sent == pytest.approx(400, rel=0.15)
    assert stats.scenario_events_sent == len(scenario.events)
    assert [t.run_id for t in read_ground_truth(truth)] == ["t1-0"]
    topics = {topic for topic, _, _ in FakeProducer.sent}
    assert topics == set(Settings().input_topics().values())


async def test_a_run_records_every_event_exactly_as_it_was_sent(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, scenario: ScenarioSpec
) -> None:
    monkeypatch.setattr(simulator, "AIOKafkaProducer", FakeProducer)
    record = tmp_path / "demo" / "events.jsonl"
    await run_simulation(Settings().kafka_target(), 200, 0.5, [scenario], 60, None, False, 7, True,
                         time_scale=0, record=record)
    assert record.read_bytes().splitlines() == [value for _, _, value in FakeProducer.sent]


async def test_a_recording_appends_to_what_the_file_held(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, scenario: ScenarioSpec
) -> None:
    monkeypatch.setattr(simulator, "AIOKafkaProducer", FakeProducer)
    record = tmp_path / "events.jsonl"
    record.write_bytes(b'{"kept": true}\n')
    await run_simulation(Settings().kafka_target(), 0, None, [scenario], 60, None, False, 7, True,
                         time_scale=0, record=record)
    lines = record.read_bytes().splitlines()
    assert lines[0] == b'{"kept": true}' and len(lines) == 1 + len(scenario.events)


async def test_a_run_creates_the_ground_truth_file_before_anything_is_injected(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, scenario: ScenarioSpec
) -> None:
    monkeypatch.setattr(simulator, "AIOKafkaProducer", FakeProducer)
    truth = tmp_path / "run" / "truth.jsonl"
    await run_simulation(Settings().kafka_target(), 100, 0.2, [scenario], 0, truth, False, 7, False)
    assert truth.read_text(encoding="utf-8") == ""


async def test_a_second_run_casts_nothing_the_first_runs_ground_truth_shows_in_use(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(simulator, "AIOKafkaProducer", FakeProducer)
    spec, truth = tiny(tmp_path), tmp_path / "truth.jsonl"
    for run_id in ("first", "second"):  # 4 + 4 injections of an id with 8 other numbers to take
        await run_simulation(Settings().kafka_target(), 0, None, [spec] * 4, 60, truth, False, 7, True,
                             time_scale=0, run_id=run_id)
    used = [t.cast["G-1"] for t in read_ground_truth(truth)]
    assert len(used) == len(set(used)) == 8


async def test_incidents_are_never_cast_on_the_citys_own_devices(
    monkeypatch: pytest.MonkeyPatch, scenario: ScenarioSpec
) -> None:
    monkeypatch.setattr(simulator, "AIOKafkaProducer", FakeProducer)
    await run_simulation(Settings().kafka_target(), 0, None, [scenario] * 50, 60, None, False, 7, True,
                         time_scale=0)
    sources = {orjson.loads(value)["source_id"] for _, _, value in FakeProducer.sent}
    assert len(sources) > 50 and not sources & CityModel(7).identifiers()


async def test_a_once_run_without_duration_ends_after_the_scenarios(
    monkeypatch: pytest.MonkeyPatch, scenario: ScenarioSpec
) -> None:
    monkeypatch.setattr(simulator, "AIOKafkaProducer", FakeProducer)
    stats = await asyncio.wait_for(
        run_simulation(
            Settings().kafka_target(), 0, None, [scenario], 60, None, False, 7, True, time_scale=0
        ),
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
