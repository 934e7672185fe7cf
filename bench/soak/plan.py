"""The fault schedule: SIGKILL a worker every so often, taking turns; stop the broker once.

No kill falls in the broker outage or within ``quiet_after`` seconds of its planned return, and none
shortly before it (half the kill interval, and at least the session timeout plus 15 s, the time a
restarted worker needs to start and the group to give it partitions): a worker restarting or a group
rebalancing then would blur what the outage alone does to the workers.
The runner also skips a kill whose time passed while the broker took longer to come back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bench.soak.params import SoakParams

SLOTS = ("a", "b")


@dataclass(frozen=True)
class Fault:
    at: float
    """Seconds after the load started."""
    kind: Literal["kill", "outage"]
    slot: str | None = None
    """The worker a kill is for."""
    length: float = 0.0
    """Seconds the broker stays stopped (outage)."""

    def describe(self) -> str:
        if self.kind == "kill":
            return f"SIGKILL worker {self.slot}"
        return f"stop the broker for {self.length:g} s"


def quiet_window(p: SoakParams) -> tuple[float, float] | None:
    """Seconds (from, to) in which no worker is killed, around the outage."""
    start = p.outage_start()
    if start is None:
        return None
    return start - max(p.kill_every / 2, p.session_timeout + 15.0), start + p.outage + p.quiet_after


def plan_faults(p: SoakParams, slots: tuple[str, ...] = SLOTS) -> list[Fault]:
    """Every fault of the run, in time order; kills alternate between ``slots``."""
    faults: list[Fault] = []
    start = p.outage_start()
    if start is not None and 0 <= start < p.duration:
        faults.append(Fault(start, "outage", length=p.outage))
    quiet = quiet_window(p)
    if p.kill_every > 0:
        n, at = 0, p.kill_every
        while at < p.duration:
            if quiet is None or not quiet[0] <= at < quiet[1]:
                faults.append(Fault(at, "kill", slots[n % len(slots)]))
                n += 1
            at += p.kill_every
    return sorted(faults, key=lambda f: (f.at, f.kind != "outage"))
