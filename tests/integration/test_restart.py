"""A worker restarted mid-alert continues from its changelog: no lost state, no repeated notice."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from tests.integration.harness import Worker, consume, make_worker, produce

PACK = """\
version: 1
pack: it-restart
rules:
  - id: it-level
    title: water level
    risk: public_safety
    on: sensor
    kind: water_level
    when: value != null && value >= 3.0
    tier: {orange: value >= 4.0, yellow: "true"}
    group_by: [source_id]
    cooldown: 1h
    route: [emergency]
"""


def reading(event_id: str, value: float, at: datetime) -> bytes:
    return orjson.dumps(
        {
            "event_id": event_id,
            "kind": "water_level",
            "time": at.isoformat(),
            "source_id": "WL-1",
            "location": {"city": "乌海市", "grid": "HBW-09-01"},
            "value": value,
            "unit": "m",
        }
    )


@pytest.mark.parametrize("store", ["memory://", "rocksdb://"])
def test_state_survives_a_restart_so_repeats_stay_quiet_and_a_higher_tier_updates(
    bootstrap: str, tmp_path: Path, store: str
) -> None:
    pack = tmp_path / "pack.yaml"
    pack.write_text(PACK, encoding="utf-8")
    worker = make_worker(
        bootstrap, tmp_path, f"restart-{store[:3]}", RISKSTREAM_RULES_PATH=str(pack), RISKSTREAM_STORE=store
    )
    topic, alerts = f"{worker.prefix}events.sensor", f"{worker.prefix}alerts.emergency"
    t0 = datetime.now(UTC)
    worker.start()
    try:
        produce(bootstrap, [(topic, b"WL-1", reading("r1", 3.2, t0))])
        first = consume(bootstrap, [alerts], lambda r: len(r) >= 1)
        worker.stop()
        worker.start()
        produce(
            bootstrap,
            [
                (topic, b"WL-1", reading("r2", 3.4, t0 + timedelta(minutes=5))),
                (topic, b"WL-1", reading("r3", 4.5, t0 + timedelta(minutes=10))),
            ],
        )
        records = consume(bootstrap, [alerts], lambda r: len(r) >= 2, settle=3.0)
    finally:
        worker.stop()
    notices = [orjson.loads(r.value)["data"] for r in records]
    opened = orjson.loads(first[0].value)["data"]
    assert [(n["notice_seq"], n["tier"]) for n in notices] == [(1, "yellow"), (2, "orange")]
    assert {n["alert_id"] for n in notices} == {opened["alert_id"]}
    assert notices[1]["count"] == 3
    assert notices[1]["evidence"] == ["r1", "r2", "r3"]


def test_a_restarted_worker_reports_the_lag_left_to_read_not_the_whole_topic(
    bootstrap: str, tmp_path: Path
) -> None:
    """The lag gauge reads the group's committed offsets from the broker: after a restart, before
    this process has committed anything itself, it shows what is left (nothing much), not every
    message the topic ever held, and no partition counts as stalled."""
    pack = tmp_path / "pack.yaml"
    pack.write_text(PACK, encoding="utf-8")
    worker = make_worker(
        bootstrap, tmp_path, "restart-lag", RISKSTREAM_RULES_PATH=str(pack), RISKSTREAM_STALL_AFTER="6"
    )
    topic = f"{worker.prefix}events.sensor"
    t0 = datetime.now(UTC)
    many = 2_000
    worker.start()
    try:
        produce(bootstrap, [(topic, f"S-{i % 40}".encode(), reading(f"q{i}", 1.0, t0)) for i in range(many)])
        _wait_for(lambda: worker.metric("riskstream_events_total", outcome="valid") >= many, 120, worker)
        _wait_for(lambda: worker.metric("riskstream_consumer_lag_messages", topic=topic) == 0, 60, worker)
        worker.stop()
        worker.start()
        produce(bootstrap, [(topic, b"S-1", reading("after", 1.0, t0 + timedelta(minutes=1)))])
        _wait_for(lambda: _lag_reported(worker, topic) >= 2, 60, worker)
        samples = []
        for _ in range(4):  # over 20 s: past the stall limit, several turns of the lag timer
            samples.append(worker.metric("riskstream_consumer_lag_messages", topic=topic))
            time.sleep(5)
        stalled = worker.metric("riskstream_stalled_partitions")
    finally:
        worker.stop()
    assert max(samples) <= 5, f"a restarted worker reports {samples} messages of lag on a topic of {many}"
    assert stalled == 0
    assert "no progress on" not in worker.log_path.read_text(errors="replace")


def _lag_reported(worker: Worker, topic: str) -> int:
    """How many partitions of ``topic`` the lag gauge names."""
    return sum(
        1
        for line in worker.metrics_text().splitlines()
        if line.startswith("riskstream_consumer_lag_messages{") and f'topic="{topic}"' in line
    )


def _wait_for(check: Callable[[], bool], timeout: float, worker: Worker) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"not reached in {timeout}s:\n{worker.log_tail()}")
