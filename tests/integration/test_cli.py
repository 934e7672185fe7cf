"""The commands people type: `riskstream simulate` feeds a worker, `riskstream tail` shows its alerts."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.integration.harness import ROOT, Worker, consume, make_worker

SCENARIO = "night-market-fight"


def riskstream(worker: Worker, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    env = {**worker.env, "COLUMNS": "200", "TERM": "dumb"}
    return subprocess.run(
        [sys.executable, "-m", "streams", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def fed(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Worker, Path]]:
    tmp: Path = tmp_path_factory.mktemp("cli")
    worker = make_worker(bootstrap, tmp, "cli").start()
    truth = tmp / "truth.jsonl"
    result = riskstream(
        worker,
        "simulate",
        "--rate",
        "0",
        "--once",
        "-s",
        SCENARIO,
        "--time-scale",
        "0",
        "--ground-truth",
        str(truth),
    )
    assert result.returncode == 0, result.stderr
    yield worker, truth
    worker.stop()


def test_simulate_records_the_injected_scenario_as_ground_truth(fed: tuple[Worker, Path]) -> None:
    _, truth = fed
    (line,) = truth.read_text(encoding="utf-8").splitlines()
    record = orjson.loads(line)
    assert record["scenario"] == SCENARIO
    assert record["complete"] is True
    assert [e["rule"] for e in record["expected"]] == ["camera-fight", "hotline-fight-report", "camera-fight"]


def test_the_ground_truth_names_each_expected_group_as_the_incident_was_played(
    fed: tuple[Worker, Path],
) -> None:
    _, truth = fed
    record = orjson.loads(truth.read_text(encoding="utf-8"))
    played = set(record["cast"].values())
    assert {v for e in record["expected"] for v in e["group"].values()} <= played


def test_simulated_incident_reaches_the_police_topic(fed: tuple[Worker, Path]) -> None:
    worker, truth = fed
    want = len(orjson.loads(truth.read_text(encoding="utf-8"))["expected"])
    alerts = consume(worker.bootstrap, [f"{worker.prefix}alerts.police"], lambda r: len(r) >= want)
    assert len(alerts) == want


def test_tail_shows_the_alerts_with_their_tier_place_and_reason(fed: tuple[Worker, Path]) -> None:
    worker, truth = fed
    want = len(orjson.loads(truth.read_text(encoding="utf-8"))["expected"])
    consume(worker.bootstrap, [f"{worker.prefix}alerts.police"], lambda r: len(r) >= want)
    result = riskstream(
        worker, "tail", "--agency", "police", "--from-beginning", "--limit", str(want), timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "BLUE IV" in result.stdout
    assert "YELLOW III" in result.stdout
    assert "乌海市 / 海勃湾区" in result.stdout
    assert "police: route 'police-matters' matched" in result.stdout


def test_tail_shows_real_looking_devices_without_a_run_id(fed: tuple[Worker, Path]) -> None:
    worker, truth = fed
    want = len(orjson.loads(truth.read_text(encoding="utf-8"))["expected"])
    result = riskstream(
        worker, "tail", "--agency", "police", "--from-beginning", "--limit", str(want), timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"CAM-HBW-\d{4}\b", result.stdout)
    assert "~" not in result.stdout


def test_tail_refuses_an_unknown_agency_and_lists_the_known_ones(fed: tuple[Worker, Path]) -> None:
    worker, _ = fed
    result = riskstream(worker, "tail", "--agency", "polise", timeout=30)
    assert result.returncode == 2
    assert "unknown agency polise" in result.stderr
    assert "police" in result.stderr


def test_simulate_names_the_known_scenarios_when_given_an_unknown_one(fed: tuple[Worker, Path]) -> None:
    worker, _ = fed
    result = riskstream(worker, "simulate", "--once", "-s", "no-such-incident", timeout=30)
    assert result.returncode != 0
    assert SCENARIO in result.stderr + result.stdout
