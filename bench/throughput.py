"""Throughput: how fast a preloaded backlog drains, and how busy the process and the machine were."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import TopicPartition

from bench.broker import KafkaProbe
from bench.params import Display, Throughput
from bench.process import Child

POLL_SECONDS = 0.2


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds of the measured process and busy/total ticks of the whole machine."""

    process: float | None
    busy: float
    total: float


def cpu_sample(pid: int | None) -> CpuSample:
    """From /proc: shows whether a drain was CPU-bound, and whether others shared the cores."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    process = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        if pid is not None:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            process = (int(stat[11]) + int(stat[12])) / tick
    busy = total = 0.0
    with contextlib.suppress(OSError, ValueError):
        ticks = [float(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        total = sum(ticks[:8])
        busy = total - ticks[3] - ticks[4]
    return CpuSample(process, busy, total)


@dataclass
class Drain:
    started: float
    ended: float
    first_count: float
    first_wall: float
    cpu_start: CpuSample
    cpu_end: CpuSample
    samples: list[tuple[float, float]] = field(default_factory=list)


Poll = Callable[[], Awaitable[tuple[float, bool]]]


def _next_poll(ref: tuple[float, float] | None, count: float, target: float, now: float) -> float:
    """Poll often only near the marks (the start, the end): a worker /metrics scrape costs the
    worker CPU time. ``ref`` is (time, count) of the first progress seen."""
    if ref is None or count <= ref[1]:
        return POLL_SECONDS
    rate = (count - ref[1]) / max(1e-6, now - ref[0])
    eta = (target - count) / rate
    return min(1.0, max(0.1, eta / 3.0))


async def drain(
    poll: Poll,
    n: int,
    deadline: float,
    child: Child,
    display: Display,
    task: int,
    info: Callable[[], str] | None = None,
    start_after: float = 0.0,
) -> Drain:
    """Time from the first poll showing progress to the first showing everything processed.

    Throughput is then (n - count at the first progress) / elapsed, so the unknown moment the
    first event was taken inside the first interval does not bias the result. With
    ``start_after`` the clock starts only once the count passes it: the events before are a
    warm-up (state the measured part finds in place), not timed.
    """
    launched = time.monotonic()
    first: tuple[float, float, CpuSample] | None = None
    warm: tuple[float, float] | None = None
    samples: list[tuple[float, float]] = []
    while True:
        count, complete = await poll()
        now = time.monotonic()
        display.update(task, count, info() if info is not None else "")
        if warm is None and count > 0:
            warm = (now, count)
        if first is None and count > start_after:
            first = (now, count, cpu_sample(child.pid))
        if first is not None:
            samples.append((round(now - first[0], 3), count))
        if complete and first is not None:
            return Drain(
                first[0], now, first[1], first[0] - launched, first[2], cpu_sample(child.pid), samples
            )
        if now > deadline:
            raise TimeoutError(f"processed {count:.0f} of {n} events before the deadline")
        if not child.alive():
            raise RuntimeError("the measured process exited")
        ref = (first[0], first[1]) if first is not None else warm
        await asyncio.sleep(_next_poll(ref, count, n if first is not None else start_after, now))


def throughput_of(n: int, d: Drain) -> Throughput:
    seconds = max(1e-6, d.ended - d.started)
    rate = (n - d.first_count) / seconds
    t = Throughput(
        events=n,
        seconds=round(seconds, 3),
        events_per_s=round(rate, 1),
        first_progress_after_s=round(d.first_wall, 2),
        progress=d.samples,
    )
    a, b = d.cpu_start, d.cpu_end
    if a.process is not None and b.process is not None:
        t.process_cpu_util = round((b.process - a.process) / seconds, 3)
    if b.total > a.total:
        t.machine_busy = round((b.busy - a.busy) / (b.total - a.total), 3)
    return t


async def wait_committed(
    probe: KafkaProbe, group: str, tps: Sequence[TopicPartition], since: float, timeout: float
) -> float | None:
    """Seconds from the first progress until the group's commits reach the end offsets."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if await probe.lag(group, tps) == 0:
            return round(time.monotonic() - since, 3)
        await asyncio.sleep(POLL_SECONDS)
    return None
