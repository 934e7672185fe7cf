"""Small Kafka helpers for the CLIs: send a few records, read a compacted topic whole, read a range."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError

from rules.errors import RiskstreamError
from streams.kafka_security import unreachable
from streams.settings import Settings


def _unreachable(settings: Settings) -> RiskstreamError:
    return RiskstreamError(unreachable(settings))


async def send(settings: Settings, topic: str, records: Sequence[tuple[bytes, bytes | None]]) -> None:
    """Send (key, value) records and wait until the broker has every one."""
    producer = AIOKafkaProducer(**settings.kafka_client_options(), acks="all")
    try:
        await producer.start()
    except KafkaConnectionError:
        raise _unreachable(settings) from None
    try:
        for key, value in records:
            await producer.send_and_wait(topic, key=key, value=value)
    finally:
        await producer.stop()


async def _start_consumer(settings: Settings, **options: str) -> AIOKafkaConsumer:
    """A started consumer outside any group: reads commit nothing and live workers do not notice."""
    consumer = AIOKafkaConsumer(
        **settings.kafka_client_options(), group_id=None, enable_auto_commit=False, **options
    )
    try:
        await consumer.start()
    except KafkaConnectionError:
        raise _unreachable(settings) from None
    return consumer


async def read_all(settings: Settings, topic: str) -> dict[bytes, bytes | None]:
    """The latest value per key of a (compacted) topic, read from the start to its current end."""
    consumer = await _start_consumer(settings)
    try:
        if topic not in await consumer.topics():
            return {}
        parts = [TopicPartition(topic, p) for p in (await partitions_of(settings, [topic]))[topic]]
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


@dataclass(frozen=True)
class Window:
    """Where each partition of a read starts and ends (end: its end offset when the read began)."""

    start: dict[TopicPartition, int]
    end: dict[TopicPartition, int]

    @property
    def records(self) -> int:
        return sum(self.end[tp] - self.start[tp] for tp in self.start)


async def read_since(
    settings: Settings, topics: Sequence[str], since: datetime, stall_seconds: float = 30.0
) -> AsyncIterator[Window | ConsumerRecord[bytes, bytes]]:
    """Every record of ``topics`` from ``since`` to their end as of now, oldest first.

    Yields the Window first (for a progress bar), then the records. Partitions are merged by
    record timestamp, which is about the order a worker met them in. No consumer group: nothing
    is committed, and the live workers do not notice.
    """
    # Retention deleting what is being read: go on from what is left, not from the end.
    consumer = await _start_consumer(settings, auto_offset_reset="earliest")
    try:
        existing = await consumer.topics()
        missing = [t for t in topics if t not in existing]
        if missing:
            raise RiskstreamError(
                f"topic(s) {', '.join(missing)} do not exist on {settings.kafka_bootstrap}: "
                "check RISKSTREAM_TOPIC_PREFIX and the topic settings (`riskstream config`)"
            )
        known = await partitions_of(settings, topics)
        parts = [TopicPartition(t, p) for t in topics for p in known[t]]
        consumer.assign(parts)
        end = await consumer.end_offsets(parts)
        found = await consumer.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in parts})
        start = {tp: found[tp].offset for tp in parts if found.get(tp) is not None}
        start = {tp: o for tp, o in start.items() if o < end[tp]}
        yield Window(start, {tp: end[tp] for tp in start})
        for tp, offset in start.items():
            consumer.seek(tp, offset)
        buffers: dict[TopicPartition, deque[ConsumerRecord[bytes, bytes]]] = {tp: deque() for tp in start}
        next_offset = dict(start)
        waiting_since: float | None = None  # waiting on the broker; the caller's time is not counted
        while True:
            need = [tp for tp in start if not buffers[tp] and next_offset[tp] < end[tp]]
            if need:
                waiting_since = waiting_since or time.monotonic()
                batch = await consumer.getmany(*need, timeout_ms=500)
                for tp, records in batch.items():
                    for r in records:
                        if r.offset < end[tp]:
                            buffers[tp].append(r)
                        next_offset[tp] = max(next_offset[tp], r.offset + 1)
                    waiting_since = time.monotonic()
                for tp in need:  # the position also passes what holds no record (e.g. markers)
                    next_offset[tp] = max(next_offset[tp], await consumer.position(tp))
                if time.monotonic() - waiting_since > stall_seconds:
                    raise RiskstreamError(
                        f"reading {', '.join(sorted({tp.topic for tp in need}))} made no progress for "
                        f"{stall_seconds:g}s (offsets compacted away or the broker is overloaded)"
                    )
                if any(not buffers[tp] and next_offset[tp] < end[tp] for tp in need):
                    continue
            heads = [tp for tp in start if buffers[tp]]
            if not heads:
                return
            oldest = min(heads, key=lambda tp: (buffers[tp][0].timestamp, tp.topic, tp.partition))
            yield buffers[oldest].popleft()
            waiting_since = None
    finally:
        await consumer.stop()


async def partitions_of(settings: Settings, topics: Sequence[str]) -> dict[str, list[int]]:
    """Topics' partitions as the broker has them (a consumer only knows the topics it fetched)."""
    admin = AIOKafkaAdminClient(**settings.kafka_client_options())
    await admin.start()
    try:
        found = await admin.describe_topics(list(topics))
        return {m["topic"]: sorted(p["partition"] for p in m["partitions"]) for m in found}
    finally:
        await admin.close()
