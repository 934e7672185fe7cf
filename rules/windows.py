"""Event-time windows for one rule and one group: what to remember and when the form is met.

Pure and clock-injected: ``observe`` takes an event, ``tick`` takes the clock, both return the new
state and at most one firing. The worker persists the state in a Faust table and the rule-test
runner in a dict, so both decide identically.

Windows are closed intervals of event time, ``[t - within, t]``: three events "within 10m" may be
exactly ten minutes apart. An event older than the group's newest by more than the rule's lateness
is late: it is reported and not counted. A redelivered event id is never counted twice.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right, insort
from dataclasses import dataclass, field
from typing import Any, Literal

from rules.alerts import MAX_EVIDENCE
from rules.forms import (
    AbsenceForm,
    AggregateForm,
    CountForm,
    DistinctForm,
    Form,
    HoldsForm,
    SequenceForm,
    idle_expiry,
    memory,
)
from rules.schema import MAX_WINDOW_EVENTS

Figures = dict[str, float | int]
Outcome = Literal["counted", "duplicate", "late"]


@dataclass(frozen=True, order=True)
class Entry:
    """One event as a window remembers it: only what the form needs."""

    time: float
    event_id: str = field(compare=False)
    ok: bool = field(default=True, compare=False)
    value: float | str | None = field(default=None, compare=False)
    steps: tuple[int, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class Firing:
    """The form is met (or, for absence, ended): dispatch decides whether anyone hears of it."""

    event_time: float
    figures: Figures
    evidence: tuple[str, ...]
    status: Literal["firing", "resolved"] = "firing"


@dataclass
class GroupWindow:
    """One group's state for one rule; serialised compactly, since there may be millions."""

    rule_version: int
    entries: list[Entry] = field(default_factory=list)
    watermark: float = -math.inf
    touched: float = -math.inf
    run: tuple[float, float, int] | None = None
    """holds_for: the forgotten prefix ended in a run (start, last event, events)."""
    last_fired: Firing | None = None
    fired_by: str | None = None
    absent_since: float | None = None
    """absence: the alert fired for the silence after this event time."""
    sample: dict[str, Any] | None = None
    """absence: the newest event's hit, to describe the group when it goes silent."""
    evicted: int = 0

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "v": self.rule_version,
            "e": [[e.time, e.event_id, e.ok, e.value, list(e.steps)] for e in self.entries],
            "w": None if self.watermark == -math.inf else self.watermark,
            "t": None if self.touched == -math.inf else self.touched,
        }
        if self.run is not None:
            out["r"] = list(self.run)
        if self.last_fired is not None:
            f = self.last_fired
            out["f"] = [f.event_time, f.figures, list(f.evidence), f.status, self.fired_by]
        if self.absent_since is not None:
            out["a"] = self.absent_since
        if self.sample is not None:
            out["s"] = self.sample
        if self.evicted:
            out["x"] = self.evicted
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GroupWindow:
        w = cls(
            rule_version=int(data["v"]),
            entries=[Entry(t, i, ok, v, tuple(s)) for t, i, ok, v, s in data.get("e", [])],
            watermark=-math.inf if data.get("w") is None else float(data["w"]),
            touched=-math.inf if data.get("t") is None else float(data["t"]),
        )
        if "r" in data:
            start, last, n = data["r"]
            w.run = (float(start), float(last), int(n))
        if "f" in data:
            t, figures, evidence, status, by = data["f"]
            w.last_fired = Firing(float(t), dict(figures), tuple(evidence), status)
            w.fired_by = by
        w.absent_since = data.get("a")
        w.sample = data.get("s")
        w.evicted = int(data.get("x", 0))
        return w


@dataclass(frozen=True)
class Observation:
    outcome: Outcome
    firing: Firing | None = None
    evicted: int = 0


def observe(
    form: Form, lateness: float, state: GroupWindow | None, entry: Entry, rule_version: int, now: float
) -> tuple[GroupWindow, Observation]:
    """Add one event to its group's window and say whether the form is now met."""
    w = state if state is not None and state.rule_version == rule_version else GroupWindow(rule_version)
    if w is not state and state is not None and isinstance(form, AbsenceForm):
        # A new rule version starts afresh, but its alert is still open: this event must end it.
        w.absent_since = state.absent_since
    w.touched = max(w.touched, now)
    if entry.time < w.watermark - lateness:
        return w, Observation("late")
    if isinstance(form, AbsenceForm):
        return w, _observe_absence(w, entry)
    if any(e.event_id == entry.event_id for e in w.entries):
        again = w.last_fired if w.fired_by == entry.event_id else None
        return w, Observation("duplicate", again)
    insort(w.entries, entry)
    w.watermark = max(w.watermark, entry.time)
    evicted = _forget(form, lateness, w)
    firing = _judge(form, w, entry)
    if firing is not None:
        w.last_fired, w.fired_by = firing, entry.event_id
    return w, Observation("counted", firing, evicted)


def tick(
    form: Form, lateness: float, state: GroupWindow, now: float
) -> tuple[GroupWindow | None, Firing | None]:
    """Let the clock act on a group: an absence fires; a group idle long enough is dropped (None).

    A group whose absence fired is kept however long it stays silent: only its next event can
    resolve the alert, and forgetting it would leave that alert open (and repeating) for good.
    """
    if _waiting_to_report(form, state):
        return state, None
    if now >= state.touched + idle_expiry(form, lateness):
        return None, None
    if isinstance(form, AbsenceForm) and state.absent_since is None and state.watermark > -math.inf:
        silent = now - state.watermark
        if now >= state.watermark + form.absent_for:
            state.absent_since = state.watermark
            last = state.sample.get("event_id", "") if state.sample else ""
            firing = Firing(state.watermark + form.absent_for, {"absent": silent}, (str(last),))
            state.last_fired, state.fired_by = firing, None
            return state, firing
    return state, None


def next_due(form: Form, lateness: float, state: GroupWindow) -> float | None:
    """The clock time at which ``tick`` would next change this group (None: no tick will)."""
    if _waiting_to_report(form, state):
        return None
    due = state.touched + idle_expiry(form, lateness)
    if isinstance(form, AbsenceForm) and state.absent_since is None and state.watermark > -math.inf:
        due = min(due, state.watermark + form.absent_for)
    return due


def _waiting_to_report(form: Form, state: GroupWindow) -> bool:
    return isinstance(form, AbsenceForm) and state.absent_since is not None


def _observe_absence(w: GroupWindow, entry: Entry) -> Observation:
    firing = None
    if w.absent_since is not None and entry.time > w.absent_since:
        firing = Firing(entry.time, {"absent": entry.time - w.absent_since}, (entry.event_id,), "resolved")
        w.absent_since = None
    w.watermark = max(w.watermark, entry.time)
    return Observation("counted", firing)


def _forget(form: Form, lateness: float, w: GroupWindow) -> int:
    """Drop what no future event (late by at most ``lateness``) can need; fold holds_for runs."""
    horizon = w.watermark - memory(form, lateness)
    cut = bisect_left(w.entries, Entry(horizon, ""))
    evicted = 0
    if len(w.entries) - cut > MAX_WINDOW_EVENTS:
        evicted = len(w.entries) - cut - MAX_WINDOW_EVENTS
        cut += evicted
        w.evicted += evicted
    if cut:
        if isinstance(form, HoldsForm):
            w.run = _fold_run(form, w.run, w.entries[:cut])
        del w.entries[:cut]
    return evicted


def _fold_run(
    form: HoldsForm, run: tuple[float, float, int] | None, entries: list[Entry]
) -> tuple[float, float, int] | None:
    for e in entries:
        if not e.ok:
            run = None
        elif run is not None and e.time - run[1] <= form.max_gap:
            run = (run[0], e.time, run[2] + 1)
        else:
            run = (e.time, e.time, 1)
    return run


def _judge(form: Form, w: GroupWindow, new: Entry) -> Firing | None:
    match form:
        case CountForm() | DistinctForm() | AggregateForm():
            return _judge_sliding(form, w.entries, new)
        case HoldsForm():
            return _judge_holds(form, w)
        case SequenceForm():
            return _judge_sequence(form, w.entries, new)
        case AbsenceForm():
            return None


def _judge_sliding(
    form: CountForm | DistinctForm | AggregateForm, entries: list[Entry], new: Entry
) -> Firing | None:
    """The first window ending at the new event or at a later one (a late event can complete those)."""
    times = [e.time for e in entries]
    first = bisect_left(times, new.time)
    last = bisect_right(times, new.time + form.within)
    for anchor in range(first, last):
        t = times[anchor]
        if anchor + 1 < len(times) and times[anchor + 1] == t:
            continue
        lo, hi = bisect_left(times, t - form.within), anchor + 1
        figures = _figures(form, entries, times, lo, hi, t)
        if figures is not None:
            ids = tuple(e.event_id for e in entries[lo:hi])[-MAX_EVIDENCE:]
            return Firing(t, figures, ids)
    return None


def _figures(
    form: CountForm | DistinctForm | AggregateForm,
    entries: list[Entry],
    times: list[float],
    lo: int,
    hi: int,
    t: float,
) -> Figures | None:
    window = entries[lo:hi]
    match form:
        case CountForm():
            if len(window) >= form.at_least:
                return {"count": len(window), "span": window[-1].time - window[0].time}
            return None
        case DistinctForm():
            distinct = len({e.value for e in window if e.value is not None})
            return {"distinct": distinct, "count": len(window)} if distinct >= form.at_least else None
        case AggregateForm():
            return _aggregate(form, entries, times, window, t)


def _stat(fn: str, values: list[float]) -> float:
    if fn == "avg":
        return sum(values) / len(values)
    if fn == "min":
        return min(values)
    if fn == "max":
        return max(values)
    return sum(values)


def _numbers(entries: list[Entry]) -> list[float]:
    return [float(e.value) for e in entries if isinstance(e.value, int | float)]


def _aggregate(
    form: AggregateForm, entries: list[Entry], times: list[float], window: list[Entry], t: float
) -> Figures | None:
    values = _numbers(window)
    if len(values) < form.min_events:
        return None
    value = _stat(form.fn, values)
    figures: Figures = {"value": value, "count": len(values)}
    if not form.compares_previous:
        met = value >= form.threshold if form.comparison == "at_least" else value <= form.threshold
        return figures if met else None
    before = entries[bisect_left(times, t - 2 * form.within) : bisect_left(times, t - form.within)]
    previous_values = _numbers(before)
    if len(previous_values) < form.min_events:
        return None
    previous = _stat(form.fn, previous_values)
    change = value - previous
    # A change from zero has no percentage: rise_pct cannot judge it, and rise_by leaves the figure
    # out rather than send an infinity, which JSON cannot carry.
    pct = change / abs(previous) * 100 if previous else None
    if form.comparison == "rise_by":
        met = change >= form.threshold
    else:
        met = pct is not None and pct >= form.threshold
    if not met:
        return None
    figures.update(previous=previous, change=change)
    if pct is not None:
        figures["change_pct"] = pct
    return figures


def _judge_holds(form: HoldsForm, w: GroupWindow) -> Firing | None:
    run = w.run
    in_run: list[str] = []
    for e in w.entries:
        if not e.ok:
            run, in_run = None, []
        elif run is not None and e.time - run[1] <= form.max_gap:
            run = (run[0], e.time, run[2] + 1)
            in_run.append(e.event_id)
        else:
            run, in_run = (e.time, e.time, 1), [e.event_id]
    if run is None or not w.entries or not w.entries[-1].ok:
        return None
    held = w.entries[-1].time - run[0]
    if held < form.duration:
        return None
    return Firing(w.entries[-1].time, {"held": held, "count": run[2]}, tuple(in_run[-MAX_EVIDENCE:]))


@dataclass
class _Partial:
    start: float
    end_index: int


def _judge_sequence(form: SequenceForm, entries: list[Entry], new: Entry) -> Firing | None:
    """Replays the group's remembered events through the steps and fires if the last step completes
    at the new event or later.

    Per step it keeps the partial matches no other one beats (none started later and ended
    earlier), so starts rise with ends: the best partial to continue from is the last one that
    ended before the events completing the next step. One partial per step is not enough when a
    later step counts events: in a b a b, the first a with both b's is a match the second a hides.
    """
    steps = form.steps
    done: list[list[_Partial]] = [[] for _ in steps]
    seen_times: list[list[float]] = [[] for _ in steps]
    seen_index: list[list[int]] = [[] for _ in steps]
    new_index = next(i for i, e in enumerate(entries) if e.event_id == new.event_id)
    for idx, e in enumerate(entries):
        for i in sorted(set(e.steps), reverse=True):
            if not 0 <= i < len(steps):
                continue
            step = steps[i]
            seen_times[i].append(e.time)
            seen_index[i].append(idx)
            times = seen_times[i]
            if len(times) < step.at_least:
                continue
            first = len(times) - step.at_least  # the latest events that can complete this step
            if step.at_least > 1 and e.time - times[first] > step.within:
                continue
            if i == 0:
                start = times[first]
            else:
                before = done[i - 1]
                k = bisect_left(before, seen_index[i][first], key=lambda p: p.end_index)
                if k == 0:
                    continue
                start = before[k - 1].start
            if e.time - start > form.within:
                continue
            if i == len(steps) - 1:
                if idx >= new_index:
                    window = [x for x in entries[: idx + 1] if x.time >= start and x.steps]
                    return Firing(
                        e.time,
                        {"count": len(window), "span": e.time - start},
                        tuple(x.event_id for x in window)[-MAX_EVIDENCE:],
                    )
                continue
            if not done[i] or start > done[i][-1].start:
                done[i].append(_Partial(start, idx))
    return None
