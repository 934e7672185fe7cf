"""Periodic worker chores: consumer-lag gauges for ops and picking up edited rule files."""

from __future__ import annotations

import logging
import time

from streams import metrics
from streams.app import FAMILY_OF_TOPIC, app, candidates_topic, hits_topic, rules, settings
from streams.stall_watch import StallWatch

log = logging.getLogger(__name__)
stalls = StallWatch(settings.stall_after)

LAG_INTERVAL = 5.0
RELOAD_INTERVAL = 5.0


@app.timer(LAG_INTERVAL)  # type: ignore[untyped-decorator]  # faust decorators are untyped
async def report_lag() -> None:
    """Lag = end offset - committed offset for every source partition this worker owns.

    Changelog partitions are left out: they are read for recovery and never committed.
    """
    consumer = app.consumer
    committed = app.monitor.tp_committed_offsets
    sources = {*FAMILY_OF_TOPIC, *candidates_topic.topics, *hits_topic.topics}
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
                "in_recovery=%s open-alerts read=%s: if this lasts, restart the worker and keep this log",
                tp.topic,
                tp.partition,
                stalls.after,
                lag,
                app.rebalancing,
                app.in_recovery,
                world_ready(),
            )
    stalls.forget_all_but(owned)
    metrics.STALLED.set(stalls.stalled())


def world_ready() -> bool:
    from streams.dispatch import reader  # imported late: dispatch registers agents on import

    return reader.ready.is_set()


@app.timer(RELOAD_INTERVAL)  # type: ignore[untyped-decorator]
async def reload_rules() -> None:
    rules.maybe_reload()
