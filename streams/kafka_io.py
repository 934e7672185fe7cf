"""Small Kafka helpers for the CLIs: send a few records, read a compacted topic whole."""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaConnectionError

from rules.errors import RiskstreamError
from streams.settings import Settings


def _unreachable(settings: Settings) -> RiskstreamError:
    return RiskstreamError(
        f"cannot reach Kafka at {settings.kafka_bootstrap}: start it (`make kafka`) "
        "or set RISKSTREAM_KAFKA_BOOTSTRAP"
    )


async def send(settings: Settings, topic: str, records: Sequence[tuple[bytes, bytes | None]]) -> None:
    """Send (key, value) records and wait until the broker has every one."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    try:
        await producer.start()
    except KafkaConnectionError:
        raise _unreachable(settings) from None
    try:
        for key, value in records:
            await producer.send_and_wait(topic, key=key, value=value)
    finally:
        await producer.stop()


async def read_all(settings: Settings, topic: str) -> dict[bytes, bytes | None]:
    """The latest value per key of a (compacted) topic, read from the start to its current end."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, group_id=None, enable_auto_commit=False
    )
    try:
        await consumer.start()
    except KafkaConnectionError:
        raise _unreachable(settings) from None
    try:
        if topic not in await consumer.topics():
            return {}
        parts = [TopicPartition(topic, p) for p in range(settings.partitions)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        end = await consumer.end_offsets(parts)
        latest: dict[bytes, bytes | None] = {}
        while True:
            positions = {tp: await consumer.position(tp) for tp in parts}
            if all(positions[tp] >= end[tp] for tp in parts):
                return latest
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                for r in records:
                    if r.key is not None:
                        latest[r.key] = r.value
    finally:
        await consumer.stop()
