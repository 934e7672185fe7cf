"""holds_for: the condition holds on every event of the group for a duration, with no long silence."""

from __future__ import annotations

from dataclasses import dataclass

from rules.alerts import MAX_EVIDENCE
from rules.forms.base import At, WindowedForm
from rules.schema import RuleSpec
from rules.window_state import Entry, Firing, GroupWindow

Run = tuple[float, float, int]
"""A run of events on which the condition held: (first time, last time, events)."""


@dataclass(frozen=True)
class HoldsForm(WindowedForm):
    duration: float
    max_gap: float

    key = "holds_for"
    reads_misses = True  # the events on which the condition fails are what break a run
    ungrouped = (
        "holds_for without group_by makes one run of every source's events: one device's normal "
        "reading breaks another's run, and readings of different devices add up to one duration. "
        "Group by the thing whose condition must hold (group_by: [source_id], or e.g. "
        "[site_id, tank_id]); write group_by: [] if you mean the whole kind together"
    )

    @classmethod
    def compile(cls, spec: RuleSpec, at: At) -> HoldsForm:
        assert spec.holds_for is not None
        return cls(spec.holds_for.duration, spec.holds_for.max_gap)

    @property
    def figures(self) -> tuple[str, ...]:
        return ("held", "count")

    def memory(self, lateness: float) -> float:
        return self.max_gap + lateness

    def forget(self, w: GroupWindow, dropped: list[Entry]) -> None:
        w.run = self._extend(w.run, dropped)

    def _extend(self, run: Run | None, entries: list[Entry]) -> Run | None:
        for e in entries:
            if not e.ok:
                run = None
            elif run is not None and e.time - run[1] <= self.max_gap:
                run = (run[0], e.time, run[2] + 1)
            else:
                run = (e.time, e.time, 1)
        return run

    def judge(self, w: GroupWindow, new: Entry) -> Firing | None:
        run = w.run
        in_run: list[str] = []
        for e in w.entries:
            if not e.ok:
                run, in_run = None, []
            elif run is not None and e.time - run[1] <= self.max_gap:
                run = (run[0], e.time, run[2] + 1)
                in_run.append(e.event_id)
            else:
                run, in_run = (e.time, e.time, 1), [e.event_id]
        if run is None or not w.entries or not w.entries[-1].ok:
            return None
        held = w.entries[-1].time - run[0]
        if held < self.duration:
            return None
        return Firing(w.entries[-1].time, {"held": held, "count": run[2]}, tuple(in_run[-MAX_EVIDENCE:]))
