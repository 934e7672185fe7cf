"""Event-time windows for one rule and one group: what to remember and when the form is met.

Pure and clock-injected: ``observe`` takes an event, ``tick`` takes the clock, both return the new
state and at most one firing. What a form keeps and when it is met is the form's own (see
``rules.forms``); this module applies what every form shares: rule versions, lateness, idle expiry.

An event older than the group's newest by more than the rule's lateness is late: it is reported
and not counted. A redelivered event id is never counted twice.
"""

from __future__ import annotations

from rules.forms import Form
from rules.window_state import Entry, Figures, Firing, GroupWindow, Observation, Outcome

__all__ = [
    "Entry",
    "Figures",
    "Firing",
    "GroupWindow",
    "Observation",
    "Outcome",
    "expired",
    "next_due",
    "observe",
    "tick",
]


def observe(
    form: Form, lateness: float, state: GroupWindow | None, entry: Entry, rule_version: int, now: float
) -> tuple[GroupWindow, Observation]:
    """Add one event to its group's window and say whether the form is now met."""
    w = state if state is not None and state.rule_version == rule_version else GroupWindow(rule_version)
    if w is not state and state is not None:
        form.carry_over(state, w)
    w.touched = max(w.touched, now)
    if entry.time < w.watermark - lateness:
        return w, Observation("late")
    return w, form.observe(w, entry, lateness)


def expired(form: Form, lateness: float, state: GroupWindow, now: float) -> bool:
    """Idle long enough to be forgotten: the group's next event starts it afresh."""
    return not form.waiting(state) and now >= state.touched + form.idle_expiry(lateness)


def tick(
    form: Form, lateness: float, state: GroupWindow, now: float
) -> tuple[GroupWindow | None, Firing | None]:
    """Let the clock act on a group: the form may fire; a group idle long enough is dropped (None)."""
    if form.waiting(state):
        return state, None
    if expired(form, lateness, state, now):
        return None, None
    return state, form.fire(state, now)


def next_due(form: Form, lateness: float, state: GroupWindow) -> float | None:
    """The clock time at which ``tick`` would next change this group (None: no tick will)."""
    if form.waiting(state):
        return None
    due = state.touched + form.idle_expiry(lateness)
    fires = form.due(state)
    return due if fires is None else min(due, fires)
