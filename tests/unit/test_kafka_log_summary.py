"""Repeated Kafka client errors are summarised, one line per interval with a count; nothing else
is touched."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from connectors import kafka_log_summary
from connectors.kafka_log_summary import KAFKA_CLIENT_LOGGERS, RepeatSummary


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def summary(clock: Clock) -> Iterator[RepeatSummary]:
    """A filter with a 10 s interval on the two loggers a broker outage floods, removed afterwards."""
    f = RepeatSummary(10.0, clock=clock)
    loggers = [logging.getLogger(n) for n in ("aiokafka", "aiokafka.consumer.group_coordinator")]
    for lg in loggers:
        lg.addFilter(f)
    yield f
    for lg in loggers:
        lg.removeFilter(f)


CLIENT = logging.getLogger("aiokafka")
COORDINATOR = logging.getLogger("aiokafka.consumer.group_coordinator")


def connect_error(node: int = 1) -> None:
    CLIENT.error("Unable connect to node with id %s: %s", node, "[Errno 111] Connect call failed")


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records]


def test_the_first_passes_and_repeats_within_the_interval_are_counted_not_logged(
    summary: RepeatSummary, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for i in range(3300):
        clock.now = i / 330  # 3,300 lines over 10 s, as during the outage
        connect_error(node=i % 3)
    assert messages(caplog) == ["Unable connect to node with id 0: [Errno 111] Connect call failed"]
    assert summary.suppressed_total == 3299


def test_each_interval_ends_in_one_line_with_its_count_and_the_last_message(
    summary: RepeatSummary, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for t in range(0, 2000):  # 20 s of outage, 100 a second
        clock.now = t / 100
        connect_error(node=t % 2)
        CLIENT.error("Unable to update metadata from %s", [1])
    clock.now = 20.0
    summary.flush()
    lines = messages(caplog)
    assert lines == [
        "Unable connect to node with id 0: [Errno 111] Connect call failed",
        "Unable to update metadata from [1]",
        "Unable connect to node with id 1: [Errno 111] Connect call failed "
        "(repeated 999 more time(s) in the last 10 s, not logged one by one)",
        "Unable to update metadata from [1] "
        "(repeated 999 more time(s) in the last 10 s, not logged one by one)",
        "Unable connect to node with id 1: [Errno 111] Connect call failed "
        "(repeated 1000 more time(s) in the last 10 s, not logged one by one)",
        "Unable to update metadata from [1] "
        "(repeated 1000 more time(s) in the last 10 s, not logged one by one)",
    ]
    assert {r.levelno for r in caplog.records} == {logging.ERROR}
    assert {r.name for r in caplog.records} == {"aiokafka"}


def test_after_a_quiet_interval_the_next_error_passes_as_it_is_again(
    summary: RepeatSummary, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    connect_error()
    connect_error()
    clock.now = 10.0
    summary.flush()  # one summary line; the next interval counts on
    clock.now = 20.0
    summary.flush()  # nothing came in it: the run ends, without a line
    clock.now = 300.0
    connect_error(node=2)
    assert messages(caplog) == [
        "Unable connect to node with id 1: [Errno 111] Connect call failed",
        "Unable connect to node with id 1: [Errno 111] Connect call failed "
        "(repeated 1 more time(s) in the last 10 s, not logged one by one)",
        "Unable connect to node with id 2: [Errno 111] Connect call failed",
    ]


def test_a_single_error_is_never_summarised(
    summary: RepeatSummary, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    connect_error()
    clock.now = 60.0
    assert summary.flush() == 0
    assert len(caplog.records) == 1


def test_other_records_are_untouched(
    summary: RepeatSummary, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """Below WARNING, other loggers, and different messages of the same logger all pass."""
    caplog.set_level(logging.DEBUG)
    own = logging.getLogger("streams.stage")
    for _ in range(5):
        CLIENT.debug("Sending metadata request %s to node %s", "MetadataRequest", 1)
        CLIENT.info("Closing connection at %s", "127.0.0.1:9092")
        own.error("the dispatch stage could not deliver its output")
        logging.getLogger("aiokafka.producer.sender").error("not filtered here: %s", "x")
    COORDINATOR.error("Heartbeat failed: %r", "RequestTimedOutError")
    COORDINATOR.warning("Heartbeat failed: %r", "RequestTimedOutError")  # another level: another kind
    CLIENT.error("Unable to update metadata from %s", [1])
    assert len(caplog.records) == 5 * 4 + 3
    assert summary.suppressed_total == 0


def test_the_same_message_on_another_logger_is_another_kind(
    summary: RepeatSummary, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    CLIENT.error("Failed fetch messages from %s: %s", 1, "timeout")
    COORDINATOR.error("Failed fetch messages from %s: %s", 1, "timeout")
    CLIENT.error("Failed fetch messages from %s: %s", 1, "timeout")
    assert [r.name for r in caplog.records] == ["aiokafka", "aiokafka.consumer.group_coordinator"]


def test_install_puts_one_filter_on_every_client_logger_and_uninstall_flushes_and_removes_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    try:
        first = kafka_log_summary.install(interval=60.0)
        installed = kafka_log_summary.install(interval=60.0)  # again: replaces, never doubles
        for name in KAFKA_CLIENT_LOGGERS:
            filters = logging.getLogger(name).filters
            assert installed in filters and first not in filters, name
        for _ in range(4):
            connect_error()
        kafka_log_summary.flush_installed()  # the interval is not over: nothing yet
        assert len(caplog.records) == 1
    finally:
        kafka_log_summary.uninstall()
    assert caplog.records[-1].getMessage().endswith(
        "(repeated 3 more time(s) in the last 0 s, not logged one by one)"
    )
    assert all(installed not in logging.getLogger(n).filters for n in KAFKA_CLIENT_LOGGERS)
    connect_error()
    connect_error()
    assert len(caplog.records) == 4
