"""Bad input reaches the dead-letter topic with its reason and original bytes; the worker keeps going."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from tests.integration.harness import Worker, consume, make_worker, produce

GAS_PACK = """
version: 1
pack: it-gas
rules:
  - id: it-gas
    title: gas
    risk: public_safety
    on: sensor
    kind: combustible_gas
    when: value >= 20.0
    tier: {red: value >= 50.0, yellow: "true"}
    group_by: [source_id]
    route: [fire]
"""


def gas(event_id: str, value: float, source: str = "G-1") -> dict[str, object]:
    return {
        "event_id": event_id,
        "kind": "combustible_gas",
        "time": datetime.now(UTC).isoformat(),
        "source_id": source,
        "location": {"city": "乌海市", "grid": "HBW-01-01"},
        "value": value,
    }


BAD = {
    "truncated": b'{"event_id": "t1", "kind": "combustible_gas", "ti',
    "wrong_type": orjson.dumps({**gas("w1", 1.0), "value": "high"}),
    "missing_field": orjson.dumps({k: v for k, v in gas("m1", 1.0).items() if k != "time"}),
    "oversized": orjson.dumps({**gas("o1", 1.0), "attributes": {"blob": "x" * 70_000}}),
    "not_utf8": b'{"event_id": "\xff\xfe"}',
}
EXPECTED_CATEGORY = {
    "truncated": "not_json",
    "wrong_type": "invalid",
    "missing_field": "invalid",
    "oversized": "too_large",
    "not_utf8": "not_utf8",
}


@pytest.fixture(scope="module")
def worker(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    tmp: Path = tmp_path_factory.mktemp("dlq")
    (tmp / "pack.yaml").write_text(GAS_PACK, encoding="utf-8")
    w = make_worker(bootstrap, tmp, "dlq", RISKSTREAM_RULES_PATH=str(tmp / "pack.yaml")).start()
    produce(bootstrap, [(f"{w.prefix}events.sensor", name.encode(), raw) for name, raw in BAD.items()])
    produce(bootstrap, [(f"{w.prefix}events.sensor", b"G-1", orjson.dumps(gas("good-1", 55.0)))])
    yield w
    w.stop()


def dead_letters(worker: Worker) -> dict[bytes, object]:
    records = consume(worker.bootstrap, [f"{worker.prefix}riskstream.dlq"], lambda r: len(r) >= len(BAD))
    return {r.key: r for r in records}


def test_every_bad_message_lands_in_the_dead_letter_topic_with_its_reason(worker: Worker) -> None:
    records = dead_letters(worker)
    for name, category in EXPECTED_CATEGORY.items():
        headers = dict(records[name.encode()].headers)  # type: ignore[attr-defined]
        assert headers["riskstream.dlq.error"].decode() == category, name
        assert headers["riskstream.dlq.reason"], name


def test_dead_letters_keep_the_original_bytes_and_source_position(worker: Worker) -> None:
    records = dead_letters(worker)
    for name, raw in BAD.items():
        rec = records[name.encode()]
        headers = dict(rec.headers)  # type: ignore[attr-defined]
        assert rec.value == raw  # type: ignore[attr-defined]
        assert headers["riskstream.dlq.topic"].decode() == f"{worker.prefix}events.sensor"
        assert int(headers["riskstream.dlq.offset"]) >= 0


def test_the_worker_keeps_alerting_after_bad_input(worker: Worker) -> None:
    alerts = consume(worker.bootstrap, [f"{worker.prefix}alerts.fire"], lambda r: len(r) >= 1)
    body = orjson.loads(alerts[0].value)
    assert body["data"]["rule_id"] == "it-gas"
    assert body["data"]["evidence"] == ["good-1"]


def test_dead_letters_are_counted_in_metrics_by_reason(worker: Worker) -> None:
    dead_letters(worker)
    for category in set(EXPECTED_CATEGORY.values()):
        want = sum(1 for c in EXPECTED_CATEGORY.values() if c == category)
        assert worker.metric("riskstream_dead_letters_total", reason=category) == want
    assert worker.metric("riskstream_events_total", family="sensor", outcome="dead_letter") == len(BAD)


def test_consumer_lag_is_reported_per_input_partition_and_drains_to_zero(worker: Worker) -> None:
    dead_letters(worker)
    deadline = time.monotonic() + 30
    topic = f"{worker.prefix}events.sensor"
    while time.monotonic() < deadline:
        text = worker.metrics_text()
        if f'riskstream_consumer_lag_messages{{partition="0",topic="{topic}"}}' in text and (
            worker.metric("riskstream_consumer_lag_messages", topic=topic) == 0
        ):
            break
        time.sleep(1)
    else:
        raise AssertionError("no drained lag gauge for the sensor topic within 30 s")
    assert "-changelog" not in "".join(
        line for line in worker.metrics_text().splitlines() if line.startswith("riskstream_consumer_lag")
    )
    assert "riskstream_stalled_partitions 0.0" in worker.metrics_text().splitlines()


def test_a_candidate_that_cannot_be_processed_is_parked_and_dispatch_goes_on(worker: Worker) -> None:
    produce(worker.bootstrap, [(f"{worker.prefix}riskstream.candidates", b"bogus", b'{"rule_id": 1}')])
    records = consume(
        worker.bootstrap, [f"{worker.prefix}riskstream.dlq"], lambda r: any(x.key == b"bogus" for x in r)
    )
    parked = next(r for r in records if r.key == b"bogus")
    headers = dict(parked.headers)
    assert headers["riskstream.dlq.error"] == b"processing_error"
    assert headers["riskstream.dlq.topic"].decode() == f"{worker.prefix}riskstream.candidates"
    produce(
        worker.bootstrap,
        [(f"{worker.prefix}events.sensor", b"G-2", orjson.dumps(gas("good-2", 60.0, "G-2")))],
    )
    alerts = consume(worker.bootstrap, [f"{worker.prefix}alerts.fire"], lambda r: len(r) >= 2)
    assert any(orjson.loads(a.value)["data"]["evidence"] == ["good-2"] for a in alerts)
