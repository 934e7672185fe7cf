"""The worker's dispatch stage sends a shadow rule's notice to the audit topic only, marked shadow
in the notice, its CloudEvents envelope and a Kafka header, and counts it apart from live notices;
the alert board, which reads the audit topic, leaves it out."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import orjson
import pytest
from faust.types import TP
from prometheus_client import REGISTRY

from rules.alerts import AlertCandidate, to_cloudevent
from rules.model import Tier
from rules.world import World
from streams.board.view import BoardView
from streams.dispatch import ALERT_CODEC, DispatchStage
from streams.live_rules import LiveRules
from streams.settings import Settings
from streams.tables import TableStore
from tests.unit.broker_fakes import FakeProducer
from tests.unit.dispatch_kit import Desk, cand, routing

if TYPE_CHECKING:
    from tests.unit.conftest import WriteYaml

AUDIT = "riskstream.alerts"


class _Table:
    changelog_topic_name = "riskstream-alerts-changelog"

    def __init__(self) -> None:
        self.data = _Data()

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)


class _Data(dict[bytes, bytes]):
    def set_persisted_offset(self, tp: Any, offset: int) -> None:
        return None


class _Producer(FakeProducer):
    """Acknowledges every record at once and keeps each one's headers."""

    def __init__(self) -> None:
        super().__init__(partitions=4)
        self.headers: list[dict[str, bytes]] = []

    async def send(
        self, topic: str, key: bytes | None, value: bytes | None, headers: list[Any], partition: int
    ) -> asyncio.Future[Any]:
        future = await super().send(topic, key, value, headers, partition)
        self.headers.append(dict(headers or []))
        future.set_result(SimpleNamespace(offset=len(self.sent)))
        return future


PACK = """\
version: 1
pack: gas
rules:
  - {id: gas, title: Gas, risk: public_safety, on: sensor, kind: combustible_gas, tier: orange, route: [fire]}
  - id: gas-v2
    mode: shadow
    replaces: gas
    title: Gas, lower threshold
    risk: public_safety
    on: sensor
    kind: combustible_gas
    tier: orange
    route: [fire]
"""


@pytest.fixture
def settings(write_yaml: WriteYaml, routing_file: Path) -> Settings:
    """The worker's settings with these rules and the unit tests' routing file (not the shipped packs)."""
    return Settings(rules_path=[write_yaml("packs/gas.yaml", PACK)], routing_path=routing_file)


def notices_sent(
    settings: Settings, candidate: AlertCandidate
) -> list[tuple[str, dict[str, Any], dict[str, bytes]]]:
    """(topic, CloudEvent, headers) of every notice copy the stage sends for one candidate."""
    producer = _Producer()
    store = TableStore(_Table(), ALERT_CODEC, "riskstream.candidates", producer)  # type: ignore[arg-type]
    world = World()
    world.ready = True  # type: ignore[attr-defined]
    stage = DispatchStage(settings, producer, store, LiveRules.load(settings), world)
    record = SimpleNamespace(value=candidate.model_dump_json().encode(), offset=0)
    message = SimpleNamespace(tp=TP("riskstream.candidates", 0), value=[record])

    async def run() -> None:
        await stage.on_batch(SimpleNamespace(message=message, ack=lambda: None))
        await stage.settle()

    asyncio.run(run())
    return [
        (topic, orjson.loads(value), headers)
        for (topic, _, _, value), headers in zip(producer.messages, producer.headers, strict=True)
        if value is not None and (topic.startswith("alerts.") or topic == AUDIT)
    ]


def shadow_gas(event_id: str = "s1") -> AlertCandidate:
    return cand(event_id, 0, Tier.orange, rule="gas-v2", route=("fire",), shadow=True, replaces="gas")


def shadow_count(agency: str) -> float:
    labels = {"rule": "gas-v2", "agency": agency, "change": "opened", "outcome": "sent"}
    return REGISTRY.get_sample_value("riskstream_shadow_notices_total", labels) or 0.0


def test_a_shadow_notice_goes_to_the_audit_topic_only_marked_shadow(settings: Settings) -> None:
    ((topic, event, headers),) = notices_sent(settings, shadow_gas())
    assert topic == AUDIT
    assert (event["riskstreammode"], event["data"]["shadow"], event["data"]["replaces"]) == (
        "shadow",
        True,
        "gas",
    )
    assert headers["riskstream-mode"] == b"shadow"
    assert "riskstream-withheld" not in headers


def test_a_shadow_notice_is_counted_for_each_agency_it_would_have_reached(settings: Settings) -> None:
    before = {agency: shadow_count(agency) for agency in ("fire", "governance")}
    ((_, event, _),) = notices_sent(settings, shadow_gas("s2"))
    assert event["data"]["agencies"] == ["fire", "governance"]
    assert {agency: shadow_count(agency) - n for agency, n in before.items()} == {"fire": 1, "governance": 1}


def test_the_same_alert_from_a_live_rule_reaches_its_agencies_unmarked(settings: Settings) -> None:
    sent = notices_sent(settings, cand("l1", 0, Tier.orange, rule="gas", route=("fire",)))
    assert sorted(topic for topic, _, _ in sent) == ["alerts.fire", "alerts.governance", AUDIT]
    assert all("riskstreammode" not in event and not event["data"]["shadow"] for _, event, _ in sent)
    assert all("riskstream-mode" not in headers for _, _, headers in sent)


def test_the_board_leaves_shadow_notices_out(write_yaml: WriteYaml) -> None:
    desk = Desk(routing(write_yaml, "routes: []\n"))
    desk.send(cand("l1", 0))
    desk.send(shadow_gas())
    view = BoardView()
    shown = [view.apply(to_cloudevent(a)) for a in desk.notices]
    assert [a.rule_id if a else None for a in shown] == ["gas", None]
