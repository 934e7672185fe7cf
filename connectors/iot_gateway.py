"""The simulator's IoT gateway: sensor readings published over MQTT, as a city's sensor platform does.

With ``riskstream simulate --mqtt HOST:PORT`` sensor events leave the simulator here instead of going
to Kafka, and ``riskstream connect mqtt connectors/configs/mqtt-iot-sensors.yaml`` brings them in:
the demo's sensor alerts then travel the same edge a deployment's would.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from rules.errors import RiskstreamError

TOPIC_PREFIX = "iot"


class MqttUnavailableError(RiskstreamError):
    """The MQTT broker did not accept the gateway's connection."""


def gateway_message(event: dict[str, Any]) -> tuple[str, bytes]:
    """A sensor event as the gateway publishes it: topic iot/<district>/<metric>/<device>, and a
    vendor-style payload (epoch-millisecond time, the reading, the device's site)."""
    location = event["location"]
    at = datetime.fromisoformat(event["time"])
    payload = {
        "msg_id": event["event_id"], "device": event["source_id"], "metric": event["kind"],
        "value": event.get("value"), "unit": event.get("unit"), "status": event.get("status", "normal"),
        "battery": event.get("battery"), "ts": round(at.timestamp() * 1000), "site": location,
    }
    district = location.get("district") or "unknown"
    topic = f"{TOPIC_PREFIX}/{district}/{event['kind']}/{event['source_id']}"
    return topic, orjson.dumps({k: v for k, v in payload.items() if v is not None})


class IotGateway:
    """Publishes with QoS 1 and counts what the broker acknowledged."""

    def __init__(self, host: str, port: int):
        self.host = host
        self.port = port
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="riskstream-simulator-gateway",
                                  protocol=mqtt.MQTTv311)
        self.client.max_queued_messages_set(100_000)
        self.client.max_inflight_messages_set(1000)
        self._connected = threading.Event()
        self.client.on_connect = lambda *_: self._connected.set()
        self.unconfirmed: list[mqtt.MQTTMessageInfo] = []

    async def start(self, timeout: float = 10.0) -> None:
        try:
            self.client.connect(self.host, self.port, keepalive=30)
        except OSError as exc:
            raise MqttUnavailableError(f"cannot reach the MQTT broker at {self.host}:{self.port}: "
                                       f"{exc.strerror or exc}") from None
        self.client.loop_start()
        if not await asyncio.to_thread(self._connected.wait, timeout):
            self.client.loop_stop()
            raise MqttUnavailableError(f"the MQTT broker at {self.host}:{self.port} did not accept the "
                                       "connection")

    def publish(self, event: dict[str, Any]) -> bool:
        """False if the message could not even be queued (the client's queue is full)."""
        topic, payload = gateway_message(event)
        info = self.client.publish(topic, payload, qos=1)
        self.unconfirmed.append(info)
        if len(self.unconfirmed) >= 10_000:
            self.unconfirmed = [i for i in self.unconfirmed if not i.is_published()]
        return info.rc == mqtt.MQTT_ERR_SUCCESS or info.rc == mqtt.MQTT_ERR_NO_CONN

    async def stop(self, timeout: float = 10.0) -> int:
        """Wait for the broker to acknowledge what was published; returns how many it did not."""
        def wait() -> int:
            missing = 0
            for info in self.unconfirmed:
                try:
                    info.wait_for_publish(timeout)
                except (RuntimeError, ValueError):
                    missing += 1
                    continue
                missing += not info.is_published()
            return missing

        missing = await asyncio.to_thread(wait)
        self.client.disconnect()
        self.client.loop_stop()
        return missing
