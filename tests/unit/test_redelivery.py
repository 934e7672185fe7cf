"""Notices a stopped worker delivered without recording its state are read back at the takeover,
and the candidates decided again send none of them twice: per topic, so a notice that reached
some of its topics before the worker died reaches the others, once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from faust.types import TP

from rules.model import Tier
from rules.world import World
from streams import kafka_io, metrics, redelivery
from streams.dispatch import ALERT_CODEC, DispatchStage
from streams.live_rules import LiveRules
from streams.redelivery import CLOCK_MARGIN, Delivered, Recall, cloudevent_id, recall_records, replay_start
from streams.settings import Settings
from streams.tables import TableStore
from tests.unit.broker_fakes import FakeProducer
from tests.unit.dispatch_kit import cand

CANDIDATES = [TP("riskstream.candidates", p) for p in range(2)]


# --- when to read back, and from when --------------------------------------------------------------


def test_nothing_is_read_back_when_every_candidate_was_committed() -> None:
    ends = {CANDIDATES[0]: 10, CANDIDATES[1]: 0}
    assert replay_start({CANDIDATES[0]: 10}, ends, {}) is None


def test_read_back_starts_at_the_first_candidate_decided_again_less_the_clock_margin() -> None:
    ends = {CANDIDATES[0]: 10, CANDIDATES[1]: 20}
    first = {CANDIDATES[0]: 1_800_000_000_000, CANDIDATES[1]: 1_700_000_000_000}
    since = replay_start({CANDIDATES[0]: 7, CANDIDATES[1]: 20}, ends, first)
    assert since == datetime.fromtimestamp(1_800_000_000, UTC) - CLOCK_MARGIN, "partition 1 is done"


def test_a_partition_never_committed_is_decided_again_from_its_start() -> None:
    since = replay_start({}, {CANDIDATES[0]: 3}, {CANDIDATES[0]: 1_800_000_000_000})
    assert since == datetime.fromtimestamp(1_800_000_000, UTC) - CLOCK_MARGIN


def test_notices_are_known_by_their_cloudevents_id_per_topic() -> None:
    records = [
        SimpleNamespace(topic="alerts.fire", value=b'{"id": "a1:1", "data": {}}'),
        SimpleNamespace(topic="riskstream.alerts", value=b'{"id": "a1:1"}'),
        SimpleNamespace(topic="alerts.fire", value=b"not json"),
        SimpleNamespace(topic="alerts.fire", value=None),
        SimpleNamespace(topic="alerts.fire", value=b"[1]"),
    ]
    found = recall_records(records, Delivered())  # type: ignore[arg-type]
    assert found.topics_of == {"a1:1": {"alerts.fire", "riskstream.alerts"}}
    assert found.holds("a1:1", "alerts.fire") and not found.holds("a1:1", "alerts.police")
    assert not found.holds("a1:2", "alerts.fire")
    assert cloudevent_id(b'{"id": 7}') is None


# --- the read-back itself, with the broker faked -----------------------------------------------------


class FakeGroup:
    def __init__(self, committed: Mapping[TP, int]) -> None:
        self.offsets = dict(committed)

    async def committed(self, partitions: Sequence[TP]) -> Mapping[TP, int]:
        return {tp: self.offsets[tp] for tp in partitions if tp in self.offsets}

    async def log_starts(self, partitions: Sequence[TP]) -> Mapping[TP, int]:
        return dict.fromkeys(partitions, 0)


def recall(
    monkeypatch: pytest.MonkeyPatch,
    committed: Mapping[TP, int],
    ends: Mapping[TP, int],
    held: list[tuple[str, bytes]],
    reads: list[Any],
) -> Delivered:
    first_ms = 1_800_000_000_000

    async def positions(self: Recall, partitions: list[TP], got: Mapping[TP, int]) -> Any:
        return dict(ends), {tp: first_ms for tp in partitions if (got.get(tp) or 0) < ends[tp]}

    async def read_since(settings: Settings, topics: Sequence[str], since: datetime) -> AsyncIterator[Any]:
        reads.append((list(topics), since))
        yield kafka_io.Window({}, {})
        for topic, value in held:
            yield SimpleNamespace(topic=topic, value=value)

    monkeypatch.setattr(Recall, "_positions", positions)
    monkeypatch.setattr(kafka_io, "read_since", read_since)
    owned = [*CANDIDATES, TP("riskstream.hits", 0), TP("app-alerts-changelog", 0)]
    r = Recall(Settings(), FakeGroup(committed), lambda: owned, lambda: ["alerts.fire", "riskstream.alerts"])
    return asyncio.run(r.delivered())


def test_a_takeover_with_candidates_not_committed_reads_the_notice_topics_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reads: list[Any] = []
    held = [("alerts.fire", b'{"id": "a1:1"}'), ("riskstream.alerts", b'{"id": "a1:1"}')]
    committed = {CANDIDATES[0]: 5, CANDIDATES[1]: 9}
    found = recall(monkeypatch, committed, dict.fromkeys(CANDIDATES, 9), held, reads)
    assert found.topics_of == {"a1:1": {"alerts.fire", "riskstream.alerts"}}
    since = datetime.fromtimestamp(1_800_000_000, UTC) - CLOCK_MARGIN
    assert reads == [(["alerts.fire", "riskstream.alerts"], since)]


def test_a_clean_takeover_reads_nothing_back(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[Any] = []
    found = recall(monkeypatch, dict.fromkeys(CANDIDATES, 9), dict.fromkeys(CANDIDATES, 9), [], reads)
    assert len(found) == 0 and reads == []


def test_a_broker_that_does_not_answer_leaves_at_least_once_and_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    monkeypatch.setattr(redelivery, "RECALL_TIMEOUT", 0.05)

    async def hangs(self: Recall, partitions: list[TP], got: Mapping[TP, int]) -> Any:
        await asyncio.sleep(10)

    monkeypatch.setattr(Recall, "_positions", hangs)
    r = Recall(Settings(), FakeGroup({}), lambda: CANDIDATES, lambda: ["alerts.fire"])
    assert len(asyncio.run(r.delivered())) == 0
    assert "may send a notice twice" in caplog.text


# --- dispatch decides again and sends what is missing, once ------------------------------------------


class _Table:
    changelog_topic_name = "riskstream-alerts-changelog"

    def __init__(self) -> None:
        self.data = _Data()

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)


class _Data(dict[bytes, bytes]):
    def set_persisted_offset(self, tp: Any, offset: int) -> None:
        return None


class _AckingProducer(FakeProducer):
    async def send(
        self, topic: str, key: bytes | None, value: bytes | None, headers: list[Any], partition: int
    ) -> asyncio.Future[Any]:
        future = await super().send(topic, key, value, headers, partition)
        future.set_result(SimpleNamespace(offset=len(self.sent)))
        return future


def dispatch_stage() -> tuple[DispatchStage, _AckingProducer]:
    settings = Settings()
    producer = _AckingProducer(partitions=4)
    store = TableStore(_Table(), ALERT_CODEC, "riskstream.candidates", producer)  # type: ignore[arg-type]
    world = World()
    world.ready = True  # type: ignore[attr-defined]
    return DispatchStage(settings, producer, store, LiveRules.load(settings), world), producer


def batch(*candidates: Any) -> Any:
    records = [
        SimpleNamespace(value=c.model_dump_json().encode(), offset=i) for i, c in enumerate(candidates)
    ]
    message = SimpleNamespace(tp=TP("riskstream.candidates", 0), value=records)
    return SimpleNamespace(message=message, ack=lambda: None)


def notices(producer: FakeProducer) -> list[tuple[str, str]]:
    """(topic, CloudEvents id) of every notice copy sent."""
    return [
        (topic, orjson.loads(value)["id"])
        for topic, _, _, value in producer.messages
        if value is not None and (topic.startswith("alerts.") or topic == "riskstream.alerts")
    ]


def opened() -> Any:
    return cand("e1", 0, Tier.red, rule="gas-combustible-lel", grid="WD-01-01", district="乌达区")


async def decide(stage: DispatchStage, *candidates: Any) -> None:
    await stage.on_batch(batch(*candidates))
    await stage.settle()


def test_a_notice_every_topic_holds_already_is_not_sent_again_when_decided_again() -> None:
    async def run() -> None:
        first, sent = dispatch_stage()
        await decide(first, opened())
        delivered = notices(sent)
        assert delivered and {topic for topic, _ in delivered} >= {"riskstream.alerts"}
        # The worker dies before its state is written; its successor decides the candidate again.
        again, resent = dispatch_stage()
        again.delivered = recall_records(
            [SimpleNamespace(topic=t, value=v) for t, _, _, v in sent.messages], Delivered()
        )  # type: ignore[list-item]
        skipped = metrics.ALREADY_DELIVERED.labels("gas-combustible-lel")._value.get()
        await decide(again, opened())
        assert notices(resent) == []
        now_skipped = metrics.ALREADY_DELIVERED.labels("gas-combustible-lel")._value.get()
        assert now_skipped == skipped + len(delivered)
        assert again.store.get(opened().fingerprint) is not None, "its state is written this time"
        assert any(t == "riskstream.active" for t, _, _, _ in resent.messages), "effects go out as usual"

    asyncio.run(run())


def test_a_notice_some_topics_hold_goes_to_the_others_only() -> None:
    async def run() -> None:
        first, sent = dispatch_stage()
        await decide(first, opened())
        copies = notices(sent)
        audit_only = Delivered()
        for topic, ce_id in copies:
            if topic == "riskstream.alerts":
                audit_only.add(ce_id, topic)
        again, resent = dispatch_stage()
        again.delivered = audit_only
        await decide(again, opened())
        assert sorted(notices(resent)) == sorted(c for c in copies if c[0] != "riskstream.alerts")

    asyncio.run(run())


def test_the_next_notice_of_the_same_alert_goes_out_as_usual() -> None:
    async def run() -> None:
        first, sent = dispatch_stage()
        await decide(first, opened())
        again, resent = dispatch_stage()
        again.delivered = recall_records(
            [SimpleNamespace(topic=t, value=v) for t, _, _, v in sent.messages], Delivered()
        )  # type: ignore[list-item]
        await decide(again, opened())
        resolve = cand(
            "e2", 60, Tier.red, rule="gas-combustible-lel", grid="WD-01-01", district="乌达区",
            status="resolved",
        )
        await decide(again, resolve)
        ids = {ce_id for _, ce_id in notices(resent)}
        assert ids and all(ce_id.endswith(":2") for ce_id in ids)

    asyncio.run(run())
