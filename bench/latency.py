"""Latency: load offered at a fixed rate, outputs matched back to their send time, percentiles."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.producer.message_accumulator import BatchBuilder

from bench.packs import PROBE_RULE_ID
from bench.params import Display, Latency
from bench.workload import EventFactory, encode
from rules.events import Family
from streams.partitioner import CachedPartitioner

LATENCY_TICK = 0.005


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile: always an observed value, so p99 of 500 samples is honest."""
    if not ordered:
        return None
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000.0, 2)


def summarize_latency(
    samples: list[float], rate: float, duration: float, sent: int, tracked: int, achieved: float
) -> Latency:
    ordered = sorted(samples)
    mean = sum(ordered) / len(ordered) if ordered else None
    return Latency(
        rate=rate,
        duration_s=duration,
        sent=sent,
        tracked=tracked,
        received=len(ordered),
        achieved_rate=round(achieved, 1),
        p50_ms=_ms(percentile(ordered, 50)),
        p95_ms=_ms(percentile(ordered, 95)),
        p99_ms=_ms(percentile(ordered, 99)),
        max_ms=_ms(ordered[-1] if ordered else None),
        mean_ms=_ms(mean),
    )


Extract = Callable[[bytes], str | None]


def probe_alert_event(value: bytes) -> str | None:
    """The event id that opened a probe alert (data.evidence[0]); None for other alerts."""
    data = orjson.loads(value).get("data") or {}
    if data.get("rule_id") != PROBE_RULE_ID:
        return None
    evidence = data.get("evidence") or []
    return str(evidence[0]) if evidence else None


def passthrough_event(value: bytes) -> str | None:
    return str(orjson.loads(value)["event_id"])


class LatencyRun:
    """Offered load at a fixed rate, and a reader that matches outputs back to their send time."""

    def __init__(
        self,
        kafka: Mapping[str, Any],
        topics: dict[Family, str],
        output: list[TopicPartition],
        factory: EventFactory,
        extract: Extract,
        every: int,
        tag: str,
    ):
        self.kafka, self.topics, self.output = kafka, topics, output
        self.factory, self.extract, self.every, self.tag = factory, extract, every, tag
        self.sent_at: dict[str, float] = {}
        self._partitions: dict[str, list[int]] = {}
        self._partitioner = CachedPartitioner()
        self.samples: list[float] = []
        self.sent = 0

    async def run(self, rate: float, duration: float, settle: float, display: Display, task: int) -> Latency:
        reader = AIOKafkaConsumer(
            **self.kafka,
            enable_auto_commit=False,
            fetch_max_wait_ms=50,
            auto_offset_reset="latest",
        )
        producer = AIOKafkaProducer(**self.kafka, linger_ms=0, acks=1, max_batch_size=1 << 20)
        await reader.start()
        await producer.start()
        try:
            await self._assign_at_end(reader)
            reading = asyncio.create_task(self._read(reader))
            achieved = await self._offer(producer, rate, duration, display, task)
            await self._settle(settle)
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reading
        finally:
            await producer.stop()
            await reader.stop()
        tracked = len(self.samples) + len(self.sent_at)
        return summarize_latency(self.samples, rate, duration, self.sent, tracked, achieved)

    async def _assign_at_end(self, reader: AIOKafkaConsumer) -> None:
        reader.assign(self.output)
        await reader.seek_to_end(*self.output)
        for tp in self.output:
            await reader.position(tp)  # resolve now, so no output of this run is skipped

    async def _read(self, reader: AIOKafkaConsumer) -> None:
        while True:
            batch = await reader.getmany(timeout_ms=100)
            seen = time.time()
            for records in batch.values():
                for record in records:
                    self._match(record.value, seen)

    def _match(self, value: bytes | None, seen: float) -> None:
        if not value:
            return
        try:
            event_id = self.extract(value)
        except (ValueError, KeyError, TypeError, AttributeError):  # not ours: never stop reading
            return
        sent = self.sent_at.pop(event_id, None) if event_id else None
        if sent is not None:
            self.samples.append(seen - sent)

    async def _offer(
        self, producer: AIOKafkaProducer, rate: float, duration: float, display: Display, task: int
    ) -> float:
        """Send on a schedule (not as fast as possible): every tick, the events now due, stamped with
        the tick's time and sent as one batch per partition."""
        total = int(rate * duration)
        start = time.monotonic()
        futures: list[asyncio.Future[Any]] = []
        while self.sent < total:
            due = min(total, int((time.monotonic() - start) * rate) + 1)
            if due > self.sent:
                futures.extend(await self._send_due(producer, due - self.sent))
            display.update(task, self.sent, f"{len(self.samples)} measured")
            await asyncio.sleep(LATENCY_TICK)
        elapsed = time.monotonic() - start
        await asyncio.gather(*futures)
        return self.sent / elapsed if elapsed > 0 else 0.0

    async def _send_due(self, producer: AIOKafkaProducer, count: int) -> list[asyncio.Future[Any]]:
        """The offered load is the measuring instrument, not the system measured, and it shares the
        worker's two cores: sent one message at a time it cost 25 us an event (two thirds of a core
        at 26,000 events/s, and p99 of 2.6 s for 10 generated rules); a tick's events go out as one
        batch per partition, at 14 us an event."""
        now = time.time()
        batches: dict[tuple[str, int], BatchBuilder] = {}
        futures = []
        for _ in range(count):
            tracked = self.sent % self.every == 0
            make = self.factory.probe if tracked and self.every > 1 else self.factory.background
            family, key, body = make(self.tag, now)
            if tracked:
                self.sent_at[body["event_id"]] = now
            self.sent += 1
            topic, key_bytes = self.topics[family], key.encode()
            where = (topic, await self._partition(producer, topic, key_bytes))
            batch = batches.get(where)
            if batch is None:
                batch = batches[where] = producer.create_batch()
            if batch.append(key=key_bytes, value=encode(body), timestamp=None) is None:
                futures.append(await self._send_batch(producer, batch, where))
                batch = batches[where] = producer.create_batch()
                batch.append(key=key_bytes, value=encode(body), timestamp=None)
        for where, batch in batches.items():
            futures.append(await self._send_batch(producer, batch, where))
        return futures

    async def _partition(self, producer: AIOKafkaProducer, topic: str, key: bytes) -> int:
        partitions = self._partitions.get(topic)
        if partitions is None:
            partitions = self._partitions[topic] = sorted(await producer.partitions_for(topic))
        return self._partitioner(key, partitions, partitions)

    @staticmethod
    async def _send_batch(
        producer: AIOKafkaProducer, batch: BatchBuilder, where: tuple[str, int]
    ) -> asyncio.Future[Any]:
        batch.close()
        future: asyncio.Future[Any] = await producer.send_batch(batch, where[0], partition=where[1])
        return future

    async def _settle(self, settle: float) -> None:
        end = time.monotonic() + settle
        while self.sent_at and time.monotonic() < end:
            await asyncio.sleep(0.05)
