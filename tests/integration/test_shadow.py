"""Shadow rules on the real broker: a shadow rule's notice reaches the audit topic marked shadow
(in the notice, its envelope and a Kafka header) and no agency topic, and its alert holds back no
live alert."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.integration.harness import Worker, consume, make_worker, produce

PACK = """\
version: 1
pack: it-shadow
rules:
  - id: sh-gas
    title: gas
    risk: public_safety
    on: sensor
    kind: combustible_gas
    when: value != null && value >= 50
    tier: red
    group_by: [source_id]
    cooldown: 1h
    route: [fire]
  - id: sh-gas-v2
    mode: shadow
    replaces: sh-gas
    title: gas, lower threshold
    risk: public_safety
    on: sensor
    kind: combustible_gas
    when: value != null && value >= 20
    tier: red
    group_by: [source_id]
    cooldown: 1h
    route: [fire]
  - id: sh-smoke
    title: smoke
    risk: public_safety
    on: sensor
    kind: smoke
    tier: yellow
    group_by: [source_id]
    cooldown: 1h
    route: [fire]
"""

ROUTING = """\
version: 1
default_agency: governance
agencies:
  fire:       {topic: alerts.fire,       name: fire}
  governance: {topic: alerts.governance, name: governance}
inhibit:
  - name: red-holds-back-lower-in-its-area
    source: {tier: [red]}
    target: {tier: [blue, yellow]}
    equal: [risk]
"""

AGENCY_TOPICS = ("alerts.fire", "alerts.governance")


@pytest.fixture(scope="module")
def worker(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    tmp: Path = tmp_path_factory.mktemp("shadow")
    (tmp / "pack.yaml").write_text(PACK, encoding="utf-8")
    (tmp / "routing.yaml").write_text(ROUTING, encoding="utf-8")
    w = make_worker(
        bootstrap,
        tmp,
        "shadow",
        RISKSTREAM_RULES_PATH=str(tmp / "pack.yaml"),
        RISKSTREAM_ROUTING_PATH=str(tmp / "routing.yaml"),
        RISKSTREAM_TICK_INTERVAL="0.5",
    )
    w.start()
    yield w
    w.stop()


def sensor(worker: Worker, kind: str, event_id: str, source_id: str, grid: str, **fields: Any) -> None:
    body = {
        "event_id": event_id,
        "kind": kind,
        "time": datetime.now(UTC).isoformat(),
        "source_id": source_id,
        "location": {"city": "乌海市", "district": "海勃湾区", "grid": grid},
        **fields,
    }
    produce(worker.bootstrap, [(f"{worker.prefix}events.sensor", source_id.encode(), orjson.dumps(body))])


def audited(worker: Worker, rule: str, source_id: str) -> list[tuple[dict[str, Any], dict[str, bytes]]]:
    """Notices of one rule and source on the audit topic, with their headers (waits for the first)."""

    def mine(records: list[Any]) -> list[tuple[dict[str, Any], dict[str, bytes]]]:
        out = []
        for r in records:
            data = orjson.loads(r.value)["data"]
            if data["rule_id"] == rule and data["group"] == {"source_id": source_id}:
                out.append((orjson.loads(r.value), dict(r.headers)))
        return out

    records = consume(worker.bootstrap, [f"{worker.prefix}riskstream.alerts"], lambda rs: bool(mine(rs)))
    return mine(records)


def at_agencies(worker: Worker, rule: str, wait_for: int = 0, timeout: float = 5) -> list[dict[str, Any]]:
    """Notices of one rule on any agency topic: waits for ``wait_for`` of them, else reads ``timeout`` s."""

    def mine(records: list[Any]) -> list[dict[str, Any]]:
        notices = [orjson.loads(r.value)["data"] for r in records]
        return [d for d in notices if d["rule_id"] == rule]

    topics = [f"{worker.prefix}{t}" for t in AGENCY_TOPICS]
    done = (lambda rs: len(mine(rs)) >= wait_for) if wait_for else (lambda rs: False)
    return mine(consume(worker.bootstrap, topics, done, timeout=timeout if not wait_for else 60))


def test_a_shadow_notice_reaches_the_audit_topic_marked_shadow_and_no_agency(worker: Worker) -> None:
    sensor(worker, "combustible_gas", "gas-sh-1", "GAS-1", "G-1", value=30.0)
    ((event, headers),) = audited(worker, "sh-gas-v2", "GAS-1")
    data = event["data"]
    assert (data["shadow"], data["replaces"], data["change"]) == (True, "sh-gas", "opened")
    assert data["agencies"] == ["fire"], "who would have heard it"
    assert event["riskstreammode"] == "shadow"
    assert headers["riskstream-mode"] == b"shadow"
    assert at_agencies(worker, "sh-gas-v2") == []
    assert worker.metric("riskstream_shadow_notices_total", rule="sh-gas-v2", agency="fire") == 1
    assert worker.metric("riskstream_alerts_total", rule="sh-gas-v2") == 0


def test_a_shadow_alert_holds_back_no_live_alert_in_its_area(worker: Worker) -> None:
    sensor(worker, "combustible_gas", "gas-sh-2", "GAS-2", "G-2", value=30.0)
    audited(worker, "sh-gas-v2", "GAS-2")
    sensor(worker, "smoke", "smoke-sh-2", "SMK-2", "G-2")
    smoke = [n for n in at_agencies(worker, "sh-smoke", wait_for=1) if n["group"] == {"source_id": "SMK-2"}]
    assert [(n["change"], n["withheld_by"], n["shadow"]) for n in smoke] == [("opened", None, False)]
