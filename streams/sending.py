"""What one batch (or one clock tick) produces, handed to the producer at once and awaited together.

Awaiting each send would cost a round trip per message; awaiting none would let a stage write
state whose notices might never arrive. So a stage sends everything a batch implies, waits once
for the broker to have all of it, and only then writes its state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence

from faust.types import ProducerT

Headers = Sequence[tuple[str, bytes]]


class Outgoing:
    def __init__(self, producer: ProducerT):
        self._producer = producer
        self._pending: list[Awaitable[object]] = []

    def __len__(self) -> int:
        return len(self._pending)

    async def send(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Headers | None = None
    ) -> None:
        future = await self._producer.send(topic, key, value, None, None, list(headers) if headers else None)
        self._pending.append(future)

    async def flush(self) -> None:
        """Until the broker has every message sent so far (raises if any was refused)."""
        pending, self._pending = self._pending, []
        if pending:
            await asyncio.gather(*pending)
