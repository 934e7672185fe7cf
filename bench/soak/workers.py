"""The two workers of the soak: one slot each, every process started in a slot is one lifetime.

A slot keeps its metrics port and data dir across lifetimes, as a supervised worker on one host
would; each lifetime writes a log of its own. A kill scrapes the worker's counters and sends
SIGKILL right after, so the counters of a killed process are known up to that instant.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

from bench.pipeline import free_port, worker_argv, worker_env
from bench.process import Child
from bench.soak.metrics import WorkerSample, scrape
from streams.settings import Settings


@dataclass
class Lifetime:
    slot: str
    number: int
    log_path: Path
    started_at: float
    pid: int | None = None
    ended_at: float | None = None
    how: str | None = None
    """killed (by the soak), exited (by itself), stopped (SIGTERM at the end)."""
    code: int | None = None
    last: WorkerSample | None = None
    """The latest scrape: for a killed lifetime, the one taken just before the kill."""
    ready_at: float | None = None
    """When it first owned input partitions."""

    @property
    def name(self) -> str:
        return f"{self.slot}#{self.number}"


class Slot:
    def __init__(self, name: str, settings: Settings, extra_env: dict[str, str], work: Path,
                 now: Callable[[], float]):
        self.name = name
        own = {"web_port": free_port(), "data_dir": work / f"data-{name}"}
        self.settings = settings.model_copy(update=own)
        self.env = {**worker_env(self.settings), **extra_env}
        self.work = work
        self.now = now
        self.inputs: Collection[str] = list(self.settings.input_topics().values())
        self.child: Child | None = None
        self.lifetimes: list[Lifetime] = []
        self.lock = asyncio.Lock()
        """Held while the soak kills or (re)starts this slot's worker."""

    @property
    def current(self) -> Lifetime | None:
        return self.lifetimes[-1] if self.lifetimes and self.lifetimes[-1].ended_at is None else None

    async def start(self) -> Lifetime:
        number = len(self.lifetimes) + 1
        log = self.work / f"worker-{self.name}-{number}.log"
        self.child = Child(worker_argv(self.work, None), self.env, log, self.work)
        life = Lifetime(self.name, number, log, self.now())
        await self.child.start()
        life.pid = self.child.pid
        self.lifetimes.append(life)
        return life

    async def scrape(self) -> WorkerSample | None:
        life = self.current
        if life is None:
            return None
        sample = await scrape(self.settings.web_port, self.inputs)
        if sample is not None and life is self.current:
            life.last = sample
            if life.ready_at is None and sample.input_partitions > 0:
                life.ready_at = self.now()
        return sample

    async def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            life = self.current
            if life is None or self.child is None or not self.child.alive():
                raise RuntimeError(f"worker {self.name} exited while starting:\n{self._tail()}")
            await self.scrape()
            if life.ready_at is not None:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"worker {self.name} owned no input partition after {timeout:g} s:\n"
                                   f"{self._tail()}")
            await asyncio.sleep(0.5)

    def exited(self) -> Lifetime | None:
        """The current lifetime if its process ended by itself (then it is recorded as ended)."""
        life = self.current
        if life is None or self.child is None or self.child.proc is None:
            return None
        code = self.child.proc.returncode
        if code is None:
            return None
        life.ended_at, life.how, life.code = self.now(), "exited", code
        return life

    async def kill(self) -> Lifetime | None:
        """Scrape, then SIGKILL at once; the lifetime is ended (not restarted: see ``start``)."""
        life = self.current
        if life is None or self.child is None or self.child.proc is None:
            return None
        await self.scrape()
        with contextlib.suppress(ProcessLookupError):
            self.child.proc.kill()
        await self.child.proc.wait()
        life.ended_at, life.how, life.code = self.now(), "killed", self.child.proc.returncode
        return life

    async def stop(self) -> None:
        life = self.current
        if life is None or self.child is None:
            return
        await self.scrape()
        code = await self.child.stop()
        life.ended_at, life.how, life.code = self.now(), "stopped", code

    def _tail(self) -> str:
        return self.child.tail(40) if self.child is not None else ""

    def tail(self, lines: int = 40) -> str:
        return self.child.tail(lines) if self.child is not None else ""
