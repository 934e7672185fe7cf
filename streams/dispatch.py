"""Stage 3, dispatch: one alert lifecycle per fingerprint, notices to agency and audit topics.

Candidates, clock ticks and inhibition notes arrive keyed by fingerprint, so one alert's state
lives in one partition of the alert-state table. The decisions are rules.lifecycle's; this module
loads and stores state, sends notices and publishes the effects (open alerts to every worker,
messages to other alerts). Delivery is at-least-once; notices carry deterministic ids.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

import orjson

from rules.alerts import DISPATCH_MESSAGE, AlertCandidate, DispatchTick, InhibitedNote, to_cloudevent
from rules.due_index import DueIndex
from rules.errors import EventDecodeError
from rules.lifecycle import AlertState, Decision, Notice, Publish
from rules.world import Ack, World
from streams import metrics
from streams.app import (
    active_topic,
    agency_topic,
    alert_state,
    app,
    audit_topic,
    candidates_topic,
    rules,
    settings,
)
from streams.dead_letters import dead_letter
from streams.world_reader import WorldReader

log = logging.getLogger(__name__)
CE_HEADERS = {"content-type": b"application/cloudevents+json; charset=utf-8"}
world = World()
due: DueIndex[str] = DueIndex()
fingerprint_of: dict[str, str] = {}
"""Alert id to fingerprint for the alerts this worker's partitions hold, to route acks to them."""


async def _tick_for_ack(ack: Ack) -> None:
    fp = fingerprint_of.get(ack.alert_id)
    if fp is not None:
        tick = DispatchTick(fingerprint=fp, now=datetime.now(UTC))
        await candidates_topic.send(key=fp.encode(), value=tick.model_dump_json().encode())


reader = WorldReader(settings, world, on_ack=_tick_for_ack)


@app.task  # type: ignore[untyped-decorator]
async def follow_world() -> None:
    while True:
        try:
            await reader.run()
        except Exception:  # a broker hiccup must not leave dispatch without silences and acks
            log.exception("reading acks, silences and open alerts failed; retrying in 2 s")
            await asyncio.sleep(2.0)


async def dispatch_one(raw: bytes) -> None:
    msg = DISPATCH_MESSAGE.validate_json(raw)
    stored = alert_state.get(msg.fingerprint)
    state = AlertState.model_validate(stored) if stored else None
    now = datetime.now(UTC)
    if isinstance(msg, AlertCandidate):
        decision = rules.dispatcher.handle(state, msg, now, world)
        if not decision.notices and decision.reason != "opened":
            metrics.child(metrics.SUPPRESSED, msg.rule_id, decision.reason).inc()
    elif isinstance(msg, DispatchTick):
        if state is None:
            return
        decision = rules.dispatcher.tick(state, msg.now, world)
    else:
        decision = rules.dispatcher.note_inhibited(state, msg)
    for notice in decision.notices:
        await _send(notice, state)
    await _publish(decision)
    _store(msg.fingerprint, state, decision)
    if isinstance(msg, AlertCandidate) and decision.alert is not None:
        done = time.time()
        metrics.child(metrics.LATENCY, "event_to_alert").observe(max(0.0, done - msg.event_time.timestamp()))
        if msg.ingested_at is not None:
            metrics.child(metrics.LATENCY, "consume_to_produce").observe(max(0.0, done - msg.ingested_at))


async def _send(notice: Notice, before: AlertState | None) -> None:
    alert = notice.alert
    body = orjson.dumps(to_cloudevent(alert).model_dump(mode="json"))
    key = alert.alert_id.encode()
    why = notice.withheld_by
    if why is None:
        for agency in alert.agencies:
            await agency_topic(agency).send(key=key, value=body, headers=CE_HEADERS)
            metrics.child(metrics.NOTICES, alert.rule_id, alert.risk.value, alert.tier.value, agency).inc()
            metrics.child(metrics.NOTICE_CHANGES, alert.rule_id, agency, alert.change).inc()
    else:
        kind = why.split(" ", 1)[0]
        for agency in alert.agencies:
            metrics.child(metrics.WITHHELD, alert.rule_id, agency, kind).inc()
    headers = {**CE_HEADERS, "riskstream-withheld": why.encode()} if why else CE_HEADERS
    await audit_topic.send(key=key, value=body, headers=headers)
    if alert.change == "acknowledged" and alert.acknowledged_at is not None and before is not None:
        seconds = (alert.acknowledged_at - before.opened_clock).total_seconds()
        metrics.child(metrics.TIME_TO_ACK, alert.rule_id).observe(max(0.0, seconds))


async def _publish(decision: Decision) -> None:
    for effect in decision.effects:
        if isinstance(effect, Publish):
            if effect.alert is None:
                world.active.drop(effect.fingerprint)
                await active_topic.send(key=effect.fingerprint.encode(), value=None)
            else:
                world.active.put(effect.alert)
                await active_topic.send(
                    key=effect.fingerprint.encode(), value=effect.alert.model_dump_json().encode()
                )
        else:
            message: AlertCandidate | InhibitedNote = effect.message
            await candidates_topic.send(
                key=message.fingerprint.encode(), value=message.model_dump_json().encode()
            )


def _store(fp: str, before: AlertState | None, decision: Decision) -> None:
    after = decision.state
    if after is None:
        if before is not None:
            del alert_state[fp]
            fingerprint_of.pop(before.alert_id, None)
        due.discard(fp)
    else:
        if after is not before:
            alert_state[fp] = after.model_dump(mode="json")
        fingerprint_of[after.alert_id] = fp
        _remember(fp, after)
    metrics.OPEN_ALERTS.set(len(due))


def _remember(fp: str, state: AlertState) -> None:
    due.set(fp, rules.dispatcher.next_due(state).timestamp(), state.candidate.rule_id)


@alert_state.on_recover
async def rebuild_due_index() -> None:
    """After a rebalance: relearn the owned alerts' due times; apply acks that came meanwhile."""
    due.clear()
    fingerprint_of.clear()
    now = time.time()
    for fp, stored in alert_state.items():
        state = AlertState.model_validate(stored)
        fingerprint_of[state.alert_id] = fp
        _remember(fp, state)
        if state.open and state.alert_id in world.acks and state.acked_by is None:
            due.set(fp, now, state.candidate.rule_id)
    metrics.OPEN_ALERTS.set(len(due))


@app.timer(settings.tick_interval)  # type: ignore[untyped-decorator]
async def tick_due_alerts() -> None:
    at = datetime.now(UTC)
    for fp, _ in due.pop_due(at.timestamp()):
        tick = DispatchTick(fingerprint=fp, now=at)
        await candidates_topic.send(key=fp.encode(), value=tick.model_dump_json().encode())


@app.agent(candidates_topic)
async def dispatch(stream):  # type: ignore[no-untyped-def]
    await reader.ready.wait()
    async for event in stream.events():
        try:
            await dispatch_one(event.value)
        except Exception as exc:  # e.g. a candidate from an incompatible version: park it, go on
            log.exception(
                "dispatch failed on %s[%s]@%s",
                event.message.topic,
                event.message.partition,
                event.message.offset,
            )
            await dead_letter(
                event.message,
                "candidate",
                EventDecodeError("processing_error", f"{type(exc).__name__}: {exc}"),
            )
