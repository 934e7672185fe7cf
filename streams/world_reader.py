"""Every worker's copy of the world: open alerts, acknowledgements and silences, each read whole.

They live on compacted topics (latest value per key), small enough for every worker to hold all
of them: inhibition and storm control must see alerts in partitions other workers own, and a
silence or an acknowledgement must reach whichever worker owns the alert. Dispatch waits until
the reader has caught up once, so a worker never decides on a half-read world after a restart.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from pydantic import ValidationError

from rules.silences import Silence
from rules.world import Ack, ActiveAlert, World
from streams import metrics
from streams.settings import Settings

log = logging.getLogger(__name__)
OnAck = Callable[[Ack], Awaitable[None]]


class WorldReader:
    def __init__(self, settings: Settings, world: World, on_ack: OnAck | None = None):
        self.settings = settings
        self.world = world
        self.on_ack = on_ack
        self.ready = asyncio.Event()
        self.acks = settings.topic(settings.topic_acks)
        self.silences = settings.topic(settings.topic_silences)
        self.active = settings.topic(settings.topic_active)

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            **self.settings.kafka_client_options(),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            parts = [
                TopicPartition(t, p)
                for t in (self.acks, self.silences, self.active)
                for p in range(self.settings.partitions)
            ]
            consumer.assign(parts)
            await consumer.seek_to_beginning(*parts)
            end = await consumer.end_offsets(parts)
            while not self.ready.is_set():
                await self._read(consumer, catching_up=True)
                positions = [await consumer.position(tp) for tp in parts]
                if all(pos >= end[tp] for pos, tp in zip(positions, parts, strict=True)):
                    self.ready.set()
                    log.info(
                        "world read: %d open alerts, %d acks, %d silences",
                        len(self.world.active),
                        len(self.world.acks) + len(self.world.resolves),
                        len(self.world.silences.all()),
                    )
            while True:
                await self._read(consumer, catching_up=False)
        finally:
            await consumer.stop()

    async def _read(self, consumer: AIOKafkaConsumer, catching_up: bool) -> None:
        batch = await consumer.getmany(timeout_ms=500)
        for records in batch.values():
            for record in records:
                try:
                    await self.apply(record, notify=not catching_up)
                except (ValidationError, ValueError) as exc:
                    log.warning(
                        "skipping unreadable %s record at offset %s: %s", record.topic, record.offset, exc
                    )
        metrics.WORLD.labels("active").set(len(self.world.active))
        metrics.WORLD.labels("acks").set(len(self.world.acks) + len(self.world.resolves))
        metrics.WORLD.labels("silences").set(len(self.world.silences.all()))

    async def apply(self, record: ConsumerRecord[bytes, bytes], notify: bool) -> None:
        key = record.key.decode() if record.key else ""
        value = record.value
        if record.topic == self.active:
            if value is None:
                self.world.active.drop(key)
            else:
                self.world.active.put(ActiveAlert.model_validate_json(value))
        elif record.topic == self.silences:
            if value is None:
                self.world.silences.drop(key)
            else:
                self.world.silences.put(Silence.model_validate_json(value))
        elif record.topic == self.acks and value is not None:
            ack = Ack.model_validate_json(value)
            self.world.ack(ack)
            if notify and self.on_ack is not None:
                await self.on_ack(ack)
