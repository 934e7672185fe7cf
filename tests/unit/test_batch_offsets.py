"""Offsets a batched partition commits: never past a record no stage has decided.

A batch's records before its last are registered with Faust as a gap, so acking the batch (its
last offset) commits past all of it. So only a batch a stage decided (and marked so) may count as
acked: Faust's streams also ack the batches they skip around a rebalance (flow stopped, older
generation), and a batch fetched and skipped leaves a gap that a seek back to the committed offset
must forget.
"""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace

from aiokafka.structs import ConsumerRecord
from faust.types import TP
from intervaltree import IntervalTree

from streams.batching import BatchConsumer, BatchMessage, mark_decided

TOPIC = "events.camera"
PART = TP(TOPIC, 0)


def _consumer(committed: int = 100) -> BatchConsumer:
    """A BatchConsumer with Faust's offset bookkeeping and nothing else (no broker, no thread)."""
    consumer = BatchConsumer.__new__(BatchConsumer)
    consumer.app = SimpleNamespace(  # type: ignore[assignment]
        batched=frozenset({TOPIC}),
        consumer_generation_id=1,
        topics=SimpleNamespace(acks_enabled_for=lambda topic: True),
    )
    consumer._gap = defaultdict(IntervalTree)
    consumer._acked = defaultdict(list)
    consumer._acked_index = defaultdict(set)
    consumer._read_offset = defaultdict(lambda: None)
    consumer._committed_offset = defaultdict(lambda: None)
    consumer._unacked_messages = set()  # type: ignore[assignment]
    consumer._waiting_for_ack = None
    consumer._n_acked = 0
    consumer._committed_offset[PART] = committed
    consumer._read_offset[PART] = committed
    return consumer


def _fetched(consumer: BatchConsumer, first: int, last: int) -> BatchMessage:
    """A fetched batch as Faust's drain loop hands it on (it then notes the batch's offset as read)."""
    records = [ConsumerRecord(TOPIC, 0, o, 0, 0, b"k", b"v", None, 1, 1, ()) for o in range(first, last + 1)]
    message = consumer._batch(PART, records, consumer.app.consumer_generation_id)
    consumer._read_offset[PART] = message.offset
    return message


def _decided(message: BatchMessage) -> BatchMessage:
    """What the stage does once it has decided the batch."""
    mark_decided(SimpleNamespace(message=message))
    return message


def _commits(consumer: BatchConsumer) -> int | None:
    """The offset the next commit writes for the partition (None: nothing new), as committed."""
    offset = consumer._new_offset(PART)
    if offset is not None:
        consumer._committed_offset[PART] = offset
    return offset


async def _sought_back(consumer: BatchConsumer, committed: int) -> None:
    async def seek_to_committed() -> dict[TP, int]:
        return {PART: committed}

    consumer.seek_to_committed = seek_to_committed  # type: ignore[method-assign]
    await consumer.perform_seek()


def test_acking_a_decided_batch_commits_past_all_its_records() -> None:
    consumer = _consumer()
    assert consumer.ack(_decided(_fetched(consumer, 100, 200)))
    assert _commits(consumer) == 201


def test_batches_acked_in_turn_commit_past_the_last_of_them() -> None:
    consumer = _consumer()
    first, second = _fetched(consumer, 100, 200), _fetched(consumer, 201, 300)
    consumer.ack(_decided(first))
    consumer.ack(_decided(second))
    assert _commits(consumer) == 301


def test_a_batch_the_stream_skipped_is_not_counted_as_processed() -> None:
    consumer = _consumer()
    skipped = _fetched(consumer, 100, 200)
    assert not consumer.ack(skipped)  # what Faust's stream does with a message it skips
    assert _commits(consumer) is None


def test_a_decided_batch_of_an_older_generation_is_not_counted() -> None:
    consumer = _consumer()
    batch = _decided(_fetched(consumer, 100, 200))
    consumer.app.consumer_generation_id = 2
    assert not consumer.ack(batch)
    assert _commits(consumer) is None


def test_a_batch_not_counted_is_no_longer_in_flight() -> None:
    """A rebalance waits for the messages in flight to be acked; one not counted must not hold it."""
    consumer = _consumer()
    batch = _fetched(consumer, 100, 200)
    consumer._unacked_messages.add(batch)
    consumer.ack(batch)
    assert batch not in consumer._unacked_messages


async def test_a_skipped_batch_read_again_in_shorter_batches_commits_only_what_was_decided() -> None:
    consumer = _consumer()
    consumer.ack(_fetched(consumer, 100, 200))
    await _sought_back(consumer, 100)
    consumer.ack(_decided(_fetched(consumer, 100, 150)))
    assert _commits(consumer) == 151
    consumer.ack(_decided(_fetched(consumer, 151, 230)))
    assert _commits(consumer) == 231


async def test_a_batch_decided_before_a_seek_back_and_acked_after_it_counts_only_its_own_records() -> None:
    consumer = _consumer()
    decided = _decided(_fetched(consumer, 100, 200))
    await _sought_back(consumer, 100)
    longer = _fetched(consumer, 100, 260)
    consumer.ack(decided)  # its committer finished after the seek
    assert (_commits(consumer) or 0) <= 201
    consumer.ack(_decided(longer))
    commits = [_commits(consumer), _commits(consumer)]
    assert commits[-1] == 261 and all((c or 0) <= 261 for c in commits)
