"""How far one group's window is from meeting its rule's form: "count 2 of 3 within 5m".

A form only says whether it is met (``Form.observe``), and when it is not it has no figures to
show. To say how close it came, each form is asked again with its threshold taken away (a count
of at least 0, a hold of 0 s, a shorter sequence): the figures are then the form's own, computed
by its own code, and only the wording is here. One describer per form, found by the form's key.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from rules.durations import format_duration
from rules.forms import (
    FORMS,
    AbsenceForm,
    AggregateForm,
    CountForm,
    DistinctForm,
    Form,
    HoldsForm,
    SequenceForm,
)
from rules.forms.sliding import SlidingForm
from rules.window_state import Entry, Figures, GroupWindow


@dataclass(frozen=True)
class Progress:
    """A group's window as its form sees it at one moment of event time."""

    text: str
    """What the figures say against what the form needs, e.g. "count 2 of 3 within 5m"."""
    figures: Figures
    moments: tuple[tuple[str, datetime], ...] = ()
    """Named event times the text refers to (absence), for the reader's time zone."""


Describer = Callable[[Form, GroupWindow, float], Progress]


def _ts(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _span(form: SlidingForm, w: GroupWindow, t: float) -> tuple[list[Entry], list[float], int, int]:
    """The group's entries in the closed window ``[t - within, t]`` (as ``SlidingForm.judge`` takes it)."""
    times = [e.time for e in w.entries]
    return w.entries, times, bisect_left(times, t - form.within), bisect_right(times, t)


def _count(form: Form, w: GroupWindow, t: float) -> Progress:
    assert isinstance(form, CountForm)
    entries, times, lo, hi = _span(form, w, t)
    figures = replace(form, at_least=0).measure(entries, times, lo, hi, t) if hi > lo else None
    figures = figures or {"count": 0}
    return Progress(
        f"count {figures['count']} of {form.at_least} within {format_duration(form.within)}", figures
    )


def _distinct(form: Form, w: GroupWindow, t: float) -> Progress:
    assert isinstance(form, DistinctForm)
    entries, times, lo, hi = _span(form, w, t)
    figures = replace(form, at_least=0).measure(entries, times, lo, hi, t) or {"distinct": 0, "count": 0}
    return Progress(
        f"{figures['distinct']} of {form.at_least} different {form.field} within "
        f"{format_duration(form.within)} ({figures['count']} events)",
        figures,
    )


def _aggregate(form: Form, w: GroupWindow, t: float) -> Progress:
    assert isinstance(form, AggregateForm)
    entries, times, lo, hi = _span(form, w, t)
    anything = math.inf if form.comparison == "at_most" else -math.inf
    figures = replace(form, threshold=anything).measure(entries, times, lo, hi, t)
    over = f"{form.fn}({form.field}) over {format_duration(form.within)}"
    wanted = {
        "at_least": f"needs at least {form.threshold:g}",
        "at_most": f"needs at most {form.threshold:g}",
        "rise_by": f"needs a rise of {form.threshold:g} on the {format_duration(form.within)} before",
        "rise_pct": f"needs a rise of {form.threshold:g} % on the {format_duration(form.within)} before",
    }[form.comparison]
    if figures is None:
        enough = f"at least {form.min_events} value(s)"
        where = "in the window and in the one before" if form.compares_previous else "in the window"
        return Progress(f"{over}: not enough values ({enough} {where}); {wanted}", {"count": hi - lo})
    text = f"{over} = {figures['value']:g} ({figures['count']} events)"
    if "previous" in figures:
        text += f", {figures['previous']:g} before: change {figures['change']:+g}"
        if "change_pct" in figures:
            text += f" ({figures['change_pct']:+.1f} %)"
    return Progress(f"{text}; {wanted}", figures)


def _holds(form: Form, w: GroupWindow, t: float) -> Progress:
    assert isinstance(form, HoldsForm)
    need = f"of {format_duration(form.duration)} (a gap over {format_duration(form.max_gap)} ends the run)"
    firing = replace(form, duration=0.0).judge(w, w.entries[-1]) if w.entries else None
    if firing is None:
        why = "its newest event did not meet 'when'" if w.entries else "no event kept"
        return Progress(f"not holding: {why}; needs a run {need}", {"held": 0, "count": 0})
    held = firing.figures["held"]
    return Progress(f"held {format_duration(held)} {need}, {firing.figures['count']} events", firing.figures)


def _step_text(form: SequenceForm, i: int) -> str:
    step = form.steps[i]
    what = "|".join(step.kinds) or "any kind"
    if step.at_least > 1:
        what += f" ×{step.at_least} within {format_duration(step.within)}"
    return f"step {i + 1} ({what})"


def _sequence(form: Form, w: GroupWindow, t: float) -> Progress:
    assert isinstance(form, SequenceForm)
    first = bisect_left(w.entries, Entry(t - form.within, ""))
    done, figures = 0, {}
    if first < len(w.entries):
        for k in range(len(form.steps), 0, -1):
            firing = replace(form, steps=form.steps[:k]).judge(w, w.entries[first])
            if firing is not None:
                done, figures = k, dict(firing.figures)
                break
    total = len(form.steps)
    text = f"{done} of {total} steps within {format_duration(form.within)}"
    if done < total:
        text += f"; next: {_step_text(form, done)}"
    return Progress(text, {"steps": done, **figures})


def _absence(form: Form, w: GroupWindow, t: float) -> Progress:
    assert isinstance(form, AbsenceForm)
    if w.watermark == -math.inf:
        return Progress("no report yet: only a group seen once can go silent", {})
    newest = ("newest report", _ts(w.watermark))
    if w.absent_since is not None:
        since = ("counted absent from", _ts(form.silent_from(w.absent_since)))
        return Progress(
            f"absent: no report for {format_duration(form.absent_for)}; a report after the moment it "
            "counted absent resolves the alert",
            {"absent": max(0.0, t - w.absent_since)},
            (newest, since),
        )
    due = form.due(w)
    assert due is not None
    return Progress(
        f"reporting: absent if no report for {format_duration(form.absent_for)}",
        {"absent": max(0.0, t - w.watermark)},
        (newest, ("absent if silent until", _ts(due))),
    )


DESCRIBERS: dict[str, Describer] = {
    CountForm.key: _count,
    DistinctForm.key: _distinct,
    AggregateForm.key: _aggregate,
    HoldsForm.key: _holds,
    SequenceForm.key: _sequence,
    AbsenceForm.key: _absence,
}
assert set(DESCRIBERS) == set(FORMS), "every stateful form needs a describer here"


def progress(form: Form, w: GroupWindow | None, at: float) -> Progress:
    """The window ``w`` (None: the group has none yet) at event time ``at`` (seconds)."""
    return DESCRIBERS[form.key](form, w if w is not None else GroupWindow(0), at)
