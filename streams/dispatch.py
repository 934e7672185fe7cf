"""Stage 3, dispatch: one alert lifecycle per fingerprint, notices to agency and audit topics.

Candidates and inhibition notes arrive keyed by fingerprint, so one alert's messages meet in one
partition, whose alerts this worker holds while it owns the partition. The decisions are
``rules.alert_book``'s and ``rules.lifecycle``'s; this module loads and stores state, sends notices
and publishes the effects (open alerts to every worker, messages to other alerts). The clock
(quiet time, escalation, reminders) and duty officers' acknowledgements act on the alerts held
here. A shadow rule's notices, and withheld ones, go to the audit topic only. Delivery is
at-least-once; notices carry deterministic ids.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka.structs import ConsumerRecord
from faust.types import TP

from rules.alert_book import AlertBook
from rules.alerts import DISPATCH_MESSAGE, Alert, AlertCandidate, DispatchTick, InhibitedNote, to_cloudevent
from rules.lifecycle import AlertState, Decision, Notice, Publish
from rules.world import Ack, World
from streams import metrics
from streams.dead_letters import dead_letter, processing_error
from streams.live_rules import LiveRules
from streams.redelivery import Delivered, Recall
from streams.sending import Outgoing
from streams.settings import Settings
from streams.stage import CLOCK_TURNS, Stage
from streams.tables import Codec, TableStore

log = logging.getLogger(__name__)
CE_HEADERS = [("content-type", b"application/cloudevents+json; charset=utf-8")]
SHADOW_HEADER = ("riskstream-mode", b"shadow")
"""On the audit copy of a shadow rule's notice, the only copy there is."""


def _encode(partition: int, state: AlertState) -> bytes:
    return b'{"p":%d,"a":%s}' % (partition, state.model_dump_json().encode())


def _decode(raw: bytes) -> tuple[int, AlertState]:
    data = orjson.loads(raw)
    return data["p"], AlertState.model_validate(data["a"])


ALERT_CODEC: Codec[AlertState] = Codec(_encode, _decode)


class DispatchStage(Stage):
    name = "dispatch"

    def __init__(
        self, settings: Settings, producer: Any, store: TableStore[Any], rules: LiveRules, world: World
    ):
        super().__init__(settings, producer, store)
        self.rules = rules
        self.candidates = settings.topic(settings.topic_candidates)
        self.audit = settings.topic(settings.topic_audit)
        self.active = settings.topic(settings.topic_active)
        self.dlq = settings.topic(settings.topic_dlq)
        self.book = AlertBook(
            rules.dispatcher, world, store, on_decision=self._decided, forward=self._forward
        )
        self._generation = rules.generation
        self._out: Outgoing | None = None
        self._sent: list[tuple[AlertCandidate, Decision]] = []
        self.recall: Recall | None = None
        """Reads back, at a takeover, notices a stopped worker delivered without recording them."""
        self.delivered = Delivered()
        """What the notice topics held at the last takeover: copies not to send again."""

    def _follow_rules(self) -> None:
        if self._generation != self.rules.generation:
            self._generation = self.rules.generation
            self.book.dispatcher = self.rules.dispatcher

    async def decide(self, tp: TP, records: list[ConsumerRecord[bytes, bytes]], out: Outgoing) -> None:
        self._follow_rules()
        now = datetime.now(UTC)
        self._begin(out)
        for record in records:
            try:
                msg = DISPATCH_MESSAGE.validate_json(record.value or b"")
                if isinstance(msg, AlertCandidate):
                    decision = self.book.handle(msg, now)
                    if not decision.notices and decision.reason != "opened":
                        metrics.child(metrics.SUPPRESSED, msg.rule_id, decision.reason).inc()
                    elif decision.alert is not None:
                        self._sent.append((msg, decision))
                elif isinstance(msg, InhibitedNote):
                    self.book.note(msg, now)
                else:  # DispatchTick: a clock tick sent by a worker of an earlier version
                    assert isinstance(msg, DispatchTick)
                    self.book.tick(msg.fingerprint, now)
            except Exception as exc:  # e.g. a candidate from an incompatible version: park it, go on
                log.exception("dispatch failed on %s[%s]@%s", tp.topic, tp.partition, record.offset)
                metrics.child(metrics.PROCESSING_ERRORS, self.name).inc()
                await dead_letter(out, self.dlq, record, "candidate", processing_error(exc))
        await self._send_effects()

    async def tick(self, out: Outgoing) -> bool:
        self._follow_rules()
        self._begin(out)
        now = datetime.now(UTC)
        self.book.tick_due(now, self.clock_error, CLOCK_TURNS)
        await self._send_effects()
        return self.book.due.is_due(now.timestamp())

    async def on_ack(self, ack: Ack) -> None:
        """A duty officer's ack or resolve: the alert acts on it now, if this worker holds it."""

        async def acknowledge(out: Outgoing) -> None:
            self._begin(out)
            try:
                self.book.acknowledge(ack, datetime.now(UTC))
            except Exception as exc:  # one alert's bug must not stop the worker
                self.clock_error(ack.alert_id, exc)
            await self._send_effects()

        await self.step(acknowledge)
        await self.settle()

    async def on_batch(self, event: Any) -> None:
        await super().on_batch(event)
        self._observe_latency()

    def notice_topics(self) -> list[str]:
        """Every topic a notice can go to: each agency's and the audit topic."""
        router = self.book.dispatcher.router
        return sorted({self.audit, *(self.settings.topic(router.topic_of(a)) for a in router.agencies)})

    async def recovered(self) -> None:
        """Before taking partitions over: the notices already delivered for candidates that will
        be decided again (``streams.redelivery``), so none goes out twice."""
        self._follow_rules()
        if self.recall is not None:
            self.delivered = await self.recall.delivered()

    def rebuild(self) -> None:
        """After a rebalance the partitions owned have changed: take over their alerts."""
        book, now = self.book, datetime.now(UTC)
        book.due.clear()
        book.fingerprint_of.clear()
        for fp, state in self.store.load_all():
            book.load(fp, state, now)
        metrics.OPEN_ALERTS.set(len(book.due))

    # -- inside -----------------------------------------------------------------------------------

    def _begin(self, out: Outgoing) -> None:
        self._out = out
        self._pending: list[tuple[str, Decision]] = []
        self._forwards: list[AlertCandidate | InhibitedNote] = []

    def _decided(self, fp: str, decision: Decision) -> None:
        self._pending.append((fp, decision))

    def _forward(self, message: AlertCandidate | InhibitedNote) -> None:
        self._forwards.append(message)

    async def _send_effects(self) -> None:
        out = self._out
        assert out is not None
        for _, decision in self._pending:
            for notice in decision.notices:
                await self._send_notice(out, notice, decision)
            for effect in decision.effects:
                if isinstance(effect, Publish):
                    key = effect.fingerprint.encode()
                    body = None if effect.alert is None else effect.alert.model_dump_json().encode()
                    await out.send(self.active, key, body)
        for message in self._forwards:
            body = message.model_dump_json().encode()
            await out.send(self.candidates, message.fingerprint.encode(), body)
        self._pending, self._forwards, self._out = [], [], None
        metrics.OPEN_ALERTS.set(len(self.book.due))

    async def _send_notice(self, out: Outgoing, notice: Notice, decision: Decision) -> None:
        alert = notice.alert
        event = to_cloudevent(alert)
        body = event.model_dump_json().encode()
        key = alert.alert_id.encode()
        why = notice.withheld_by
        if notice.shadow:
            self._count_shadow(alert, why)
        elif why is None:
            for agency in alert.agencies:
                topic = self.settings.topic(self.book.dispatcher.router.topic_of(agency))
                if self._already(event.id, topic, alert.rule_id):
                    continue
                await out.send(topic, key, body, CE_HEADERS)
                labels = (alert.rule_id, alert.risk.value, alert.tier.value, agency)
                metrics.child(metrics.NOTICES, *labels).inc()
                metrics.child(metrics.NOTICE_CHANGES, alert.rule_id, agency, alert.change).inc()
        else:
            kind = why.split(" ", 1)[0]
            for agency in alert.agencies:
                metrics.child(metrics.WITHHELD, alert.rule_id, agency, kind).inc()
        headers = [*CE_HEADERS, ("riskstream-withheld", why.encode())] if why else CE_HEADERS
        if notice.shadow:
            headers = [*headers, SHADOW_HEADER]
        if not self._already(event.id, self.audit, alert.rule_id):
            await out.send(self.audit, key, body, headers)
        state = decision.state
        if notice.shadow:
            return  # nobody was told of it: an acknowledgement is no duty desk's response time
        if alert.change == "acknowledged" and alert.acknowledged_at is not None and state is not None:
            seconds = (alert.acknowledged_at - state.opened_clock).total_seconds()
            metrics.child(metrics.TIME_TO_ACK, alert.rule_id).observe(max(0.0, seconds))

    @staticmethod
    def _count_shadow(alert: Alert, why: str | None) -> None:
        """A shadow rule's notice reaches no agency: counted apart, per agency it would have reached."""
        outcome = "sent" if why is None else why.split(" ", 1)[0]
        for agency in alert.agencies:
            metrics.child(metrics.SHADOW_NOTICES, alert.rule_id, agency, alert.change, outcome).inc()

    def _already(self, ce_id: str, topic: str, rule_id: str) -> bool:
        """The topic holds this notice already: a stopped worker delivered it (see ``recovered``)."""
        if not self.delivered.holds(ce_id, topic):
            return False
        metrics.child(metrics.ALREADY_DELIVERED, rule_id).inc()
        return True

    def _observe_latency(self) -> None:
        """Event-to-alert latency of the batch's notices, now that the broker has them."""
        done = time.time()
        to_alert = metrics.child(metrics.LATENCY, "event_to_alert")
        to_produce = metrics.child(metrics.LATENCY, "consume_to_produce")
        for cand, _ in self._sent:
            to_alert.observe(max(0.0, done - cand.event_time.timestamp()))
            if cand.ingested_at is not None:
                to_produce.observe(max(0.0, done - cand.ingested_at))
        self._sent = []
