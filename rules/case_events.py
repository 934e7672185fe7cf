"""The events of a rule test as written: one event per line, or a series generated from one line.

A series (``every: 60s, for: 30m``, with ``values`` for the fields that change) says "a reading
every minute for half an hour, rising from 10 to 40" in one line instead of thirty, so a case shows
what it is about. Its events are numbered deterministically and arrive when the clock reaches
them, so two series of different devices interleave as live traffic would.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from rules.durations import Duration, format_duration
from rules.events import Family

MAX_SERIES_EVENTS = 10_000
"""Events one series may generate: more is a typo (``every: 1s, for: 30d``), not a test."""
FIXED = frozenset({"at", "on", "family", "time", "event_id", "every", "for", "values"})
"""Keys a series cannot vary: its times come from ``every`` and its event ids are numbered."""

Scalar = str | int | float | bool | None
FieldPath = Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*$")]


class ValueRange(BaseModel):
    """Numbers from ``from`` to ``to``: by ``step`` (then holding at the last), or without a step
    spread evenly over the series (``from`` at its first event, ``to`` at its last)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    from_: int | float = Field(alias="from")
    to: int | float
    step: int | float | None = None

    @model_validator(mode="after")
    def _step_leads_to(self) -> ValueRange:
        if not all(math.isfinite(x) for x in (self.from_, self.to, self.step or 0)):
            raise ValueError("a range needs finite numbers")
        if self.step is not None:
            if self.step == 0:
                raise ValueError("a range's step cannot be 0")
            if (self.to - self.from_) * self.step < 0:
                raise ValueError(
                    f"step {self.step:g} never gets from {self.from_:g} to {self.to:g}; "
                    f"use step: {-self.step:g}"
                )
        return self

    @property
    def length(self) -> int | None:
        """How many values it has by itself; None without a step (it takes the series' length)."""
        if self.step is None:
            return None
        return math.floor((self.to - self.from_) / self.step + 1e-9) + 1

    def value(self, k: int, n: int) -> int | float:
        """The ``k``-th value of a series of ``n`` events."""
        if self.step is not None:
            x = self.from_ + self.step * min(k, (self.length or 1) - 1)
        else:
            x = self.from_ + (self.to - self.from_) * (k / (n - 1) if n > 1 else 0)
        whole = all(isinstance(v, int) for v in (self.from_, self.to, self.step or 0))
        return round(x) if whole and abs(x - round(x)) < 1e-9 else round(x, 9)


Varying = Annotated[list[Scalar], Field(min_length=1)] | ValueRange


class CaseEvent(BaseModel):
    """An event in a rule test: ``at`` is an offset from the test's start; other keys are event fields.

    With ``every`` it is a series: events at ``at``, ``at + every``, ... up to and including
    ``at + for`` (or one per value of the longest list or range in ``values``), each with the fields
    written and the ``values`` of its turn: a list is used in turn and starts over, a range steps
    and then holds at its last value.
    """

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    at: Duration
    on: Family
    every: Duration | None = Field(default=None, gt=0, description="A series: one event this often")
    for_: Duration | None = Field(
        default=None, alias="for", description="A series: for this long after 'at' (its last event at at+for)"
    )
    values: dict[FieldPath, Varying] | None = Field(
        default=None,
        description="A series: fields that change, each a list (used in turn) or {from, to, step}",
    )
    _origin: tuple[int, int | None] | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _series_is_whole(self) -> CaseEvent:
        if self.every is None:
            if self.for_ is not None or self.values is not None:
                raise ValueError("'for' and 'values' make a series, which needs 'every', e.g. every: 60s")
            return self
        if self.for_ is None and not self.values:
            raise ValueError("a series needs 'for' (how long, e.g. for: 30m) or 'values' (one event each)")
        extra = self.model_extra or {}
        for path, varying in (self.values or {}).items():
            if path.split(".", 1)[0] in FIXED:
                raise ValueError(
                    f"'{path}' cannot vary in a series: its times come from 'every' and its event ids "
                    "are numbered for you"
                )
            if _has_path(extra, path):
                raise ValueError(f"'{path}' is written as a field and in 'values'; keep one")
            if isinstance(varying, ValueRange) and varying.step is None and self.for_ is None:
                raise ValueError(
                    f"the range of '{path}' has no step, so it is spread over the series, which needs "
                    "'for' (or give the range a step)"
                )
        if self.size > MAX_SERIES_EVENTS:
            assert self.for_ is not None
            raise ValueError(
                f"every {format_duration(self.every)} for {format_duration(self.for_)} is "
                f"{self.size:,} events; a series has at most {MAX_SERIES_EVENTS:,}"
            )
        return self

    @property
    def size(self) -> int:
        """How many events this line stands for (1 unless it is a series)."""
        if self.every is None:
            return 1
        if self.for_ is not None:
            return math.floor(self.for_ / self.every + 1e-9) + 1
        lengths = [
            (v.length or 1) if isinstance(v, ValueRange) else len(v) for v in (self.values or {}).values()
        ]
        return max(lengths)

    @property
    def origin(self) -> tuple[int, int | None] | None:
        """For an event of a case with a series: (the line's index, the event's index in its series
        or None for a plain line), both from 0. None when every event is written out."""
        return self._origin

    def describe(self, index: int) -> str:
        """How a message names this event, ``index`` being its place in arrival order:
        ``event 3 (at 30s)``, or in a series ``event 3 (the 5th of its series, at 240s)``."""
        if self._origin is None:
            return f"event {index + 1} (at {self.at:g}s)"
        line, nth = self._origin
        if nth is None:
            return f"event {line + 1} (at {self.at:g}s)"
        return f"event {line + 1} (the {_ordinal(nth + 1)} of its series, at {self.at:g}s)"

    def generated(self, line: int) -> Iterator[CaseEvent]:
        """The events of this series, in time order, numbered after the line they are written on."""
        assert self.every is not None
        n = self.size
        fields = dict(self.model_extra or {})
        base_id = fields.pop("event_id", None)
        for k in range(n):
            data: dict[str, Any] = _copy(fields)
            for path, varying in (self.values or {}).items():
                value = varying.value(k, n) if isinstance(varying, ValueRange) else varying[k % len(varying)]
                _set_path(data, path, value)
            number = f"{base_id}-{k + 1}" if base_id is not None else f"case-event-{line + 1}-{k + 1}"
            data["event_id"] = number
            data["at"] = round(self.at + k * self.every, 6)
            data["on"] = self.on
            event = CaseEvent.model_validate(data)
            event._origin = (line, k)
            yield event


def arrival_order(events: list[CaseEvent]) -> list[CaseEvent]:
    """Every event of a case in the order it arrives: lines in the order written (so a line written
    after a later one arrives late), and each generated event when the clock reaches its time,
    before the first line later than it (or as late and written after its series)."""
    if all(ev.every is None for ev in events):
        return events
    lines = [(w, ev) for w, ev in enumerate(events) if ev.every is None]
    slots: list[list[tuple[float, int, int, CaseEvent]]] = [[] for _ in range(len(lines) + 1)]
    for w, ev in enumerate(events):
        if ev.every is None:
            continue
        for k, gen in enumerate(ev.generated(w)):
            place = next(
                (j for j, (lw, ln) in enumerate(lines) if ln.at > gen.at or (ln.at == gen.at and lw > w)),
                len(lines),
            )
            slots[place].append((gen.at, w, k, gen))
    out: list[CaseEvent] = []
    for j, slot in enumerate(slots):
        out += [gen for *_, gen in sorted(slot, key=lambda s: s[:3])]
        if j < len(lines):
            w, line = lines[j]
            written = line.model_copy()
            written._origin = (w, None)
            out.append(written)
    return out


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _has_path(data: dict[str, Any], path: str) -> bool:
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _set_path(data: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node = data
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[last] = value
