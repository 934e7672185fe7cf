"""Stateful rule forms as the engine runs them: plain, validated figures in seconds.

Each form names the figures its window yields (``window.count`` ...), which tier conditions and
summaries may read, and how far behind the newest event (event time) it must remember.
"""

from __future__ import annotations

from dataclasses import dataclass

from rules.conditions import Condition

ABSENCE_FORGET = 7 * 86400.0
"""An absence group that has not fired is forgotten after this long idle (or twice its absent_for).

In practice one fires first (after absent_for) and is then kept until it reports again."""


@dataclass(frozen=True)
class CountForm:
    at_least: int
    within: float


@dataclass(frozen=True)
class DistinctForm:
    field: str
    at_least: int
    within: float


@dataclass(frozen=True)
class AggregateForm:
    fn: str
    field: str
    within: float
    comparison: str
    threshold: float
    min_events: int

    @property
    def compares_previous(self) -> bool:
        return self.comparison in ("rise_by", "rise_pct")


@dataclass(frozen=True)
class HoldsForm:
    duration: float
    max_gap: float


@dataclass(frozen=True)
class Step:
    kinds: tuple[str, ...]
    when: Condition | None
    at_least: int = 1
    within: float = 0.0


@dataclass(frozen=True)
class SequenceForm:
    steps: tuple[Step, ...]
    within: float


@dataclass(frozen=True)
class AbsenceForm:
    absent_for: float


Form = CountForm | DistinctForm | AggregateForm | HoldsForm | SequenceForm | AbsenceForm


def window_keys(form: Form) -> tuple[str, ...]:
    """The figures a firing of this form carries, as ``window.<key>`` in conditions and summaries."""
    match form:
        case CountForm():
            return ("count", "span")
        case DistinctForm():
            return ("distinct", "count")
        case AggregateForm():
            base = ("value", "count")
            return (*base, "previous", "change", "change_pct") if form.compares_previous else base
        case HoldsForm():
            return ("held", "count")
        case SequenceForm():
            return ("count", "span")
        case AbsenceForm():
            return ("absent",)


def memory(form: Form, lateness: float) -> float:
    """Seconds of event time behind the newest event that a group's window must keep."""
    match form:
        case CountForm() | DistinctForm() | SequenceForm():
            return form.within + lateness
        case AggregateForm():
            return form.within * (2 if form.compares_previous else 1) + lateness
        case HoldsForm():
            return form.max_gap + lateness
        case AbsenceForm():
            return 0.0


def idle_expiry(form: Form, lateness: float) -> float:
    """Seconds on the clock after a group's last event when its state can be dropped."""
    if isinstance(form, AbsenceForm):
        return max(ABSENCE_FORGET, 2 * form.absent_for)
    return memory(form, lateness)
