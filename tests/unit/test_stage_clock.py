"""A stage's clock turn goes a step at a time: each step's state is written before the next, and
batches waiting on the stage get their turn in between, so a clock that finds thousands of keys due
does not hold the event loop (or the partition's batches) for all of them."""

from __future__ import annotations

import asyncio
from typing import Any

from streams.sending import Outgoing
from streams.settings import Settings
from streams.stage import Stage


class _Store:
    def __init__(self, log: list[str]):
        self.log = log
        self.partition: int | None = None

    def snapshot(self) -> object:
        return object()

    async def write(self, snapshot: object, changelogged: Any = None) -> int:
        self.log.append("write")
        return 0


class _Clocked(Stage):
    name = "clocked"

    def __init__(self, steps: int, log: list[str]):
        super().__init__(Settings(), None, _Store(log))  # type: ignore[arg-type]
        self.steps, self.log = steps, log

    async def decide(self, tp: Any, records: Any, out: Outgoing) -> None:
        self.log.append("batch")

    async def tick(self, out: Outgoing) -> bool:
        self.steps -= 1
        self.log.append("tick")
        await asyncio.sleep(0)  # as sending does
        return self.steps > 0

    def rebuild(self) -> None:
        return None


def test_each_clock_step_is_written_before_the_next_step_while_more_is_due() -> None:
    log: list[str] = []
    asyncio.run(_Clocked(3, log).on_clock())
    assert log == ["tick", "write"] * 3


def test_a_batch_waiting_on_the_stage_goes_between_two_clock_steps() -> None:
    log: list[str] = []
    stage = _Clocked(2, log)

    async def batch_arrives_mid_clock() -> None:
        async with stage.lock:
            log.append("batch")

    async def run() -> None:
        clock = asyncio.create_task(stage.on_clock())
        await asyncio.sleep(0)  # the clock's first step holds the lock, sending
        await asyncio.gather(clock, batch_arrives_mid_clock())

    asyncio.run(run())
    assert log.index("batch") < log.index("tick", 1)
    assert log.count("tick") == 2
