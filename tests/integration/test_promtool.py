"""A running worker's /metrics passes `promtool check metrics`, with the label children traffic creates.

tests/unit/test_metrics_exposition.py checks what the worker registers without a broker; this checks
the page a running worker serves (consumer lag per partition, events, matches, notices, latency
histograms with their stage labels) exactly as Prometheus scrapes it.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from tests.integration.harness import Worker, consume, make_worker, produce

PROMTOOL = shutil.which("promtool")

PACK = """\
version: 1
pack: it-promtool
rules:
  - id: it-promtool-smoke
    title: smoke
    risk: public_safety
    on: sensor
    kind: smoke
    when: status == 'alarm'
    tier: yellow
    group_by: [source_id]
    route: [fire]
"""

pytestmark = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian package prometheus)")


@pytest.fixture(scope="module")
def worker(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    pack: Path = tmp_path_factory.mktemp("promtool") / "pack.yaml"
    pack.write_text(PACK, encoding="utf-8")
    w = make_worker(bootstrap, pack.parent, "promtool", RISKSTREAM_RULES_PATH=str(pack)).start()
    yield w
    w.stop()


def test_promtool_check_metrics_passes_on_a_running_workers_page(worker: Worker) -> None:
    body = {
        "event_id": "promtool-1",
        "kind": "smoke",
        "time": datetime.now(UTC).isoformat(),
        "source_id": "SMOKE-PT",
        "location": {"city": "乌海市", "grid": "HBW-02-02"},
        "status": "alarm",
    }
    topic = f"{worker.prefix}events.sensor"
    produce(worker.bootstrap, [(topic, b"SMOKE-PT", orjson.dumps(body)), (topic, b"BAD", b"not json")])
    consume(worker.bootstrap, [f"{worker.prefix}alerts.fire"], lambda r: len(r) >= 1, timeout=60)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (
        worker.metric("riskstream_alert_latency_seconds_count") >= 1
        and worker.metric("riskstream_events_total", outcome="dead_letter") >= 1
    ):
        time.sleep(0.5)

    text = worker.metrics_text()
    assert 'riskstream_events_total{family="sensor",outcome="dead_letter"}' in text
    assert "riskstream_alert_latency_seconds_bucket{" in text
    assert PROMTOOL is not None
    done = subprocess.run(
        [PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30, check=False
    )
    assert (done.returncode, done.stdout + done.stderr) == (0, ""), text
