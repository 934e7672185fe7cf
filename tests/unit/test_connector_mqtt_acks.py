"""The MQTT source acknowledges a message only once Kafka has it, and in the order messages came.

The paho client is replaced by a recorder; the broker-facing behaviour (sessions, redelivery) is
shown against a real Mosquitto in tests/integration/test_connector_mqtt.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from connectors.config import load_connector
from connectors.delivery import KafkaUnavailableError
from connectors.edge import Edge
from connectors.iot_gateway import gateway_message
from connectors.sources.mqtt import MqttSource
from connectors.translate import Mapped, Outcome

CONFIG = Path(__file__).resolve().parents[2] / "connectors" / "configs" / "mqtt-iot-sensors.yaml"


def message(mid: int) -> mqtt.MQTTMessage:
    topic, payload = gateway_message({
        "event_id": f"m{mid}", "kind": "combustible_gas", "source_id": f"GAS-{mid}", "value": 1.0,
        "time": "2026-11-28T09:00:00+08:00", "location": {"city": "乌海市", "district": "海勃湾区"},
    })
    m = mqtt.MQTTMessage(mid, topic.encode())
    m.payload = payload
    m.qos = 1
    return m


class Broker:
    """Stands in for paho's client: records acknowledgements, lets the test hand in messages."""

    def __init__(self) -> None:
        self.acked: list[int] = []
        self.inbox: asyncio.Queue[mqtt.MQTTMessage] | None = None

    def client(self, _name: str, _loop: Any, inbox: asyncio.Queue[mqtt.MQTTMessage]) -> Broker:
        self.inbox = inbox
        return self

    def connect_async(self, *_: Any) -> None: ...
    def loop_start(self) -> None: ...
    def loop_stop(self) -> None: ...
    def disconnect(self) -> None: ...

    def ack(self, mid: int, _qos: int) -> None:
        self.acked.append(mid)

    def send(self, *mids: int) -> None:
        assert self.inbox is not None
        for mid in mids:
            self.inbox.put_nowait(message(mid))


class Kafka:
    """A delivery whose acknowledgements the test releases per event, or refuses."""

    ready = True

    def __init__(self) -> None:
        self.release: dict[str, asyncio.Event] = {}
        self.down = False
        self.delivered: list[str] = []

    def gate(self, event_id: str) -> asyncio.Event:
        return self.release.setdefault(event_id, asyncio.Event())

    async def deliver(self, outcomes: Sequence[Outcome]) -> None:
        for outcome in outcomes:
            assert isinstance(outcome, Mapped)
            if self.down:
                raise KafkaUnavailableError("Kafka is down")
            await self.gate(outcome.event.event_id).wait()
            self.delivered.append(outcome.event.event_id)


async def until(condition: Any) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met")


@pytest.fixture
def rig(monkeypatch: pytest.MonkeyPatch) -> tuple[Edge, Broker, Kafka, MqttSource]:
    config = load_connector(CONFIG)
    broker, kafka = Broker(), Kafka()
    monkeypatch.setattr(MqttSource, "_client", lambda self, *a: broker.client(*a))
    edge = Edge(config, kafka)  # type: ignore[arg-type]
    edge.connected.set()
    assert isinstance(config.source, MqttSource)
    return edge, broker, kafka, config.source


Rig = tuple[Edge, Broker, Kafka, MqttSource]


async def test_a_message_is_acknowledged_only_after_kafka_has_it(rig: Rig) -> None:
    edge, broker, kafka, source = rig
    running = asyncio.create_task(source.run(edge))
    await until(lambda: broker.inbox is not None)
    broker.send(1)
    await asyncio.sleep(0.05)
    assert broker.acked == []
    kafka.gate("m1").set()
    await until(lambda: broker.acked == [1])
    edge.stopping.set()
    await running


async def test_acknowledgements_keep_arrival_order_when_kafka_answers_out_of_order(
        rig: tuple[Edge, Broker, Kafka, MqttSource]) -> None:
    edge, broker, kafka, source = rig
    running = asyncio.create_task(source.run(edge))
    await until(lambda: broker.inbox is not None)
    broker.send(1, 2, 3)
    kafka.gate("m3").set()
    kafka.gate("m2").set()
    await until(lambda: sorted(kafka.delivered) == ["m2", "m3"])
    assert broker.acked == []  # 1 is not on Kafka yet, and MQTT acknowledges in order
    kafka.gate("m1").set()
    await until(lambda: broker.acked == [1, 2, 3])
    edge.stopping.set()
    await running


async def test_while_kafka_is_down_a_message_is_held_unacknowledged_and_retried(
        rig: tuple[Edge, Broker, Kafka, MqttSource]) -> None:
    edge, broker, kafka, source = rig
    kafka.down = True
    running = asyncio.create_task(source.run(edge))
    await until(lambda: broker.inbox is not None)
    broker.send(7)
    await asyncio.sleep(0.2)
    assert broker.acked == []
    kafka.down = False
    kafka.gate("m7").set()
    await until(lambda: broker.acked == [7])
    edge.stopping.set()
    await running


async def test_a_message_in_flight_when_the_connector_stops_is_not_acknowledged(
        rig: tuple[Edge, Broker, Kafka, MqttSource]) -> None:
    edge, broker, kafka, source = rig
    kafka.down = True
    running = asyncio.create_task(source.run(edge))
    await until(lambda: broker.inbox is not None)
    broker.send(9)
    await asyncio.sleep(0.1)
    edge.stopping.set()
    await running
    assert broker.acked == []  # the broker sends it again to the session's next connection
