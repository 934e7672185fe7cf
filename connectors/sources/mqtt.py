"""MQTT (IoT sensor platforms): subscribe with QoS 1 in a persistent session, PUBACK only after Kafka.

paho-mqtt runs the protocol on its own thread; messages cross to the event loop, are delivered, and are
acknowledged in the order they arrived (MQTT requires PUBACKs in order). Until a message is
acknowledged the broker counts it in flight, so a slow or absent Kafka stops the broker sending
(its ``max_inflight_messages``) instead of the connector buffering; a killed connector's
unacknowledged messages are sent again when its session reconnects.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import Field

from connectors.edge import meta
from connectors.sources.base import SourceSpec

if TYPE_CHECKING:
    from connectors.edge import Edge

log = logging.getLogger("riskstream.connector.mqtt")


class _Pending:
    __slots__ = ("done", "message")

    def __init__(self, message: mqtt.MQTTMessage):
        self.message = message
        self.done = False


class MqttSource(SourceSpec):
    type: Literal["mqtt"]
    default_format: ClassVar[str] = "json"

    host: str = Field(default="127.0.0.1", description="MQTT broker host")
    port: int = Field(default=1883, ge=1, le=65535)
    topics: list[str] = Field(min_length=1, description="Topic filters to subscribe to, e.g. city/+/gas/#")
    qos: Literal[1, 2] = Field(default=1, description="Subscription QoS (1: at least once)")
    client_id: str | None = Field(default=None, description="Session id (default riskstream-NAME); keep "
                                  "it stable, the broker keeps unacknowledged messages under it")
    username: str | None = None
    password_env: str | None = Field(default=None, description="Environment variable holding the password")
    password_file: Path | None = Field(default=None, description="File holding the password")
    tls_ca_file: Path | None = Field(default=None, description="CA bundle: connect with TLS")
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    keepalive: int = Field(default=30, ge=5, le=3600)
    max_in_flight: int = Field(default=200, ge=1, le=10_000,
                               description="Messages delivered to Kafka concurrently")

    def describe(self) -> str:
        return f"mqtt://{self.host}:{self.port} {', '.join(self.topics)}"

    def _password(self) -> str | None:
        if self.password_env:
            return os.environ.get(self.password_env)
        if self.password_file:
            return self.password_file.read_text(encoding="utf-8").strip()
        return None

    def _client(self, name: str, loop: asyncio.AbstractEventLoop,
                inbox: asyncio.Queue[mqtt.MQTTMessage]) -> mqtt.Client:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id or f"riskstream-{name}",
                             clean_session=False, protocol=mqtt.MQTTv311, manual_ack=True)
        if self.username:
            client.username_pw_set(self.username, self._password())
        if self.tls_ca_file:
            client.tls_set(ca_certs=str(self.tls_ca_file),
                           certfile=str(self.tls_cert_file) if self.tls_cert_file else None,
                           keyfile=str(self.tls_key_file) if self.tls_key_file else None)
        client.reconnect_delay_set(min_delay=1, max_delay=30)

        def on_connect(c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
            if reason.is_failure:
                log.warning("MQTT broker %s:%d refused the connection: %s", self.host, self.port, reason)
                return
            log.info("connected to MQTT broker %s:%d", self.host, self.port)
            c.subscribe([(t, int(self.qos)) for t in self.topics])

        def on_disconnect(_c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
            if reason.is_failure:
                log.warning("lost the MQTT broker (%s); reconnecting", reason)

        def on_message(_c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
            loop.call_soon_threadsafe(inbox.put_nowait, message)

        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        client.on_message = on_message
        return client

    async def run(self, edge: Edge) -> None:
        if not await edge.kafka_ready():
            return
        loop = asyncio.get_running_loop()
        inbox: asyncio.Queue[mqtt.MQTTMessage] = asyncio.Queue()
        client = self._client(edge.name, loop, inbox)
        client.connect_async(self.host, self.port, self.keepalive)
        client.loop_start()
        order: deque[_Pending] = deque()
        slots = asyncio.Semaphore(self.max_in_flight)
        tasks: set[asyncio.Task[None]] = set()

        def ack_ready() -> None:
            while order and order[0].done:
                m = order.popleft().message
                if m.qos > 0:
                    client.ack(m.mid, m.qos)

        async def handle(pending: _Pending) -> None:
            try:
                await self._deliver(edge, pending.message)
                pending.done = True
                ack_ready()
            finally:
                slots.release()

        stop = asyncio.ensure_future(edge.stopping.wait())
        try:
            while not edge.stopping.is_set():
                get = asyncio.ensure_future(inbox.get())
                await asyncio.wait({get, stop}, return_when=asyncio.FIRST_COMPLETED)
                if not get.done():
                    get.cancel()
                    break
                pending = _Pending(get.result())
                order.append(pending)
                await slots.acquire()
                task = asyncio.create_task(handle(pending))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        finally:
            stop.cancel()
            if tasks:  # what Kafka does not confirm in time stays unacknowledged: the broker resends it
                _, late = await asyncio.wait(tasks, timeout=15)
                for task in late:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            client.disconnect()
            client.loop_stop()

    async def _deliver(self, edge: Edge, message: mqtt.MQTTMessage) -> None:
        """Until Kafka has it: the broker will not send it again while this session lives."""
        where = meta(f"mqtt:{message.topic}", topic=message.topic, topic_levels=message.topic.split("/"),
                     qos=message.qos, retain=bool(message.retain))
        outcomes = edge.translator.translate(bytes(message.payload), where)
        await edge.deliver_patiently(outcomes, f"MQTT message {message.mid} (not acknowledged)")
