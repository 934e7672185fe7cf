"""The worker's Faust application, built from settings: topics, tables, the three stages, their clocks.

``build`` makes a Runtime and imports nothing global, so tests and tools can build several. Values
travel as raw bytes and are decoded by the core (orjson + pydantic), so a malformed message reaches
the dead-letter topic instead of failing inside Faust's codecs. The input, hits and candidates
topics reach their agents a partition batch at a time (``streams.batching``).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import faust
from faust import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from rules.world import World
from streams import housekeeping
from streams.batching import BatchingApp
from streams.consumer_lag import BrokerGroupOffsets
from streams.dead_letters import check_producer_limit
from streams.detect import DetectStage
from streams.dispatch import ALERT_CODEC, DispatchStage
from streams.kafka_security import faust_credentials
from streams.live_rules import LiveRules
from streams.partitioner import CachedPartitioner
from streams.redelivery import Recall
from streams.sending import KafkaProducer
from streams.settings import Settings
from streams.stage import Stage, stop_for_replay
from streams.tables import TableStore, raw_table
from streams.window_codec import WINDOW_CODEC
from streams.window_stage import WindowStage
from streams.world_reader import WorldReader

log = logging.getLogger(__name__)

ROCKSDB_OPTIONS = {
    "write_buffer_size": 4 * 1024 * 1024,
    "max_write_buffer_number": 2,
    "block_cache_size": 4 * 1024 * 1024,
    "block_cache_compressed_size": 0,
}
"""Per table partition; Faust's defaults (64 MB buffers, a 2 GB cache each) let a worker with a
million groups grow past half a gigabyte."""


@dataclass
class Runtime:
    settings: Settings
    app: BatchingApp
    rules: LiveRules
    world: World
    reader: WorldReader
    detect: DetectStage
    windows: WindowStage
    dispatch: DispatchStage

    @property
    def stages(self) -> tuple[Stage, ...]:
        return (self.detect, self.windows, self.dispatch)


STREAM_BUFFER = 8
"""Batches queued for each agent. Faust's 4,096 suits single messages; queued batches are records
the next fetch would have joined into one bigger batch, so a short queue keeps them on the broker
(a second of backlog sat here, in batches of a few records, at a few thousand events a second)."""


def build(settings: Settings) -> Runtime:
    """Everything a worker runs. Raises RuleSetError (with file:line) on broken rules."""
    rules = LiveRules.load(settings)
    inputs = list(settings.input_topics().values())
    candidates = settings.topic(settings.topic_candidates)
    hits = settings.topic(settings.topic_hits)
    partitioner = CachedPartitioner()
    app = BatchingApp(
        settings.app_id,
        batched=[*inputs, candidates, hits],
        fetch_max_wait=settings.fetch_max_wait,
        broker=[f"kafka://{h}" for h in settings.kafka_bootstrap.split(",")],
        broker_credentials=faust_credentials(settings.kafka_security()),
        store=settings.store,
        datadir=str(settings.data_dir / settings.app_id),
        web_bind=settings.web_bind,
        web_port=settings.web_port,
        web_host=settings.web_bind,
        web_tables_enabled=False,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication,
        topic_allow_declare=True,
        consumer_auto_offset_reset="earliest",
        producer_linger=0.0,
        producer_acks=-1,
        producer_partitioner=partitioner,
        producer_max_batch_size=256 * 1024,
        broker_commit_interval=1.0,
        stream_buffer_maxsize=STREAM_BUFFER,
        broker_session_timeout=settings.session_timeout,
        key_serializer="raw",
        value_serializer="raw",
    )
    check_producer_limit(settings, app.conf.producer_max_request_size)  # a dead letter always fits
    options = ROCKSDB_OPTIONS if settings.store.startswith("rocksdb") else {}
    partitions = settings.partitions
    source_windows = raw_table(app, "source-windows", partitions, **options)
    group_windows = raw_table(app, "group-windows", partitions, **options)
    alerts = raw_table(app, "alerts", partitions, **options)
    cache = settings.window_cache
    producer = KafkaProducer(app.producer, partitioner)
    world = World()
    detect = DetectStage(
        settings, producer, TableStore(source_windows, WINDOW_CODEC, inputs[0], producer, cache), rules
    )
    windows = WindowStage(
        settings, producer, TableStore(group_windows, WINDOW_CODEC, hits, producer, cache), rules
    )
    dispatch = DispatchStage(
        settings, producer, TableStore(alerts, ALERT_CODEC, candidates, producer), rules, world
    )
    reader = WorldReader(settings, world, on_ack=dispatch.on_ack)
    owned = lambda: app.consumer.assignment()  # noqa: E731  (the consumer exists once the worker runs)
    dispatch.recall = Recall(settings, BrokerGroupOffsets(app, timeout=10.0), owned, dispatch.notice_topics)
    runtime = Runtime(settings, app, rules, world, reader, detect, windows, dispatch)

    _agent(app, "detect", app.topic(*inputs, key_type=bytes, value_type=bytes), detect)
    _agent(app, "windows", app.topic(hits, key_type=bytes, value_type=bytes, partitions=partitions), windows)
    _agent(
        app,
        "dispatch",
        app.topic(candidates, key_type=bytes, value_type=bytes, partitions=partitions),
        dispatch,
        ready=reader.ready,
    )
    for table, stage in ((source_windows, detect), (group_windows, windows), (alerts, dispatch)):
        _rebuild_on_recover(table, stage)

    @app.task  # type: ignore[untyped-decorator]
    async def follow_world() -> None:
        while True:
            try:
                await reader.run()
            except Exception:  # a broker hiccup must not leave dispatch without silences and acks
                log.exception("reading acks, silences and open alerts failed; retrying in 2 s")
                await asyncio.sleep(2.0)

    @app.timer(settings.tick_interval)  # type: ignore[untyped-decorator]
    async def clock() -> None:
        """Absences that fire, quiet alerts that resolve, escalations, reminders: on each owner."""
        if app.rebalancing or app.in_recovery:
            return
        for stage in (detect, windows):
            await _guarded(stage, stage.on_clock())
        if reader.ready.is_set():
            await _guarded(dispatch, dispatch.on_clock())

    @app.page("/metrics")
    async def metrics_page(self: web.View, request: web.Request) -> web.Response:
        return self.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    housekeeping.install(runtime)
    return runtime


def _agent(app: faust.App, name: str, topic: Any, stage: Stage, ready: asyncio.Event | None = None) -> None:
    async def run(stream: Any) -> None:
        if ready is not None:
            await ready.wait()
        async for event in stream.noack().events():  # the stage acks a batch once it is committed
            await _guarded(stage, stage.on_batch(event))

    run.__qualname__ = run.__name__ = name
    app.agent(topic, name=f"riskstream.{name}")(run)


def _rebuild_on_recover(table: faust.Table[bytes, bytes], stage: Stage) -> None:
    async def rebuild() -> None:
        await stage.settle()
        await stage.recovered()
        async with stage.lock:
            stage.rebuild()
        log.info("%s stage holds %d keys in the partitions it owns", stage.name, len(stage.store))

    table.on_recover(rebuild)


async def _guarded(stage: Stage, step: Any) -> None:
    """A batch or tick that fails leaves state decided in memory and not written (see
    ``stop_for_replay``)."""
    try:
        await step
    except Exception:
        stop_for_replay(stage.name, "failed on a batch or a clock step")
