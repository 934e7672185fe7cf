"""The dead-letter topic: where a message goes when it cannot be processed, with the reason why."""

from __future__ import annotations

from datetime import UTC, datetime

from aiokafka.structs import ConsumerRecord

from rules.errors import EventDecodeError
from streams import metrics
from streams.sending import Outgoing


async def dead_letter(
    out: Outgoing, dlq: str, record: ConsumerRecord[bytes, bytes], family: str, exc: EventDecodeError
) -> None:
    """Forward the original bytes with Kafka-Connect-style headers naming the reason and source."""
    headers = [
        ("riskstream.dlq.reason", exc.reason.encode()),
        ("riskstream.dlq.error", exc.category.encode()),
        ("riskstream.dlq.topic", record.topic.encode()),
        ("riskstream.dlq.partition", str(record.partition).encode()),
        ("riskstream.dlq.offset", str(record.offset).encode()),
        ("riskstream.dlq.at", datetime.now(UTC).isoformat().encode()),
    ]
    await out.send(dlq, record.key, record.value or b"", headers)
    metrics.child(metrics.EVENTS, family, "dead_letter").inc()
    metrics.child(metrics.DEAD_LETTERS, family, exc.category).inc()


def processing_error(exc: Exception) -> EventDecodeError:
    """A bug met while handling one message: it costs that message (parked here), not the stream."""
    return EventDecodeError("processing_error", f"{type(exc).__name__}: {exc}")
