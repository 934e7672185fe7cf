"""Kafka's default partitioning (murmur2 of the key), with recent keys' hashes remembered.

aiokafka computes murmur2 in pure Python, about 5 µs a key, and a worker hashes the key of every
hit and candidate it sends; group keys and fingerprints repeat, so most hashes are looked up.
The partition is exactly aiokafka's ``DefaultPartitioner``'s, so topics stay co-partitioned with
what any Kafka client writes.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from functools import lru_cache

from aiokafka.partitioner import murmur2

REMEMBERED_KEYS = 1 << 17


class CachedPartitioner:
    def __init__(self, remembered: int = REMEMBERED_KEYS):
        self._hash = lru_cache(maxsize=remembered)(murmur2)

    def __call__(self, key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]) -> int:
        if key is None:
            return random.choice(available or all_partitions)
        digest: int = self._hash(key)
        return all_partitions[(digest & 0x7FFFFFFF) % len(all_partitions)]
