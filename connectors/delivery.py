"""The Kafka side of every connector: produce, wait for the broker's acknowledgement, or say why not.

A source acknowledges its peer (MQTT PUBACK, HTTP 200, a file checkpoint) only after ``deliver``
returns, so a connector killed at any instant has lost nothing its source was told was delivered;
what it had not acknowledged is sent again, under the same event id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from connectors import metrics
from connectors.target import KafkaTarget
from connectors.translate import Mapped, Outcome, Refused
from rules.dead_letters import DEAD_LETTER_MAX_BYTES, ORIGIN_MAX_BYTES, clip, fit, reason_headers
from rules.errors import RiskstreamError
from rules.events import Family

log = logging.getLogger("riskstream.connector")

MAX_REQUEST_BYTES = 1024 * 1024
"""The producer's max_request_size: a dead letter (DEAD_LETTER_MAX_BYTES + HEADER_ALLOWANCE) fits."""


class KafkaUnavailableError(RiskstreamError):
    """Kafka did not acknowledge in time; the source must not acknowledge its peer."""


class Delivery:
    """One idempotent producer per connector, with acks from every in-sync replica."""

    def __init__(self, connector: str, family: Family, target: KafkaTarget, dlq_topic: str,
                 timeout: float = 10.0):
        self.connector = connector
        self.family = family
        self.target = target
        self.topics = {family: topic for family, topic in target.input_topics().items()}
        self.dlq_topic = dlq_topic
        self.timeout = timeout
        self.producer: AIOKafkaProducer | None = None
        self._up = metrics.KAFKA_UP.labels(connector)
        self._seconds = metrics.DELIVERY_SECONDS.labels(connector)

    @property
    def ready(self) -> bool:
        return self.producer is not None

    async def connect(self, stopping: asyncio.Event) -> bool:
        """Retry until the broker answers (True) or the connector is stopped (False), one log line a try."""
        delay = 1.0
        while not stopping.is_set():
            producer = AIOKafkaProducer(
                **self.target.client_options(), client_id=f"riskstream-connect-{self.connector}",
                acks="all", enable_idempotence=True, linger_ms=5, max_request_size=MAX_REQUEST_BYTES,
                request_timeout_ms=int(self.timeout * 1000),
            )
            try:
                await asyncio.wait_for(producer.start(), self.timeout)
                missing = await self._missing_topics(producer)
                if missing:
                    raise _TopicsMissingError(missing)
            except (KafkaError, OSError, TimeoutError, _TopicsMissingError) as exc:
                with contextlib.suppress(Exception):
                    await producer.stop()
                log.warning("%s; retrying in %.0f s", _why_not(self.target, exc), delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), delay)
                delay = min(delay * 2, 30.0)
                continue
            self.producer = producer
            self._up.set(1)
            log.info("connected to Kafka at %s", self.target.bootstrap)
            return True
        return False

    async def _missing_topics(self, producer: AIOKafkaProducer) -> list[str]:
        """Topics the connector needs that do not exist. A producer would let the broker auto-create
        them with its default partition count, which the worker's co-partitioned tables refuse."""
        await producer.client.force_metadata_update()
        have = producer.client.cluster.topics()
        return [t for t in (self.topics[self.family], self.dlq_topic) if t not in have]

    async def deliver(self, outcomes: Sequence[Outcome]) -> None:
        """Returns once Kafka has every event and dead letter; raises KafkaUnavailableError otherwise."""
        if self.producer is None:
            raise KafkaUnavailableError(f"not connected to Kafka at {self.target.bootstrap}")
        if not outcomes:
            return
        started = time.perf_counter()
        try:
            await asyncio.wait_for(self._send_all(self.producer, outcomes), self.timeout)
        except (KafkaError, TimeoutError) as exc:
            self._up.set(0)
            raise KafkaUnavailableError(f"Kafka at {self.target.bootstrap} did not acknowledge within "
                                        f"{self.timeout:g} s ({type(exc).__name__})") from None
        self._up.set(1)
        self._seconds.observe(time.perf_counter() - started)
        for outcome in outcomes:
            if isinstance(outcome, Mapped):
                metrics.PRODUCED.labels(self.connector, self.topics[outcome.event.family]).inc()
            else:
                metrics.DEAD_LETTERS.labels(self.connector, outcome.error.category).inc()

    async def _send_all(self, producer: AIOKafkaProducer, outcomes: Sequence[Outcome]) -> None:
        futures = []
        for outcome in outcomes:
            if isinstance(outcome, Mapped):
                futures.append(await producer.send(self.topics[outcome.event.family], outcome.value,
                                                   key=outcome.key))
            else:
                value, headers = dead_letter(self.connector, outcome)
                futures.append(await producer.send(self.dlq_topic, value, headers=headers))
        await asyncio.gather(*futures)

    async def stop(self) -> None:
        if self.producer is not None:
            with contextlib.suppress(Exception):
                await self.producer.stop()
            self.producer = None
        self._up.set(0)


class _TopicsMissingError(Exception):
    def __init__(self, topics: list[str]):
        self.topics = topics


def _why_not(target: KafkaTarget, exc: BaseException) -> str:
    bootstrap = target.bootstrap
    if isinstance(exc, _TopicsMissingError):
        return (f"topics {', '.join(exc.topics)} do not exist on {bootstrap}: start the worker once "
                "(it creates every topic with the right partitions)")
    if target.security.protocol != "PLAINTEXT":  # a refused login or TLS handshake looks the same
        return (f"Kafka at {bootstrap} is not answering or refuses {target.security.describe()} "
                f"({exc or type(exc).__name__}): check RISKSTREAM_KAFKA_*")
    return f"Kafka at {bootstrap} is not answering ({exc or type(exc).__name__})"


def dead_letter(connector: str, refused: Refused) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The original bytes (a bounded prefix when too large) with headers naming the reason and source;
    bounded as the worker's are (``rules/dead_letters.py``)."""
    headers = [
        *reason_headers(refused.error),
        ("riskstream.dlq.connector", clip(connector, ORIGIN_MAX_BYTES)),
        ("riskstream.dlq.origin", clip(refused.origin, ORIGIN_MAX_BYTES)),
        ("riskstream.dlq.at", datetime.now(UTC).isoformat().encode()),
    ]
    letter = fit(None, refused.raw, headers, DEAD_LETTER_MAX_BYTES)
    return letter.value or b"", letter.headers
