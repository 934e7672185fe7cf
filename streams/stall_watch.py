"""Which owned partitions have messages waiting and have not moved for a while.

Lag alone does not tell a busy worker from a stuck one: a backlog that shrinks is fine, one whose
committed offset stands still is not. Ops get a gauge to alert on, and the log gets one warning
per stall saying what the worker was doing, so a stuck worker explains itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class _Seen:
    committed: int
    since: float
    warned: bool = False


@dataclass
class StallWatch:
    after: float
    """Seconds with waiting messages and an unmoved committed offset that count as a stall."""
    _seen: dict[tuple[str, int], _Seen] = field(default_factory=dict)

    def observe(self, partition: tuple[str, int], committed: int, lag: int, now: float) -> bool:
        """Record one partition's state; True the first time it is seen stalled (warn once)."""
        seen = self._seen.get(partition)
        if seen is None or seen.committed != committed or lag <= 0:
            self._seen[partition] = _Seen(committed, now)
            return False
        if now - seen.since < self.after or seen.warned:
            return False
        seen.warned = True
        return True

    def forget_all_but(self, owned: set[tuple[str, int]]) -> None:
        """Partitions given to another worker in a rebalance are no longer ours to watch."""
        for partition in set(self._seen) - owned:
            del self._seen[partition]

    def stalled(self) -> int:
        return sum(1 for s in self._seen.values() if s.warned)
