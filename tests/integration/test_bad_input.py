"""Bad input at scale on a real broker: a few thousand generated messages of every kind of wrong, mixed
into valid ones, and messages between the producer's and the broker's size limits.

Every bad message lands in the dead-letter topic with its key, its original bytes (a tombstone's
null included) and its reason; the metrics agree with the topic's contents; the worker keeps
running and alerting. The mix is the unit fuzz test's (tests/unit/test_decoding_fuzz.py), drawn by
Hypothesis, minus the blind byte flips whose outcome is not known in advance.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import ConsumerRecord
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from rules.dead_letters import DEAD_LETTER_MAX_BYTES
from rules.events import Family
from tests.integration.harness import Worker, consume, make_worker, produce
from tests.unit.test_decoding_fuzz import BAD_OPS, VALID_OPS, Mutator, Pools, events, pools

GAS_PACK = """
version: 1
pack: it-bad-input
rules:
  - id: it-bad-input-gas
    title: gas
    risk: public_safety
    on: sensor
    kind: combustible_gas
    when: value >= 20.0 && source_id == 'AFTER-1'
    tier: red
    route: [fire]
"""

DRAWS_PER_FAMILY = 3
PER_DRAW = 250
BIG = (1_000_100, 1_048_000)
"""Over Faust's producer limit (1,000,000) and under the broker's message.max.bytes (1,048,588)."""


@dataclass
class Sent:
    """What was produced, by key: the message, and the categories it must be refused with
    (empty: valid)."""

    messages: dict[bytes, tuple[str, bytes | None, frozenset[str]]] = field(default_factory=dict)

    def bad(self) -> dict[bytes, tuple[str, bytes | None, frozenset[str]]]:
        return {k: m for k, m in self.messages.items() if m[2]}


def mix(prefix: str) -> Sent:
    """DRAWS_PER_FAMILY x PER_DRAW messages of each family: Hypothesis draws the events and junk,
    the unit test's mutations make each into valid and bad messages of known outcome."""
    sent = Sent()
    ops = [*VALID_OPS, *BAD_OPS, *BAD_OPS]
    now = datetime.now(UTC)
    for family in Family:

        @settings(
            max_examples=DRAWS_PER_FAMILY, deadline=None, derandomize=True, database=None,
            phases=[Phase.generate], suppress_health_check=list(HealthCheck),
        )
        @given(case=events((family,)), junk=pools, seed=st.integers(0, 2**32 - 1))
        def draw(case: tuple[Family, dict[str, Any]], junk: Pools, seed: int) -> None:
            family, event = case
            mutator = Mutator(family, event, junk, random.Random(seed), now)
            for i in range(PER_DRAW):
                raw, expected, max_bytes = ops[i % len(ops)](mutator)
                if max_bytes != 64 * 1024:  # a limit of its own: the unit test checks those
                    continue
                assert expected is not None
                key = f"m-{len(sent.messages)}".encode()
                sent.messages[key] = (f"{prefix}events.{family.value}", raw, expected)

        draw()
    return sent


def after(event_id: str) -> dict[str, object]:
    return {
        "event_id": event_id, "kind": "combustible_gas", "time": datetime.now(UTC).isoformat(),
        "source_id": "AFTER-1", "location": {"city": "乌海市"}, "value": 60.0,
    }


@pytest.fixture(scope="module")
def worker(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    tmp: Path = tmp_path_factory.mktemp("bad-input")
    (tmp / "pack.yaml").write_text(GAS_PACK, encoding="utf-8")
    w = make_worker(bootstrap, tmp, "bad-input", RISKSTREAM_RULES_PATH=str(tmp / "pack.yaml")).start()
    yield w
    w.stop()


@pytest.fixture(scope="module")
def sent(worker: Worker) -> Sent:
    s = mix(worker.prefix)
    records: list[Any] = [(topic, key, raw) for key, (topic, raw, _) in s.messages.items()]
    produce(worker.bootstrap, records)  # some values are None: tombstones
    return s


def dead_letters(
    worker: Worker, done: Any, timeout: float = 90, settle: float = 0
) -> dict[bytes, ConsumerRecord[bytes, bytes]]:
    records = consume(worker.bootstrap, [f"{worker.prefix}riskstream.dlq"], done, timeout, settle)
    return {r.key: r for r in records if r.key is not None}


def test_every_bad_message_of_a_generated_mix_is_dead_lettered_with_its_reason(
    worker: Worker, sent: Sent
) -> None:
    bad = sent.bad()
    assert len(bad) >= 2000 and len(sent.messages) - len(bad) >= 300
    letters = dead_letters(worker, lambda r: len(r) >= len(bad))
    missing = sorted(set(bad) - set(letters))
    assert not missing, f"{len(missing)} bad messages not dead-lettered, e.g. {missing[:5]}"
    valid_dead = sorted(k for k in letters if k in sent.messages and not sent.messages[k][2])
    assert not valid_dead, f"valid messages dead-lettered: {valid_dead[:5]}"
    for key, (topic, raw, expected) in bad.items():
        letter = letters[key]
        headers = dict(letter.headers)
        assert headers["riskstream.dlq.error"].decode() in expected, (key, headers)
        assert headers["riskstream.dlq.reason"], key
        assert headers["riskstream.dlq.topic"].decode() == topic
        assert letter.value == raw, key  # a tombstone's null included


def test_the_metrics_agree_with_the_dead_letter_topic(worker: Worker, sent: Sent) -> None:
    bad = sent.bad()
    valid = len(sent.messages) - len(bad)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if worker.metric("riskstream_events_total", outcome="valid") >= valid and worker.metric(
            "riskstream_events_total", outcome="dead_letter"
        ) >= len(bad):
            break
        time.sleep(1)
    letters = dead_letters(worker, lambda r: len(r) >= len(bad), timeout=30, settle=2)
    assert worker.metric("riskstream_events_total", outcome="valid") == valid
    assert worker.metric("riskstream_events_total", outcome="dead_letter") == len(letters)
    by_reason = Counter(dict(r.headers)["riskstream.dlq.error"].decode() for r in letters.values())
    for reason, count in by_reason.items():
        assert worker.metric("riskstream_dead_letters_total", reason=reason) == count, reason
    by_family = Counter(
        dict(r.headers)["riskstream.dlq.topic"].decode().rsplit(".", 1)[1] for r in letters.values()
    )
    for family, count in by_family.items():
        assert worker.metric("riskstream_dead_letters_total", family=family) == count, family
    assert worker.running


def test_messages_over_the_producers_limit_are_dead_lettered_promptly_and_the_stream_goes_on(
    worker: Worker, sent: Sent
) -> None:
    topic = f"{worker.prefix}events.sensor"
    big = {f"big-{size}".encode(): b"{" + b" " * (size - 2) + b"}" for size in BIG}
    assert [len(v) for v in big.values()] == list(BIG)
    produced = time.monotonic()
    produce(worker.bootstrap, [(topic, key, raw) for key, raw in big.items()])
    produce(worker.bootstrap, [(topic, b"AFTER-1", orjson.dumps(after("after-big")))])
    letters = dead_letters(worker, lambda r: sum(x.key in big for x in r) == len(big), timeout=60)
    assert time.monotonic() - produced < 30  # promptly: no crash, no restart, no 5 s retry
    for key, raw in big.items():
        letter, headers = letters[key], dict(letters[key].headers)
        assert headers["riskstream.dlq.error"] == b"too_large"
        assert headers["riskstream.dlq.size"] == str(len(raw)).encode()
        assert headers["riskstream.dlq.sha256"] == hashlib.sha256(raw).hexdigest().encode()
        assert headers["riskstream.dlq.truncated"] == b"true"
        assert letter.value == raw[: DEAD_LETTER_MAX_BYTES - len(key)]
    alerts = consume(
        worker.bootstrap, [f"{worker.prefix}alerts.fire"],
        lambda r: any(orjson.loads(a.value)["data"]["evidence"] == ["after-big"] for a in r), timeout=60,
    )
    assert any(orjson.loads(a.value)["data"]["evidence"] == ["after-big"] for a in alerts)
    assert worker.metric("riskstream_dead_letters_total", family="sensor", reason="too_large") >= len(big)
    assert worker.running
    assert worker.metric("riskstream_processing_errors_total") == 0


def test_a_dead_letter_topic_that_would_refuse_a_dead_letter_stops_the_worker_at_start(
    bootstrap: str, tmp_path: Path
) -> None:
    """Checked when the worker starts, not found out when the first large message arrives."""
    (tmp_path / "pack.yaml").write_text(GAS_PACK, encoding="utf-8")
    w = make_worker(bootstrap, tmp_path, "small-dlq", RISKSTREAM_RULES_PATH=str(tmp_path / "pack.yaml"))

    async def small_dlq() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            topic = NewTopic(f"{w.prefix}riskstream.dlq", 4, 1, topic_configs={"max.message.bytes": "524288"})
            await admin.create_topics([topic])
        finally:
            await admin.close()

    asyncio.run(small_dlq())
    with pytest.raises(RuntimeError, match="worker exited with 2"):
        w.start()
    said = " ".join(w.log_tail().split())  # the terminal wraps the message
    assert f"topic {w.prefix}riskstream.dlq takes messages of at most 524,288 bytes" in said
    assert "max.message.bytes=929792" in said
