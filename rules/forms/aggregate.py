"""aggregate: a statistic of a numeric field over a window, against a threshold or the window before."""

from __future__ import annotations

import types
import typing
from bisect import bisect_left
from dataclasses import dataclass

from rules.errors import RuleError
from rules.events import MODELS, EventBase, Family, field_getter
from rules.forms.base import At, Holds, Reading, window_covers_lateness
from rules.forms.sliding import SlidingForm
from rules.schema import RuleSpec
from rules.window_state import Entry, Figures


def numeric_fields(family: Family) -> set[str]:
    """Top-level fields of a family that hold numbers (what avg/min/max/sum can read)."""
    out = set()
    for name, info in MODELS[family].model_fields.items():
        ann = info.annotation
        members = typing.get_args(ann) if isinstance(ann, types.UnionType) else (ann,)
        if any(m in (int, float) for m in members):
            out.add(name)
    return out


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


@dataclass(frozen=True)
class AggregateForm(SlidingForm):
    fn: str
    field: str
    within: float
    comparison: str
    threshold: float
    min_events: int

    key = "aggregate"

    @classmethod
    def compile(cls, spec: RuleSpec, at: At) -> AggregateForm:
        a = spec.aggregate
        assert a is not None
        numbers = numeric_fields(spec.on)
        if a.field not in numbers:
            raise RuleError(
                f"aggregate field '{a.field}' is not a numeric {spec.on.value} event field; "
                f"numeric fields are: {', '.join(sorted(numbers))}",
                at("aggregate", "field"),
                spec.id,
            )
        comparison, threshold = a.comparison
        window_covers_lateness(spec, a.within, at("aggregate", "within"))
        return cls(a.fn, a.field, a.within, comparison, threshold, a.min_events)

    @property
    def compares_previous(self) -> bool:
        return self.comparison in ("rise_by", "rise_pct")

    @property
    def figures(self) -> tuple[str, ...]:
        base = ("value", "count")
        return (*base, "previous", "change", "change_pct") if self.compares_previous else base

    def memory(self, lateness: float) -> float:
        return self.within * (2 if self.compares_previous else 1) + lateness

    def read(self, event: EventBase, ok: bool, holds: Holds) -> Reading | None:
        value = field_getter(self.field)(event)
        if not isinstance(value, int | float) or isinstance(value, bool):
            return None
        return Reading(ok, float(value))

    def measure(self, entries: list[Entry], times: list[float], lo: int, hi: int, t: float) -> Figures | None:
        values = _numbers(entries[lo:hi])
        if len(values) < self.min_events:
            return None
        value = _stat(self.fn, values)
        figures: Figures = {"value": value, "count": len(values)}
        if not self.compares_previous:
            met = value >= self.threshold if self.comparison == "at_least" else value <= self.threshold
            return figures if met else None
        before = entries[bisect_left(times, t - 2 * self.within) : bisect_left(times, t - self.within)]
        previous_values = _numbers(before)
        if len(previous_values) < self.min_events:
            return None
        previous = _stat(self.fn, previous_values)
        change = value - previous
        # A change from zero has no percentage: rise_pct cannot judge it, and rise_by leaves the figure
        # out rather than send an infinity, which JSON cannot carry.
        pct = change / abs(previous) * 100 if previous else None
        if self.comparison == "rise_by":
            met = change >= self.threshold
        else:
            met = pct is not None and pct >= self.threshold
        if not met:
            return None
        figures.update(previous=previous, change=change)
        if pct is not None:
            figures["change_pct"] = pct
        return figures
