"""Stage state in Faust tables, decoded in memory and written once per batch.

A stage decides a batch on decoded state held by the worker that owns its partitions, then writes
each key it changed once, after the batch's output has reached the broker: one changelog record,
and once the broker has those, the local store (RocksDB or memory). No state is durable ahead of
the notices it implies, the local store never holds what its changelog lacks, and the input is
acked only after both. Values carry the partition they belong to, so state changed by the clock
(outside any batch) is written to the right one.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import faust
from faust.streams import _current_event
from faust.types import TP

from streams.sending import Producer

V = TypeVar("V")


@dataclass(frozen=True)
class Codec(Generic[V]):
    """How a stage's values are written: ``encode(partition, value)`` and ``decode(raw)``."""

    encode: Callable[[int, V], bytes]
    decode: Callable[[bytes], tuple[int, V]]


class _Message:
    __slots__ = ("partition", "topic")

    def __init__(self, topic: str, partition: int):
        self.topic = topic
        self.partition = partition


class _PartitionScope:
    """Stands in for the event a Faust table takes its partition from."""

    __slots__ = ("__weakref__", "message")

    def __init__(self, topic: str, partition: int):
        self.message = _Message(topic, partition)


@contextlib.contextmanager
def in_partition(topic: str, partition: int) -> Iterator[None]:
    """Table writes inside go to ``partition`` (Faust reads it from the current event)."""
    scope = _PartitionScope(topic, partition)
    token = _current_event.set(weakref.ref(scope))  # type: ignore[arg-type]
    try:
        yield
    finally:
        _current_event.reset(token)


_NOTHING = object()


class Snapshot:
    """Changed keys' encoded values (None: deleted), by partition, as ``TableStore.snapshot`` took them."""

    def __init__(self) -> None:
        self.values: dict[str, bytes | None] = {}
        self.by_partition: dict[int, list[tuple[str, bytes | None]]] = {}

    def add(self, partition: int, key: str, value: bytes | None) -> None:
        self.values[key] = value
        self.by_partition.setdefault(partition, []).append((key, value))


class TableStore(MutableMapping[str, V]):
    """A table's values by key, decoded on first use and written back by ``snapshot`` and ``write``.

    ``partition`` is the partition of the batch being processed: a new key belongs to it. At most
    ``cache_limit`` clean values stay decoded (None: all); the rest are read again when needed.
    """

    def __init__(
        self,
        table: faust.Table[bytes, bytes],
        codec: Codec[V],
        source_topic: str,
        producer: Producer,
        cache_limit: int | None = None,
    ):
        self.table = table
        self.producer = producer
        self.codec = codec
        self.source_topic = source_topic
        self.cache_limit = cache_limit
        self.partition: int | None = None
        self._cache: OrderedDict[str, V] = OrderedDict()
        self._where: dict[str, int] = {}
        self._dirty: set[str] = set()
        self._gone: set[str] = set()
        self._pending: dict[str, bytes | None] = {}
        """Snapshots taken and not yet written (None: deleted): what reads see before the table."""
        self._complete = False
        """Every key held is decoded here (recovered whole, nothing evicted): a miss means absent."""
        self.count = 0
        """Keys held (kept by the stage's own changes; recounted by ``load_all``)."""

    # -- MutableMapping ---------------------------------------------------------------------------

    def __getitem__(self, key: str) -> V:
        value: V | None = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def get(self, key: str, default: Any = None) -> Any:  # Mapping.get, for any default
        """The value, or ``default``; the windows look up groups they mostly do not hold yet, and
        a KeyError raised and caught for each (``Mapping.get``) was a twentieth of a worker."""
        value = self._cache.get(key)
        if value is not None:
            if self.cache_limit is not None:
                self._cache.move_to_end(key)
            return value
        if key in self._gone or self._complete:
            return default
        raw = self._pending[key] if key in self._pending else self.table.get(key.encode())
        if raw is None:
            return default
        partition, value = self.codec.decode(raw)
        self._remember(key, value, partition)
        return value

    def __setitem__(self, key: str, value: V) -> None:
        if key not in self._cache:
            self.count += 1
            if key not in self._where:
                if self.partition is None:
                    raise RuntimeError(f"no partition for new key {key!r} outside a batch")
                self._where[key] = self.partition
        self._cache[key] = value
        self._dirty.add(key)
        self._gone.discard(key)

    def __delitem__(self, key: str) -> None:
        if key not in self._cache:
            self[key]  # raises KeyError if it is not held at all
        del self._cache[key]
        self.count -= 1
        self._dirty.discard(key)
        self._gone.add(key)

    def __iter__(self) -> Iterator[str]:
        """Keys decoded in memory (not every key held: see ``keys_held``)."""
        return iter(list(self._cache))

    def __len__(self) -> int:
        return self.count

    # -- writing ----------------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """The changed keys' values as they are now, encoded, to be written by ``write`` once the
        output of the decisions that changed them is on the broker. Until then reads see them here,
        so later decisions go on from them while the earlier ones are still being sent."""
        snap = Snapshot()
        if not self._dirty and not self._gone:
            return snap
        encode, cache = self.codec.encode, self._cache
        for key in self._dirty:
            partition = self._where[key]
            snap.add(partition, key, encode(partition, cache[key]))
        for key in self._gone:
            snap.add(self._where.pop(key), key, None)
        self._pending.update(snap.values)
        self._dirty.clear()
        self._gone.clear()
        self._trim()
        return snap

    async def write(self, snap: Snapshot, changelogged: Callable[[], None] | None = None) -> int:
        """A snapshot into the changelog and then into its partitions of the local store.

        The changelog first, and the local store (RocksDB) only once the broker has every record
        of the snapshot (``changelogged`` is called in between: a crash point for tests). A worker
        killed in between finds its store behind the changelog, and Faust's recovery (which reads
        the changelog from the offset the store last noted) brings it level. Written the other way
        round, a worker killed after the local write and before the changelog reached the broker
        restarted with state no changelog held: its replayed input found that state and was taken
        as done already, so the changelog never got it, and whoever owned the partition next
        (after a rebalance, or from an empty disk) did not have it.

        Changelog records go straight to the producer (Faust's own path queues each in a buffer
        drained one at a time). Raises if the broker refuses any: the committer then stops the
        worker before acking anything.
        """
        store, topic, pending = self.table.data, self.table.changelog_topic_name, self._pending
        sent: list[Awaitable[Any]] = []
        last: dict[int, int] = {}
        for partition, items in snap.by_partition.items():
            for key, value in items:
                sent.append(await self.producer.send(topic, key.encode(), value, [], partition))
            last[partition] = len(sent) - 1
        acked = await asyncio.gather(*sent) if sent else []
        if changelogged is not None:
            changelogged()
        for partition, items in snap.by_partition.items():
            with in_partition(self.source_topic, partition):
                for key, value in items:
                    raw_key = key.encode()
                    if value is None:
                        with contextlib.suppress(KeyError):
                            del store[raw_key]
                    else:
                        store[raw_key] = value
        for partition, i in last.items():
            # The store notes the partition's last changelog offset: a restart reads on from there.
            store.set_persisted_offset(TP(topic, partition), acked[i].offset)
        for key, value in snap.values.items():
            if pending.get(key, _NOTHING) is value:
                del pending[key]
        return len(snap.values)

    @property
    def dirty(self) -> bool:
        return bool(self._dirty or self._gone or self._pending)

    # -- after recovery ---------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget what is decoded (the partitions owned changed); nothing may be unwritten."""
        assert not self.dirty, "state changed and not flushed before a rebalance"
        self._cache.clear()
        self._where.clear()
        self._complete = False
        self.count = 0

    def load_all(self) -> Iterator[tuple[str, V]]:
        """Every key the owned partitions hold, decoded (as many kept decoded as the cache takes)."""
        self.reset()
        for raw_key, raw in self.table.items():
            key = raw_key.decode() if isinstance(raw_key, bytes) else str(raw_key)
            partition, value = self.codec.decode(raw)
            self.count += 1
            if self.cache_limit is None or len(self._cache) < self.cache_limit:
                self._remember(key, value, partition)
            yield key, value
        self._complete = len(self._cache) == self.count

    def keys_held(self) -> Iterator[str]:
        """Every key the owned partitions hold, straight from the table, lazily (for sweeps)."""
        for raw_key in self.table:
            yield raw_key.decode() if isinstance(raw_key, bytes) else str(raw_key)

    # -- inside -----------------------------------------------------------------------------------

    def _remember(self, key: str, value: V, partition: int) -> None:
        self._cache[key] = value
        self._where[key] = partition

    def _trim(self) -> None:
        """Forget the least recently used decoded values over the limit (none is dirty: each is
        written, or in a snapshot that reads see)."""
        if self.cache_limit is None:
            return
        while len(self._cache) > self.cache_limit:
            key, _ = self._cache.popitem(last=False)
            self._where.pop(key, None)
            self._complete = False


def raw_table(app: faust.App, name: str, partitions: int, **options: Any) -> faust.Table[bytes, bytes]:
    """A table of bytes keyed by bytes: its stage encodes and decodes values itself."""
    table: faust.Table[bytes, bytes] = app.Table(  # type: ignore[assignment]
        name,
        default=None,
        partitions=partitions,
        key_type=bytes,
        value_type=bytes,
        schema=faust.Schema(key_serializer="raw", value_serializer="raw"),
        options=options or None,
    )
    return table
