"""count: at least N matching events of one group within a window."""

from __future__ import annotations

from dataclasses import dataclass

from rules.forms.base import At, window_covers_lateness
from rules.forms.sliding import SlidingForm
from rules.schema import RuleSpec
from rules.window_state import Entry, Figures


@dataclass(frozen=True)
class CountForm(SlidingForm):
    at_least: int
    within: float

    key = "count"

    @classmethod
    def compile(cls, spec: RuleSpec, at: At) -> CountForm:
        assert spec.count is not None
        window_covers_lateness(spec, spec.count.within, at("count", "within"))
        return cls(spec.count.at_least, spec.count.within)

    @property
    def figures(self) -> tuple[str, ...]:
        return ("count", "span")

    def measure(self, entries: list[Entry], times: list[float], lo: int, hi: int, t: float) -> Figures | None:
        if hi - lo >= self.at_least:
            return {"count": hi - lo, "span": entries[hi - 1].time - entries[lo].time}
        return None
