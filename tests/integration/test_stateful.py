"""Stateful rules on the real broker: windows survive SIGKILL and move with their partitions."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from tests.integration.harness import Worker, consume, free_port, make_worker, produce

PACK = """\
version: 1
pack: it-stateful
rules:
  - id: it-crowd
    title: crowd
    risk: public_order
    on: camera
    kind: crowd_density
    when: people >= 100
    group_by: [location.grid]
    count: {at_least: 3, within: 1h}
    tier: {red: "window.count >= 5", orange: "true"}
    summary: "{location.grid}: {window.count} crowded frames"
    cooldown: 1h
    route: [police]
"""


def frame(event_id: str, grid: str, at: datetime, people: int = 150) -> bytes:
    return orjson.dumps(
        {
            "event_id": event_id,
            "kind": "crowd_density",
            "time": at.isoformat(),
            "source_id": f"cam-{grid}",
            "location": {"city": "乌海市", "grid": grid},
            "people": people,
        }
    )


def _pack(tmp_path: Path) -> Path:
    pack = tmp_path / "pack.yaml"
    pack.write_text(PACK, encoding="utf-8")
    return pack


def notices(records: list) -> list[dict]:  # type: ignore[type-arg]
    return [orjson.loads(r.value)["data"] for r in records]


def test_a_count_window_fires_once_with_its_figures(bootstrap: str, tmp_path: Path) -> None:
    worker = make_worker(bootstrap, tmp_path, "count", RISKSTREAM_RULES_PATH=str(_pack(tmp_path)))
    topic, police = f"{worker.prefix}events.camera", f"{worker.prefix}alerts.police"
    t0 = datetime.now(UTC) - timedelta(minutes=30)
    worker.start()
    try:
        produce(
            bootstrap, [(topic, b"G-1", frame(f"f{i}", "G-1", t0 + timedelta(minutes=i))) for i in range(4)]
        )
        records = consume(bootstrap, [police], lambda r: len(r) >= 1, settle=3.0)
        counted = worker.metric("riskstream_window_hits_total", rule="it-crowd", outcome="counted")
    finally:
        worker.stop()
    (alert,) = notices(records)
    assert (alert["rule_id"], alert["tier"], alert["window"]["count"]) == ("it-crowd", "orange", 3)
    assert alert["evidence"] == ["f0", "f1", "f2"]
    assert alert["summary"] == "G-1: 3 crowded frames"
    assert counted == 4


def test_a_worker_killed_mid_window_resumes_from_its_changelog_and_fires_once(
    bootstrap: str, tmp_path: Path
) -> None:
    worker = make_worker(
        bootstrap,
        tmp_path,
        "sigkill",
        RISKSTREAM_RULES_PATH=str(_pack(tmp_path)),
        RISKSTREAM_STORE="rocksdb://",
    )
    topic, police = f"{worker.prefix}events.camera", f"{worker.prefix}alerts.police"
    t0 = datetime.now(UTC) - timedelta(minutes=30)
    worker.start()
    try:
        produce(
            bootstrap, [(topic, b"G-1", frame(f"f{i}", "G-1", t0 + timedelta(minutes=i))) for i in range(2)]
        )
        _wait_counted(worker, 2)
        worker.stop(sig_kill=True)
        worker.start()
        produce(bootstrap, [(topic, b"G-1", frame("f2", "G-1", t0 + timedelta(minutes=2)))])
        records = consume(bootstrap, [police], lambda r: len(r) >= 1, settle=5.0)
    finally:
        worker.stop()
    (alert,) = notices(records)
    assert alert["window"]["count"] == 3
    assert alert["evidence"] == ["f0", "f1", "f2"]


def test_two_workers_split_the_groups_and_the_survivor_takes_over_the_killed_ones_state(
    bootstrap: str, tmp_path: Path
) -> None:
    first = make_worker(
        bootstrap,
        tmp_path,
        "pair",
        RISKSTREAM_RULES_PATH=str(_pack(tmp_path)),
        RISKSTREAM_SESSION_TIMEOUT="10",
    )
    port = free_port()
    second = dataclasses.replace(
        first,
        web_port=port,
        log_path=tmp_path / "worker-pair-2.log",
        env={**first.env, "RISKSTREAM_WEB_PORT": str(port)},
        proc=None,
    )
    topic, police = f"{first.prefix}events.camera", f"{first.prefix}alerts.police"
    grids = [f"G-{i}" for i in range(8)]
    t0 = datetime.now(UTC) - timedelta(minutes=30)
    first.start()
    try:
        second.start()
        _wait_both_own_partitions(first, second)
        produce(
            bootstrap,
            [
                (topic, g.encode(), frame(f"{g}-{i}", g, t0 + timedelta(minutes=i)))
                for i in range(2)
                for g in grids
            ],
        )
        _wait_counted_sum([first, second], 2 * len(grids))
        owned_by_second = second.metric("riskstream_window_groups")
        second.stop(sig_kill=True)
        produce(
            bootstrap, [(topic, g.encode(), frame(f"{g}-2", g, t0 + timedelta(minutes=2))) for g in grids]
        )
        records = consume(bootstrap, [police], lambda r: len(r) >= len(grids), timeout=120, settle=5.0)
    finally:
        second.stop()
        first.stop()
    alerts = notices(records)
    assert owned_by_second > 0, "the second worker owned no groups, so nothing failed over"
    assert sorted(a["group"]["location.grid"] for a in alerts) == grids
    assert all(a["window"]["count"] == 3 for a in alerts)


def _wait_counted(worker: Worker, n: int, timeout: float = 60) -> None:
    _wait_counted_sum([worker], n, timeout)


def _wait_counted_sum(workers: list[Worker], n: int, timeout: float = 60) -> None:
    """Until the windows counted ``n`` hits, then past a commit and a changelog flush."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        total = sum(w.metric("riskstream_window_hits_total", outcome="counted") for w in workers)
        if total >= n:
            time.sleep(3.0)
            return
        time.sleep(0.3)
    raise AssertionError(
        f"windows counted fewer than {n} hits:\n" + "\n".join(w.log_tail(30) for w in workers)
    )


def _wait_both_own_partitions(a: Worker, b: Worker, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        texts = [a.metrics_text(), b.metrics_text()]
        if all(f'topic="{a.prefix}riskstream.hits"' in t for t in texts):
            return
        time.sleep(0.5)
    raise AssertionError("the two workers did not split the hits partitions")


ABSENCE_PACK = """\
version: 1
pack: it-absence
rules:
  - id: it-offline
    title: sensor offline
    risk: public_safety
    on: sensor
    kind: heartbeat
    group_by: [source_id]
    absent_for: 4s
    tier: blue
    route: [emergency]
"""


def heartbeat(event_id: str, at: datetime) -> bytes:
    return orjson.dumps(
        {
            "event_id": event_id,
            "kind": "heartbeat",
            "time": at.isoformat(),
            "source_id": "GAS-7",
            "location": {"city": "乌海市", "grid": "HBW-09-01"},
        }
    )


def test_a_silent_sensor_raises_an_absence_without_further_events_and_resolves_when_it_reports(
    bootstrap: str, tmp_path: Path
) -> None:
    pack = tmp_path / "absence.yaml"
    pack.write_text(ABSENCE_PACK, encoding="utf-8")
    worker = make_worker(
        bootstrap, tmp_path, "absence", RISKSTREAM_RULES_PATH=str(pack), RISKSTREAM_TICK_INTERVAL="0.5"
    )
    topic, emergency = f"{worker.prefix}events.sensor", f"{worker.prefix}alerts.emergency"
    worker.start()
    try:
        produce(bootstrap, [(topic, b"GAS-7", heartbeat("hb-1", datetime.now(UTC)))])
        fired = consume(bootstrap, [emergency], lambda r: len(r) >= 1, timeout=60)
        produce(bootstrap, [(topic, b"GAS-7", heartbeat("hb-2", datetime.now(UTC)))])
        records = consume(bootstrap, [emergency], lambda r: len(r) >= 2, timeout=60, settle=2.0)
    finally:
        worker.stop()
    first = notices(fired)[0]
    assert (first["rule_id"], first["status"], first["group"]) == (
        "it-offline",
        "firing",
        {"source_id": "GAS-7"},
    )
    assert first["window"]["absent"] >= 4
    both = notices(records)
    assert [(n["status"], n["notice_seq"]) for n in both] == [("firing", 1), ("resolved", 2)]
    assert both[0]["alert_id"] == both[1]["alert_id"]
