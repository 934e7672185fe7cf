"""Consumer lag as the group sees it: end offsets against the offsets the group committed on the broker.

Lag from this process's own commits alone (Faust's ``_committed_offset``, with a missing one taken
as 0) counted a restarted worker's whole topic as lag until it committed again, and the stall
watch then warned about partitions that were not stuck. The committed offsets here are the group's,
read from the broker's group coordinator (OffsetFetch, one request for every partition), whichever
process committed them. A partition the group never committed is read from its start (the worker's
``auto_offset_reset`` is ``earliest``), so its lag counts from the log's first offset.

The broker is asked through the worker's own consumer (no extra client or connection), on the
thread that runs it, with a timeout: while the broker is away the gauges keep their last values
rather than the timer waiting on aiokafka's retries.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from faust.types import TP


class GroupOffsets(Protocol):
    """Where a worker's consumer group stands, as the broker has it."""

    async def committed(self, partitions: Sequence[TP]) -> Mapping[TP, int]:
        """The group's committed offset (the next offset to read) of each partition that has one."""

    async def log_starts(self, partitions: Sequence[TP]) -> Mapping[TP, int]:
        """The first offset each partition still holds."""


@dataclass(frozen=True)
class Lag:
    position: int
    """Where the group goes on from: its committed offset, or the log's start if it never committed."""
    lag: int
    """Messages from ``position`` to the end offset."""


async def read_lag(offsets: GroupOffsets, ends: Mapping[TP, int]) -> dict[TP, Lag]:
    """Each partition's lag, from its end offset and the group's committed offset on the broker."""
    if not ends:
        return {}
    partitions = sorted(ends)
    committed = await offsets.committed(partitions)
    never = [tp for tp in partitions if committed.get(tp) is None]
    starts = await offsets.log_starts(never) if never else {}
    out = {}
    for tp in partitions:
        position = committed.get(tp)
        if position is None:
            position = starts.get(tp, 0)
        out[tp] = Lag(position, max(0, ends[tp] - position))
    return out


class BrokerGroupOffsets:
    """``GroupOffsets`` through the worker's consumer: the app's Faust consumer, whose aiokafka
    consumer runs on its own thread and event loop (``streams.batching.BatchConsumerThread``)."""

    def __init__(self, app: Any, timeout: float):
        self.app = app
        self.timeout = timeout

    async def committed(self, partitions: Sequence[TP]) -> Mapping[TP, int]:
        return await self._wait(self.app.consumer._thread.group_committed_soon(partitions))

    async def log_starts(self, partitions: Sequence[TP]) -> Mapping[TP, int]:
        return await self._wait(self.app.consumer._thread.log_starts_soon(partitions))

    async def _wait(self, future: concurrent.futures.Future[dict[TP, int]]) -> Mapping[TP, int]:
        """The answer, or TimeoutError after ``timeout`` s (the request is cancelled)."""
        return await asyncio.wait_for(asyncio.wrap_future(future), self.timeout)
