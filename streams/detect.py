"""Stage 1, detect: decode and validate input, evaluate rules, keep the windows grouped by source.

Each batch is one input partition's records. Stateless matches go to dispatch; hits of rules
grouped by ``source_id`` stay in this partition's windows (producers key events by source id, so
a source's events all arrive here); other hits go to the window stage keyed by rule and group.
Bad input goes to the dead-letter topic with its reason and original bytes; nothing a producer
sends can stop this stage.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from aiokafka.structs import ConsumerRecord
from faust.types import TP

from rules.decoding import decode_event
from rules.errors import EventDecodeError
from rules.events import Family
from rules.hits import encode_hit
from rules.pipeline import Detector, Outbox
from rules.window_book import WindowBook
from streams import metrics
from streams.dead_letters import dead_letter, processing_error
from streams.live_rules import LiveRules
from streams.sending import Outgoing
from streams.settings import Settings
from streams.stage import CLOCK_TURNS, Stage
from streams.tables import TableStore
from streams.window_stage import count_window_result, send_candidates

log = logging.getLogger(__name__)


class DetectStage(Stage):
    name = "detect"

    def __init__(self, settings: Settings, producer: Any, store: TableStore[Any], rules: LiveRules):
        super().__init__(settings, producer, store)
        self.rules = rules
        self.family_of = {t: f for f, t in settings.input_topics().items()}
        self.candidates = settings.topic(settings.topic_candidates)
        self.hits = settings.topic(settings.topic_hits)
        self.dlq = settings.topic(settings.topic_dlq)
        self.time_bounds = settings.time_bounds()
        self.windows = WindowBook(rules.judge, store, on_result=count_window_result)
        self.detector = Detector(rules.engine, self.windows)
        self._generation = rules.generation

    def _follow_rules(self) -> None:
        if self._generation != self.rules.generation:
            self._generation = self.rules.generation
            self.windows.judge = self.rules.judge
            self.detector = Detector(self.rules.engine, self.windows)

    async def decide(self, tp: TP, records: list[ConsumerRecord[bytes, bytes]], out: Outgoing) -> None:
        self._follow_rules()
        family: Family = self.family_of[tp.topic]
        max_bytes = self.settings.max_event_bytes
        now, ingested = datetime.now(UTC), time.time()
        box = Outbox()
        valid = 0
        for record in records:
            try:
                event = decode_event(record.value, family, max_bytes, now=now, bounds=self.time_bounds)
            except EventDecodeError as exc:
                await dead_letter(out, self.dlq, record, family.value, exc)
                continue
            try:
                keyed = record.key is not None and record.key == event.source_id.encode()
                self.detector.on_event(event, now, box, ingested, keyed)
            except Exception as exc:  # a bug must cost one message, not the stream
                log.exception("detect failed on %s[%s]@%s", record.topic, record.partition, record.offset)
                metrics.child(metrics.PROCESSING_ERRORS, self.name).inc()
                await dead_letter(out, self.dlq, record, family.value, processing_error(exc))
                continue
            valid += 1
        if valid:
            metrics.child(metrics.EVENTS, family.value, "valid").inc(valid)
        await send_candidates(out, self.candidates, box.candidates)
        for hit in box.hits:
            await out.send(self.hits, hit.fingerprint.encode(), encode_hit(hit))
        metrics.WINDOW_GROUPS.labels("detect").set(len(self.store))

    async def tick(self, out: Outgoing) -> bool:
        self._follow_rules()
        box = Outbox()
        now = datetime.now(UTC)
        self.detector.tick(now, box, self.clock_error, CLOCK_TURNS)
        await send_candidates(out, self.candidates, box.candidates)
        metrics.WINDOW_GROUPS.labels("detect").set(len(self.store))
        return self.windows.due.is_due(now.timestamp())

    def rebuild(self) -> None:
        """After a rebalance the partitions owned have changed: relearn which groups the clock watches."""
        self.windows.due.clear()
        for fp, (rule_id, window) in self.store.load_all():
            self.windows.schedule(fp, rule_id, window)
        metrics.WINDOW_GROUPS.labels("detect").set(len(self.store))

    def sweep(self, fingerprints: list[str]) -> int:
        """Drop groups that can go (expired, or their rule gone) among ``fingerprints``."""
        return self.windows.sweep(fingerprints, datetime.now(UTC))
