"""What the worker's three stages share: batches and clock ticks decided one at a time, and a
committer that, in the order they were decided, waits for their output to reach the broker, then
writes the state they changed and acks their input.

A stage's batch is one partition's fetched records (``streams.batching``). The lock makes each
batch or tick one step from the state's point of view. Deciding does not wait for the broker: the
next batch is decided on the in-memory state while the previous ones' output is in flight, and the
committer takes everything decided so far at once (a group commit). Waiting for each batch's
round trip before the next had kept the detect stage busy nine tenths of the time at a quarter of
its capacity, so events queued for seconds. State still never reaches the changelog ahead of the
output it implies, nor the local store ahead of the changelog, and input is acked (so committed)
only after all three.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import signal
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

from aiokafka.structs import ConsumerRecord
from faust.types import TP

from streams import metrics
from streams.batching import mark_decided, records_of
from streams.sending import Outgoing, Producer
from streams.settings import Settings
from streams.tables import TableStore

log = logging.getLogger(__name__)

R = TypeVar("R")

CLOCK_TURNS = 200
"""Keys (window groups, alerts) one clock step acts on. A tick that found 3,000 quiet alerts to
resolve held the event loop for 400 ms in one step; steps of 200 take a few tens of ms each."""


MAX_UNCOMMITTED = 2_000
"""Records a stage may have decided and not yet committed before it waits for the committer: enough
to overlap deciding with the broker's round trip, few enough that the state snapshots and output
held for them stay small (32 batches of a drain's size had added 150 MB)."""


@dataclass
class _Decided:
    out: Outgoing
    event: Any = None  # the batch's Faust event, acked once committed (None: a tick or an ack)


class Stage(ABC):
    name: str

    def __init__(self, settings: Settings, producer: Producer, store: TableStore[Any]):
        self.settings = settings
        self.producer = producer
        self.store = store
        self.lock = asyncio.Lock()
        self._records = metrics.child(metrics.STAGE_RECORDS, self.name)
        self._uncommitted: list[_Decided] = []
        self._uncommitted_records = 0
        self._committer: asyncio.Task[None] | None = None

    async def on_batch(self, event: Any) -> None:
        """One partition's records: decide them all and send what they imply; the committer writes
        the state and acks the batch once the broker has the output."""
        records = records_of(event)
        tp: TP = event.message.tp
        async with self.lock:
            self.store.partition = tp.partition
            out = Outgoing(self.producer)
            try:
                await self.decide(tp, records, out)
            finally:
                self.store.partition = None
            crash_point(self.settings, f"{self.name}:decided")
            mark_decided(event)
            self._uncommitted.append(_Decided(out, event))
            self._uncommitted_records += len(records)
        self._records.inc(len(records))
        self._commit_soon()
        if self._uncommitted_records >= MAX_UNCOMMITTED:
            await self.settle()

    async def on_clock(self) -> None:
        """The clock's turn: whatever is due, decided and committed like a batch, CLOCK_TURNS keys a
        step, with the event loop and the stage's batches free between steps."""
        while True:
            more = await self.step(self.tick)
            await self.settle()
            if not more:
                return
            await asyncio.sleep(0)

    async def step(self, act: Callable[[Outgoing], Awaitable[R]]) -> R:
        """Decide something besides a batch (a tick, an ack, a sweep) under the lock; it is committed
        in its turn with the batches."""
        async with self.lock:
            out = Outgoing(self.producer)
            result = await act(out)
            self._uncommitted.append(_Decided(out))
        self._commit_soon()
        return result

    async def settle(self) -> None:
        """Until everything decided so far is committed."""
        while self._committer is not None and not self._committer.done():
            await asyncio.shield(self._committer)

    def _commit_soon(self) -> None:
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_all(), name=f"{self.name}-committer")

    async def _commit_all(self) -> None:
        try:
            while self._uncommitted:
                async with self.lock:
                    decided, self._uncommitted = self._uncommitted, []
                    self._uncommitted_records = 0
                    snapshot = self.store.snapshot()
                for d in decided:
                    await d.out.flush()
                batches = any(d.event is not None for d in decided)  # crash points skip bare ticks
                self._crash_if(batches, "sent")
                await self.store.write(snapshot, functools.partial(self._crash_if, batches, "changelogged"))
                self._crash_if(batches, "written")
                for d in decided:
                    if d.event is not None:
                        d.event.ack()
        except Exception:
            stop_for_replay(self.name, "could not deliver its output")

    def _crash_if(self, batches: bool, point: str) -> None:
        """A committer's crash point, reached only by a group that commits input batches."""
        if batches:
            crash_point(self.settings, f"{self.name}:{point}")

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

    async def recovered(self) -> None:  # noqa: B027  (a hook)
        """After a rebalance, before ``rebuild`` and before any batch of the partitions now owned:
        what a stage must learn from the broker first (dispatch: notices already delivered)."""

    @abstractmethod
    def rebuild(self) -> None:
        """After a rebalance: take over the state of the partitions now owned (from the table)."""

    def sweep(self, keys: list[str]) -> int:
        """Drop stored state among ``keys`` that can go (window stages); returns how much."""
        return 0


def stop_for_replay(stage: str, why: str) -> NoReturn:
    """A step that failed (output the broker refused, or an unexpected error) leaves state decided in
    memory and not written: the only safe way on is to stop, and let the restarted worker replay
    from the last commit. Nothing is lost; the supervisor (or the operator) restarts it."""
    log.critical(
        "the %s stage %s; stopping so that the restarted worker replays from the last commit",
        stage,
        why,
        exc_info=True,
    )
    logging.shutdown()
    os._exit(70)


CRASH_POINTS = ("decided", "sent", "changelogged", "written")
"""Where ``RISKSTREAM_CRASH_AT=<stage>:<point>`` kills a worker, in the order a batch reaches them:
decided (state changed in memory, output handed to the producer, nothing awaited), sent (the broker
has the output; no state written), changelogged (the broker has the changelog too; the local store
not written), written (the local store written too; the input not acked, so not committed). The
committer's points (all but decided) are reached by a commit group with at least one input batch,
not by a clock step alone."""


def crash_point(settings: Settings, point: str) -> None:
    """Fault injection for tests: SIGKILL this worker the first time it reaches ``point``."""
    if settings.crash_at == point:
        log.warning("crash point %s reached: killing the worker (RISKSTREAM_CRASH_AT)", point)
        os.kill(os.getpid(), signal.SIGKILL)
