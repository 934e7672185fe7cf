"""`riskstream rules backtest --since`: the input topics on the real broker, read back from a time on."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.integration.harness import ROOT, unique_prefix

FAMILIES = ("sensor", "camera", "safety", "cyber", "hotline")


def gas(event_id: str, value: float, at: datetime) -> bytes:
    return orjson.dumps(
        {
            "event_id": event_id,
            "kind": "combustible_gas",
            "time": at.isoformat(),
            "source_id": "GAS-BT-1",
            "value": value,
            "unit": "%LEL",
            "location": {"city": "乌海市", "district": "乌达区", "grid": "WD-06-02"},
        }
    )


async def record(bootstrap: str, prefix: str) -> None:
    """An old red reading (3 h ago), a fresh yellow one, and a message that is not an event."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(f"{prefix}events.{f}", 2, 1) for f in FAMILIES])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        now = datetime.now(UTC)
        old = int((time.time() - 3 * 3600) * 1000)
        sensor = f"{prefix}events.sensor"
        await producer.send_and_wait(sensor, gas("bt-old", 55, now - timedelta(hours=3)), timestamp_ms=old)
        await producer.send_and_wait(sensor, gas("bt-new", 25, now))
        await producer.send_and_wait(f"{prefix}events.hotline", b"{not json")
    finally:
        await producer.stop()


def test_backtest_since_reads_only_recent_records_of_the_input_topics(bootstrap: str, tmp_path: Path) -> None:
    prefix = unique_prefix("backtest")
    asyncio.run(record(bootstrap, prefix))
    notices = tmp_path / "notices.jsonl"
    env = {
        **os.environ,
        "RISKSTREAM_KAFKA_BOOTSTRAP": bootstrap,
        "RISKSTREAM_TOPIC_PREFIX": prefix,
        "COLUMNS": "200",
    }
    args = ["rules", "backtest", "--since", "1h", "--rule", "gas-combustible-lel", "--notices", str(notices)]
    result = subprocess.run(
        [sys.executable, "-m", "streams", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "backtest: 1 events, 1 rejected" in result.stdout
    assert f"{prefix}events.hotline[" in result.stderr and "not_json" in result.stderr
    written = [orjson.loads(line)["alert"] for line in notices.read_bytes().splitlines()]
    assert [(a["change"], a["tier"]) for a in written] == [("opened", "yellow"), ("resolved", "yellow")]
