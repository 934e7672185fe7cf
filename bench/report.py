"""The JSON report: each result next to the ceiling, and the machine and versions behind the numbers."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
from dataclasses import asdict
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import orjson

from bench.broker import REPO_ROOT, kafka_version
from bench.params import BenchParams, ScenarioResult


def compare(results: list[ScenarioResult]) -> None:
    """Fill vs_passthrough: throughput ratio and latency differences to the ceiling run."""
    base = next((r for r in results if r.slug == "passthrough" and r.throughput), None)
    if base is None or base.throughput is None:
        return
    for r in results:
        if r is base or r.throughput is None:
            continue
        ratio = r.throughput.events_per_s / base.throughput.events_per_s
        r.vs_passthrough["throughput_ratio"] = round(ratio, 4)
        if r.latency and base.latency:
            for q in ("p50_ms", "p95_ms", "p99_ms"):
                mine, ceiling = getattr(r.latency, q), getattr(base.latency, q)
                if mine is not None and ceiling is not None:
                    r.vs_passthrough[f"{q}_delta"] = round(mine - ceiling, 2)


def load_average() -> list[float] | None:
    """Recorded because other processes on a shared box move these numbers a lot."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def machine_info() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": affinity,
        "cpu_model": model,
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "kafka_version": kafka_version(),
        "faust_streaming": _version("faust-streaming"),
        "aiokafka": _version("aiokafka"),
        "git_commit": _git_commit(),
    }


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


def _git_commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except OSError:
        return None
    return done.stdout.strip() or None


def report(
    params: BenchParams, results: list[ScenarioResult], started_broker: bool, run_id: str
) -> dict[str, Any]:
    parameters = asdict(params)
    parameters["profile_dir"] = str(params.profile_dir) if params.profile_dir else None
    parameters["broker"] = "started by bench (kafka-local.sh)" if started_broker else "external"
    return {
        "schema": 1,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "run_id": run_id,
        "machine": machine_info(),
        "parameters": parameters,
        "notes": {
            "events_per_s": "drain of a preloaded backlog, from the first processed event to the last "
            "(pipeline: worker counters incl. dispatch; passthrough: output end offsets)",
            "latency": "alert seen on the audit topic minus the send time carried in the event; "
            "pipeline: probe events only; passthrough: every event",
            "rules": "rules the worker runs, including the 1 latency probe rule",
            "stateful": "stateful scenario: its own backlog (stateful_events over stateful_groups grid "
            "cells, one hit per event), complete when the window stage has handled every hit; "
            "its latency probe is a count rule, so probes pass detect, hits, window stage and dispatch; "
            "expected_matches is what the workload must fire, predicted from the generated events",
            "memory": "memory scenario: one count rule grouped by source_id, every event its own group, "
            "none fires; peak_rss_mb is the worker's VmHWM from /proc, groups_held is "
            "riskstream_window_groups after the drain; stateful scenarios use the RocksDB store",
            "peak_rss_mb": "VmHWM of the measured process (worker or passthrough) when it was stopped",
        },
        "scenarios": [asdict(r) for r in results],
    }


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")
