"""distinct: at least N different values of a field among one group's events within a window."""

from __future__ import annotations

from dataclasses import dataclass

from rules.errors import RuleError
from rules.events import MODELS, EventBase, field_getter, field_paths
from rules.forms.base import At, Holds, Reading, window_covers_lateness
from rules.forms.sliding import SlidingForm
from rules.schema import RuleSpec
from rules.window_state import Entry, Figures


@dataclass(frozen=True)
class DistinctForm(SlidingForm):
    field: str
    at_least: int
    within: float

    key = "distinct"

    @classmethod
    def compile(cls, spec: RuleSpec, at: At) -> DistinctForm:
        d = spec.distinct
        assert d is not None
        family = spec.on
        if d.field not in field_paths(MODELS[family]):
            raise RuleError(
                f"distinct field '{d.field}' is not a {family.value} event field; "
                f"fields are: {', '.join(sorted(MODELS[family].model_fields))}",
                at("distinct", "field"),
                spec.id,
            )
        window_covers_lateness(spec, d.within, at("distinct", "within"))
        return cls(d.field, d.at_least, d.within)

    @property
    def figures(self) -> tuple[str, ...]:
        return ("distinct", "count")

    def read(self, event: EventBase, ok: bool, holds: Holds) -> Reading | None:
        value = field_getter(self.field)(event)
        if value is None:
            return None
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        return Reading(ok, float(value) if numeric else str(value))

    def measure(self, entries: list[Entry], times: list[float], lo: int, hi: int, t: float) -> Figures | None:
        distinct = len({e.value for e in entries[lo:hi] if e.value is not None})
        return {"distinct": distinct, "count": hi - lo} if distinct >= self.at_least else None
