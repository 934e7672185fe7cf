"""What the worker's three stages share: batches and clock ticks decided one at a time, their output
sent and awaited, then the state they changed written once.

A stage's batch is one partition's fetched records (``streams.batching``). The lock makes each
batch or tick one step from the state's point of view: no tick can write state whose notices a
batch has not yet had acknowledged, and the reverse.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from abc import ABC, abstractmethod
from typing import Any

from aiokafka.structs import ConsumerRecord
from faust.types import TP

from streams import metrics
from streams.batching import records_of
from streams.sending import Outgoing
from streams.settings import Settings
from streams.tables import TableStore

log = logging.getLogger(__name__)

CLOCK_TURNS = 200
"""Keys (window groups, alerts) one clock step acts on. A tick that found 3,000 quiet alerts to
resolve held the event loop for 400 ms in one step; steps of 200 take a few tens of ms each."""


class Stage(ABC):
    name: str

    def __init__(self, settings: Settings, producer: Any, store: TableStore[Any]):
        self.settings = settings
        self.producer = producer
        self.store = store
        self.lock = asyncio.Lock()
        self._records = metrics.child(metrics.STAGE_RECORDS, self.name)

    async def on_batch(self, event: Any) -> None:
        """One partition's records: decide them all, send what they imply, then write the state."""
        records = records_of(event)
        tp: TP = event.message.tp
        async with self.lock:
            self.store.partition = tp.partition
            out = Outgoing(self.producer)
            await self.decide(tp, records, out)
            crash_point(self.settings, f"{self.name}:decided")
            await out.flush()
            crash_point(self.settings, f"{self.name}:sent")
            await self.write_state()
            self.store.partition = None
        self._records.inc(len(records))

    async def on_clock(self) -> None:
        """The clock's turn: whatever is due, decided and written like a batch, CLOCK_TURNS keys a
        step, with the event loop and the stage's batches free between steps."""
        while True:
            async with self.lock:
                out = Outgoing(self.producer)
                more = await self.tick(out)
                await out.flush()
                await self.write_state()
            if not more:
                return
            await asyncio.sleep(0)

    async def write_state(self) -> None:
        """Write what changed to the table and its changelog."""
        await self.store.flush()

    @abstractmethod
    async def decide(self, tp: TP, records: list[ConsumerRecord[bytes, bytes]], out: Outgoing) -> None:
        """Decide the batch, changing state in memory and sending output through ``out``."""

    def clock_error(self, key: str, exc: Exception) -> None:
        """One group's or alert's turn with the clock failed: report it, and let the others go on."""
        log.error("%s stage: the clock's turn for %s failed", self.name, key, exc_info=exc)
        metrics.child(metrics.PROCESSING_ERRORS, self.name).inc()

    @abstractmethod
    async def tick(self, out: Outgoing) -> bool:
        """Act on what the clock has made due, at most CLOCK_TURNS keys; whether more is due."""

    @abstractmethod
    def rebuild(self) -> None:
        """After a rebalance: take over the state of the partitions now owned (from the table)."""

    def sweep(self, keys: list[str]) -> int:
        """Drop stored state among ``keys`` that can go (window stages); returns how much."""
        return 0


def crash_point(settings: Settings, point: str) -> None:
    """Fault injection for tests: SIGKILL this worker the first time it reaches ``point``."""
    if settings.crash_at == point:
        log.warning("crash point %s reached: killing the worker (RISKSTREAM_CRASH_AT)", point)
        os.kill(os.getpid(), signal.SIGKILL)
