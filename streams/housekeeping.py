"""Periodic worker chores: consumer-lag gauges for ops and picking up edited rule files."""

from __future__ import annotations

from streams import metrics
from streams.app import FAMILY_OF_TOPIC, app, candidates_topic, hits_topic, rules

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
        metrics.LAG.labels(tp.topic, str(tp.partition)).set(max(0, end - done))


@app.timer(RELOAD_INTERVAL)  # type: ignore[untyped-decorator]
async def reload_rules() -> None:
    rules.maybe_reload()
