"""The chaos soak's fault schedule, its reading of worker logs and metrics (bench.soak)."""

from __future__ import annotations

from pathlib import Path

from bench.soak.logs import count_segment, count_text
from bench.soak.metrics import parse_sample
from bench.soak.params import DEFAULT_RATE, SoakParams
from bench.soak.plan import plan_faults, quiet_window


def test_ten_minutes_kill_every_30_s_in_turn_and_stop_the_broker_once_half_way() -> None:
    faults = plan_faults(SoakParams())
    outages = [f for f in faults if f.kind == "outage"]
    kills = [f for f in faults if f.kind == "kill"]
    assert [(f.at, f.length) for f in outages] == [(300.0, 20.0)]
    assert [f.at for f in kills] == [*range(30, 271, 30), *range(360, 571, 30)]
    assert [f.slot for f in kills[:4]] == ["a", "b", "a", "b"]


def test_no_kill_near_the_outage_or_in_its_quiet_time_after() -> None:
    p = SoakParams(duration=90, kill_every=15, outage=10, outage_at=37, quiet_after=15, session_timeout=6)
    assert quiet_window(p) == (16.0, 62.0)
    assert [(f.at, f.kind) for f in plan_faults(p)] == [(15, "kill"), (37, "outage"), (75, "kill")]


def test_no_faults_when_asked_for_none() -> None:
    assert plan_faults(SoakParams(kill_every=0, outage=0)) == []


def test_the_default_rate_is_half_of_one_workers_city_drain_rate() -> None:
    assert DEFAULT_RATE == 8830


WORKER_LOG = """\
[2026-11-29 07:00:01,001] INFO streams.worker: started
[2026-11-29 07:00:02,001] [4711] [ERROR] Unable connect to node with id 1: [Errno 111] Connect call failed
[2026-11-29 07:00:02,101] ERROR aiokafka: Unable to update metadata from [1]
[2026-11-29 07:00:03,000] [4711] [WARNING] Heartbeat failed for group soak: coordinator not available
[2026-11-29 07:00:04,000] ERROR streams.app: reading acks, silences and open alerts failed; retrying in 2 s
Traceback (most recent call last):
  File "x.py", line 1, in <module>
KafkaConnectionError: No connection to node
[2026-11-29 07:00:05,000] CRITICAL streams.stage: the dispatch stage could not send
the word ERROR inside a message line is not a level
"""


def test_error_lines_and_tracebacks_are_counted_in_both_log_formats() -> None:
    counts = count_text(WORKER_LOG)
    assert (counts.errors, counts.tracebacks) == (4, 1)
    assert counts.first_error is not None and "Unable connect" in counts.first_error


def test_a_segment_counts_only_the_bytes_between_two_marks(tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    log.write_text(WORKER_LOG, encoding="utf-8")
    lines = WORKER_LOG.encode().splitlines(keepends=True)
    start = sum(map(len, lines[:2]))
    end = sum(map(len, lines[:4]))
    assert count_segment(log, start, end).errors == 1
    assert count_segment(log, end).tracebacks == 1
    assert count_segment(tmp_path / "missing.log", 0).errors == 0


METRICS = """\
# HELP riskstream_events_total Input messages consumed, by family and outcome
riskstream_events_total{family="sensor",outcome="valid"} 1200.0
riskstream_events_total{family="camera",outcome="valid"} 300.0
riskstream_events_total{family="camera",outcome="dead_letter"} 2.0
riskstream_stage_records_total{stage="detect"} 1480.0
riskstream_stage_records_total{stage="windows"} 77.0
riskstream_stage_records_total{stage="dispatch"} 31.0
riskstream_processing_errors_total{stage="dispatch"} 0.0
riskstream_consumer_lag_messages{partition="0",topic="p.events.sensor"} 4.0
riskstream_consumer_lag_messages{partition="1",topic="p.events.sensor"} 0.0
riskstream_consumer_lag_messages{partition="0",topic="p.riskstream.hits"} 0.0
"""


def test_a_scrape_gives_valid_and_other_events_stage_progress_and_owned_input_partitions() -> None:
    s = parse_sample(METRICS, {"p.events.sensor", "p.events.camera"})
    assert (s.valid, s.invalid, s.detect_done, s.dispatch_done, s.input_partitions) == (1500, 2, 1480, 31, 2)
