"""A Faust transport that hands an agent each partition's fetched records as one event.

Faust delivers every message through its consumer, conductor, channel queue and stream on its own,
at about 125 us a message on this project's machines before any work is done; that alone caps a
worker near 8,000 messages per second. For the topics named in ``batched``, this transport's
consumer yields one message per (partition, fetch) instead, whose value is the list of aiokafka
records in offset order. The agent decides the batch at once and sends its output without
awaiting each message; Faust acks, commits, rebalances and recovers tables as usual.

Committing: the batch message carries the offset of its last record, and the offsets before it
are registered with Faust's consumer as a gap (the mechanism Faust uses for offsets that hold no
message), so acking the batch commits past all of it, and nothing before it is skipped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from typing import Any

import faust
from aiokafka.structs import ConsumerRecord
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from faust.types.tuples import ConsumerMessage

Records = list[ConsumerRecord[bytes, bytes]]


class BatchMessage(ConsumerMessage):
    """One partition's records from one fetch; ``value`` is the list of records."""


class BatchConsumer(faust_aiokafka.Consumer):
    batched: Collection[str] = ()

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
                    yield tp, await self._batch(tp, recs, generation)
            else:
                for record in recs:
                    yield tp, self._to_message(tp, record)

    async def _batch(self, tp: TP, recs: Records, generation: int) -> BatchMessage:
        first, last = recs[0].offset, recs[-1].offset
        read = self._read_offset[tp]
        start = first if read is None else min(first, read + 1)
        if start < last:
            await self._add_gap(tp, start, last - 1)
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

    def __init__(self, *args: Any, batched: Collection[str] = (), **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.batched = frozenset(batched)

    def _new_transport(self) -> faust_aiokafka.Transport:
        transport = BatchTransport(self.conf.broker_consumer, self)
        BatchConsumer.batched = self.batched
        return transport


def records_of(event: Any) -> Records:
    """The records a batched topic's event carries."""
    value: Records = event.message.value
    return value
