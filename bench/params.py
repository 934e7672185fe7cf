"""What a run is given and hands back: parameters, scenarios, result records, the progress display."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

ScenarioKind = Literal["passthrough", "pipeline", "stateful", "groups"]


@dataclass(frozen=True)
class BenchParams:
    """One run's knobs; all of them go into the JSON so results stay comparable."""

    events: int = 100_000
    rate: float | None = None
    """Offered events/s for latency; None: ``rate_share`` of each scenario's measured drain rate."""
    rate_share: float = 0.5
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
    stateful: bool = False
    stateful_rules: int = 100
    stateful_groups: int = 100_000
    stateful_events: int = 100_000
    groups: int = 0
    """Memory scenario: this many distinct groups (0 = not run)."""


@dataclass(frozen=True)
class Scenario:
    name: str
    slug: str
    rule_paths: tuple[Path, ...] = ()
    generated_rules: int = 0
    expected_match: float | None = None
    kind: ScenarioKind = "pipeline"
    store: str = "memory://"
    events: int | None = None
    """Backlog size when it is not the run's ``events`` (stateful and memory scenarios)."""
    workload: Literal["stress", "city"] = "stress"
    """stress: kinds drawn uniformly, a fifth of events alerting; city: the simulator's traffic."""

    @property
    def is_passthrough(self) -> bool:
        return self.kind == "passthrough"


@dataclass
class Throughput:
    events: int
    seconds: float
    events_per_s: float
    first_progress_after_s: float
    committed_drain_s: float | None = None
    warmup_events: int | None = None
    """Stateful: events drained before the clock started (one per group); not in ``events``."""
    matched: float | None = None
    match_fraction: float | None = None
    alerts: float | None = None
    eval_errors: float | None = None
    process_cpu_util: float | None = None
    machine_busy: float | None = None
    window_hits: dict[str, float] | None = None
    """Stateful scenarios: hits the window stage handled, by outcome (counted, duplicate, late)."""
    window_groups: float | None = None
    """riskstream_window_groups when the drain ended: groups with window state in the worker."""
    progress: list[tuple[float, float]] = field(default_factory=list)


@dataclass
class Memory:
    """The worker's memory while it filled its window tables with ``groups_target`` groups."""

    groups_target: int
    groups_held: float | None
    peak_rss_mb: float | None
    """VmHWM of the worker process: the kernel's own high-water mark, not a sampled value."""
    rss_end_mb: float | None
    rss_start_mb: float | None
    """VmRSS when /metrics first answered, before the first event."""
    bytes_per_group: float | None
    store_disk_mb: float | None
    """Size of the worker's data directory (RocksDB) after the drain."""
    samples: list[tuple[float, float, float]] = field(default_factory=list)
    """(seconds since the first processed event, groups held, RSS MB)."""
    restart_s: float | None = None
    """Seconds from starting the worker again over these groups to its first event processed."""
    restart_rss_mb: float | None = None
    """VmRSS of the restarted worker once it processed that event."""


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
    process_cpu_util: float | None = None
    """Share of one core the measured process used while the load was offered."""


@dataclass
class ScenarioResult:
    name: str
    slug: str
    rules: int
    generated_rules: int
    expected_match_fraction: float | None = None
    expected_matches: int | None = None
    store: str = "memory://"
    throughput: Throughput | None = None
    latency: Latency | None = None
    vs_passthrough: dict[str, float] = field(default_factory=dict)
    saturated: bool = False
    peak_rss_mb: float | None = None
    """VmHWM of the measured process when it was stopped."""
    memory: Memory | None = None
    error: str | None = None
    worker_log: str | None = None


class Display(Protocol):
    """Where progress goes; the CLI draws it with rich, tests can pass a silent one."""

    def phase(self, description: str, total: float | None) -> int: ...

    def update(self, task: int, completed: float, info: str = "") -> None: ...

    def done(self, task: int, info: str = "") -> None: ...

    def log(self, message: str) -> None: ...
