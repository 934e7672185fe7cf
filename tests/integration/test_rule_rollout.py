"""Rules published to the rules topic reach every worker following it (RISKSTREAM_RULES_SOURCE=topic):
two workers start on the current version, switch to a newly published one together, refuse one
they cannot compile while the previous one keeps running, and follow a rollback.

The tests run in order on one pair of workers, as an author's day would.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from aiokafka.structs import ConsumerRecord

from rules.rule_bundle import CURRENT_KEY, CurrentPointer, RuleFile, RuleVersion
from streams.settings import PACKAGE_RULES
from tests.integration.harness import ROOT, Worker, consume, free_port, make_worker, produce, unique_prefix

SMOKE = """\
version: 1
pack: it-rollout
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
WITH_GAS = (
    SMOKE
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
BROKEN = (
    WITH_GAS
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
BROKEN_LINE = 27
"""The line of `when: status ==` in BROKEN."""


def riskstream(worker: Worker, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**worker.env, "COLUMNS": "200", "TERM": "dumb"}
    return subprocess.run(
        [sys.executable, "-m", "streams", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def publish(worker: Worker, pack: Path, text: str, message: str) -> None:
    pack.write_text(text, encoding="utf-8")
    result = riskstream(worker, "rules", "publish", str(pack), "-m", message, "--author", "it-author")
    assert result.returncode == 0, result.stdout + result.stderr


GAS_GRID, SMOKE_GRID = "HBW-02-02", "WD-03-01"
"""Apart: the gas alert (orange) would hold back a smoke alert (yellow) of its own grid (routing.yaml's
inhibition), and a held-back notice reaches no agency topic."""


def event(event_id: str, kind: str, source: str, grid: str = GAS_GRID, **fields: object) -> bytes:
    body = {
        "event_id": event_id,
        "kind": kind,
        "time": datetime.now(UTC).isoformat(),
        "source_id": source,
        "location": {"city": "乌海市", "grid": grid},
        **fields,
    }
    return orjson.dumps(body)


def wait_for(predicate: Callable[[], bool], timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return False


def versions(pair: list[Worker], state: str) -> list[float]:
    return [w.metric("riskstream_rules_version", state=state) for w in pair]


def fire_alert(worker: Worker, evidence: str, timeout: float = 60) -> dict[str, object]:
    """The first notice on the fire agency's topic whose evidence is this event."""

    def found(records: list[ConsumerRecord[bytes, bytes]]) -> bool:
        return any(evidence in orjson.loads(r.value)["data"]["evidence"] for r in records)

    records = consume(worker.bootstrap, [f"{worker.prefix}alerts.fire"], found, timeout)
    alerts = [orjson.loads(r.value)["data"] for r in records]
    matching = [a for a in alerts if evidence in a["evidence"]]
    assert matching, f"no alert with evidence {evidence!r} among {len(alerts)}"
    alert: dict[str, object] = matching[0]
    return alert


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path: Path = tmp_path_factory.mktemp("rollout") / "pack.yaml"
    return path


@pytest.fixture(scope="module")
def pair(bootstrap: str, pack: Path) -> Iterator[list[Worker]]:
    """Two workers in one consumer group, each following the rules topic on its own, started after
    version 1 was published."""
    first = make_worker(
        bootstrap, pack.parent, "rollout", RISKSTREAM_RULES_SOURCE="topic", RISKSTREAM_SESSION_TIMEOUT="10"
    )
    port = free_port()
    second = dataclasses.replace(
        first,
        web_port=port,
        log_path=pack.parent / "worker-rollout-2.log",
        env={**first.env, "RISKSTREAM_WEB_PORT": str(port)},
        proc=None,
    )
    publish(first, pack, SMOKE, "smoke alarms to the fire service")
    first.start()
    try:
        second.start()
        yield [first, second]
    finally:
        second.stop()
        first.stop()


def test_two_workers_start_on_the_published_version(pair: list[Worker]) -> None:
    assert wait_for(lambda: versions(pair, "running") == [1, 1])
    assert versions(pair, "wanted") == [1, 1]
    assert [w.metric("riskstream_rules_loaded") for w in pair] == [1, 1]


def test_both_workers_switch_to_a_newly_published_version(pair: list[Worker], pack: Path) -> None:
    publish(pair[0], pack, WITH_GAS, "combustible gas alarms too")
    assert wait_for(lambda: versions(pair, "running") == [2, 2]), [w.log_tail(30) for w in pair]
    assert [w.metric("riskstream_rules_loaded") for w in pair] == [2, 2]
    topic = f"{pair[0].prefix}events.sensor"
    produce(pair[0].bootstrap, [(topic, b"GAS-1", event("gas-v2", "combustible_gas", "GAS-1", value=31.0))])
    alert = fire_alert(pair[0], "gas-v2")
    assert alert["rule_id"] == "it-gas" and alert["tier"] == "orange"


def test_a_version_the_workers_cannot_compile_is_refused_and_the_previous_one_keeps_running(
    pair: list[Worker],
) -> None:
    """`rules publish` refuses such rules, so the record is written as a publisher that skipped the
    checks (or a newer riskstream whose rules this worker does not know) would write it."""
    worker = pair[0]
    routing = (PACKAGE_RULES / "routing.yaml").read_text(encoding="utf-8")
    broken = RuleVersion.create(
        3,
        [RuleFile(name="it/broken.yaml", text=BROKEN)],
        RuleFile(name="rules/routing.yaml", text=routing),
        "it-author",
        "a rule that does not compile",
        datetime.now(UTC),
    )
    pointer = CurrentPointer.to(broken, "publish", "it-author", datetime.now(UTC))
    topic = f"{worker.prefix}riskstream.rules"
    produce(worker.bootstrap, [(topic, broken.key, broken.encode()), (topic, CURRENT_KEY, pointer.encode())])

    assert wait_for(lambda: versions(pair, "wanted") == [3, 3])
    assert wait_for(lambda: all(w.metric("riskstream_rule_reloads_total", outcome="refused") for w in pair))
    assert versions(pair, "running") == [2, 2]
    for w in pair:
        log = w.log_path.read_text(errors="replace")
        assert "rule change refused: version 3" in log
        assert f"it/broken.yaml:{BROKEN_LINE}" in log
    sensor = f"{worker.prefix}events.sensor"
    smoke = event("smoke-v3", "smoke", "SMOKE-3", SMOKE_GRID, status="alarm")
    produce(worker.bootstrap, [(sensor, b"SMOKE-3", smoke)])
    assert fire_alert(worker, "smoke-v3")["rule_id"] == "it-smoke"


def test_a_rollback_switches_both_workers_back(pair: list[Worker]) -> None:
    worker = pair[0]
    result = riskstream(worker, "rules", "rollback", "1", "--by", "it-author")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "version 1 is current again" in result.stdout
    assert wait_for(lambda: versions(pair, "running") == [1, 1] and versions(pair, "wanted") == [1, 1])
    assert [w.metric("riskstream_rules_loaded") for w in pair] == [1, 1]

    def gas_matches() -> float:
        return sum(w.metric("riskstream_rule_matches_total", rule="it-gas") for w in pair)

    before = gas_matches()
    sensor = f"{worker.prefix}events.sensor"
    gas = event("gas-after-rollback", "combustible_gas", "MIXED-1", value=40.0)
    smoke = event("smoke-after-rollback", "smoke", "MIXED-1", SMOKE_GRID, status="alarm")
    # one key, one partition: once the smoke alarm is alerted, the gas reading was decided
    produce(worker.bootstrap, [(sensor, b"MIXED-1", gas), (sensor, b"MIXED-1", smoke)])
    fire_alert(worker, "smoke-after-rollback")
    assert gas_matches() == before


def test_history_lists_every_version_and_marks_the_current_one(pair: list[Worker]) -> None:
    result = riskstream(pair[0], "rules", "history")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    rows = [line for line in lines if "it-author" in line and not line.startswith("current:")]
    assert len(rows) == 3, result.stdout
    assert "current" in rows[2] and "smoke alarms to the fire service" in rows[2]
    assert "current" not in rows[0] and "a rule that does not compile" in rows[0]
    assert "current: version 1, rolled back by it-author" in result.stdout


def test_publishing_the_current_content_again_publishes_nothing(pair: list[Worker], pack: Path) -> None:
    pack.write_text(SMOKE, encoding="utf-8")
    result = riskstream(pair[0], "rules", "publish", str(pack), "-m", "same again", "--author", "it-author")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "unchanged" in result.stdout and "version 1" in result.stdout
    assert versions(pair, "wanted") == [1, 1]


def test_a_worker_following_a_topic_nobody_published_to_does_not_start(bootstrap: str) -> None:
    env = {
        **os.environ,
        "RISKSTREAM_KAFKA_BOOTSTRAP": bootstrap,
        "RISKSTREAM_TOPIC_PREFIX": unique_prefix("unpublished"),
        "RISKSTREAM_RULES_SOURCE": "topic",
        "COLUMNS": "200",
    }
    result = subprocess.run(
        [sys.executable, "-m", "streams", "worker"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "riskstream rules publish" in result.stderr
