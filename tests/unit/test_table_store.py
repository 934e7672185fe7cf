"""The table store hands out decoded values, and writes changes in snapshots: a snapshot taken and
not yet written is what reads see, so later decisions build on it while its output is in flight."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from streams.tables import Codec, TableStore
from tests.unit.broker_fakes import FakeProducer

CODEC: Codec[dict[str, Any]] = Codec(
    lambda partition, value: orjson.dumps({"p": partition, "v": value}),
    lambda raw: (orjson.loads(raw)["p"], orjson.loads(raw)["v"]),
)


class _Data(dict[bytes, bytes]):
    persisted: dict[Any, int]

    def set_persisted_offset(self, tp: Any, offset: int) -> None:
        self.persisted = {**getattr(self, "persisted", {}), tp: offset}


class _Table:
    changelog_topic_name = "t-changelog"

    def __init__(self) -> None:
        self.data = _Data()

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)


class _AckingProducer(FakeProducer):
    """The broker has each changelog record at once, at the next offset."""

    async def send(
        self, topic: str, key: bytes | None, value: bytes | None, headers: list[Any], partition: int
    ) -> asyncio.Future[Any]:
        future = await super().send(topic, key, value, headers, partition)
        future.set_result(SimpleNamespace(offset=len(self.sent) - 1))
        return future


def _store(
    cache_limit: int | None = None, producer: FakeProducer | None = None
) -> tuple[TableStore[dict[str, Any]], _Table, FakeProducer]:
    table, producer = _Table(), producer or _AckingProducer()
    return TableStore(table, CODEC, "in", producer, cache_limit), table, producer  # type: ignore[arg-type]


def test_nothing_reaches_the_table_or_changelog_until_the_snapshot_is_written() -> None:
    store, table, producer = _store()
    store.partition = 1
    store["g"] = {"n": 1}
    snap = store.snapshot()
    assert table.data == {} and producer.records == []
    asyncio.run(store.write(snap))
    assert CODEC.decode(table.data[b"g"]) == (1, {"n": 1})
    assert producer.records == [(b"g", table.data[b"g"])]


def test_the_local_store_is_written_only_once_the_broker_has_the_changelog() -> None:
    """A worker killed in between must find its local store behind the changelog, never ahead."""
    seen: list[str] = []

    async def run() -> None:
        store, table, producer = _store(producer=FakeProducer())
        store.partition = 0
        store["a"], store["b"] = {"n": 1}, {"n": 2}
        writing = asyncio.create_task(store.write(store.snapshot(), lambda: seen.append("changelogged")))
        await asyncio.sleep(0.01)
        assert len(producer.records) == 2, "the changelog records are sent"
        assert table.data == {} and seen == [], "and the local store waits for the broker"
        producer.sent[0].set_result(SimpleNamespace(offset=5))
        await asyncio.sleep(0.01)
        assert table.data == {}, "every record of the snapshot, not only the first"
        producer.sent[1].set_result(SimpleNamespace(offset=6))
        assert await writing == 2
        assert seen == ["changelogged"]
        assert set(table.data) == {b"a", b"b"}
        assert store["a"] == {"n": 1}

    asyncio.run(run())


def test_a_changelog_the_broker_refuses_leaves_the_local_store_untouched() -> None:
    async def run() -> None:
        store, table, producer = _store(producer=FakeProducer())
        store.partition = 0
        store["a"] = {"n": 1}
        writing = asyncio.create_task(store.write(store.snapshot()))
        await asyncio.sleep(0.01)
        producer.sent[0].set_exception(RuntimeError("broker refused"))
        with pytest.raises(RuntimeError):
            await writing
        assert table.data == {}
        assert not hasattr(table.data, "persisted")

    asyncio.run(run())


def test_a_value_evicted_before_its_snapshot_is_written_is_read_from_the_snapshot() -> None:
    store, table, _ = _store(cache_limit=1)
    store.partition = 0
    store["a"] = {"n": 1}
    store["b"] = {"n": 2}
    snap = store.snapshot()  # the cache keeps one value: "a" is evicted
    assert store["a"] == {"n": 1}
    assert b"a" not in table.data
    asyncio.run(store.write(snap))
    assert store["a"] == {"n": 1}


def test_a_deletion_in_a_snapshot_not_yet_written_already_reads_as_absent() -> None:
    store, table, _ = _store(cache_limit=1)
    store.partition = 0
    store["a"] = {"n": 1}
    asyncio.run(store.write(store.snapshot()))
    del store["a"]
    deleted = store.snapshot()
    assert b"a" in table.data
    assert "a" not in store
    asyncio.run(store.write(deleted))
    assert b"a" not in table.data


def test_an_older_snapshot_written_late_does_not_hide_a_newer_one() -> None:
    store, _, _ = _store(cache_limit=1)
    store.partition = 0
    store["a"] = {"n": 1}
    first = store.snapshot()
    store["a"] = {"n": 2}
    second = store.snapshot()
    store["b"] = {"n": 0}
    store.snapshot()  # evicts "a" from the cache
    asyncio.run(store.write(first))
    assert store["a"] == {"n": 2}
    asyncio.run(store.write(second))
    assert store["a"] == {"n": 2}


def test_the_store_notes_the_offset_of_a_partitions_last_changelog_record_once_the_broker_has_it() -> None:
    async def run() -> None:
        store, table, producer = _store(producer=FakeProducer())
        store.partition = 2
        for key in ("a", "b", "c"):
            store[key] = {"n": 1}
        writing = asyncio.create_task(store.write(store.snapshot()))
        await asyncio.sleep(0.01)
        assert not hasattr(table.data, "persisted")
        for offset, future in enumerate(producer.sent, start=10):
            future.set_result(SimpleNamespace(offset=offset))
        await writing
        assert list(table.data.persisted.values()) == [12]

    asyncio.run(run())


def test_a_key_not_held_reads_as_the_default_and_raises_on_indexing() -> None:
    store, _, _ = _store()
    assert store.get("missing") is None and store.get("missing", 7) == 7
    with pytest.raises(KeyError):
        store["missing"]
