"""What every stateful form is: how it compiles, what an event tells it, and when it is met.

A form sees one group's window (``GroupWindow``) for one rule. Most forms keep the group's recent
events as entries and judge the window whenever one arrives (``WindowedForm``); absence keeps only
the newest time and acts on the clock. Times are seconds: event time in entries, clock time in
``now``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from bisect import bisect_left, insort
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from rules.conditions import Condition
from rules.durations import format_duration
from rules.errors import Location, RuleError
from rules.events import EventBase
from rules.schema import MAX_WINDOW_EVENTS, RuleSpec
from rules.window_state import Entry, Firing, GroupWindow, Observation

At = Callable[..., Location]
"""Where a key of the rule being compiled was written: ``at("count", "within")``."""
Holds = Callable[[Condition], bool]
"""Whether a condition holds on the event being read (errors count as false, and are reported)."""


@dataclass(frozen=True)
class Reading:
    """What one event tells a form, beside its time and id."""

    ok: bool = True
    value: float | str | None = None
    steps: tuple[int, ...] = ()


class Form(ABC):
    """One stateful form of a rule, compiled: plain figures in seconds, ready to run."""

    key: ClassVar[str]
    """The key that names the form in a rule (``count: {...}``)."""
    reads_misses: ClassVar[bool] = False
    """Whether events on which the rule's ``when`` is false still reach the window."""
    keeps_sample: ClassVar[bool] = False
    """Whether the window keeps its newest event, to describe the group when the clock fires."""
    fires_on_clock: ClassVar[bool] = False
    """Whether the clock can fire it (then its groups are kept in a due index, not left to expire)."""
    until_resolved: ClassVar[bool] = False
    """Whether its alert lasts until the form itself resolves it, rather than until quiet time."""
    ungrouped: ClassVar[str | None] = None
    """Why leaving out ``group_by`` is almost certainly a mistake for this form (the lint warns);
    None where one group for the whole kind is a sensible figure (a city-wide count)."""

    @classmethod
    @abstractmethod
    def compile(cls, spec: RuleSpec, at: At) -> Form:
        """The form the rule names, checked; raises RuleError at the offending key."""

    def kinds(self, spec: RuleSpec) -> tuple[str, ...]:
        """The event kinds the rule reads (empty: all of its family)."""
        return spec.kinds

    @property
    @abstractmethod
    def figures(self) -> tuple[str, ...]:
        """The figures a firing carries, readable as ``window.<name>`` in tiers and summaries."""

    @abstractmethod
    def memory(self, lateness: float) -> float:
        """Seconds of event time behind the newest event that a group's window must keep."""

    def idle_expiry(self, lateness: float) -> float:
        """Seconds on the clock after a group's last event when its state can be dropped."""
        return self.memory(lateness)

    def read(self, event: EventBase, ok: bool, holds: Holds) -> Reading | None:
        """What the event tells this form; None when it tells nothing (no hit is made)."""
        return Reading(ok)

    @abstractmethod
    def observe(self, w: GroupWindow, entry: Entry, lateness: float) -> Observation:
        """Take one event that is not late; say whether the form is now met."""

    # The clock: only forms that fire without an event override these.

    def due(self, w: GroupWindow) -> float | None:
        """Clock time at which the form fires by itself (None: it never does)."""
        return None

    def fire(self, w: GroupWindow, now: float) -> Firing | None:
        """Let the clock act on the form at ``now``."""
        return None

    def waiting(self, w: GroupWindow) -> bool:
        """The group must be kept, however long it stays silent, and nothing is due."""
        return False

    def carry_over(self, old: GroupWindow, new: GroupWindow) -> None:  # noqa: B027  (a hook)
        """What a new rule version keeps from the old version's window (nothing, by default)."""


class WindowedForm(Form):
    """A form that keeps the group's events within its window and judges them on each arrival.

    A redelivered event id is never counted twice; if it was the one that fired, the firing is
    returned again, so a replay after a crash re-sends a candidate that dispatch then recognises.
    """

    def observe(self, w: GroupWindow, entry: Entry, lateness: float) -> Observation:
        if any(e.event_id == entry.event_id for e in w.entries):
            again = w.last_fired if w.fired_by == entry.event_id else None
            return Observation("duplicate", again)
        insort(w.entries, entry)
        w.watermark = max(w.watermark, entry.time)
        evicted = self._forget(w, lateness)
        firing = self.judge(w, entry)
        if firing is not None:
            w.last_fired, w.fired_by = firing, entry.event_id
        return Observation("counted", firing, evicted)

    @abstractmethod
    def judge(self, w: GroupWindow, new: Entry) -> Firing | None:
        """Whether the window, just joined by ``new``, meets the form."""

    def forget(self, w: GroupWindow, dropped: list[Entry]) -> None:
        """Fold entries about to be dropped into whatever the form keeps of them (nothing here)."""

    def _forget(self, w: GroupWindow, lateness: float) -> int:
        """Drop what no future event (late by at most ``lateness``) can need."""
        horizon = w.watermark - self.memory(lateness)
        cut = bisect_left(w.entries, Entry(horizon, ""))
        evicted = 0
        if len(w.entries) - cut > MAX_WINDOW_EVENTS:
            evicted = len(w.entries) - cut - MAX_WINDOW_EVENTS
            cut += evicted
            w.evicted += evicted
        if cut:
            self.forget(w, w.entries[:cut])
            del w.entries[:cut]
        return evicted


def window_covers_lateness(spec: RuleSpec, within: float, where: Location) -> None:
    """A window shorter than the lateness would have forgotten what a late event belongs with."""
    if within < spec.lateness:
        raise RuleError(
            f"the window ({format_duration(within)}) is shorter than the allowed lateness "
            f"({format_duration(spec.lateness)}); late events would miss their window. "
            "Widen the window or set a smaller 'lateness'",
            where,
            spec.id,
        )
