"""Stage 1, detect: decode and validate input, evaluate rules, hand matches to dispatch.

Bad input goes to the dead-letter topic with its reason and original bytes; nothing a producer
sends can stop this agent.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import orjson

from rules.decoding import decode_event
from rules.errors import EventDecodeError
from streams import metrics
from streams.app import FAMILY_OF_TOPIC, app, candidates_topic, dlq_topic, input_topic, rules, settings

log = logging.getLogger(__name__)


async def dead_letter(message: object, family: str, exc: EventDecodeError) -> None:
    """Forward the original bytes with Kafka-Connect-style headers naming the reason and source."""
    msg = message  # faust Message
    headers = {
        "riskstream.dlq.reason": exc.reason.encode(),
        "riskstream.dlq.error": exc.category.encode(),
        "riskstream.dlq.topic": msg.topic.encode(),  # type: ignore[attr-defined]
        "riskstream.dlq.partition": str(msg.partition).encode(),  # type: ignore[attr-defined]
        "riskstream.dlq.offset": str(msg.offset).encode(),  # type: ignore[attr-defined]
        "riskstream.dlq.at": datetime.now(UTC).isoformat().encode(),
    }
    await dlq_topic.send(key=msg.key, value=msg.value or b"", headers=headers)  # type: ignore[attr-defined]
    metrics.child(metrics.EVENTS, family, "dead_letter").inc()
    metrics.child(metrics.DEAD_LETTERS, family, exc.category).inc()


@app.agent(input_topic)
async def detect(stream):  # type: ignore[no-untyped-def]
    async for event in stream.events():
        ingested = time.time()
        message = event.message
        family = FAMILY_OF_TOPIC[message.topic]
        try:
            decoded = decode_event(event.value, family, settings.max_event_bytes)
        except EventDecodeError as exc:
            await dead_letter(message, family.value, exc)
            continue
        metrics.child(metrics.EVENTS, family.value, "valid").inc()
        for cand in rules.engine.evaluate(decoded, ingested_at=ingested):
            metrics.child(metrics.RULE_MATCHES, cand.rule_id, cand.risk.value, cand.tier.value).inc()
            await candidates_topic.send(
                key=cand.fingerprint.encode(), value=orjson.dumps(cand.model_dump(mode="json"))
            )
