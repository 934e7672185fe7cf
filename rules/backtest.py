"""Backtests: recorded events through the worker's own stages, and what each rule would have raised.

A rule author changes a pack and asks "what would this have done last week?" before it goes live.
The events replay on their own time (see ``rules.testing.Replay``), so the answer includes merges,
repeats, escalations, inhibition and resolutions, not only first matches. Several recordings (files)
are merged by event time (``by_event_time``), each keeping its own order. Every rule runs (one
rule's alert may hold back another's); the summary may be narrowed to the rules being changed.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from rules.compiler import RuleSet
from rules.decoding import DEFAULT_MAX_BYTES, decode_event
from rules.errors import EventDecodeError
from rules.events import EventBase, Family
from rules.model import Tier
from rules.testing import Notice, Replay

MAX_REJECTS_KEPT = 20


@dataclass(frozen=True)
class Reject:
    """A recorded message that is not an event, and why (the worker would dead-letter it)."""

    source: str
    line: int
    reason: str


@dataclass
class RuleTally:
    """One rule's alerts in a backtest: how many, how loud, who heard them."""

    rule_id: str
    alerts: set[str] = field(default_factory=set)
    changes: Counter[str] = field(default_factory=Counter)
    withheld: int = 0
    top_tier: Tier | None = None
    agencies: Counter[str] = field(default_factory=Counter)
    shadow: bool = False
    """A shadow rule: its notices reach no agency (``agencies`` stays empty)."""

    @property
    def notices(self) -> int:
        return sum(self.changes.values())

    def add(self, notice: Notice) -> None:
        alert = notice.alert
        self.alerts.add(alert.alert_id)
        self.changes[alert.change] += 1
        self.shadow = self.shadow or alert.shadow
        if alert.withheld_by is not None:
            self.withheld += 1
        elif not alert.shadow:
            self.agencies.update(alert.agencies)
        if self.top_tier is None or alert.tier.rank > self.top_tier.rank:
            self.top_tier = alert.tier


@dataclass
class Backtest:
    ruleset: RuleSet
    only: frozenset[str] = frozenset()
    """Rule ids the summary is about (empty: every rule); all rules run regardless."""
    max_event_bytes: int = DEFAULT_MAX_BYTES
    replay: Replay = field(init=False)
    events: int = 0
    first: datetime | None = None
    last: datetime | None = None
    rejected: int = 0
    rejects: list[Reject] = field(default_factory=list)
    """The first MAX_REJECTS_KEPT rejected lines; ``rejected`` counts them all."""

    def __post_init__(self) -> None:
        unknown = sorted(self.only - {r.spec.id for r in self.ruleset.rules})
        if unknown:
            known = ", ".join(sorted(r.spec.id for r in self.ruleset.rules))
            raise ValueError(f"unknown rule id(s) {', '.join(unknown)}; the packs have: {known}")
        self.replay = Replay(self.ruleset)

    def feed(self, raw: bytes | None, source: str, line: int, family: Family | None = None) -> None:
        """One recorded message as a topic carries it; ``family``: the topic's, if known.

        ``source`` and ``line`` say where it came from (a file and line, or a topic partition and
        offset), for the report of lines that are not events.
        """
        event = self.decode(raw, source, line, family)
        if event is not None:
            self.feed_event(event)

    def decode(
        self, raw: bytes | None, source: str, line: int, family: Family | None = None
    ) -> EventBase | None:
        """The event a recorded message holds, or None (counted and kept as a reject) if none."""
        try:
            return decode_event(raw, family, max_bytes=self.max_event_bytes)
        except EventDecodeError as exc:
            self.rejected += 1
            if len(self.rejects) < MAX_REJECTS_KEPT:
                self.rejects.append(Reject(source, line, str(exc)))
            return None

    def feed_event(self, event: EventBase) -> None:
        """One decoded event, next in arrival order."""
        self.events += 1
        self.first = event.time if self.first is None else min(self.first, event.time)
        self.last = event.time if self.last is None else max(self.last, event.time)
        self.replay.feed(event)

    def finish(self, run_on: float = 0.0) -> list[Notice]:
        """Let the clock run ``run_on`` seconds past the newest event (quiet time, escalation)."""
        until = None
        if self.last is not None and run_on > 0:
            until = self.last + timedelta(seconds=run_on)
        return [n for n in self.replay.finish(until) if self._about(n.alert.rule_id)]

    def tallies(self) -> list[RuleTally]:
        """Per rule, loudest first (top tier, then alerts); rules that raised nothing are left out."""
        out: dict[str, RuleTally] = {}
        for notice in self.replay.notices:
            if self._about(notice.alert.rule_id):
                out.setdefault(notice.alert.rule_id, RuleTally(notice.alert.rule_id)).add(notice)
        return sorted(
            out.values(),
            key=lambda t: (-(t.top_tier.rank if t.top_tier else 0), -len(t.alerts), t.rule_id),
        )

    def silent_rules(self) -> list[str]:
        """Rules in the summary that raised nothing: worth a look when a rule is meant to fire."""
        raised = {n.alert.rule_id for n in self.replay.notices}
        ids = (r.spec.id for r in self.ruleset.rules)
        return sorted(i for i in ids if self._about(i) and i not in raised)

    def evaluation_errors(self) -> Counter[str]:
        """Per rule, how often a condition could not be evaluated (e.g. a missing field compared)."""
        return Counter(e.split(":", 1)[0].removeprefix("rule ") for e in self.replay.errors)

    def _about(self, rule_id: str) -> bool:
        return not self.only or rule_id in self.only


def by_event_time(recordings: Iterable[Iterable[EventBase]]) -> Iterator[EventBase]:
    """Several recordings as one stream: each keeps its own order, and across them the event with
    the earliest time goes next (the earlier recording first on a tie), as if they had arrived
    together. Reads each lazily, one event ahead, so files larger than memory merge too."""
    return heapq.merge(*recordings, key=lambda e: e.time)
