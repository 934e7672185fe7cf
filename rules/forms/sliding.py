"""Forms judged over a sliding window of event time: count, distinct and aggregate.

Windows are closed intervals, ``[t - within, t]``: three events "within 10m" may be exactly ten
minutes apart.
"""

from __future__ import annotations

from abc import abstractmethod
from bisect import bisect_left, bisect_right

from rules.alerts import MAX_EVIDENCE
from rules.forms.base import WindowedForm
from rules.window_state import Entry, Figures, Firing, GroupWindow


class SlidingForm(WindowedForm):
    within: float

    def memory(self, lateness: float) -> float:
        return self.within + lateness

    def judge(self, w: GroupWindow, new: Entry) -> Firing | None:
        """The first window ending at the new event or at a later one (a late event can complete those)."""
        entries = w.entries
        times = [e.time for e in entries]
        first = bisect_left(times, new.time)
        last = bisect_right(times, new.time + self.within)
        for anchor in range(first, last):
            t = times[anchor]
            if anchor + 1 < len(times) and times[anchor + 1] == t:
                continue
            lo, hi = bisect_left(times, t - self.within), anchor + 1
            figures = self.measure(entries, times, lo, hi, t)
            if figures is not None:
                ids = tuple(e.event_id for e in entries[lo:hi])[-MAX_EVIDENCE:]
                return Firing(t, figures, ids)
        return None

    @abstractmethod
    def measure(self, entries: list[Entry], times: list[float], lo: int, hi: int, t: float) -> Figures | None:
        """The figures of the window ``entries[lo:hi]`` ending at ``t``, if it meets the form."""
