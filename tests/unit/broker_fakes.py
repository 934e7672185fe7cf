"""A producer for unit specs: it records what a stage sends, and the spec confirms or refuses each
message."""

from __future__ import annotations

import asyncio
from typing import Any


class FakeProducer:
    def __init__(self, partitions: int = 1) -> None:
        self.partitions = partitions
        self.sent: list[asyncio.Future[Any]] = []
        self.messages: list[tuple[str, int, bytes | None, bytes | None]] = []

    async def partition(self, topic: str, key: bytes | None) -> int:
        return 0 if key is None else key[0] % self.partitions

    async def send(
        self, topic: str, key: bytes | None, value: bytes | None, headers: list[Any], partition: int
    ) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.sent.append(future)
        self.messages.append((topic, partition, key, value))
        return future

    @property
    def records(self) -> list[tuple[bytes | None, bytes | None]]:
        """Every (key, value) sent so far, in order."""
        return [(key, value) for _, _, key, value in self.messages]
