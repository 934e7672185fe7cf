"""Stage 2, windows: the stateful rules grouped by anything but the source, and their clock.

Hits arrive keyed by fingerprint (rule + group), so one group's hits meet in one partition, whose
windows this worker holds while it owns the partition. The decisions are ``rules.window_book``'s;
this module loads, stores and forwards. The clock (absences to fire) acts on the windows held here.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from aiokafka.structs import ConsumerRecord
from faust.types import TP

from rules.alerts import AlertCandidate
from rules.hits import WINDOW_MESSAGE, Hit
from rules.stateful import StageResult
from rules.window_book import WindowBook
from streams import metrics
from streams.dead_letters import dead_letter, processing_error
from streams.live_rules import LiveRules
from streams.sending import Outgoing
from streams.settings import Settings
from streams.stage import CLOCK_TURNS, Stage
from streams.tables import TableStore

log = logging.getLogger(__name__)


def count_window_result(rule_id: str, res: StageResult) -> None:
    if res.outcome in ("counted", "duplicate", "late", "unknown_rule"):
        metrics.child(metrics.WINDOW_HITS, rule_id, res.outcome).inc()
        if res.evicted:
            metrics.child(metrics.WINDOW_EVICTIONS, rule_id).inc(res.evicted)
    else:
        metrics.child(metrics.WINDOW_TICKS, res.outcome).inc()


async def send_candidates(out: Outgoing, topic: str, candidates: list[AlertCandidate]) -> None:
    for cand in candidates:
        metrics.child(metrics.RULE_MATCHES, cand.rule_id, cand.risk.value, cand.tier.value).inc()
        await out.send(topic, cand.fingerprint.encode(), cand.model_dump_json().encode())


class WindowStage(Stage):
    name = "windows"

    def __init__(self, settings: Settings, producer: Any, store: TableStore[Any], rules: LiveRules):
        super().__init__(settings, producer, store)
        self.rules = rules
        self.candidates = settings.topic(settings.topic_candidates)
        self.dlq = settings.topic(settings.topic_dlq)
        self.book = WindowBook(rules.judge, store, on_result=count_window_result)
        self._generation = rules.generation

    def _follow_rules(self) -> None:
        if self._generation != self.rules.generation:
            self._generation = self.rules.generation
            self.book.judge = self.rules.judge

    async def decide(self, tp: TP, records: list[ConsumerRecord[bytes, bytes]], out: Outgoing) -> None:
        self._follow_rules()
        now = datetime.now(UTC)
        found: list[AlertCandidate] = []
        for record in records:
            try:
                msg = WINDOW_MESSAGE.validate_json(record.value or b"")
                if isinstance(msg, Hit):
                    res = self.book.observe(msg, now)
                else:  # a clock tick sent by a worker of an earlier version
                    res = self.book.tick_one(msg.fingerprint, now)  # type: ignore[assignment]
                if res is not None and res.candidate is not None:
                    found.append(res.candidate)
            except Exception as exc:  # a bug must cost one message, not the stream
                log.exception("window stage failed on %s[%s]@%s", tp.topic, tp.partition, record.offset)
                metrics.child(metrics.PROCESSING_ERRORS, self.name).inc()
                await dead_letter(out, self.dlq, record, "hit", processing_error(exc))
        await send_candidates(out, self.candidates, found)
        metrics.WINDOW_GROUPS.labels("windows").set(len(self.store))

    async def tick(self, out: Outgoing) -> bool:
        self._follow_rules()
        now = datetime.now(UTC)
        ticked = self.book.tick(now, self.clock_error, CLOCK_TURNS)
        found = [r.candidate for r in ticked if r.candidate is not None]
        await send_candidates(out, self.candidates, found)
        metrics.WINDOW_GROUPS.labels("windows").set(len(self.store))
        return self.book.due.is_due(now.timestamp())

    def rebuild(self) -> None:
        """After a rebalance the partitions owned have changed: relearn which groups the clock watches."""
        self.book.due.clear()
        for fp, (rule_id, window) in self.store.load_all():
            self.book.schedule(fp, rule_id, window)
        metrics.WINDOW_GROUPS.labels("windows").set(len(self.store))

    def sweep(self, fingerprints: list[str]) -> int:
        """Drop groups that can go (expired, or their rule gone) among ``fingerprints``."""
        return self.book.sweep(fingerprints, datetime.now(UTC))
