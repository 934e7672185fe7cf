"""Stage 3, dispatch: one alert lifecycle per fingerprint, notices to agency and audit topics.

Candidates arrive keyed by fingerprint, so one alert's state lives in one partition of the
alert-state table. Delivery is at-least-once; notices carry deterministic ids for consumers.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import orjson

from rules.alerts import AlertCandidate, to_cloudevent
from rules.errors import EventDecodeError
from rules.lifecycle import AlertState
from streams import metrics
from streams.app import agency_topic, alert_state, app, audit_topic, candidates_topic, rules
from streams.dead_letters import dead_letter

log = logging.getLogger(__name__)
CE_HEADERS = {"content-type": b"application/cloudevents+json; charset=utf-8"}


async def dispatch_one(raw: bytes) -> None:
    cand = AlertCandidate.model_validate_json(raw)
    stored = alert_state.get(cand.fingerprint)
    state = AlertState.model_validate(stored) if stored else None
    decision = rules.dispatcher.handle(state, cand, now=datetime.now(UTC))
    alert = decision.alert
    if alert is None:
        metrics.child(metrics.SUPPRESSED, cand.rule_id, decision.reason).inc()
        if decision.state is not None and decision.state is not state:
            alert_state[cand.fingerprint] = decision.state.model_dump(mode="json")
        return
    body = orjson.dumps(to_cloudevent(alert).model_dump(mode="json"))
    key = alert.alert_id.encode()
    for agency in alert.agencies:
        await agency_topic(agency).send(key=key, value=body, headers=CE_HEADERS)
        metrics.child(metrics.NOTICES, alert.rule_id, alert.risk.value, alert.tier.value, agency).inc()
    await audit_topic.send(key=key, value=body, headers=CE_HEADERS)
    if decision.state is not None:
        alert_state[cand.fingerprint] = decision.state.model_dump(mode="json")
    done = time.time()
    metrics.child(metrics.LATENCY, "event_to_alert").observe(max(0.0, done - cand.event_time.timestamp()))
    if cand.ingested_at is not None:
        metrics.child(metrics.LATENCY, "consume_to_produce").observe(max(0.0, done - cand.ingested_at))


@app.agent(candidates_topic)
async def dispatch(stream):  # type: ignore[no-untyped-def]
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
