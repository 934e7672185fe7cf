"""A dead letter always fits, keeps a tombstone a tombstone, and the limits it relies on are checked
at start.

The producer here does what aiokafka's does before queueing a message: it refuses a message with
neither key nor value, and one whose estimated size is over its max_request_size (the worker's
Faust producer: 1,000,000 bytes). A message of 1,000,100 or 1,048,000 bytes passes the broker
(message.max.bytes 1,048,588) and fails the worker's size check; its dead letter had been refused
in turn, which crashed the agent and skipped the message.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeAlias

import faust
import orjson
import pytest
from aiokafka.errors import MessageSizeTooLargeError
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.structs import ConsumerRecord
from faust.types import TP

from rules.dead_letters import DEAD_LETTER_MAX_BYTES, HEADER_ALLOWANCE, REASON_MAX_BYTES, clip, fit
from rules.errors import ConfigError, EventDecodeError
from streams import metrics
from streams.dead_letters import (
    DEAD_LETTER_REQUEST_BYTES,
    check_broker_limit,
    check_producer_limit,
    dead_letter,
)
from streams.detect import DetectStage
from streams.live_rules import LiveRules
from streams.sending import Outgoing
from streams.settings import Settings
from streams.tables import TableStore
from streams.window_codec import WINDOW_CODEC

FAUST_MAX_REQUEST = faust.App("limits-probe").conf.producer_max_request_size
"""What the worker's producer takes: Faust's default, which streams/app.py does not change."""


class LimitedProducer:
    """Checks each message as aiokafka's producer does before queueing it; the broker has it at once."""

    def __init__(self, max_request_size: int = FAUST_MAX_REQUEST):
        self.max_request_size = max_request_size
        self.messages: list[tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]]]] = []

    async def partition(self, topic: str, key: bytes | None) -> int:
        return 0

    async def send(
        self, topic: str, key: bytes | None, value: bytes | None, headers: list[Any], partition: int
    ) -> asyncio.Future[Any]:
        assert not (value is None and key is None), "Need at least one: key or value"
        size = DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, headers)
        if size > self.max_request_size:
            raise MessageSizeTooLargeError(f"The message is {size} bytes when serialized")
        self.messages.append((topic, key, value, headers))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        future.set_result(SimpleNamespace(offset=len(self.messages) - 1))
        return future


Record: TypeAlias = "ConsumerRecord[bytes, bytes]"


def record(value: bytes | None, key: bytes | None = b"dev-1", offset: int = 7) -> Record:
    return ConsumerRecord("t.events.sensor", 2, offset, 0, 0, key, value, None, 0, 0, [])


def counted(family: str, reason: str) -> float:
    return metrics.child(metrics.DEAD_LETTERS, family, reason)._value.get()  # type: ignore[no-any-return]


# ------------------------------------------------------------------------------ the shared core


def test_a_dead_letter_that_fits_keeps_the_original_key_and_bytes() -> None:
    letter = fit(b"k", b"v" * 100, [("h", b"x")])
    assert (letter.key, letter.value, letter.headers) == (b"k", b"v" * 100, [("h", b"x")])


def test_a_larger_original_keeps_its_prefix_with_the_size_and_digest_of_the_whole() -> None:
    raw = bytes(range(256)) * 5000
    letter = fit(b"dev-1", raw, [], max_bytes=1000)
    headers = dict(letter.headers)
    assert letter.key == b"dev-1"
    assert letter.value == raw[:995]
    assert headers["riskstream.dlq.truncated"] == b"true"
    assert headers["riskstream.dlq.size"] == str(len(raw)).encode()
    assert headers["riskstream.dlq.sha256"] == hashlib.sha256(raw).hexdigest().encode()


def test_a_huge_key_is_cut_too_with_its_own_size_and_digest() -> None:
    key = b"k" * 5000
    letter = fit(key, b"v" * 5000, [], max_bytes=1000)
    headers = dict(letter.headers)
    assert letter.key == key[:500] and letter.value == b"v" * 500
    assert headers["riskstream.dlq.key_size"] == b"5000"
    assert headers["riskstream.dlq.key_sha256"] == hashlib.sha256(key).hexdigest().encode()
    assert headers["riskstream.dlq.size"] == b"5000"


def test_a_tombstone_stays_null() -> None:
    assert fit(b"k", None, []).value is None
    assert fit(b"k" * 10, None, [], max_bytes=4).value is None


def test_headers_are_clipped_on_a_character_boundary() -> None:
    clipped = clip("界" * 1000, REASON_MAX_BYTES)
    assert len(clipped) <= REASON_MAX_BYTES
    assert clipped.decode("utf-8") == "界" * (REASON_MAX_BYTES // 3)
    assert clip("\ud800 surrogate", 100).decode("utf-8").endswith("surrogate")


# ------------------------------------------------------------------------------ the worker's


@pytest.mark.parametrize("size", [1_000_100, 1_048_000])
def test_a_message_between_the_producers_and_the_brokers_limit_is_dead_lettered_within_the_request_size(
    size: int,
) -> None:
    raw = b'{"pad": "' + b"x" * (size - 11) + b'"}'
    assert len(raw) == size
    producer = LimitedProducer()
    before = counted("sensor", "too_large")

    async def go() -> None:
        out = Outgoing(producer)
        error = EventDecodeError("too_large", f"payload is {size} bytes, over the 65536-byte limit")
        await dead_letter(out, "t.riskstream.dlq", record(raw), "sensor", error)
        await out.flush()

    asyncio.run(go())
    [(topic, key, value, headers)] = producer.messages
    assert topic == "t.riskstream.dlq" and key == b"dev-1"
    assert value == raw[: DEAD_LETTER_MAX_BYTES - len(key)]
    named = dict(headers)
    assert named["riskstream.dlq.error"] == b"too_large"
    assert named["riskstream.dlq.size"] == str(size).encode()
    assert named["riskstream.dlq.sha256"] == hashlib.sha256(raw).hexdigest().encode()
    assert named["riskstream.dlq.offset"] == b"7"
    assert DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, headers) <= DEAD_LETTER_REQUEST_BYTES
    assert counted("sensor", "too_large") == before + 1


def test_a_tombstone_is_dead_lettered_as_a_null_value_not_empty_bytes() -> None:
    producer = LimitedProducer()

    async def go() -> None:
        out = Outgoing(producer)
        tombstone = EventDecodeError("empty", "tombstone")
        await dead_letter(out, "dlq", record(None, key=b"dev-9"), "sensor", tombstone)
        await dead_letter(out, "dlq", record(b""), "sensor", EventDecodeError("empty", "empty payload"))

    asyncio.run(go())
    (_, key, value, headers), (_, _, empty, _) = producer.messages
    assert (key, value) == (b"dev-9", None)
    assert "riskstream.dlq.null_key" not in dict(headers)
    assert empty == b""


def test_a_tombstone_without_a_key_gets_an_empty_key_and_says_so() -> None:
    """Kafka clients cannot send a record with neither key nor value (aiokafka asserts it)."""
    producer = LimitedProducer()

    async def go() -> None:
        error = EventDecodeError("empty", "x")
        await dead_letter(Outgoing(producer), "dlq", record(None, key=None), "sensor", error)

    asyncio.run(go())
    [(_, key, value, headers)] = producer.messages
    assert (key, value) == (b"", None)
    assert dict(headers)["riskstream.dlq.null_key"] == b"true"


def test_if_the_producer_takes_less_than_checked_the_digest_alone_is_dead_lettered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    producer = LimitedProducer(max_request_size=50_000)
    raw = b"z" * 200_000

    async def go() -> None:
        error = EventDecodeError("too_large", "big")
        await dead_letter(Outgoing(producer), "dlq", record(raw), "sensor", error)

    with caplog.at_level(logging.ERROR, "streams.dead_letters"):
        asyncio.run(go())
    [(_, key, value, headers)] = producer.messages
    assert (key, value) == (b"", b"")
    assert dict(headers)["riskstream.dlq.sha256"] == hashlib.sha256(raw).hexdigest().encode()
    assert dict(headers)["riskstream.dlq.key_sha256"] == hashlib.sha256(b"dev-1").hexdigest().encode()
    assert "digest only" in caplog.text


def test_a_reason_of_any_length_leaves_the_dead_letter_within_its_allowance() -> None:
    producer = LimitedProducer()
    raw = b"x" * 2_000_000
    rec = ConsumerRecord("t" * 249, 2**31 - 1, 2**63 - 1, 0, 0, b"k" * 1000, raw, None, 0, 0, [])

    async def go() -> None:
        error = EventDecodeError("c" * 500, "r" * 100_000)
        await dead_letter(Outgoing(producer), "dlq", rec, "sensor", error)

    asyncio.run(go())
    [(_, key, value, headers)] = producer.messages
    assert sum(len(k) + len(v) for k, v in headers) < HEADER_ALLOWANCE // 2
    assert DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, headers) <= DEAD_LETTER_REQUEST_BYTES


# ------------------------------------------------------------------------------ the detect stage

GAS_PACK = """\
version: 1
pack: gas
rules:
  - id: gas
    title: gas
    risk: public_safety
    on: sensor
    kind: combustible_gas
    when: value >= 20.0
    tier: red
    route: [fire]
"""


class _Table:
    changelog_topic_name = "t-changelog"

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)


def test_the_detect_stage_dead_letters_oversized_and_tombstones_and_goes_on(
    tmp_path: Path, routing_file: Path
) -> None:
    pack = tmp_path / "gas.yaml"
    pack.write_text(GAS_PACK, encoding="utf-8")
    settings = Settings(rules_path=[pack], routing_path=routing_file, topic_prefix="t.")
    producer = LimitedProducer()
    store = TableStore(_Table(), WINDOW_CODEC, "t.events.sensor", producer, 100)  # type: ignore[arg-type]
    stage = DetectStage(settings, producer, store, LiveRules.load(settings))
    good = orjson.dumps({
        "event_id": "g-1", "kind": "combustible_gas", "time": datetime.now(UTC).isoformat(),
        "source_id": "dev-1", "location": {"city": "C"}, "value": 55.0,
    })
    future = orjson.dumps({**orjson.loads(good), "event_id": "f-1", "time": "2999-01-01T00:00:00Z"})
    batch = [
        record(b"x" * 1_000_100, offset=1), record(b"y" * 1_048_000, offset=2), record(None, offset=3),
        record(None, key=None, offset=4), record(future, offset=5), record(good, offset=6),
    ]

    async def go() -> None:
        out = Outgoing(producer)
        await stage.decide(TP("t.events.sensor", 0), batch, out)
        await out.flush()

    asyncio.run(go())
    letters = [(v, dict(hs)) for topic, _, v, hs in producer.messages if topic == "t.riskstream.dlq"]
    assert [h["riskstream.dlq.offset"] for _, h in letters] == [b"1", b"2", b"3", b"4", b"5"]
    errors = [h["riskstream.dlq.error"] for _, h in letters]
    assert errors == [b"too_large", b"too_large", b"empty", b"empty", b"bad_time"]
    assert [h.get("riskstream.dlq.size") for _, h in letters[:2]] == [b"1000100", b"1048000"]
    assert [value for value, _ in letters[2:4]] == [None, None]
    assert letters[4][0] == future
    assert any(topic == "t.riskstream.candidates" for topic, *_ in producer.messages)  # the good one alerted


# ------------------------------------------------------------------------------ checked at start


def test_the_workers_producer_takes_the_largest_dead_letter() -> None:
    check_producer_limit(Settings(), FAUST_MAX_REQUEST)
    assert FAUST_MAX_REQUEST >= DEAD_LETTER_REQUEST_BYTES


def test_a_producer_that_could_not_send_the_largest_dead_letter_is_refused_at_start() -> None:
    with pytest.raises(ConfigError, match=r"sends at most 900,000 bytes a request.*max_request_size"):
        check_producer_limit(Settings(), 900_000)


def test_an_event_limit_over_what_a_dead_letter_keeps_whole_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RISKSTREAM_MAX_EVENT_BYTES", str(DEAD_LETTER_MAX_BYTES + 1))
    with pytest.raises(ValueError, match="the most a dead letter keeps whole"):
        Settings()
    monkeypatch.setenv("RISKSTREAM_MAX_EVENT_BYTES", str(DEAD_LETTER_MAX_BYTES))
    assert Settings().max_event_bytes == DEAD_LETTER_MAX_BYTES


def test_event_time_bounds_come_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISKSTREAM_EARLIEST_EVENT_TIME", "1990-01-01T00:00:00+08:00")
    monkeypatch.setenv("RISKSTREAM_MAX_EVENT_AHEAD", "3600")
    bounds = Settings().time_bounds()
    assert bounds.earliest == datetime(1989, 12, 31, 16, tzinfo=UTC)
    assert bounds.ahead.total_seconds() == 3600


class _Admin:
    def __init__(self, limit: str | None = None, error: int = 0, fail: bool = False):
        self.limit, self.error, self.fail = limit, error, fail

    async def describe_configs(self, resources: list[Any]) -> list[Any]:
        if self.fail:
            raise OSError("no route")
        [resource] = resources
        entries = [] if self.limit is None else [("max.message.bytes", self.limit, False, False, False)]
        message = "denied" if self.error else None
        return [SimpleNamespace(resources=[(self.error, message, 2, resource.name, entries)])]


def test_the_dead_letter_topic_must_take_the_largest_dead_letter() -> None:
    settings = Settings(topic_prefix="t.")
    assert asyncio.run(check_broker_limit(settings, _Admin("1048588"))) == 1_048_588
    with pytest.raises(ConfigError, match=r"topic t.riskstream.dlq takes messages of at most 524,288 bytes"):
        asyncio.run(check_broker_limit(settings, _Admin("524288")))


def test_a_broker_that_does_not_say_its_limit_is_not_a_reason_to_stop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = Settings()
    with caplog.at_level(logging.WARNING, "streams.dead_letters"):
        assert asyncio.run(check_broker_limit(settings, _Admin(fail=True))) is None
        assert asyncio.run(check_broker_limit(settings, _Admin("1", error=29))) is None
    assert caplog.text.count("not checking dead-letter size") == 2
    assert asyncio.run(check_broker_limit(settings, _Admin(None))) is None
