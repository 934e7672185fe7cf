"""The soak's own Kafka clients and what it asks the broker: end and committed offsets, whole topics.

Every client is built from ``client_options``: the settings' bootstrap servers and security
options, as every client of the project takes them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streams.settings import Settings


def client_options(settings: Settings) -> dict[str, Any]:
    """bootstrap_servers plus the security options of ``settings``, for any aiokafka client."""
    return settings.kafka_client_options()


def producer(settings: Settings, **options: Any) -> AIOKafkaProducer:
    return AIOKafkaProducer(**client_options(settings), **options)


def consumer(settings: Settings, **options: Any) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(**client_options(settings), **options)


def admin(settings: Settings, **options: Any) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(**client_options(settings), **options)


class Offsets:
    """End and committed offsets, from clients of their own (outside any consumer group)."""

    def __init__(self, settings: Settings):
        self.admin = admin(settings, request_timeout_ms=10_000)
        self.consumer = consumer(settings, group_id=None, enable_auto_commit=False, request_timeout_ms=10_000)

    async def start(self) -> None:
        await self.admin.start()
        await self.consumer.start()

    async def close(self) -> None:
        await self.consumer.stop()
        await self.admin.close()

    async def partitions(self, topics: Sequence[str]) -> list[TopicPartition]:
        described = await self.admin.describe_topics(list(topics))
        return sorted(TopicPartition(t["topic"], p["partition"]) for t in described for p in t["partitions"])

    async def ends(self, tps: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        return dict(await self.consumer.end_offsets(list(tps)))

    async def beginnings(self, tps: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        return dict(await self.consumer.beginning_offsets(list(tps)))

    async def committed(self, group: str, tps: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        """The group's committed offset per partition (0 where it has committed none)."""
        found = await self.admin.list_consumer_group_offsets(group, partitions=list(tps))
        return {tp: (found[tp].offset if tp in found and found[tp].offset >= 0 else 0) for tp in tps}

    async def lag(self, group: str, tps: Sequence[TopicPartition]) -> int:
        ends = await self.ends(tps)
        done = await self.committed(group, tps)
        return sum(max(0, end - done.get(tp, 0)) for tp, end in ends.items())


async def read_topics(
    settings: Settings, parts: Sequence[TopicPartition], stall: float = 30.0
) -> list[tuple[str, bytes | None]]:
    """(topic, value) of every record of the partitions ``parts``, from their start to their end as
    of now (``Offsets.partitions`` lists a topic's)."""
    if not parts:
        return []
    reader = consumer(settings, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest")
    await reader.start()
    try:
        reader.assign(list(parts))
        await reader.seek_to_beginning(*parts)
        end = await reader.end_offsets(parts)
        out: list[tuple[str, bytes | None]] = []
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            positions = {tp: await reader.position(tp) for tp in parts}
            if all(positions[tp] >= end[tp] for tp in parts):
                return out
            batch = await reader.getmany(timeout_ms=500)
            for tp, records in batch.items():
                out.extend((tp.topic, r.value) for r in records if r.offset < end[tp])
                last = loop.time()
            if loop.time() - last > stall:
                names = ", ".join(sorted({tp.topic for tp in parts}))
                raise TimeoutError(f"reading {names} made no progress for {stall:g} s")
    finally:
        await reader.stop()
