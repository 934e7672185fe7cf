"""The worker as the bench runs it: its command line, its environment, its /metrics counters."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from bench.process import python_argv
from streams.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def worker_argv(tmp: Path, profile: Path | None) -> list[str]:
    """`riskstream worker` through the installed entry point, or a shim when it is not installed."""
    entry = Path(sys.executable).with_name("riskstream")
    if not entry.exists():
        entry = tmp / "riskstream_entry.py"
        entry.write_text("import sys\nfrom streams.cli import main\nsys.exit(main())\n", encoding="utf-8")
    return python_argv([str(entry), "worker"], profile)


def worker_env(s: Settings) -> dict[str, str]:
    """The worker's whole configuration, with the caller's RISKSTREAM_* removed so runs repeat."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISKSTREAM_")}
    env.update(
        {
            "RISKSTREAM_KAFKA_BOOTSTRAP": s.kafka_bootstrap,
            "RISKSTREAM_APP_ID": s.app_id,
            "RISKSTREAM_TOPIC_PREFIX": s.topic_prefix,
            "RISKSTREAM_PARTITIONS": str(s.partitions),
            "RISKSTREAM_RULES_PATH": os.pathsep.join(str(p) for p in s.rules_path),
            "RISKSTREAM_ROUTING_PATH": str(s.routing_path),
            "RISKSTREAM_STORE": s.store,
            "RISKSTREAM_DATA_DIR": str(s.data_dir),
            "RISKSTREAM_WEB_BIND": s.web_bind,
            "RISKSTREAM_WEB_PORT": str(s.web_port),
            "RISKSTREAM_LOG_LEVEL": s.log_level,
            "PYTHONUNBUFFERED": "1",
            **s.kafka_security_env(),
        }
    )
    return env


@dataclass(frozen=True)
class Counters:
    """The worker's own Prometheus counters: exact progress, without waiting for a commit."""

    processed: float = 0.0
    matched: float = 0.0
    alerts: float = 0.0
    suppressed: float = 0.0
    eval_errors: float = 0.0
    window_outcomes: dict[str, float] = field(default_factory=dict)
    window_groups: float = 0.0
    stage_records: dict[str, float] = field(default_factory=dict)
    """Records each stage has finished: decided, output acknowledged, state written."""

    @property
    def dispatched(self) -> float:
        return self.alerts + self.suppressed

    @property
    def window_hits(self) -> float:
        """Hits the window stage has handled, whatever their outcome."""
        return sum(self.window_outcomes.values())


_COUNTER_OF = {
    "riskstream_events_total": "processed",
    "riskstream_rule_matches_total": "matched",
    "riskstream_candidates_suppressed_total": "suppressed",
    "riskstream_rule_eval_errors_total": "eval_errors",
}


_OUTCOME = re.compile(r'outcome="([^"]*)"')
_STAGE = re.compile(r'stage="([^"]*)"')


def parse_counters(text: str) -> Counters:
    sums = dict.fromkeys(("processed", "matched", "alerts", "suppressed", "eval_errors"), 0.0)
    outcomes: dict[str, float] = {}
    stages: dict[str, float] = {}
    groups = 0.0
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        name = series.split("{", 1)[0]
        if name in _COUNTER_OF:
            sums[_COUNTER_OF[name]] += float(value)
        elif name == "riskstream_alert_latency_seconds_count" and 'stage="event_to_alert"' in series:
            sums["alerts"] += float(value)
        elif name == "riskstream_window_hits_total":
            found = _OUTCOME.search(series)
            outcome = found.group(1) if found else "unknown"
            outcomes[outcome] = outcomes.get(outcome, 0.0) + float(value)
        elif name == "riskstream_window_groups":
            groups += float(value)
        elif name == "riskstream_stage_records_total":
            found = _STAGE.search(series)
            if found:
                stages[found.group(1)] = float(value)
    return Counters(**sums, window_outcomes=outcomes, window_groups=groups, stage_records=stages)


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=2.0) as resp:
        return str(resp.read().decode("utf-8"))


async def scrape(port: int) -> Counters | None:
    try:
        text = await asyncio.to_thread(_get, f"http://127.0.0.1:{port}/metrics")
    except OSError:
        return None
    return parse_counters(text)
