"""The dead-letter topic: where a message goes when it cannot be processed, with the reason why.

A dead letter always fits (``rules/dead_letters.py``): the original key and bytes when they take at
most DEAD_LETTER_MAX_BYTES, else a prefix with the size and sha256 of the whole. The limits it
relies on are checked when the worker starts (``check_producer_limit``, ``check_broker_limit``), so
a message the broker took but the worker refuses is never refused again on its way to the
dead-letter topic (which had crashed the agent and skipped the message, uncounted).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import MessageSizeTooLargeError
from aiokafka.structs import ConsumerRecord

from rules.dead_letters import DEAD_LETTER_MAX_BYTES, HEADER_ALLOWANCE, clip, fit, reason_headers
from rules.errors import ConfigError, EventDecodeError
from streams import metrics
from streams.sending import Outgoing
from streams.settings import Settings

log = logging.getLogger(__name__)

DEAD_LETTER_REQUEST_BYTES = DEAD_LETTER_MAX_BYTES + HEADER_ALLOWANCE
"""The largest produce request a dead letter can make; the producer and the topic must take it."""


async def dead_letter(
    out: Outgoing, dlq: str, record: ConsumerRecord[bytes, bytes], family: str, exc: EventDecodeError
) -> None:
    """Forward the original key and bytes with Kafka-Connect-style headers naming the reason and source.

    A tombstone stays a tombstone (a null value, not empty bytes). Kafka clients cannot send a record
    with neither key nor value, so a tombstone without a key gets an empty key and the header
    ``riskstream.dlq.null_key``.
    """
    headers = [
        *reason_headers(exc),
        ("riskstream.dlq.topic", clip(record.topic, 300)),
        ("riskstream.dlq.partition", str(record.partition).encode()),
        ("riskstream.dlq.offset", str(record.offset).encode()),
        ("riskstream.dlq.at", datetime.now(UTC).isoformat().encode()),
    ]
    key: bytes | None = record.key
    if key is None and record.value is None:
        key = b""
        headers.append(("riskstream.dlq.null_key", b"true"))
    letter = fit(key, record.value, headers)
    try:
        await out.send(dlq, letter.key, letter.value, letter.headers)
    except MessageSizeTooLargeError:
        # Only if the producer was configured below what check_producer_limit saw: the headers and
        # digest alone still say what was lost, and the partition goes on.
        log.error("dead letter for %s[%s]@%s too large for the producer; sending its digest only",
                  record.topic, record.partition, record.offset)
        letter = fit(key, record.value, headers, max_bytes=0)
        await out.send(dlq, letter.key, letter.value, letter.headers)
    metrics.child(metrics.EVENTS, family, "dead_letter").inc()
    metrics.child(metrics.DEAD_LETTERS, family, exc.category).inc()


def processing_error(exc: Exception) -> EventDecodeError:
    """A bug met while handling one message: it costs that message (parked here), not the stream."""
    return EventDecodeError("processing_error", f"{type(exc).__name__}: {exc}")


def check_producer_limit(settings: Settings, max_request_size: int) -> None:
    """Refuse to start if the worker's producer could not send a dead letter of the largest size.

    ``max_event_bytes`` is bounded by DEAD_LETTER_MAX_BYTES in the settings, so every refused event
    within it is dead-lettered whole.
    """
    if max_request_size < DEAD_LETTER_REQUEST_BYTES:
        raise ConfigError(
            f"the worker's producer sends at most {max_request_size:,} bytes a request, but a dead letter "
            f"may take {DEAD_LETTER_REQUEST_BYTES:,} ({DEAD_LETTER_MAX_BYTES:,} of the original message "
            f"and {HEADER_ALLOWANCE:,} of headers); raise the producer's max_request_size"
        )
    if settings.max_event_bytes > DEAD_LETTER_MAX_BYTES:  # settings refuse it too; belt and braces
        raise ConfigError(
            f"RISKSTREAM_MAX_EVENT_BYTES={settings.max_event_bytes} is over {DEAD_LETTER_MAX_BYTES}, "
            "the most a dead letter keeps whole"
        )


async def check_broker_limit(settings: Settings, admin: Any) -> int | None:
    """Refuse to start if the dead-letter topic would refuse the largest dead letter.

    Reads the topic's effective ``max.message.bytes`` (the broker's ``message.max.bytes`` unless the
    topic overrides it) with one DescribeConfigs request; if the broker does not answer it (no
    permission, say), the check is skipped with a warning. Returns the limit read, if any.
    """
    topic = settings.topic(settings.topic_dlq)
    try:
        limit = await topic_max_message_bytes(admin, topic)
    except Exception as exc:  # a cheap check, not a reason to stop a worker
        log.warning("could not read max.message.bytes of %s (%s); not checking dead-letter size",
                    topic, exc or type(exc).__name__)
        return None
    if limit is not None and limit < DEAD_LETTER_REQUEST_BYTES:
        raise ConfigError(
            f"topic {topic} takes messages of at most {limit:,} bytes (max.message.bytes), but a dead "
            f"letter may take {DEAD_LETTER_REQUEST_BYTES:,}; raise it, e.g. `kafka-configs.sh --alter "
            f"--entity-type topics --entity-name {topic} --add-config "
            f"max.message.bytes={DEAD_LETTER_REQUEST_BYTES}`"
        )
    return limit


async def topic_max_message_bytes(admin: Any, topic: str) -> int | None:
    """A topic's effective ``max.message.bytes`` from an aiokafka admin client (None: not reported)."""
    responses = await admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, topic, configs={"max.message.bytes": None})]
    )
    for response in responses:
        for resource in response.resources:
            error_code, error_message, _type, name, entries = resource[:5]
            if name != topic:
                continue
            if error_code:
                raise RuntimeError(f"error {error_code}: {error_message}")
            for entry in entries:
                if entry[0] == "max.message.bytes" and entry[1] is not None:
                    return int(entry[1])
    return None
