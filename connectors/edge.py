"""What a running source works with: its translator, its delivery, and the signal to stop.

Sources only move bytes: they build ``meta`` for what they received, call ``take`` (translate and
deliver), and acknowledge their peer when it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import start_http_server

from connectors import metrics
from connectors.delivery import Delivery, KafkaUnavailableError
from connectors.target import KafkaTarget
from connectors.translate import Outcome, Translator

if TYPE_CHECKING:
    from connectors.config import ConnectorConfig

log = logging.getLogger("riskstream.connector")


def meta(origin: str, **extra: Any) -> dict[str, Any]:
    """What a mapping can read under ``meta.*``: at least the time of receipt and where it came from."""
    return {"received_at": datetime.now(UTC), "origin": origin, **extra}


@dataclass
class Edge:
    config: ConnectorConfig
    delivery: Delivery
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    progress: bool = False

    def __post_init__(self) -> None:
        self.translator = Translator(self.config)
        self._received = metrics.RECEIVED.labels(self.config.name)
        self._pending = metrics.PENDING.labels(self.config.name)

    @property
    def name(self) -> str:
        return self.config.name

    async def take(self, payload: bytes, where: Mapping[str, Any]) -> list[Outcome]:
        """Translate one payload and deliver the result; raises KafkaUnavailableError if Kafka did not
        acknowledge (the caller must then not acknowledge its peer)."""
        outcomes = self.translator.translate(payload, where)
        await self.deliver(outcomes)
        return outcomes

    async def deliver(self, outcomes: Sequence[Outcome]) -> None:
        self._received.inc(len(outcomes))
        self._pending.inc(len(outcomes))
        try:
            await self.delivery.deliver(outcomes)
        finally:
            self._pending.dec(len(outcomes))

    async def deliver_patiently(self, outcomes: Sequence[Outcome], holding: str) -> None:
        """``deliver``, retried while Kafka is away: for sources whose peer cannot be told to resend,
        so the source waits (and stops reading) instead. Raises only once the connector is stopping."""
        delay = 0.5
        while True:
            try:
                await self.deliver(outcomes)
                return
            except KafkaUnavailableError as exc:
                if self.stopping.is_set():
                    raise
                log.warning("%s; holding %s, retrying in %.1f s", exc, holding, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), delay)
                delay = min(delay * 2, 10.0)

    async def kafka_ready(self) -> bool:
        """Wait for the producer (False if the connector is stopped first)."""
        stop = asyncio.ensure_future(self.stopping.wait())
        ready = asyncio.ensure_future(self.connected.wait())
        await asyncio.wait({stop, ready}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        ready.cancel()
        return self.connected.is_set()

    def refuse(self, why: str) -> None:
        metrics.REFUSED.labels(self.name, why).inc()


async def run_connector(config: ConnectorConfig, target: KafkaTarget, dlq_topic: str, *,
                        metrics_bind: str = "127.0.0.1", metrics_port: int | None = None,
                        timeout: float = 10.0, stopping: asyncio.Event | None = None,
                        progress: bool = False) -> None:
    """Run one connector until SIGINT/SIGTERM (or ``stopping``): Kafka first, then the source."""
    edge = Edge(config, Delivery(config.name, config.family, target, dlq_topic, timeout), progress=progress)
    if stopping is not None:
        edge.stopping = stopping
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, edge.stopping.set)
    if metrics_port:
        start_http_server(metrics_port, addr=metrics_bind)
        log.info("metrics on http://%s:%d/metrics", metrics_bind, metrics_port)
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # Delivery logs one line per failed try

    async def connect() -> None:
        if await edge.delivery.connect(edge.stopping):
            edge.connected.set()

    connecting = asyncio.create_task(connect())
    log.info("connector %s: %s -> %s events", config.name, config.source.describe(), config.family.value)
    try:
        await config.source.run(edge)
    finally:
        edge.stopping.set()
        await connecting
        await edge.delivery.stop()
        log.info("connector %s stopped", config.name)
