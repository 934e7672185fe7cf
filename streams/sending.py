"""What one batch (or one clock tick) produces, handed to the producer at once and awaited together.

Awaiting each send would cost a round trip per message; awaiting none would let a stage write
state whose notices might never arrive. So a stage sends everything a batch implies, waits once
for the broker to have all of it, and only then writes its state.

A decision's messages are built into one record batch per partition and handed over when the
decision is made (``ship``), not message by message: the producer's per-message path (Faust's
wrapper, a partition lookup, a future per record, gathering them) cost about 10 µs a message.
Messages to one partition keep the order they were sent in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from faust.types import ProducerT

Headers = Sequence[tuple[str, bytes]]


class RecordBatch(Protocol):
    def append(
        self, *, timestamp: float | None, key: bytes | None, value: bytes | None, headers: Sequence[Any] = ()
    ) -> Any:
        """The record's metadata, or None when the batch is full (a first record always fits)."""

    def close(self) -> None: ...


class BatchProducer(Protocol):
    """The producer as a stage uses it: partitions, batches, and a future per batch."""

    async def partition(self, topic: str, key: bytes | None) -> int: ...

    def create_batch(self) -> RecordBatch: ...

    async def send_batch(self, batch: RecordBatch, topic: str, partition: int) -> Awaitable[Any]:
        """The batch is queued for the broker; the result says when the broker has it (its
        ``offset`` is that of the batch's first record)."""


class KafkaBatches:
    """The worker's Faust producer (its aiokafka producer once started) through the batch API.

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

    def create_batch(self) -> RecordBatch:
        batch: RecordBatch = self._kafka().create_batch()
        return batch

    async def send_batch(self, batch: RecordBatch, topic: str, partition: int) -> Awaitable[Any]:
        batch.close()
        future: Awaitable[Any] = await self._kafka().send_batch(batch, topic, partition=partition)
        return future


class Outgoing:
    def __init__(self, producer: BatchProducer):
        self._producer = producer
        self._open: dict[tuple[str, int], RecordBatch] = {}
        self._records: dict[tuple[str, int], int] = {}
        self._pending: list[Awaitable[object]] = []
        self.messages = 0
        self.last_batch_size = 0
        """Records in the batch shipped last (its future's offset is that of the first)."""

    def __len__(self) -> int:
        return self.messages

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Headers | None = None,
        partition: int | None = None,
    ) -> None:
        """Add a message to its partition's batch (the key's partition unless one is given)."""
        if partition is None:
            partition = await self._producer.partition(topic, key)
        where = (topic, partition)
        batch = self._open.get(where)
        if batch is None:
            batch = self._open[where] = self._producer.create_batch()
            self._records[where] = 0
        record_headers = list(headers) if headers else []
        if batch.append(timestamp=None, key=key, value=value, headers=record_headers) is None:
            self._pending.append(await self._send(where))
            batch = self._open[where] = self._producer.create_batch()
            batch.append(timestamp=None, key=key, value=value, headers=record_headers)
        self._records[where] += 1
        self.messages += 1

    async def ship(self) -> list[Awaitable[object]]:
        """Hand every batch built so far to the producer; returns their futures, in send order."""
        shipped = [await self._send(where) for where in list(self._open)]
        self._open.clear()
        self._pending += shipped
        return shipped

    async def _send(self, where: tuple[str, int]) -> Awaitable[object]:
        self.last_batch_size = self._records.pop(where, 0)
        self._records[where] = 0
        return await self._producer.send_batch(self._open[where], *where)

    async def flush(self) -> None:
        """Until the broker has every message sent so far (raises if any was refused)."""
        await self.ship()
        pending, self._pending = self._pending, []
        if pending:
            await asyncio.gather(*pending)
