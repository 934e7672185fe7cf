"""Consumer lag is end offset minus the group's committed offset as the broker has it, so a
restarted worker reports what is left to read, not the whole topic, and logs no false stall."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any

import pytest
from faust.types import TP

from streams import metrics
from streams.consumer_lag import BrokerGroupOffsets, Lag, read_lag
from streams.housekeeping import report_lag_once
from streams.stall_watch import StallWatch

SENSOR = [TP("p.events.sensor", p) for p in range(2)]
CANDIDATES = TP("p.riskstream.candidates", 0)
CHANGELOG = TP("p.riskstream-alerts-changelog", 0)
SOURCES = {"p.events.sensor", "p.riskstream.candidates"}


class FakeGroup:
    """The broker's view of the group: committed offsets (missing: never committed) and log starts."""

    def __init__(self, committed: Mapping[TP, int], starts: Mapping[TP, int] | None = None) -> None:
        self.offsets = dict(committed)
        self.starts = dict(starts or {})
        self.asked: list[list[TP]] = []
        self.fail: BaseException | None = None

    async def committed(self, partitions: Sequence[TP]) -> Mapping[TP, int]:
        if self.fail is not None:
            raise self.fail
        self.asked.append(list(partitions))
        return {tp: self.offsets[tp] for tp in partitions if tp in self.offsets}

    async def log_starts(self, partitions: Sequence[TP]) -> Mapping[TP, int]:
        return {tp: self.starts.get(tp, 0) for tp in partitions}


def lag_of(group: FakeGroup, ends: Mapping[TP, int]) -> dict[TP, Lag]:
    return asyncio.run(read_lag(group, ends))


def test_lag_counts_from_the_group_s_committed_offset() -> None:
    group = FakeGroup({SENSOR[0]: 9_990, SENSOR[1]: 10_000})
    assert lag_of(group, {SENSOR[0]: 10_000, SENSOR[1]: 10_000}) == {
        SENSOR[0]: Lag(9_990, 10),
        SENSOR[1]: Lag(10_000, 0),
    }
    assert group.asked == [SENSOR], "one request for every partition"


def test_a_partition_the_group_never_committed_counts_from_the_log_s_start() -> None:
    """Not from 0: retention may have deleted the first offsets, which nobody can read any more."""
    group = FakeGroup({SENSOR[0]: 500}, starts={SENSOR[1]: 4_000})
    assert lag_of(group, {SENSOR[0]: 600, SENSOR[1]: 5_000}) == {
        SENSOR[0]: Lag(500, 100),
        SENSOR[1]: Lag(4_000, 1_000),
    }


def test_a_committed_offset_past_the_known_end_is_no_lag() -> None:
    """The end offset is what the last fetch saw; the commit may have moved on since."""
    assert lag_of(FakeGroup({SENSOR[0]: 120}), {SENSOR[0]: 100}) == {SENSOR[0]: Lag(120, 0)}


def test_nothing_owned_asks_nothing() -> None:
    group = FakeGroup({})
    assert lag_of(group, {}) == {}
    assert group.asked == []


# --- the worker's timer ----------------------------------------------------------------------------


class FakeConsumer:
    """Faust's consumer as the lag timer uses it: the assignment and the end offsets fetched."""

    def __init__(self, ends: Mapping[TP, int | None]) -> None:
        self.ends = dict(ends)
        self._committed_offset: dict[TP, int] = {}
        """This process's own commits: a restarted worker has none yet."""

    def assignment(self) -> set[TP]:
        return set(self.ends)

    def highwater(self, tp: TP) -> int | None:
        return self.ends[tp]


def runtime(consumer: FakeConsumer) -> Any:
    ready = asyncio.Event()
    app = SimpleNamespace(consumer=consumer, rebalancing=False, in_recovery=False)
    return SimpleNamespace(app=app, reader=SimpleNamespace(ready=ready))


def gauge(tp: TP) -> float:
    return float(metrics.LAG.labels(tp.topic, str(tp.partition))._value.get())


def test_a_restarted_worker_reports_what_is_left_not_the_whole_topic_and_no_stall(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The group committed up to 99,990 of 100,000 before the restart; this process has committed
    nothing itself yet. Several turns of the timer pass with the commit unmoved and lag small (the
    worker is busy recovering): no warning, as there are only 10 messages and they move on."""
    caplog.set_level(logging.WARNING)
    consumer = FakeConsumer({SENSOR[0]: 100_000, SENSOR[1]: 100_000, CANDIDATES: 50, CHANGELOG: 7_000})
    group = FakeGroup({SENSOR[0]: 99_990, SENSOR[1]: 100_000, CANDIDATES: 50})
    stalls = StallWatch(after=3600)
    lags = asyncio.run(report_lag_once(runtime(consumer), group, SOURCES, stalls))
    assert lags == {("p.events.sensor", 0): 10, ("p.events.sensor", 1): 0, ("p.riskstream.candidates", 0): 0}
    assert (gauge(SENSOR[0]), gauge(SENSOR[1]), gauge(CANDIDATES)) == (10, 0, 0)
    assert group.asked == [sorted([*SENSOR, CANDIDATES])], "changelogs are not the group's to commit"
    assert caplog.records == []


def test_a_partition_whose_end_is_not_known_yet_is_left_out() -> None:
    consumer = FakeConsumer({SENSOR[0]: None, SENSOR[1]: 10})
    group = FakeGroup({SENSOR[1]: 4})
    lags = asyncio.run(report_lag_once(runtime(consumer), group, SOURCES, StallWatch(after=60)))
    assert lags == {("p.events.sensor", 1): 6}


def test_a_stall_is_judged_on_the_group_s_committed_offset(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    consumer = FakeConsumer({SENSOR[0]: 1_000})
    group = FakeGroup({SENSOR[0]: 400})
    stalls = StallWatch(after=0.0)
    rt = runtime(consumer)
    asyncio.run(report_lag_once(rt, group, SOURCES, stalls))
    asyncio.run(report_lag_once(rt, group, SOURCES, stalls))
    assert stalls.stalled() == 1
    assert ["no progress on p.events.sensor[0]" in r.getMessage() for r in caplog.records] == [True]
    group.offsets[SENSOR[0]] = 900
    asyncio.run(report_lag_once(rt, group, SOURCES, stalls))
    assert stalls.stalled() == 0 and gauge(SENSOR[0]) == 100


def test_when_the_broker_does_not_answer_the_gauges_keep_their_values() -> None:
    consumer = FakeConsumer({SENSOR[0]: 1_000})
    group = FakeGroup({SENSOR[0]: 990})
    stalls = StallWatch(after=60)
    rt = runtime(consumer)
    asyncio.run(report_lag_once(rt, group, SOURCES, stalls))
    consumer.ends[SENSOR[0]] = 5_000
    group.fail = TimeoutError()
    assert asyncio.run(report_lag_once(rt, group, SOURCES, stalls)) == {}
    assert gauge(SENSOR[0]) == 10


# --- asking the broker through the consumer's own thread -------------------------------------------


class FakeThread:
    """The consumer thread: each request answered (or left hanging) by a concurrent future."""

    def __init__(self, committed: Mapping[TP, int] | None) -> None:
        self.committed = committed
        self.futures: list[concurrent.futures.Future[dict[TP, int]]] = []

    def group_committed_soon(self, partitions: Sequence[TP]) -> concurrent.futures.Future[dict[TP, int]]:
        future: concurrent.futures.Future[dict[TP, int]] = concurrent.futures.Future()
        if self.committed is not None:
            future.set_result({tp: self.committed[tp] for tp in partitions if tp in self.committed})
        self.futures.append(future)
        return future

    def log_starts_soon(self, partitions: Sequence[TP]) -> concurrent.futures.Future[dict[TP, int]]:
        future: concurrent.futures.Future[dict[TP, int]] = concurrent.futures.Future()
        future.set_result(dict.fromkeys(partitions, 0))
        return future


def broker_offsets(thread: FakeThread, timeout: float = 5.0) -> BrokerGroupOffsets:
    return BrokerGroupOffsets(SimpleNamespace(consumer=SimpleNamespace(_thread=thread)), timeout)


def test_the_broker_s_answer_comes_through_the_consumer_thread() -> None:
    offsets = broker_offsets(FakeThread({SENSOR[0]: 7}))
    assert asyncio.run(read_lag(offsets, {SENSOR[0]: 10, SENSOR[1]: 3})) == {
        SENSOR[0]: Lag(7, 3),
        SENSOR[1]: Lag(0, 3),
    }


def test_a_broker_that_does_not_answer_times_out_and_the_request_is_cancelled() -> None:
    thread = FakeThread(None)
    with pytest.raises(TimeoutError):
        asyncio.run(read_lag(broker_offsets(thread, timeout=0.05), {SENSOR[0]: 10}))
    assert thread.futures[0].cancelled()
