"""The audit topic, followed from a point in the past, into the board's view and out to browsers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaConnectionError
from pydantic import ValidationError

from rules.alerts import CloudEvent
from rules.errors import RiskstreamError
from streams.board.view import BoardView, card
from streams.kafka_io import partitions_of
from streams.kafka_security import unreachable
from streams.settings import Settings

log = logging.getLogger("riskstream.board")
CLIENT_QUEUE = 2000


class Hub:
    """Fans changes out to every open page; a page that falls too far behind is dropped (its
    browser reconnects and starts again from a snapshot)."""

    def __init__(self) -> None:
        self.clients: set[asyncio.Queue[tuple[str, Any]]] = set()

    def subscribe(self) -> asyncio.Queue[tuple[str, Any]]:
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(CLIENT_QUEUE)
        self.clients.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[tuple[str, Any]]) -> None:
        self.clients.discard(queue)

    def publish(self, event: str, data: Any) -> None:
        for queue in list(self.clients):
            try:
                queue.put_nowait((event, data))
            except asyncio.QueueFull:
                self.clients.discard(queue)
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(("reset", None))


async def follow(
    settings: Settings, view: BoardView, hub: Hub, since: timedelta, caught_up: asyncio.Event
) -> None:
    """Read the audit topic from ``since`` ago, then live; ``caught_up`` is set at the end of the past."""
    topic = settings.topic(settings.topic_audit)
    consumer = AIOKafkaConsumer(
        **settings.kafka_client_options(), group_id=None, enable_auto_commit=False
    )
    try:
        await consumer.start()
    except KafkaConnectionError:
        raise RiskstreamError(unreachable(settings)) from None
    try:
        partitions = await _partitions(settings, consumer, topic)
        consumer.assign(partitions)
        end = await consumer.end_offsets(partitions)
        start = int((datetime.now(UTC) - since).timestamp() * 1000)
        found = await consumer.offsets_for_times({tp: start for tp in partitions})
        for tp in partitions:  # explicit offsets: a lazy seek_to_end would skip what lands meanwhile
            at = found.get(tp)
            consumer.seek(tp, end[tp] if at is None else at.offset)
        while True:
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            for records in batch.values():
                for record in records:
                    _take(record.value, view, hub)
            if not caught_up.is_set() and all([await consumer.position(tp) >= end[tp] for tp in partitions]):
                caught_up.set()
                log.info("board caught up: %d alerts", len(view.alerts))
            gone = view.expire(datetime.now(UTC))
            if gone:
                hub.publish("gone", gone)
    finally:
        await consumer.stop()


async def _partitions(settings: Settings, consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    for _ in range(60):
        if topic in await consumer.topics():
            parts = (await partitions_of(settings, [topic])).get(topic, [])
            if parts:
                return [TopicPartition(topic, p) for p in parts]
        await asyncio.sleep(1)  # the worker creates it on its first start
    raise RiskstreamError(f"topic {topic} does not exist: start the worker once (it creates its topics)")


def _take(value: bytes | None, view: BoardView, hub: Hub) -> None:
    try:
        notice = CloudEvent.model_validate_json(value or b"")
    except ValidationError as exc:
        log.warning("unreadable notice on the audit topic: %s", exc.errors()[0]["msg"])
        return
    alert = view.apply(notice)
    if alert is not None:
        hub.publish("alert", card(alert))
