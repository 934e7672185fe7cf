"""The simulator's IoT gateway and the shipped MQTT connector are inverses: events survive the round trip."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from connectors.city import CityModel
from connectors.config import load_connector
from connectors.edge import meta
from connectors.iot_gateway import gateway_message
from connectors.translate import Mapped, Translator
from rules.events import SensorEvent

CONFIG = Path(__file__).parents[2] / "connectors" / "configs" / "mqtt-iot-sensors.yaml"
AT = datetime(2026, 1, 5, 1, 2, 3, 456789, tzinfo=UTC)


@functools.cache
def sensor_events(count: int) -> list[dict[str, Any]]:
    """The first sensor events of a seeded city's background traffic, at a time with microseconds."""
    stream = CityModel(7).background_events(rate=50, clock=lambda: AT)
    return list(itertools.islice((e for e in stream if e["family"] == "sensor"), count))


@pytest.fixture(scope="module")
def translator() -> Translator:
    return Translator(load_connector(CONFIG))


def round_trip(translator: Translator, event: Mapping[str, Any]) -> tuple[str, SensorEvent]:
    topic, payload = gateway_message(dict(event))
    (outcome,) = translator.translate(payload, meta(f"mqtt:{topic}", topic=topic))
    assert isinstance(outcome, Mapped), outcome
    assert isinstance(outcome.event, SensorEvent)
    return topic, outcome.event


def test_the_gateway_publishes_on_iot_district_metric_device() -> None:
    event = sensor_events(1)[0]
    topic, _ = gateway_message(dict(event))
    assert topic == f"iot/{event['location']['district']}/{event['kind']}/{event['source_id']}"


def test_the_gateway_payload_carries_epoch_milliseconds_and_leaves_nulls_out() -> None:
    event = {**sensor_events(1)[0], "value": None, "unit": None}
    _, payload = gateway_message(event)
    body = orjson.loads(payload)
    assert body["ts"] == round(AT.timestamp() * 1000)
    assert "value" not in body and "unit" not in body


@pytest.mark.parametrize("index", range(40))
def test_a_simulated_sensor_event_survives_gateway_and_connector(translator: Translator, index: int) -> None:
    original = sensor_events(40)[index]
    topic, event = round_trip(translator, original)
    assert event.event_id == original["event_id"]
    assert event.kind == original["kind"]
    assert event.source_id == original["source_id"]
    assert event.value == original.get("value")
    assert event.unit == original.get("unit")
    assert event.status == original["status"]
    assert event.battery == original.get("battery")
    assert event.location.model_dump(exclude_none=True) == original["location"]
    assert abs(event.time - datetime.fromisoformat(original["time"])) <= timedelta(microseconds=500)
    assert event.attributes == {"mqtt_topic": topic}


def test_the_sample_includes_readings_and_heartbeats() -> None:
    kinds = {e["kind"] for e in sensor_events(40)}
    assert "heartbeat" in kinds and len(kinds) > 1
    assert any("value" in e for e in sensor_events(40))
