"""absent_for: no event of the group for a duration. It fires on the clock, and its group's next
event resolves it."""

from __future__ import annotations

from dataclasses import dataclass

from rules.forms.base import At, Form
from rules.schema import RuleSpec
from rules.window_state import Entry, Firing, GroupWindow, Observation

ABSENCE_FORGET = 7 * 86400.0
"""An absence group that has not fired is forgotten after this long idle (or twice its absent_for).

In practice one fires first (after absent_for) and is then kept until it reports again."""


@dataclass(frozen=True)
class AbsenceForm(Form):
    absent_for: float

    key = "absent_for"
    keeps_sample = True
    fires_on_clock = True
    until_resolved = True
    ungrouped = (
        "absent_for without group_by makes every source of the kind one group, which is absent only "
        "when all of them are silent: one silent device never alerts. Group by what must report "
        "(group_by: [source_id]); write group_by: [] if you mean the whole feed going silent"
    )

    @classmethod
    def compile(cls, spec: RuleSpec, at: At) -> AbsenceForm:
        assert spec.absent_for is not None
        return cls(spec.absent_for)

    @property
    def figures(self) -> tuple[str, ...]:
        return ("absent",)

    def memory(self, lateness: float) -> float:
        return 0.0

    def idle_expiry(self, lateness: float) -> float:
        return max(ABSENCE_FORGET, 2 * self.absent_for)

    def observe(self, w: GroupWindow, entry: Entry, lateness: float) -> Observation:
        """Only a report newer than the silence ends it: one after the moment the group counted as
        absent (``absent_since + absent_for``, the time the alert fired for).

        A late, buffered report from inside the silence (a gateway flushing what it held while it
        was cut off) says the device was alive then, not that it is back: it is counted and moves
        the group's newest time, and the alert stays open. Resolving on it would open a new alert
        at the next tick for the same silence (its newest time would again be ``absent_for`` old).
        """
        firing = None
        if w.absent_since is not None and entry.time > self.silent_from(w.absent_since):
            silence = entry.time - w.absent_since
            firing = Firing(entry.time, {"absent": silence}, (entry.event_id,), "resolved")
            w.absent_since = None
        w.watermark = max(w.watermark, entry.time)
        return Observation("counted", firing)

    def silent_from(self, absent_since: float) -> float:
        """Event time from which the group counted as absent: the time its alert fired for."""
        return absent_since + self.absent_for

    def due(self, w: GroupWindow) -> float | None:
        if w.absent_since is None and w.watermark > float("-inf"):
            return w.watermark + self.absent_for
        return None

    def fire(self, w: GroupWindow, now: float) -> Firing | None:
        due = self.due(w)
        if due is None or now < due:
            return None
        w.absent_since = w.watermark
        last = w.sample.event_id if w.sample else ""
        firing = Firing(due, {"absent": now - w.watermark}, (last,))
        w.last_fired, w.fired_by = firing, None
        return firing

    def waiting(self, w: GroupWindow) -> bool:
        """A group whose absence fired is kept however long it stays silent: only its next event
        can resolve the alert, and forgetting it would leave that alert open (and repeating)."""
        return w.absent_since is not None

    def carry_over(self, old: GroupWindow, new: GroupWindow) -> None:
        """A new rule version starts afresh, but its alert is still open: the next event must end it."""
        new.absent_since = old.absent_since
