"""What the soak reads from a worker's /metrics: the counters that say what it has processed."""

from __future__ import annotations

import asyncio
import re
import urllib.request
from collections.abc import Collection
from dataclasses import dataclass

_SERIES = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class WorkerSample:
    """One scrape of one worker process; counters start at 0 with each process."""

    valid: float = 0.0
    """riskstream_events_total{outcome="valid"}: input events decoded and decided (a batch decided
    again after a kill counts again, in the process that decides it again)."""
    invalid: float = 0.0
    """riskstream_events_total with any other outcome (dead letters)."""
    detect_done: float = 0.0
    """riskstream_stage_records_total{stage="detect"}: input events whose output the broker has
    acknowledged and whose state is written (then acked, so committed within a second)."""
    dispatch_done: float = 0.0
    processing_errors: float = 0.0
    input_partitions: int = 0
    """Input partitions this worker owns (its consumer-lag gauge names them)."""


def parse_sample(text: str, input_topics: Collection[str]) -> WorkerSample:
    values = {"valid": 0.0, "invalid": 0.0, "detect_done": 0.0, "dispatch_done": 0.0,
              "processing_errors": 0.0}
    owned: set[tuple[str, str]] = set()
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SERIES.match(line)
        if m is None:
            continue
        name, raw, value = m.group(1), m.group(2) or "", m.group(3)
        try:
            number = float(value)
        except ValueError:
            continue
        labels = dict(_LABEL.findall(raw))
        if name == "riskstream_events_total":
            values["valid" if labels.get("outcome") == "valid" else "invalid"] += number
        elif name == "riskstream_stage_records_total":
            stage = labels.get("stage")
            if stage in ("detect", "dispatch"):
                values[f"{stage}_done"] += number
        elif name == "riskstream_processing_errors_total":
            values["processing_errors"] += number
        elif name == "riskstream_consumer_lag_messages" and labels.get("topic") in input_topics:
            owned.add((labels["topic"], labels.get("partition", "")))
    return WorkerSample(**values, input_partitions=len(owned))


def _get(url: str, timeout: float) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return str(resp.read().decode("utf-8"))


async def scrape(port: int, input_topics: Collection[str], timeout: float = 2.0) -> WorkerSample | None:
    """The worker's counters now, or None when it does not answer."""
    try:
        text = await asyncio.to_thread(_get, f"http://127.0.0.1:{port}/metrics", timeout)
    except OSError:
        return None
    return parse_sample(text, input_topics)
