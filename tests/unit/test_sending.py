"""A decision's output is queued at once, to the key's partition, and awaited together."""

from __future__ import annotations

import asyncio

import pytest

from streams.sending import Outgoing
from tests.unit.broker_fakes import FakeProducer


def test_messages_go_to_their_keys_partitions_in_the_order_sent() -> None:
    async def run() -> None:
        producer = FakeProducer(partitions=2)
        out = Outgoing(producer)
        for key, value in [(b"\x00", b"a"), (b"\x01", b"b"), (b"\x00", b"c")]:
            await out.send("t", key, value)
        await out.send("u", b"\x01", b"d")
        assert [(t, p, v) for t, p, _, v in producer.messages] == [
            ("t", 0, b"a"),
            ("t", 1, b"b"),
            ("t", 0, b"c"),
            ("u", 1, b"d"),
        ]
        assert len(out) == 4

    asyncio.run(run())


def test_flush_waits_for_every_message_and_raises_if_one_was_refused() -> None:
    async def run() -> None:
        producer = FakeProducer()
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
