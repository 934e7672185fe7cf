"""Detection with the windows that live beside it: events in, what must travel on out.

A rule grouped by ``source_id`` sees all of one group's events in the input partition they arrive
on, when producers key events by source id, so its windows stay with detection and its hits need
no hop. Every other stateful rule's hits go on to the window stage, keyed by rule and group. The
worker runs this per batch of one input partition; rule tests and backtests run it per event, in
one process that holds every group.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from rules.alerts import AlertCandidate
from rules.due_index import OnError
from rules.engine import Engine
from rules.events import EventBase
from rules.hits import Hit
from rules.window_book import WindowBook

LOCAL_GROUP = "source_id"
"""A rule whose group includes this field keeps its windows with detection."""


@dataclass
class Outbox:
    """What detection or a window stage sends on: candidates for dispatch, hits for other windows."""

    candidates: list[AlertCandidate] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)


class Detector:
    def __init__(self, engine: Engine, windows: WindowBook, holds_every_group: bool = False):
        self.engine = engine
        self.windows = windows
        self.holds_every_group = holds_every_group
        """True in one process that holds every window (rule tests, backtests): no hit travels."""
        self._local = frozenset(r.id for r in engine.rules if LOCAL_GROUP in r.group_by)

    def on_event(
        self,
        event: EventBase,
        now: datetime,
        out: Outbox,
        ingested_at: float | None = None,
        keyed_by_source: bool = True,
    ) -> None:
        """``keyed_by_source``: the event arrived keyed by its source id, so its partition holds
        its source's windows; otherwise its hits travel like any other group's."""
        found = self.engine.detect(event, ingested_at)
        out.candidates.extend(found.candidates)
        for hit in found.hits:
            if self.holds_every_group or (keyed_by_source and hit.rule_id in self._local):
                res = self.windows.observe(hit, now)
                if res.candidate is not None:
                    out.candidates.append(res.candidate)
            else:
                out.hits.append(hit)

    def tick(
        self, now: datetime, out: Outbox, on_error: OnError | None = None, limit: int | None = None
    ) -> None:
        """The clock for the windows held here (absences that fire)."""
        for res in self.windows.tick(now, on_error, limit):
            if res.candidate is not None:
                out.candidates.append(res.candidate)
