"""A worker killed at any step of a batch notifies each alert exactly once after its restart.

Each stage's batches go: decided (state changed in memory, output handed to the producer), sent (the
broker has the output), changelogged (the broker has the state's changelog), written (the local
store has it too), then acked. Killed after deciding, nothing of the batch was durable: the
restarted worker decides it again from the last commit. Killed at dispatch after the notices reached
the broker and before the state was written, the restarted worker decides the candidates again and
finds (by reading the notice topics back, ``streams.redelivery``) that every copy was delivered, so
it sends none again. Killed after the state reached the changelog, the local store is behind the
changelog and recovery brings it level: the candidates decided again are recognised as done. After
every restart the alerts' changelog holds each alert's state (the local store never holds what its
changelog lacks).
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from tests.integration.harness import Worker, consume, make_worker, produce

PACK = """\
version: 1
pack: it-crash
rules:
  - id: crash-gas
    title: gas
    risk: public_safety
    on: sensor
    kind: combustible_gas
    when: value >= 20.0
    tier: red
    group_by: [source_id]
    cooldown: 1h
    route: [fire]
  - id: crash-tilt-thrice
    title: manhole tilting again and again
    risk: public_safety
    on: sensor
    kind: manhole_tilt
    when: value >= 10.0
    group_by: [source_id]
    count: {at_least: 3, within: 1h}
    tier: orange
    cooldown: 1h
    route: [fire]
  - id: crash-crowd
    title: crowd in one grid
    risk: public_order
    on: camera
    kind: crowd_density
    when: people >= 100
    group_by: [location.grid]
    count: {at_least: 2, within: 1h}
    tier: orange
    cooldown: 1h
    route: [fire]
"""


def reading(event_id: str, kind: str, source: str, at: datetime, **fields: object) -> bytes:
    return orjson.dumps(
        {
            "event_id": event_id,
            "kind": kind,
            "time": at.isoformat(),
            "source_id": source,
            "location": {"city": "乌海市", "grid": "HBW-01-01"},
            **fields,
        }
    )


MINUTE = timedelta(minutes=1)
SESSION_TIMEOUT = 10


def crowd(event_id: str, camera: str, at: datetime) -> bytes:
    return reading(event_id, "crowd_density", camera, at, people=150)


@pytest.mark.parametrize(
    "point",
    [
        "detect:decided",
        "windows:decided",
        "dispatch:decided",
        "dispatch:sent",
        "dispatch:changelogged",
        "dispatch:written",
    ],
)
def test_a_worker_killed_at_a_step_of_a_batch_notifies_each_alert_once_after_restart(
    bootstrap: str, tmp_path: Path, point: str
) -> None:
    pack = tmp_path / "pack.yaml"
    pack.write_text(PACK, encoding="utf-8")
    doomed = make_worker(
        bootstrap,
        tmp_path,
        f"crash-{point.split(':')[0]}",
        RISKSTREAM_RULES_PATH=str(pack),
        RISKSTREAM_STORE="rocksdb://",
        RISKSTREAM_CRASH_AT=point,
        RISKSTREAM_SESSION_TIMEOUT=str(SESSION_TIMEOUT),
        RISKSTREAM_STALL_AFTER="15",
    )
    sensors, cameras = f"{doomed.prefix}events.sensor", f"{doomed.prefix}events.camera"
    t0 = datetime.now(UTC) - timedelta(minutes=5)
    doomed.start()
    readings = [
        (sensors, b"GAS-1", reading("g1", "combustible_gas", "GAS-1", t0, value=35.0)),
        *[
            (sensors, b"MH-1", reading(f"m{i}", "manhole_tilt", "MH-1", t0 + i * MINUTE, value=15.0))
            for i in range(3)
        ],
    ]
    frames = [(cameras, f"CAM-{i}".encode(), crowd(f"c{i}", f"CAM-{i}", t0)) for i in range(2)]
    if point == "windows:decided":
        # Only the window stage's batch may be in flight when it dies: the readings' alerts are
        # out and committed first (at-least-once lets a finished batch of another stage that was
        # not committed yet be decided again, and so notified again).
        produce(bootstrap, readings)
        consume(bootstrap, [f"{doomed.prefix}alerts.fire"], lambda r: len(r) >= 2, timeout=60)
        time.sleep(3.0)
        produce(bootstrap, frames)
    else:
        produce(bootstrap, [*readings, *frames])
    _wait_killed(doomed)  # restarted at once: the dead member is still in the group for a while
    survivor = dataclasses.replace(
        doomed,
        env={k: v for k, v in doomed.env.items() if k != "RISKSTREAM_CRASH_AT"},
        log_path=tmp_path / "worker-restarted.log",
        proc=None,
    )
    survivor.start()
    try:
        records = consume(
            bootstrap, [f"{doomed.prefix}alerts.fire"], lambda r: len(r) >= 3, timeout=90, settle=8.0
        )
    finally:
        survivor.stop()
    notices = [orjson.loads(r.value)["data"] for r in records]
    opened = Counter(n["rule_id"] for n in notices if n["change"] == "opened")
    seen = [(n["rule_id"], n["change"], n["notice_seq"]) for n in notices]
    assert opened == {"crash-gas": 1, "crash-tilt-thrice": 1, "crash-crowd": 1}, seen
    sent = Counter((n["alert_id"], n["notice_seq"]) for n in notices)
    assert max(sent.values()) == 1, f"a notice reached the agency twice: {sent}"
    audit = consume(bootstrap, [f"{doomed.prefix}riskstream.alerts"], lambda r: len(r) >= 3, settle=1.0)
    audited = Counter(orjson.loads(r.value)["id"] for r in audit)
    assert max(audited.values()) == 1, f"a notice reached the audit topic twice: {audited}"
    assert "crash point " + point in doomed.log_path.read_text(errors="replace")
    changelog = consume(
        bootstrap,
        [f"{doomed.prefix}riskstream-alerts-changelog"],
        lambda r: len(r) >= 3,
        settle=1.0,
    )
    held = {
        r.key.decode(): orjson.loads(r.value)["a"]["alert_id"] for r in changelog if r.key and r.value
    }
    for n in notices:
        assert held.get(n["fingerprint"]) == n["alert_id"], f"the changelog lacks {n['rule_id']}: {held}"


def _wait_killed(worker: Worker, timeout: float = 60) -> None:
    assert worker.proc is not None
    code = worker.proc.wait(timeout=timeout)
    assert code == -9, f"the worker should have been killed at its crash point, it exited {code}"
