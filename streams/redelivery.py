"""Notices a worker delivered and never recorded, recalled from the topics so they go out once.

Dispatch sends a batch's notices, waits for the broker to have them, and only then writes the
alerts' state (``streams.stage``): no state is ever durable ahead of its notices. A worker killed
between the two has delivered notices that no state records; its successor (the same worker
restarted, or another after a rebalance) decides the batch's candidates again and would send the
same notices again, with the same CloudEvents id (``alert_id:notice_seq``).

So before a dispatch stage takes over partitions whose candidates were not all committed, it reads
back what the notice topics (the audit topic and every agency topic) received since the first of
those candidates was produced: a notice is produced after its candidate, so nothing older can be
one of them. A notice decided again whose id a topic already holds is not sent to that topic
again. Per topic, not per notice: a worker killed while the broker had taken some copies of a
notice and not others sends only the missing ones. Notices of other alerts and later notices of
the same alert have other ids and go out as usual.

Kafka transactions would make notices, state and offsets one atomic write instead; Faust's
exactly-once mode sends to topics it does not consume outside the transaction (faust-streaming
issue #177), so this reads back instead. The read-back is skipped when every candidates partition
taken over was committed to its end (a clean hand-over), and bounded by a timeout: if the broker
does not answer, the stage goes on without it (at-least-once, as before, and a warning says so).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord
from faust.types import TP

from streams import kafka_io
from streams.consumer_lag import GroupOffsets
from streams.settings import Settings

log = logging.getLogger(__name__)

CLOCK_MARGIN = timedelta(seconds=60)
"""Read back from this much before the first uncommitted candidate's timestamp: candidates and
notices are stamped by the clocks of the workers that produced them, which may differ a little."""

RECALL_TIMEOUT = 60.0
"""Seconds a takeover may spend reading back before it goes on without (at-least-once)."""


@dataclass
class Delivered:
    """CloudEvents ids of notices the topics hold, each with the topics that hold it."""

    topics_of: dict[str, set[str]] = field(default_factory=dict)

    def add(self, ce_id: str, topic: str) -> None:
        self.topics_of.setdefault(ce_id, set()).add(topic)

    def holds(self, ce_id: str, topic: str) -> bool:
        found = self.topics_of.get(ce_id)
        return found is not None and topic in found

    def __len__(self) -> int:
        return len(self.topics_of)


def cloudevent_id(value: bytes | None) -> str | None:
    """The ``id`` of a notice as the topics carry it (None: not a notice)."""
    if not value:
        return None
    try:
        found = orjson.loads(value).get("id")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return found if isinstance(found, str) else None


def replay_start(
    committed: Mapping[TP, int | None], ends: Mapping[TP, int], first_times: Mapping[TP, int]
) -> datetime | None:
    """When the first candidate to be decided again was produced, minus the clock margin; None
    when every partition was committed to its end (nothing is decided twice).

    ``committed``: the group's committed offset per partition (None: never committed, read from
    the start); ``ends``: end offsets; ``first_times``: the timestamp (ms) of the record at each
    replayed partition's committed offset (or at its start).
    """
    replayed = [tp for tp, end in ends.items() if (committed.get(tp) or 0) < end]
    times = [first_times[tp] for tp in replayed if tp in first_times]
    if not replayed:
        return None
    if not times:  # the records are gone (retention): read back as far as the topics go
        return datetime.fromtimestamp(0, UTC)
    return datetime.fromtimestamp(min(times) / 1000, UTC) - CLOCK_MARGIN


def recall_records(records: Iterable[ConsumerRecord[bytes, bytes]], into: Delivered) -> Delivered:
    for record in records:
        ce_id = cloudevent_id(record.value)
        if ce_id is not None:
            into.add(ce_id, record.topic)
    return into


class Recall:
    """Reads back what the notice topics hold before a dispatch stage takes partitions over."""

    def __init__(
        self,
        settings: Settings,
        group: GroupOffsets,
        owned: Callable[[], Collection[TP]],
        notice_topics: Callable[[], Collection[str]],
    ):
        self.settings = settings
        self.group = group
        self.owned = owned
        self.notice_topics = notice_topics
        self.candidates = settings.topic(settings.topic_candidates)

    async def delivered(self) -> Delivered:
        """What the notice topics hold that candidates about to be decided again may have sent;
        empty when none will be decided again, or when the broker does not answer in time."""
        try:
            return await asyncio.wait_for(self._delivered(), RECALL_TIMEOUT)
        except Exception:
            log.warning(
                "could not read back the notices already delivered; candidates decided again "
                "after this takeover may send a notice twice (same CloudEvents id)",
                exc_info=True,
            )
            return Delivered()

    async def _delivered(self) -> Delivered:
        mine = sorted(tp for tp in self.owned() if tp.topic == self.candidates)
        if not mine:
            return Delivered()
        committed = await self.group.committed(mine)
        ends, first_times = await self._positions(mine, committed)
        since = replay_start(committed, ends, first_times)
        if since is None:
            return Delivered()
        found = Delivered()
        topics = sorted(self.notice_topics())
        async for item in kafka_io.read_since(self.settings, topics, since):
            if isinstance(item, kafka_io.Window):
                continue
            recall_records([item], found)
        log.info(
            "read back %d notice(s) delivered since %s, before deciding again candidates not "
            "committed: none of them is sent twice",
            len(found),
            since.isoformat(),
        )
        return found

    async def _positions(
        self, partitions: list[TP], committed: Mapping[TP, int]
    ) -> tuple[dict[TP, int], dict[TP, int]]:
        """End offsets, and the timestamp of the first record to be decided again, per partition."""
        consumer = await kafka_io._start_consumer(self.settings, auto_offset_reset="earliest")
        try:
            tps = [TopicPartition(tp.topic, tp.partition) for tp in partitions]
            consumer.assign(tps)
            ends = await consumer.end_offsets(tps)
            starts = await consumer.beginning_offsets(tps)
            first_times: dict[TP, int] = {}
            for tp in tps:
                at = max(committed.get(TP(tp.topic, tp.partition)) or 0, starts[tp])
                if at >= ends[tp]:
                    continue
                consumer.seek(tp, at)
                batch = await consumer.getmany(tp, timeout_ms=5000, max_records=1)
                for record in batch.get(tp, []):
                    first_times[TP(tp.topic, tp.partition)] = record.timestamp
            return {TP(tp.topic, tp.partition): end for tp, end in ends.items()}, first_times
        finally:
            await consumer.stop()
