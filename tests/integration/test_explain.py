"""`riskstream rules explain` against the real broker: an alert's history read back from the audit
topic a worker wrote, and an event of the input topics explained after the events before it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka.structs import ConsumerRecord

from tests.integration.harness import ROOT, Worker, consume, make_worker, produce

RULE = "it-explain-crowd"
PACK = f"""\
version: 1
pack: it-explain
rules:
  - id: {RULE}
    title: crowd
    risk: public_order
    on: camera
    kind: crowd_density
    when: people != null && people >= 100
    group_by: [location.grid]
    count: {{at_least: 3, within: 1h}}
    tier: {{red: "window.count >= 4", orange: "true"}}
    cooldown: 1h
    route: [police]
"""
GRID = "HB-EXPLAIN-01"
Notice = dict[str, Any]
"""An alert notice as the audit topic carries it (the CloudEvent's data)."""


def frame(event_id: str, at: datetime, people: int) -> bytes:
    return orjson.dumps(
        {
            "event_id": event_id,
            "kind": "crowd_density",
            "time": at.isoformat(),
            "source_id": "CAM-HBW-0901",
            "location": {"city": "乌海市", "district": "海勃湾区", "grid": GRID},
            "people": people,
        }
    )


@pytest.fixture(scope="module")
def fed(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Worker, list[Notice]]]:
    """A worker that raised one alert from four crowded frames: opened at the third, raised at the fourth."""
    tmp: Path = tmp_path_factory.mktemp("explain")
    (tmp / "pack.yaml").write_text(PACK, encoding="utf-8")
    worker = make_worker(bootstrap, tmp, "explain", RISKSTREAM_RULES_PATH=str(tmp / "pack.yaml")).start()
    t0 = datetime.now(UTC) - timedelta(minutes=20)
    topic = f"{worker.prefix}events.camera"
    people = (150, 40, 160, 170, 180)
    frames = [frame(f"ex-{i}", t0 + timedelta(minutes=i), n) for i, n in enumerate(people)]
    produce(bootstrap, [(topic, b"CAM-HBW-0901", f) for f in frames])

    def mine(records: list[ConsumerRecord[bytes, bytes]]) -> list[Notice]:
        return [d for d in (orjson.loads(r.value)["data"] for r in records) if d["rule_id"] == RULE]

    records = consume(
        bootstrap, [f"{worker.prefix}riskstream.alerts"], lambda rs: len(mine(rs)) >= 2, timeout=90
    )
    yield worker, mine(records)
    worker.stop()


def riskstream(worker: Worker, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams", *args],
        cwd=ROOT,
        env={**worker.env, "COLUMNS": "200", "TERM": "dumb"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_worker_raised_the_alert_these_tests_explain(fed: tuple[Worker, list[Notice]]) -> None:
    _, audited = fed
    assert [(n["notice_seq"], n["change"], n["tier"]) for n in audited] == [
        (1, "opened", "orange"),
        (2, "tier_raised", "red"),
    ]


def test_an_alerts_history_is_read_back_from_the_audit_topic(fed: tuple[Worker, list[Notice]]) -> None:
    worker, audited = fed
    alert_id = audited[0]["alert_id"]
    result = riskstream(worker, "rules", "explain", "--alert", alert_id)
    assert result.returncode == 0, result.stderr
    assert f"alert {alert_id}" in result.stdout
    assert "2 notice(s)" in result.stdout
    assert "opened  ORANGE II" in result.stdout and "tier_raised  RED I" in result.stdout
    assert "→ police: " in result.stdout
    assert "evidence: ex-0, ex-2, ex-3" in result.stdout
    assert "ex-4" in result.stdout


def test_an_unknown_alert_id_is_looked_for_in_its_partition_and_reported(
    fed: tuple[Worker, list[Notice]],
) -> None:
    worker, _ = fed
    result = riskstream(worker, "rules", "explain", "--alert", "00000000-0000-5000-8000-000000000000")
    assert result.returncode == 1
    assert f"{worker.prefix}riskstream.alerts (partition" in result.stderr
    assert "check the id" in result.stderr


def test_an_event_of_the_input_topics_is_explained_after_the_events_before_it(
    fed: tuple[Worker, list[Notice]],
) -> None:
    worker, _ = fed
    result = riskstream(worker, "rules", "explain", "--event-id", "ex-1", "--since", "1h")
    assert result.returncode == 0, result.stderr
    assert "after 1 earlier event(s) replayed from the input topics" in result.stdout
    assert "✗ people >= 100   people = 40" in result.stdout
    assert "not counted ('when' is false): count 1 of 3 within 1h" in result.stdout
