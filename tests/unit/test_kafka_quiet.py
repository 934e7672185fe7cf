"""aiokafka's topic-creation retries stay off the terminal, and only while topics are being set up."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from connectors.kafka_quiet import TOPIC_SETUP_LOGGERS, await_leaders, quiet_topic_setup


@pytest.fixture()
def levels() -> Iterator[None]:
    """Give the muted loggers distinct levels (one unset, so it follows "aiokafka", which a
    connector may have raised in this process), and put the originals back afterwards."""
    loggers = [logging.getLogger(n) for n in ("aiokafka", *TOPIC_SETUP_LOGGERS)]
    saved = [lg.level for lg in loggers]
    wanted = (logging.NOTSET, logging.NOTSET, logging.INFO, logging.WARNING)
    for lg, level in zip(loggers, wanted, strict=True):
        lg.setLevel(level)
    yield
    for lg, level in zip(loggers, saved, strict=True):
        lg.setLevel(level)


def log_each(level: int, tag: str) -> None:
    logging.getLogger("aiokafka.cluster").log(level, "Topic %s not found in cluster metadata", tag)
    logging.getLogger("aiokafka.producer.sender").log(
        level, "Got error produce response on topic-partition %s, retrying. Error: %s", tag,
        "NotLeaderForPartitionError",
    )
    logging.getLogger("aiokafka.consumer.fetcher").log(level, "unknown topic or partition %s", tag)


def test_the_loggers_get_their_own_levels_back(levels: None) -> None:
    with quiet_topic_setup():
        assert all(logging.getLogger(n).level == logging.CRITICAL for n in TOPIC_SETUP_LOGGERS)
    assert [logging.getLogger(n).level for n in TOPIC_SETUP_LOGGERS] == [
        logging.NOTSET, logging.INFO, logging.WARNING
    ]


def test_levels_come_back_when_the_block_raises(levels: None) -> None:
    with pytest.raises(RuntimeError), quiet_topic_setup():
        raise RuntimeError("create_topics failed")
    assert logging.getLogger("aiokafka.producer.sender").level == logging.INFO


def test_records_below_critical_are_suppressed_inside_only(
    levels: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with quiet_topic_setup():
        for level in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR):
            log_each(level, "inside")
        log_each(logging.CRITICAL, "critical")
    log_each(logging.ERROR, "after")
    inside = [r for r in caplog.records if "inside" in r.getMessage()]
    critical = {r.name for r in caplog.records if "critical" in r.getMessage()}
    after = {r.name for r in caplog.records if "after" in r.getMessage()}
    assert inside == []
    assert critical == after == set(TOPIC_SETUP_LOGGERS)


def test_other_aiokafka_loggers_are_not_muted(levels: None, caplog: pytest.LogCaptureFixture) -> None:
    """Connection errors (the "aiokafka" logger) and riskstream's own stay visible."""
    caplog.set_level(logging.DEBUG)
    with quiet_topic_setup():
        logging.getLogger("aiokafka").error("Unable connect to node")
        logging.getLogger("riskstream.simulator").warning("own")
    assert [r.getMessage() for r in caplog.records] == ["Unable connect to node", "own"]


def test_overlapping_blocks_unmute_only_when_the_last_one_ends(levels: None) -> None:
    """Two tasks creating topics at once: the first to finish must not unmute the other's, nor
    may the second leave the loggers muted for good by saving the first one's CRITICAL."""
    sender = logging.getLogger("aiokafka.producer.sender")
    first, second = quiet_topic_setup(), quiet_topic_setup()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert sender.level == logging.CRITICAL
    second.__exit__(None, None, None)
    assert sender.level == logging.INFO


class FakeAdmin:
    """describe_topics answers: partitions without a leader for a few calls, then led."""

    def __init__(self, unled_calls: int, fail_first: bool = False) -> None:
        self.calls = 0
        self.unled_calls = unled_calls
        self.fail_first = fail_first

    async def describe_topics(self, topics: list[str]) -> list[dict[str, Any]]:
        self.calls += 1
        if self.fail_first and self.calls == 1:
            raise ConnectionError("metadata hiccup")
        leader = -1 if self.calls <= self.unled_calls else 1
        return [
            {"topic": t, "error_code": 0, "partitions": [
                {"partition": p, "leader": leader, "error_code": 5 if leader < 0 else 0} for p in range(4)
            ]}
            for t in topics
        ]


def test_await_leaders_waits_until_every_partition_has_one() -> None:
    admin = FakeAdmin(unled_calls=2, fail_first=True)
    assert asyncio.run(await_leaders(admin, ["a", "b"], timeout=5.0)) is True
    assert admin.calls == 3


def test_await_leaders_gives_up_after_the_timeout() -> None:
    admin = FakeAdmin(unled_calls=10**6)
    assert asyncio.run(await_leaders(admin, ["a"], timeout=0.25)) is False


def test_await_leaders_has_nothing_to_wait_for_without_topics() -> None:
    admin = FakeAdmin(unled_calls=10**6)
    assert asyncio.run(await_leaders(admin, [])) is True
    assert admin.calls == 0
