"""What a run is given and hands back: parameters, scenarios, result records, the progress display."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class BenchParams:
    """One run's knobs; all of them go into the JSON so results stay comparable."""

    events: int = 20_000
    rate: float = 200.0  # well below the slowest drain seen on 2 cores (~800 ev/s): work, not queues
    duration: float = 30.0
    probe_fraction: float = 0.05
    match_rate: float = 0.02
    rule_counts: tuple[int, ...] = (100, 1000)
    shipped: bool = True
    passthrough: bool = True
    partitions: int = 4
    seed: int = 7
    settle: float = 10.0
    worker_timeout: float = 180.0
    profile_dir: Path | None = None


@dataclass(frozen=True)
class Scenario:
    name: str
    slug: str
    rule_paths: tuple[Path, ...] = ()
    generated_rules: int = 0
    expected_match: float | None = None

    @property
    def is_passthrough(self) -> bool:
        return not self.rule_paths


@dataclass
class Throughput:
    events: int
    seconds: float
    events_per_s: float
    first_progress_after_s: float
    committed_drain_s: float | None = None
    matched: float | None = None
    match_fraction: float | None = None
    alerts: float | None = None
    eval_errors: float | None = None
    process_cpu_util: float | None = None
    machine_busy: float | None = None
    progress: list[tuple[float, float]] = field(default_factory=list)


@dataclass
class Latency:
    rate: float
    duration_s: float
    sent: int
    tracked: int
    received: int
    achieved_rate: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    mean_ms: float | None


@dataclass
class ScenarioResult:
    name: str
    slug: str
    rules: int
    generated_rules: int
    expected_match_fraction: float | None = None
    throughput: Throughput | None = None
    latency: Latency | None = None
    vs_passthrough: dict[str, float] = field(default_factory=dict)
    saturated: bool = False
    error: str | None = None
    worker_log: str | None = None


class Display(Protocol):
    """Where progress goes; the CLI draws it with rich, tests can pass a silent one."""

    def phase(self, description: str, total: float | None) -> int: ...

    def update(self, task: int, completed: float, info: str = "") -> None: ...

    def done(self, task: int, info: str = "") -> None: ...

    def log(self, message: str) -> None: ...
