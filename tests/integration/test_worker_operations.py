"""How a running worker treats rule edits and repeated input."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from tests.integration.harness import ROOT, Worker, consume, make_worker, produce

PACK = """\
version: 1
pack: it-ops
rules:
  - id: it-smoke
    title: smoke
    risk: public_safety
    on: sensor
    kind: smoke
    when: status == 'alarm'
    tier: yellow
    group_by: [source_id]
    route: [fire]
"""
BROKEN = (
    PACK
    + """\
  - id: it-broken
    title: broken
    risk: public_safety
    on: sensor
    kind: smoke
    when: status ==
    tier: red
"""
)
NEW_RULE = (
    PACK
    + """\
  - id: it-gas
    title: gas
    risk: public_safety
    on: sensor
    kind: combustible_gas
    when: value != null && value >= 20.0
    tier: orange
    group_by: [source_id]
    route: [fire]
"""
)


def event(event_id: str, kind: str, source: str, **fields: object) -> bytes:
    body = {
        "event_id": event_id,
        "kind": kind,
        "time": datetime.now(UTC).isoformat(),
        "source_id": source,
        "location": {"city": "乌海市", "grid": "HBW-02-02"},
        **fields,
    }
    return orjson.dumps(body)


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path: Path = tmp_path_factory.mktemp("ops") / "pack.yaml"
    path.write_text(PACK, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def worker(bootstrap: str, pack: Path) -> Iterator[Worker]:
    w = make_worker(bootstrap, pack.parent, "ops", RISKSTREAM_RULES_PATH=str(pack)).start()
    yield w
    w.stop()


def fire_alerts(worker: Worker, n: int, timeout: float = 60) -> list[dict[str, object]]:
    records = consume(worker.bootstrap, [f"{worker.prefix}alerts.fire"], lambda r: len(r) >= n, timeout)
    return [orjson.loads(r.value)["data"] for r in records]


def wait_for(predicate: object, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.5)
    return False


def test_a_redelivered_event_raises_one_notice(worker: Worker) -> None:
    raw = event("dup-1", "smoke", "SMOKE-DUP", status="alarm")
    topic = f"{worker.prefix}events.sensor"
    produce(worker.bootstrap, [(topic, b"SMOKE-DUP", raw), (topic, b"SMOKE-DUP", raw)])
    wait_for(lambda: worker.metric("riskstream_events_total", outcome="valid") >= 2)
    alerts = [a for a in fire_alerts(worker, 1) if a["group"] == {"source_id": "SMOKE-DUP"}]
    assert len(alerts) == 1
    assert alerts[0]["count"] == 1


def test_a_broken_rule_edit_is_refused_and_the_old_rules_keep_running(worker: Worker, pack: Path) -> None:
    pack.write_text(BROKEN, encoding="utf-8")
    assert wait_for(lambda: worker.metric("riskstream_rule_reloads_total", outcome="refused") >= 1)
    assert "pack.yaml:" in worker.log_tail(200)
    produce(
        worker.bootstrap,
        [(f"{worker.prefix}events.sensor", b"S2", event("after-broken", "smoke", "S2", status="alarm"))],
    )
    alerts = fire_alerts(worker, 2)
    assert any(a["evidence"] == ["after-broken"] for a in alerts)
    assert worker.metric("riskstream_rules_loaded") == 1


def test_a_good_rule_edit_is_picked_up_without_a_restart(worker: Worker, pack: Path) -> None:
    pack.write_text(NEW_RULE, encoding="utf-8")
    assert wait_for(lambda: worker.metric("riskstream_rules_loaded") == 2)
    produce(
        worker.bootstrap,
        [(f"{worker.prefix}events.sensor", b"G9", event("gas-new", "combustible_gas", "G9", value=31.0))],
    )
    alerts = fire_alerts(worker, 3)
    assert any(a["rule_id"] == "it-gas" and a["tier"] == "orange" for a in alerts)


def test_the_worker_refuses_to_start_on_broken_rules_naming_file_and_line(
    bootstrap: str, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(BROKEN, encoding="utf-8")
    env = {**os.environ, "RISKSTREAM_KAFKA_BOOTSTRAP": bootstrap, "RISKSTREAM_RULES_PATH": str(broken)}
    result = subprocess.run(
        [sys.executable, "-m", "streams", "worker"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert f"{broken}:18" in result.stderr
    assert "it-broken" in result.stderr
