"""What one batch (or one clock tick) produces, handed to the producer at once and awaited together.

Awaiting each send would cost a round trip per message; awaiting none would let a stage write
state whose notices might never arrive. So a stage sends everything a batch implies, waits once
for the broker to have all of it, and only then writes its state.

Messages go to aiokafka's producer directly, with the partition looked up here (Faust's wrapper
and aiokafka's own lookup cost a few µs a message). Not through aiokafka's batch API: it waits for
a partition's previous batch to leave before queueing the next, which held a stage for a round
trip per decision and halved the drain of alert-heavy traffic.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from faust.types import ProducerT

Header = tuple[str, bytes]
Headers = Sequence[Header]


class Producer(Protocol):
    """The producer as a stage uses it: where a key goes, and a future per message."""

    async def partition(self, topic: str, key: bytes | None) -> int: ...

    async def send(
        self, topic: str, key: bytes | None, value: bytes | None, headers: list[Header], partition: int
    ) -> Awaitable[Any]:
        """The message is queued for the broker; the result (its metadata, ``offset`` included)
        says when the broker has it."""


class KafkaProducer:
    """The worker's Faust producer (its aiokafka producer once started), message by message.

    A topic's partitions are looked up once: the stages' state is partitioned like their input
    topics, so a topic's partition count cannot change under a running worker anyway.
    """

    def __init__(self, producer: ProducerT, partitioner: Callable[[bytes | None, list[int], list[int]], int]):
        self._faust = producer
        self._partitioner = partitioner
        self._partitions: dict[str, list[int]] = {}

    def _kafka(self) -> Any:
        return self._faust._ensure_producer()  # type: ignore[attr-defined]

    async def partition(self, topic: str, key: bytes | None) -> int:
        partitions = self._partitions.get(topic)
        if partitions is None:
            kafka = self._kafka()
            await kafka.client._wait_on_metadata(topic)
            partitions = self._partitions[topic] = sorted(kafka.client.cluster.partitions_for_topic(topic))
        return self._partitioner(key, partitions, partitions)

    async def send(
        self, topic: str, key: bytes | None, value: bytes | None, headers: list[Header], partition: int
    ) -> Awaitable[Any]:
        future: Awaitable[Any] = await self._kafka().send(
            topic, value, key=key, partition=partition, headers=headers or None
        )
        return future


class Outgoing:
    def __init__(self, producer: Producer):
        self._producer = producer
        self._pending: list[Awaitable[Any]] = []

    def __len__(self) -> int:
        return len(self._pending)

    async def send(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Headers | None = None
    ) -> None:
        """Queue a message to its key's partition."""
        partition = await self._producer.partition(topic, key)
        future = await self._producer.send(topic, key, value, list(headers) if headers else [], partition)
        self._pending.append(future)

    async def flush(self) -> None:
        """Until the broker has every message sent so far (raises if any was refused)."""
        pending, self._pending = self._pending, []
        if pending:
            await asyncio.gather(*pending)
