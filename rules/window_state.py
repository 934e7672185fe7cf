"""What one group's window remembers for one stateful rule, and how it is written down.

Plain data: the forms (``rules.forms``) decide what goes in and when it is met; ``rules.windows``
drives them. The JSON is compact because a worker may hold millions of groups.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from rules.hits import Hit, hit_of_sample, sample_of

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


@dataclass(frozen=True)
class Observation:
    outcome: Outcome
    firing: Firing | None = None
    evicted: int = 0


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
    sample: Hit | None = None
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
            out["s"] = sample_of(self.sample)
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
        w.sample = None if data.get("s") is None else hit_of_sample(data["s"])
        w.evicted = int(data.get("x", 0))
        return w
