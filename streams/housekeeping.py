"""Periodic worker chores: consumer-lag gauges for ops, picking up edited rule files, and sweeping
expired window groups out of storage."""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from streams import metrics
from streams.sending import Outgoing
from streams.stall_watch import StallWatch

if TYPE_CHECKING:
    from streams.app import Runtime
    from streams.stage import Stage

log = logging.getLogger(__name__)

LAG_INTERVAL = 5.0
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

    @app.timer(LAG_INTERVAL)  # type: ignore[untyped-decorator]  # faust decorators are untyped
    async def report_lag() -> None:
        """Lag = end offset - committed offset for every source partition this worker owns.

        The committed offsets are the group's, as Faust's consumer learnt them from the broker when
        it took the partitions and as it has committed since (not only this process's own commits,
        which would count a restarted worker's whole history as lag). Changelog partitions are left
        out: they are read for recovery and never committed.
        """
        consumer = app.consumer
        committed = consumer._committed_offset  # type: ignore[attr-defined]
        now = time.monotonic()
        owned: set[tuple[str, int]] = set()
        for tp in consumer.assignment():
            if tp.topic not in sources:
                continue
            try:
                end = consumer.highwater(tp)
            except Exception:  # highwater unknown until the first fetch of this partition
                continue
            if end is None:
                continue
            done = committed.get(tp, 0) or 0
            lag = max(0, end - done)
            metrics.LAG.labels(tp.topic, str(tp.partition)).set(lag)
            owned.add((tp.topic, tp.partition))
            if stalls.observe((tp.topic, tp.partition), done, lag, now):
                log.warning(
                    "no progress on %s[%d] for %.0fs with %d message(s) waiting; rebalancing=%s "
                    "in_recovery=%s open-alerts read=%s: if this lasts, restart the worker and keep "
                    "this log",
                    tp.topic,
                    tp.partition,
                    stalls.after,
                    lag,
                    app.rebalancing,
                    app.in_recovery,
                    rt.reader.ready.is_set(),
                )
        stalls.forget_all_but(owned)
        metrics.STALLED.set(stalls.stalled())

    @app.timer(RELOAD_INTERVAL)  # type: ignore[untyped-decorator]
    async def reload_rules() -> None:
        rt.rules.maybe_reload()

    sweeps = {stage.name: _Sweep(stage) for stage in (rt.detect, rt.windows)}

    @app.timer(settings.sweep_interval)  # type: ignore[untyped-decorator]
    async def sweep_windows() -> None:
        if app.rebalancing or app.in_recovery:
            return
        for sweep in sweeps.values():
            await sweep.next_slice()


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
