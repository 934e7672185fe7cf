"""A producer for unit specs: it records the batches a stage sends, and the spec confirms or
refuses each send."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any


class RecordedBatch:
    def __init__(self, capacity: int | None = None) -> None:
        self.records: list[tuple[bytes | None, bytes | None]] = []
        self.capacity = capacity

    def append(
        self, *, timestamp: float | None, key: bytes | None, value: bytes | None, headers: Sequence[Any] = ()
    ) -> Any:
        if self.capacity is not None and len(self.records) >= self.capacity:
            return None
        self.records.append((key, value))
        return len(self.records)

    def close(self) -> None:
        return None


class FakeBatches:
    def __init__(self, partitions: int = 1, capacity: int | None = None) -> None:
        self.partitions, self.capacity = partitions, capacity
        self.sent: list[asyncio.Future[Any]] = []
        self.batches: list[tuple[str, int, RecordedBatch]] = []

    async def partition(self, topic: str, key: bytes | None) -> int:
        return 0 if key is None else key[0] % self.partitions

    def create_batch(self) -> RecordedBatch:
        return RecordedBatch(self.capacity)

    async def send_batch(self, batch: Any, topic: str, partition: int) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.sent.append(future)
        self.batches.append((topic, partition, batch))
        return future

    @property
    def records(self) -> list[tuple[bytes | None, bytes | None]]:
        """Every record sent so far, batch by batch."""
        return [record for _, _, batch in self.batches for record in batch.records]
