"""Stage 1, detect: decode and validate input, evaluate rules; stateless matches go to dispatch,
stateful hits to the window stage, both keyed by rule and group.

Bad input goes to the dead-letter topic with its reason and original bytes; nothing a producer
sends can stop this agent.
"""

from __future__ import annotations

import logging
import time

import orjson
from faust.types import Message

from rules.decoding import decode_event
from rules.errors import EventDecodeError
from rules.hits import encode_hit
from streams import metrics
from streams.app import FAMILY_OF_TOPIC, app, candidates_topic, hits_topic, input_topic, rules, settings
from streams.dead_letters import dead_letter

log = logging.getLogger(__name__)


async def detect_one(message: Message, value: bytes | None) -> None:
    ingested = time.time()
    family = FAMILY_OF_TOPIC[message.topic]
    try:
        decoded = decode_event(value, family, settings.max_event_bytes)
    except EventDecodeError as exc:
        await dead_letter(message, family.value, exc)
        return
    metrics.child(metrics.EVENTS, family.value, "valid").inc()
    found = rules.engine.detect(decoded, ingested_at=ingested)
    for cand in found.candidates:
        metrics.child(metrics.RULE_MATCHES, cand.rule_id, cand.risk.value, cand.tier.value).inc()
        await candidates_topic.send(
            key=cand.fingerprint.encode(), value=orjson.dumps(cand.model_dump(mode="json"))
        )
    for hit in found.hits:
        await hits_topic.send(key=hit.fingerprint.encode(), value=encode_hit(hit))


@app.agent(input_topic)
async def detect(stream):  # type: ignore[no-untyped-def]
    async for event in stream.events():
        try:
            await detect_one(event.message, event.value)
        except Exception as exc:  # a bug must cost one message, not the stream
            log.exception(
                "detect failed on %s[%s]@%s",
                event.message.topic,
                event.message.partition,
                event.message.offset,
            )
            family = FAMILY_OF_TOPIC.get(event.message.topic)
            await dead_letter(
                event.message,
                family.value if family else "unknown",
                EventDecodeError("processing_error", f"{type(exc).__name__}: {exc}"),
            )
