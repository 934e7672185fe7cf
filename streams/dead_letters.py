"""The dead-letter topic: where a message goes when it cannot be processed, with the reason why."""

from __future__ import annotations

from datetime import UTC, datetime

from faust.types import Message

from rules.errors import EventDecodeError
from streams import metrics
from streams.app import dlq_topic


async def dead_letter(message: Message, family: str, exc: EventDecodeError) -> None:
    """Forward the original bytes with Kafka-Connect-style headers naming the reason and source."""
    headers = {
        "riskstream.dlq.reason": exc.reason.encode(),
        "riskstream.dlq.error": exc.category.encode(),
        "riskstream.dlq.topic": message.topic.encode(),
        "riskstream.dlq.partition": str(message.partition).encode(),
        "riskstream.dlq.offset": str(message.offset).encode(),
        "riskstream.dlq.at": datetime.now(UTC).isoformat().encode(),
    }
    await dlq_topic.send(key=message.key, value=message.value or b"", headers=headers)
    metrics.child(metrics.EVENTS, family, "dead_letter").inc()
    metrics.child(metrics.DEAD_LETTERS, family, exc.category).inc()
