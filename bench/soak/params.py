"""What a soak run is asked to do, and where its default rate comes from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

CITY_DRAIN_RATE = 17_660.0
"""One worker's measured maximum on the city workload (README, Benchmark: the lower of the latest
figures, 17,660 and 19,399 events/s, on 2 vCPUs shared with the broker and the load generator)."""
DEFAULT_RATE = CITY_DRAIN_RATE / 2
"""The soak's default offered load: half of one worker's measured maximum, 8,830 events/s."""


@dataclass(frozen=True)
class SoakParams:
    duration: float = 600.0
    """Seconds of offered load (faults happen within it; the drain and the verdict come after)."""
    rate: float = DEFAULT_RATE
    """Background events per second (scenario events come on top, a few per injection)."""
    kill_every: float = 30.0
    """Seconds between SIGKILLs; the workers take turns. 0: no kills."""
    outage: float = 20.0
    """Seconds the broker stays stopped (once). 0: no outage."""
    outage_at: float | None = None
    """When the broker is stopped, in seconds from the start of the load (default: half way)."""
    quiet_after: float = 30.0
    """Seconds after the broker's return with no kill, so its recovery is measured alone."""
    seed: int = 7
    """Seeds the city, its traffic and the incidents' casting: the same seed, the same workload."""
    incident_every: float = 6.0
    """Seconds between scenario injections (in turn). 6 s keeps every shipped rule under storm
    control's 20 groups in 10 minutes (the gas leak opens two alerts of one rule per injection)."""
    incident_gap: float = 0.2
    """Seconds between the events of one injection, so that without faults they are processed in
    time order across partitions."""
    partitions: int = 4
    session_timeout: float = 10.0
    """The workers' RISKSTREAM_SESSION_TIMEOUT: how soon the group gives a killed worker's partitions
    to the other. With the default 30 s and a kill every 30 s the group would be rebalancing most of
    the time."""
    drain_timeout: float = 300.0
    """Longest wait after the load for the workers to commit every input record and raise every
    expected alert."""
    recovery_target: float = 30.0
    """Seconds after the broker's return within which both workers must process again."""
    max_error_lines_per_second: float = 1.0
    """ERROR lines a worker may log per second of broker outage (a summarised log); more is a loop."""
    store: Literal["rocksdb://", "memory://"] = "rocksdb://"

    def outage_start(self) -> float | None:
        if self.outage <= 0:
            return None
        return self.duration / 2 if self.outage_at is None else self.outage_at
