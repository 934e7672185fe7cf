"""The alert lifecycle on the real broker: repeats, escalation, acknowledgement, inhibition,
silences from the command line, and a restart in the middle of an alert's life."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.integration.harness import ROOT, Worker, consume, make_worker, produce

PACK = """\
version: 1
pack: it-lifecycle
rules:
  - id: lc-level
    title: water level
    risk: public_safety
    on: sensor
    kind: water_level
    when: value != null && value >= 3.0
    tier: {orange: value >= 4.0, yellow: "true"}
    group_by: [source_id]
    cooldown: 1h
    repeat_interval: 10m
    route: [emergency]
  - id: lc-fight
    title: fight
    risk: public_order
    on: camera
    kind: fight
    tier: orange
    group_by: [location.grid]
    cooldown: 1h
  - id: lc-banner
    title: banner
    risk: political_security
    on: camera
    kind: banner
    tier: yellow
    group_by: [location.grid]
    cooldown: 1h
  - id: lc-gas
    title: gas
    risk: public_safety
    on: sensor
    kind: combustible_gas
    tier: red
    group_by: [source_id]
    cooldown: 1h
    route: [fire]
  - id: lc-smoke
    title: smoke
    risk: public_safety
    on: sensor
    kind: smoke
    tier: yellow
    group_by: [source_id]
    cooldown: 1h
    route: [fire]
  - id: lc-tilt
    title: manhole tilt
    risk: public_safety
    on: sensor
    kind: manhole_tilt
    tier: blue
    group_by: [source_id]
    cooldown: 1h
    route: [emergency]
"""

ROUTING = """\
version: 1
default_agency: governance
agencies:
  police:     {topic: alerts.police,     name: police}
  fire:       {topic: alerts.fire,       name: fire}
  emergency:  {topic: alerts.emergency,  name: emergency}
  governance: {topic: alerts.governance, name: governance}
routes:
  - name: public-order
    match: {risk: [public_order]}
    agencies: [police]
    escalate: {after: 3s, to: [governance]}
  - name: political-security
    match: {risk: [political_security]}
    agencies: [police]
    escalate: {after: 8s, to: [governance]}
inhibit:
  - name: red-holds-back-lower-in-its-area
    source: {tier: [red]}
    target: {tier: [blue, yellow]}
    equal: [risk]
"""


@pytest.fixture(scope="module")
def worker(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    tmp: Path = tmp_path_factory.mktemp("lifecycle")
    (tmp / "pack.yaml").write_text(PACK, encoding="utf-8")
    (tmp / "routing.yaml").write_text(ROUTING, encoding="utf-8")
    w = make_worker(
        bootstrap,
        tmp,
        "lifecycle",
        RISKSTREAM_RULES_PATH=str(tmp / "pack.yaml"),
        RISKSTREAM_ROUTING_PATH=str(tmp / "routing.yaml"),
        RISKSTREAM_TICK_INTERVAL="0.5",
    )
    w.start()
    yield w
    w.stop()


def event(family: str, kind: str, event_id: str, at: datetime, **fields: Any) -> bytes:
    body: dict[str, Any] = {
        "event_id": event_id,
        "kind": kind,
        "time": at.isoformat(),
        "source_id": fields.pop("source_id", "dev-1"),
        "location": {"city": "乌海市", "district": "海勃湾区", "grid": fields.pop("grid", "G-1")},
        **fields,
    }
    return orjson.dumps(body)


def send(worker: Worker, family: str, *values: bytes) -> None:
    produce(worker.bootstrap, [(f"{worker.prefix}events.{family}", b"k", v) for v in values])


def notices(
    worker: Worker, agency: str, rule: str, n: int, timeout: float = 60, settle: float = 2.0
) -> list[dict]:  # type: ignore[type-arg]
    def mine(records: list) -> list[dict]:  # type: ignore[type-arg]
        return [d for d in (orjson.loads(r.value)["data"] for r in records) if d["rule_id"] == rule]

    records = consume(
        worker.bootstrap, [f"{worker.prefix}alerts.{agency}"], lambda r: len(mine(r)) >= n, timeout, settle
    )
    return mine(records)


def audit(worker: Worker, rule: str, n: int) -> list[tuple[dict, dict[str, bytes]]]:  # type: ignore[type-arg]
    records = consume(
        worker.bootstrap,
        [f"{worker.prefix}riskstream.alerts"],
        lambda rs: sum(orjson.loads(r.value)["data"]["rule_id"] == rule for r in rs) >= n,
        timeout=60,
    )
    out = []
    for r in records:
        data = orjson.loads(r.value)["data"]
        if data["rule_id"] == rule:
            out.append((data, dict(r.headers)))
    return out


def riskstream(worker: Worker, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams", *args],
        cwd=ROOT,
        env={**worker.env, "COLUMNS": "200", "TERM": "dumb"},
        capture_output=True,
        text=True,
        timeout=90,
    )


def test_matches_inside_the_repeat_interval_stay_quiet_and_one_after_it_repeats(worker: Worker) -> None:
    t0 = datetime.now(UTC) - timedelta(minutes=30)
    send(
        worker,
        "sensor",
        *(event("sensor", "water_level", f"wl-{i}", t0 + timedelta(minutes=i), value=3.2) for i in range(4)),
    )
    first = notices(worker, "emergency", "lc-level", 1, settle=3.0)
    send(worker, "sensor", event("sensor", "water_level", "wl-11", t0 + timedelta(minutes=11), value=3.3))
    both = notices(worker, "emergency", "lc-level", 2, settle=2.0)
    assert [(n["notice_seq"], n["change"]) for n in first] == [(1, "opened")]
    assert [(n["notice_seq"], n["change"], n["count"]) for n in both] == [(1, "opened", 1), (2, "repeat", 5)]
    assert worker.metric("riskstream_candidates_suppressed_total", rule="lc-level", reason="in_cooldown") == 3


def test_an_unacknowledged_alert_is_escalated_to_the_next_agency(worker: Worker) -> None:
    send(worker, "camera", event("camera", "fight", "fight-1", datetime.now(UTC), grid="G-esc"))
    police = notices(worker, "police", "lc-fight", 2, timeout=30)
    assert [(n["change"], n["status"], n["escalation"]) for n in police] == [
        ("opened", "firing", 0),
        ("escalated", "escalated", 1),
    ]
    assert police[1]["agencies"] == ["police", "governance"]
    assert "not acknowledged within 3s" in police[1]["routed_because"]["governance"]
    (gov,) = notices(worker, "governance", "lc-fight", 1)
    assert gov["alert_id"] == police[0]["alert_id"]


def test_an_acknowledged_alert_is_not_escalated_and_its_agencies_hear_who_took_it(worker: Worker) -> None:
    send(worker, "camera", event("camera", "banner", "banner-1", datetime.now(UTC), grid="G-ack"))
    (opened,) = notices(worker, "police", "lc-banner", 1, settle=0)
    result = riskstream(worker, "ack", opened["alert_id"], "--by", "王警官", "--note", "已出警")
    assert result.returncode == 0, result.stderr
    time.sleep(10)  # past the 8 s escalation deadline
    seen = notices(worker, "police", "lc-banner", 2, settle=1.0)
    assert [(n["change"], n["status"]) for n in seen] == [
        ("opened", "firing"),
        ("acknowledged", "acknowledged"),
    ]
    assert (seen[1]["acknowledged_by"], seen[1]["ack_note"]) == ("王警官", "已出警")
    assert worker.metric("riskstream_time_to_ack_seconds_count", rule="lc-banner") == 1


def test_ack_of_an_id_no_open_alert_has_is_refused_and_sends_nothing(worker: Worker) -> None:
    result = riskstream(worker, "ack", "00000000-0000-0000-0000-000000000000", "--by", "王警官")
    assert result.returncode == 1
    assert "no open alert has id '00000000-0000-0000-0000-000000000000'" in result.stderr
    assert "riskstream tail" in result.stderr
    acks = consume(worker.bootstrap, [f"{worker.prefix}riskstream.acks"], lambda r: False, timeout=2)
    assert all(not r.key.startswith(b"00000000") for r in acks)


def test_a_red_alert_holds_back_a_lower_one_in_its_area_and_lists_it(worker: Worker) -> None:
    now = datetime.now(UTC)
    send(worker, "sensor", event("sensor", "combustible_gas", "gas-1", now, source_id="GAS-1", grid="G-inh"))
    (red,) = notices(worker, "fire", "lc-gas", 1, settle=1.0)
    send(worker, "sensor", event("sensor", "smoke", "smoke-1", now, source_id="SMK-1", grid="G-inh"))
    ((held, headers),) = audit(worker, "lc-smoke", 1)
    assert held["withheld_by"].startswith(f"inhibited by red I alert {red['alert_id']}")
    assert headers["riskstream-withheld"].startswith(b"inhibited by")
    assert notices(worker, "fire", "lc-smoke", 1, timeout=3) == []
    assert worker.metric("riskstream_notices_withheld_total", rule="lc-smoke", why="inhibited") == 1
    by_its_start = riskstream(worker, "ack", red["alert_id"][:8], "--by", "李队长")
    assert by_its_start.returncode == 0, by_its_start.stderr
    acked = notices(worker, "fire", "lc-gas", 2, settle=0)[-1]
    assert (acked["change"], acked["inhibited"], acked["inhibited_count"]) == (
        "acknowledged",
        [held["alert_id"]],
        1,
    )


def test_a_silence_added_from_the_command_line_holds_back_notices_and_counts_them(worker: Worker) -> None:
    added = riskstream(
        worker,
        "silence",
        "add",
        "--match",
        "rule=lc-tilt",
        "--for",
        "1h",
        "--by",
        "运维张工",
        "--reason",
        "井盖更换施工",
    )
    assert added.returncode == 0, added.stderr
    listed = riskstream(worker, "silence", "list")
    assert "lc-tilt" in listed.stdout and "active" in listed.stdout and "井盖更换施工" in listed.stdout
    time.sleep(2)  # the worker reads the silences topic continuously
    send(
        worker,
        "sensor",
        event("sensor", "manhole_tilt", "tilt-1", datetime.now(UTC), source_id="MH-1", value=12.0),
    )
    ((held, _),) = audit(worker, "lc-tilt", 1)
    assert held["withheld_by"].startswith("silence ") and "井盖更换施工" in held["withheld_by"]
    assert notices(worker, "emergency", "lc-tilt", 1, timeout=3) == []
    assert worker.metric("riskstream_notices_withheld_total", rule="lc-tilt", why="silence") == 1
    silence_id = added.stderr.split()[1]
    assert riskstream(worker, "silence", "expire", silence_id).returncode == 0
    assert "lc-tilt" not in riskstream(worker, "silence", "list").stdout


def test_a_restart_in_the_middle_of_an_alert_keeps_its_state_and_sends_nothing_twice(worker: Worker) -> None:
    t0 = datetime.now(UTC) - timedelta(minutes=5)
    send(worker, "sensor", event("sensor", "water_level", "rs-1", t0, source_id="WL-R", value=3.1))
    # Notices of other alerts sit in other partitions: pick this one by its group, not its place.
    seen = notices(worker, "emergency", "lc-level", 3, settle=2.0)
    (opened,) = [n for n in seen if n["group"] == {"source_id": "WL-R"}]
    time.sleep(2)  # past a commit
    worker.stop(sig_kill=True)
    worker.start()
    send(
        worker,
        "sensor",
        event("sensor", "water_level", "rs-2", t0 + timedelta(minutes=1), value=4.5, source_id="WL-R"),
    )
    mine = [
        n
        for n in notices(worker, "emergency", "lc-level", 4, settle=4.0)
        if n["group"] == {"source_id": "WL-R"}
    ]
    assert [(n["notice_seq"], n["change"], n["tier"]) for n in mine] == [
        (1, "opened", "yellow"),
        (2, "tier_raised", "orange"),
    ]
    assert {n["alert_id"] for n in mine} == {opened["alert_id"]}
    assert mine[1]["count"] == 2
