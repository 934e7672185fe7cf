"""Periodic worker chores: consumer-lag gauges for ops, picking up edited rule files, and sweeping
expired window groups out of storage."""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from faust.types import TP

from connectors import kafka_log_summary
from streams import metrics
from streams.consumer_lag import BrokerGroupOffsets, GroupOffsets, read_lag
from streams.sending import Outgoing
from streams.stall_watch import StallWatch

if TYPE_CHECKING:
    from streams.app import Runtime
    from streams.stage import Stage

log = logging.getLogger(__name__)

LAG_INTERVAL = 5.0
LAG_TIMEOUT = 3.0
"""Seconds the lag timer waits for the broker's answer: less than its interval, so a broker that is
away makes it skip a turn rather than overlap the next one."""
LOG_SUMMARY_INTERVAL = 1.0
RELOAD_INTERVAL = 5.0
SWEEP_SLICE = 20_000
"""Window groups looked at per stage per sweep: a slice keeps each sweep short."""


def install(rt: Runtime) -> None:
    app, settings = rt.app, rt.settings
    stalls = StallWatch(settings.stall_after)
    sources = {
        *settings.input_topics().values(),
        settings.topic(settings.topic_candidates),
        settings.topic(settings.topic_hits),
    }
    group = BrokerGroupOffsets(app, timeout=LAG_TIMEOUT)

    @app.timer(LAG_INTERVAL)  # type: ignore[untyped-decorator]  # faust decorators are untyped
    async def report_lag() -> None:
        await report_lag_once(rt, group, sources, stalls)

    @app.timer(RELOAD_INTERVAL)  # type: ignore[untyped-decorator]
    async def reload_rules() -> None:
        rt.rules.maybe_reload()

    @app.task  # type: ignore[untyped-decorator]
    async def follow_rules() -> None:
        """Rule versions published to the rules topic, switched to as they arrive (topic source)."""
        await rt.rules.follow()

    @app.timer(LOG_SUMMARY_INTERVAL)  # type: ignore[untyped-decorator]
    async def summarise_client_errors() -> None:
        """The count of repeated Kafka client errors, once their interval is over, even when no
        further error comes to write it (``connectors.kafka_log_summary``)."""
        kafka_log_summary.flush_installed()

    sweeps = {stage.name: _Sweep(stage) for stage in (rt.detect, rt.windows)}

    @app.timer(settings.sweep_interval)  # type: ignore[untyped-decorator]
    async def sweep_windows() -> None:
        if app.rebalancing or app.in_recovery:
            return
        for sweep in sweeps.values():
            await sweep.next_slice()


async def report_lag_once(
    rt: Runtime, group: GroupOffsets, sources: set[str], stalls: StallWatch
) -> dict[tuple[str, int], int]:
    """Lag = end offset - the group's committed offset, for every source partition this worker
    owns (``streams.consumer_lag``), into the lag gauges and the stall watch; returns the lags set.

    Changelog partitions are left out: they are read for recovery and never committed. If the
    broker does not answer within the interval (it is away), nothing changes this time.
    """
    app = rt.app
    consumer = app.consumer
    ends: dict[TP, int] = {}
    for tp in consumer.assignment():
        if tp.topic not in sources:
            continue
        try:
            end = consumer.highwater(tp)
        except Exception:  # highwater unknown until the first fetch of this partition
            continue
        if end is not None:
            ends[tp] = end
    try:
        lags = await read_lag(group, ends)
    except TimeoutError as exc:
        log.debug("consumer lag not read this time (the broker did not answer): %r", exc)
        return {}
    except Exception:
        log.warning("consumer lag not read this time", exc_info=True)
        return {}
    now = time.monotonic()
    owned: dict[tuple[str, int], int] = {}
    for tp, read in lags.items():
        metrics.LAG.labels(tp.topic, str(tp.partition)).set(read.lag)
        owned[(tp.topic, tp.partition)] = read.lag
        if stalls.observe((tp.topic, tp.partition), read.position, read.lag, now):
            log.warning(
                "no progress on %s[%d] for %.0fs with %d message(s) waiting; rebalancing=%s "
                "in_recovery=%s open-alerts read=%s: if this lasts, restart the worker and keep "
                "this log",
                tp.topic,
                tp.partition,
                stalls.after,
                read.lag,
                app.rebalancing,
                app.in_recovery,
                rt.reader.ready.is_set(),
            )
    stalls.forget_all_but(set(owned))
    metrics.STALLED.set(stalls.stalled())
    return owned


class _Sweep:
    """Walks a stage's stored groups a slice at a time, dropping those that can go."""

    def __init__(self, stage: Stage):
        self.stage = stage
        self._keys: Iterator[str] | None = None

    async def next_slice(self) -> None:
        stage = self.stage
        async def sweep(out: Outgoing) -> int:
            if self._keys is None:
                self._keys = stage.store.keys_held()
            try:
                keys = list(itertools.islice(self._keys, SWEEP_SLICE))
            except RuntimeError:  # the memory store changed under the walk: start again next time
                self._keys = None
                return 0
            if len(keys) < SWEEP_SLICE:
                self._keys = None
            return stage.sweep(keys)

        gone = await stage.step(sweep)
        await stage.settle()
        if gone:
            log.debug("%s stage swept %d expired window groups", stage.name, gone)
