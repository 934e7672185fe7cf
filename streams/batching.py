"""A Faust transport that hands an agent each partition's fetched records as one event.

Faust delivers every message through its consumer, conductor, channel queue and stream on its own,
at about 125 us a message on this project's machines before any work is done; that alone caps a
worker near 8,000 messages per second. For the topics named in ``batched``, this transport's
consumer yields one message per (partition, fetch) instead, whose value is the list of aiokafka
records in offset order. The agent decides the batch at once and sends its output without
awaiting each message; Faust acks, commits, rebalances and recovers tables as usual.

Fetching: aiokafka sends one fetch at a time to a broker, for the partitions with nothing buffered.
While busy partitions' records wait to be handed over, the fetch in flight covers only the quiet
ones (the internal topics a batch is about to feed), and the broker holds it until data comes or
the fetch wait runs out. Faust fixes that wait at 1.5 s, so busy partitions stalled for up to 1.5 s
behind it; this consumer's wait is the ``fetch_max_wait`` setting.

Seeking back: Faust drops what its streams are handed while its flow control is off (during a
rebalance, and between resuming partitions and finishing its seek after recovery), relying on the
seek to the committed offsets to read it again. aiokafka skips that seek for a partition the group
never committed, so those records were lost: a worker restarted after a crash sometimes never
decided a candidates partition. This transport seeks such partitions to their start instead, which
is where the group's first reader began (``auto_offset_reset=earliest``).

Committing: the batch message carries the offset of its last record, and the offsets before it
are registered with Faust's consumer as a gap (the mechanism Faust uses for offsets that hold no
message), so acking the batch commits past all of it, and nothing before it is skipped. Faust's own
gap registration merges its whole interval tree and yields to the loop every time, which cost a
tenth of a busy worker; a batch's gap seldom overlaps another, so it merges only when one does.
Because a gap commits a whole batch, only a batch a stage decided may count as acked (the stage
marks it, ``mark_decided``): Faust's streams also ack what they skip around a rebalance. And a seek
back forgets the gaps of batches fetched since the commit (``BatchConsumer.ack``, ``perform_seek``).
Without either, a batch's records could be committed undecided: the likeliest cause of the one
alert a chaos soak lost in five million events.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from typing import Any, cast

import aiokafka
import faust
from aiokafka.structs import ConsumerRecord
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from faust.types.tuples import ConsumerMessage, ack_lock
from mode.utils.futures import notify

Records = list[ConsumerRecord[bytes, bytes]]


class BatchMessage(ConsumerMessage):
    """One partition's records from one fetch; ``value`` is the list of records."""

    decided = False
    """Set by the stage that decided the batch (``mark_decided``); only then does its ack count."""


class BatchConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: faust_aiokafka.Transport) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # Read when the consumer starts (it builds its fetcher then); Faust offers no setting for it.
        consumer._fetch_max_wait_ms = int(getattr(self.app, "fetch_max_wait", 1.5) * 1000)
        return consumer

    async def seek_to_committed(self) -> Mapping[TP, int]:
        return cast(Mapping[TP, int], await self.call_thread(self._seek_to_committed_or_start))

    def group_committed_soon(self, partitions: Sequence[TP]) -> concurrent.futures.Future[dict[TP, int]]:
        """The group's committed offsets of ``partitions`` as the broker has them (a partition the
        group never committed is left out), asked on this consumer's thread from any other.

        Not through ``call_thread``: its queue serves the consumer's own calls (fetching,
        committing), and this request retries for as long as the broker is away. Cancelling the
        future cancels the request.
        """

        async def fetch() -> dict[TP, int]:
            coordinator = self._ensure_consumer()._coordinator
            found = await coordinator.fetch_committed_offsets(list(partitions))
            return {TP(tp.topic, tp.partition): meta.offset for tp, meta in found.items() if meta.offset >= 0}

        return asyncio.run_coroutine_threadsafe(fetch(), self.thread_loop)

    def log_starts_soon(self, partitions: Sequence[TP]) -> concurrent.futures.Future[dict[TP, int]]:
        """The first offset each of ``partitions`` still holds, asked like ``group_committed_soon``."""

        async def fetch() -> dict[TP, int]:
            found = await self._ensure_consumer().beginning_offsets(list(partitions))
            return {TP(tp.topic, tp.partition): offset for tp, offset in found.items()}

        return asyncio.run_coroutine_threadsafe(fetch(), self.thread_loop)

    async def _seek_to_committed_or_start(self) -> Mapping[TP, int]:
        consumer = self._ensure_consumer()
        committed: Mapping[TP, int] = await consumer.seek_to_committed()
        batched = cast(BatchConsumer, self.consumer).batched
        never = [tp for tp, offset in committed.items() if not offset and tp.topic in batched]
        if never:
            await consumer.seek_to_beginning(*never)
        return committed


class BatchConsumer(faust_aiokafka.Consumer):
    @property
    def batched(self) -> Collection[str]:
        return getattr(self.app, "batched", ())

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return BatchConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, ConsumerMessage]]:
        records, active = await self._wait_next_records(timeout)
        if records is None or self.should_stop:
            return
        if not self.flow_active:
            await self.perform_seek()
            return
        generation = self.app.consumer_generation_id
        for tp, recs in records.items():
            if not self.flow_active or self.app.consumer_generation_id != generation:
                break
            if active is not None and tp not in active and tp not in self._buffered_partitions:
                continue
            self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
            if tp.topic in self.batched:
                if recs:
                    yield tp, self._batch(tp, recs, generation)
            else:
                for record in recs:
                    yield tp, self._to_message(tp, record)

    def ack(self, message: Any) -> bool:
        """A batch counts as processed only if a stage decided it, in the current generation:
        Faust's streams also ack the batches they skip (flow stopped around a rebalance, or a
        message of an older generation) as if processed, and a batch's gap would then commit its
        records undecided. The records of a batch not counted are read again from the committed
        offset (at-least-once)."""
        if message.topic in self.batched and (
            not getattr(message, "decided", False)
            or message.generation_id != self.app.consumer_generation_id
        ):
            with ack_lock:  # done with, so a rebalance waiting for in-flight messages goes on
                message.acked = True
                self._unacked_messages.discard(message)
                notify(self._waiting_for_ack)
            return False
        return bool(super().ack(message))

    async def perform_seek(self) -> None:
        """Back to the committed offsets, forgetting the gaps and acks of the batches fetched since:
        they are read again, perhaps cut otherwise, and a stale gap released by a shorter batch's
        ack would commit records not yet decided."""
        await super().perform_seek()
        for tp in [tp for tp in self._gap if tp.topic in self.batched]:
            del self._gap[tp]
        for tp in [tp for tp in self._acked if tp.topic in self.batched]:
            del self._acked[tp]
            self._acked_index.pop(tp, None)

    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        if tp.topic in self.batched:
            self._add_batch_gap(tp, offset_from, offset_to)
        else:
            await super()._add_gap(tp, offset_from, offset_to)

    def _add_batch_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        committed = self._committed_offset[tp]
        if committed is not None:
            offset_from = max(offset_from, committed + 1)
        if offset_from > offset_to:
            return
        gaps = self._gap[tp]
        overlapping = gaps.overlaps_range(offset_from, offset_to + 1)
        gaps.addi(offset_from, offset_to + 1)  # intervals exclude their end
        if overlapping:
            gaps.merge_overlaps()

    def _batch(self, tp: TP, recs: Records, generation: int) -> BatchMessage:
        first, last = recs[0].offset, recs[-1].offset
        read = self._read_offset[tp]
        start = first if read is None else min(first, read + 1)
        if start < last:
            self._add_batch_gap(tp, start, last - 1)
        # The drain loop registers a gap itself when offsets jump; the batch's own is registered.
        self._read_offset[tp] = last - 1
        r = recs[-1]
        return BatchMessage(
            r.topic,
            r.partition,
            last,
            (r.timestamp or 0) / 1000.0,
            r.timestamp_type,
            None,
            None,
            recs,  # type: ignore[arg-type]  # a batch's value is its records
            None,
            0,
            sum(len(x.value or b"") for x in recs),
            tp,
            generation_id=generation,
        )


class BatchTransport(faust_aiokafka.Transport):
    Consumer = BatchConsumer


class BatchingApp(faust.App):
    """A Faust app whose topics named in ``batched`` reach their agents a partition batch at a time."""

    def __init__(
        self, *args: Any, batched: Collection[str] = (), fetch_max_wait: float = 1.5, **kwargs: Any
    ):
        super().__init__(*args, **kwargs)
        self.batched = frozenset(batched)
        self.fetch_max_wait = fetch_max_wait

    def _new_transport(self) -> faust_aiokafka.Transport:
        return BatchTransport(self.conf.broker_consumer, self)


def records_of(event: Any) -> Records:
    """The records a batched topic's event carries."""
    value: Records = event.message.value
    return value


def mark_decided(event: Any) -> None:
    """The stage has decided the batch: acking it (once committed) may commit past its records."""
    event.message.decided = True
