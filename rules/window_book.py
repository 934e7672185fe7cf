"""Every group's window that one owner holds, and when the clock must next look at each.

The worker keeps the windows of the partitions it owns here, over a store backed by a Faust table;
rule tests and backtests keep all of them, in a dict. Both run this code, so a window decides the
same way in both. Only groups of forms the clock can fire (absence) are in the due index; any
other group is dropped lazily: its next event after expiry finds it gone, and a sweep reclaims
the storage of groups that never report again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime

from rules.due_index import DueIndex, OnError
from rules.hits import Hit, Tick
from rules.stateful import StageResult, WindowJudge
from rules.windows import GroupWindow

Held = tuple[str, GroupWindow]
"""A group's window and the id of its rule."""
WindowStore = MutableMapping[str, Held]
"""Windows by fingerprint; the worker's store writes every assignment through once per batch."""
OnResult = Callable[[str, StageResult], None]
"""Told of every hit and tick a window took: the rule id and what came of it (for metrics)."""


def _ignore(rule_id: str, result: StageResult) -> None:
    return None


@dataclass
class WindowBook:
    judge: WindowJudge
    store: WindowStore = field(default_factory=dict)
    due: DueIndex[str] = field(default_factory=DueIndex)
    """Fingerprints of groups the clock may fire, with their rule ids."""
    on_result: OnResult = _ignore

    def observe(self, hit: Hit, now: datetime) -> StageResult:
        """One hit into its group's window; the candidate it fires, if any, is in the result."""
        fp = hit.fingerprint
        held = self.store.get(fp)
        state = None if held is None else held[1]
        if state is not None and self.judge.lapsed(hit.rule_id, state, now.timestamp()):
            state = None
        res = self.judge.on_hit(state, hit, now)
        self._keep(fp, hit.rule_id, held, res, changed=res.outcome == "counted")
        self.on_result(hit.rule_id, res)
        return res

    def next_tick(self) -> tuple[float, str] | None:
        """The earliest (clock seconds, fingerprint) a group is due at."""
        return self.due.peek()

    def tick(
        self, now: datetime, on_error: OnError | None = None, limit: int | None = None
    ) -> list[StageResult]:
        """Due groups' turns with the clock, earliest first (see DueIndex.take_turns)."""
        return self.due.take_turns(now.timestamp(), lambda fp: self.tick_one(fp, now), on_error, limit)

    def tick_one(self, fp: str, now: datetime) -> StageResult | None:
        held = self.store.get(fp)
        if held is None:
            self.due.discard(fp)
            return None
        rule_id, state = held
        res = self.judge.on_tick(state, Tick(rule_id=rule_id, fingerprint=fp, now=now))
        self._keep(fp, rule_id, held, res, changed=res.outcome == "absent")
        self.on_result(rule_id, res)
        return res

    def schedule(self, fp: str, rule_id: str, state: GroupWindow) -> None:
        """Put a group (back) in the due index if the clock can fire it; after recovery, for each."""
        when = self.judge.next_due(rule_id, state) if self.judge.fires_on_clock(rule_id) else None
        if when is None:
            self.due.discard(fp)
        else:
            self.due.set(fp, when, rule_id)

    def sweep(self, fingerprints: Iterable[str], now: datetime) -> int:
        """Drop the groups among ``fingerprints`` that can go (see WindowJudge.forgettable)."""
        gone = 0
        for fp in fingerprints:
            held = self.store.get(fp)
            if held is not None and fp not in self.due and self.judge.forgettable(*held, now.timestamp()):
                del self.store[fp]
                gone += 1
        return gone

    def _keep(self, fp: str, rule_id: str, held: Held | None, res: StageResult, changed: bool) -> None:
        if res.state is None:
            if held is not None:
                del self.store[fp]
            self.due.discard(fp)
            return
        if changed or held is None or held[1] is not res.state:
            self.store[fp] = (rule_id, res.state)
        self.schedule(fp, rule_id, res.state)
