"""The worker's partitioner puts every key where Kafka's default partitioner does."""

from __future__ import annotations

import random

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafkas_murmur2
from hypothesis import given
from hypothesis import strategies as st

from streams.partitioner import CachedPartitioner, murmur2


def test_every_key_goes_to_the_partition_kafkas_default_partitioner_chooses() -> None:
    rng = random.Random(3)
    ours, kafkas = CachedPartitioner(remembered=64), DefaultPartitioner()
    for _ in range(5_000):
        key = rng.randbytes(rng.randint(0, 40))
        partitions = list(range(rng.choice([1, 3, 4, 12, 64])))
        assert ours(key, partitions, partitions) == kafkas(key, partitions, partitions)


@given(st.binary(max_size=200))
def test_murmur2_is_aiokafkas(key: bytes) -> None:
    assert murmur2(key) == aiokafkas_murmur2(key)


def test_a_remembered_key_goes_to_the_same_partition_again() -> None:
    ours = CachedPartitioner()
    assert ours(b"grid=HBW-01-01", [0, 1, 2, 3], [0, 1, 2, 3]) == ours(b"grid=HBW-01-01", [0, 1, 2, 3], [])


def test_a_message_without_a_key_goes_to_an_available_partition() -> None:
    assert CachedPartitioner()(None, [0, 1, 2, 3], [2]) == 2
