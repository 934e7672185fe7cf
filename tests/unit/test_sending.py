"""A decision's output goes to the producer as one record batch per partition, in send order,
and is awaited once."""

from __future__ import annotations

import asyncio

import pytest

from streams.sending import Outgoing
from tests.unit.broker_fakes import FakeBatches


def _shipped(producer: FakeBatches) -> list[tuple[str, int, list[bytes | None]]]:
    return [(topic, p, [v for _, v in batch.records]) for topic, p, batch in producer.batches]


def test_nothing_reaches_the_producer_until_the_decision_ships() -> None:
    async def run() -> None:
        producer = FakeBatches()
        out = Outgoing(producer)
        await out.send("t", b"k", b"1")
        assert producer.batches == []
        await out.ship()
        assert _shipped(producer) == [("t", 0, [b"1"])]

    asyncio.run(run())


def test_messages_go_in_one_batch_per_partition_in_the_order_sent() -> None:
    async def run() -> None:
        producer = FakeBatches(partitions=2)
        out = Outgoing(producer)
        for key, value in [(b"\x00", b"a"), (b"\x01", b"b"), (b"\x00", b"c"), (b"x", b"d")]:
            await out.send("t", key, value)
        await out.send("u", None, b"e", partition=1)
        await out.ship()
        assert _shipped(producer) == [("t", 0, [b"a", b"c", b"d"]), ("t", 1, [b"b"]), ("u", 1, [b"e"])]
        assert len(out) == 5

    asyncio.run(run())


def test_a_full_batch_is_sent_and_the_partition_goes_on_in_a_new_one() -> None:
    async def run() -> None:
        producer = FakeBatches(capacity=2)
        out = Outgoing(producer)
        for value in (b"1", b"2", b"3"):
            await out.send("t", None, value)
        assert _shipped(producer) == [("t", 0, [b"1", b"2"])]
        await out.ship()
        assert _shipped(producer) == [("t", 0, [b"1", b"2"]), ("t", 0, [b"3"])]
        assert out.last_batch_size == 1

    asyncio.run(run())


def test_flush_waits_for_every_batch_and_raises_if_one_was_refused() -> None:
    async def run() -> None:
        producer = FakeBatches(capacity=1)
        out = Outgoing(producer)
        await out.send("t", None, b"1")
        await out.send("t", None, b"2")
        flushing = asyncio.create_task(out.flush())
        await asyncio.sleep(0.01)
        producer.sent[0].set_result(None)
        await asyncio.sleep(0.01)
        assert not flushing.done()
        producer.sent[1].set_exception(RuntimeError("broker refused"))
        with pytest.raises(RuntimeError, match="broker refused"):
            await flushing

    asyncio.run(run())
