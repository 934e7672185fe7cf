"""The HTTP endpoint's answers, with Kafka replaced: what a pushing platform is told, and when.

Against a real broker and a real HTTP client: tests/integration/test_connector_http.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from connectors import metrics
from connectors.config import load_connector
from connectors.delivery import KafkaUnavailableError
from connectors.edge import Edge
from connectors.sources.http import HttpSource
from connectors.translate import Outcome

CONFIGS = Path(__file__).resolve().parents[2] / "connectors" / "configs"
CAMERA = {"event_id": "c-1", "family": "camera", "kind": "crowd_density", "time": "2026-01-05T10:02:44+08:00",
          "source_id": "CAM-HBW-0031", "location": {"city": "乌海市", "grid": "HBW-03-12"}, "people": 160}


class Kafka:
    def __init__(self) -> None:
        self.ready = True
        self.hold = asyncio.Event()
        self.hold.set()
        self.failing = False
        self.delivered: list[Outcome] = []

    async def deliver(self, outcomes: Sequence[Outcome]) -> None:
        await self.hold.wait()
        if self.failing:
            raise KafkaUnavailableError("Kafka did not acknowledge within 10 s")
        self.delivered += outcomes


async def client_for(config: str, kafka: Kafka, **source: object) -> TestClient:  # type: ignore[type-arg]
    loaded = load_connector(CONFIGS / config)
    spec = loaded.source.model_copy(update=source)
    assert isinstance(spec, HttpSource)
    edge = Edge(loaded, kafka)  # type: ignore[arg-type]
    client = TestClient(TestServer(spec.app(edge)))
    await client.start_server()
    return client


@pytest.fixture
async def kafka() -> AsyncIterator[Kafka]:
    yield Kafka()


async def test_native_events_are_accepted_as_one_object_or_an_array(kafka: Kafka) -> None:
    client = await client_for("http-native-camera.yaml", kafka)
    one = await client.post("/events", data=orjson.dumps(CAMERA))
    many = await client.post("/events", data=orjson.dumps([CAMERA, {**CAMERA, "event_id": "c-2"}]))
    assert (one.status, await one.json()) == (200, {"accepted": 1})
    assert (many.status, await many.json()) == (200, {"accepted": 2})
    await client.close()


async def test_a_native_event_of_another_family_is_refused_422(kafka: Kafka) -> None:
    client = await client_for("http-native-camera.yaml", kafka)
    response = await client.post("/events", data=orjson.dumps({**CAMERA, "family": "sensor"}))
    body = await response.json()
    assert response.status == 422
    assert body["dead_lettered"][0]["error"] == "wrong_family"
    await client.close()


async def test_kafka_not_acknowledging_in_time_is_answered_503_retry_after(kafka: Kafka) -> None:
    kafka.failing = True
    client = await client_for("http-native-camera.yaml", kafka, retry_after=9)
    response = await client.post("/events", data=orjson.dumps(CAMERA))
    assert response.status == 503
    assert response.headers["Retry-After"] == "9"
    await client.close()


async def test_requests_beyond_the_pending_limit_are_answered_503_busy(kafka: Kafka) -> None:
    kafka.hold.clear()
    client = await client_for("http-native-camera.yaml", kafka, max_pending_requests=1)
    before = metrics.REFUSED.labels("camera-events", "busy")._value.get()
    first = asyncio.create_task(client.post("/events", data=orjson.dumps(CAMERA)))
    await asyncio.sleep(0.05)
    second = await client.post("/events", data=orjson.dumps(CAMERA))
    kafka.hold.set()
    assert second.status == 503 and "Retry-After" in second.headers
    assert (await first).status == 200
    assert metrics.REFUSED.labels("camera-events", "busy")._value.get() == before + 1
    await client.close()


async def test_health_says_whether_kafka_is_connected(kafka: Kafka) -> None:
    client = await client_for("http-native-camera.yaml", kafka)
    up = await client.get("/healthz")
    kafka.ready = False
    down = await client.get("/healthz")
    posted = await client.post("/events", data=orjson.dumps(CAMERA))
    assert (up.status, down.status, posted.status) == (200, 503, 503)
    await client.close()
