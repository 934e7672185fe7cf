"""Sends city traffic and scenario injections to the Kafka input topics, paced, until told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from rich.console import Console
from rich.live import Live
from rich.text import Text

from connectors.city import CityModel, Clock, Event, utc_now
from connectors.incident_sensors import IncidentSensors
from connectors.iot_gateway import IotGateway
from connectors.kafka_quiet import quiet_topic_setup
from connectors.scenarios import (
    RESERVE,
    Casting,
    GroundTruth,
    GroundTruthLog,
    Injection,
    ground_truth,
    materialise,
    recent_casts,
)
from connectors.target import KafkaTarget
from rules.errors import RiskstreamError
from rules.schema import ScenarioSpec

log = logging.getLogger("riskstream.simulator")

BURST_SECONDS = 0.25
MIN_TICK = 0.004
START_TIMEOUT = 20.0
STOP_TIMEOUT = 30.0
KEEP_REPORTING_EVERY = 1.0
"""Seconds between looks for heartbeats due from the sensors of injected incidents."""


def new_run_id() -> str:
    """Short and different on every start (clock plus random bits), so ids never repeat."""
    return f"{int(time.time() * 1000) % 36**7:x}{secrets.token_hex(1)}"


class SimulatorError(RiskstreamError):
    """The simulator could not send what it was asked to."""


class KafkaUnavailableError(SimulatorError):
    """The simulator could not reach the Kafka bootstrap servers."""

    def __init__(self, bootstrap: str, reason: str):
        self.bootstrap = bootstrap
        super().__init__(f"cannot reach Kafka at {bootstrap}: {reason}")


class TopicMissingError(SimulatorError):
    """An input topic does not exist and the broker does not create topics on demand."""


# ------------------------------------------------------------------------------------- pacing


class TokenBucket:
    """Paces sends at ``rate``/s; unused credit is capped at ``burst`` so a stall (GC, broker
    back-pressure) is caught up in one bounded burst instead of flooding the topic."""

    def __init__(self, rate: float, burst: float):
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self.rate = rate
        self.burst = max(1.0, burst)
        self.tokens = 0.0
        self.last: float | None = None

    def take(self, now: float) -> int:
        """Whole sends allowed at ``now`` (seconds on any monotonic clock); they are spent."""
        if self.last is None:
            self.last = now
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        n = int(self.tokens)
        self.tokens -= n
        return n

    def wait(self) -> float:
        """Seconds until the next whole send is allowed."""
        return max(0.0, (1.0 - self.tokens) / self.rate)


# ------------------------------------------------------------------------------------- sending


@dataclass
class SimulationStats:
    """Counters of one run; delivery errors count broker rejections as well as local failures."""

    run_id: str
    background_sent: int = 0
    scenario_events_sent: int = 0
    scenarios_injected: int = 0
    scenarios_completed: int = 0
    errors: int = 0
    last_error: str | None = None
    by_family: Counter[str] = field(default_factory=Counter)
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None

    @property
    def elapsed(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    @property
    def rate(self) -> float:
        """Background events per second achieved over the whole run."""
        return self.background_sent / self.elapsed if self.elapsed > 0 else 0.0

    def line(self) -> str:
        return (f"run {self.run_id}: {self.background_sent:,} background events "
                f"({self.rate:,.0f}/s), {self.scenarios_injected} scenarios injected "
                f"({self.scenario_events_sent} events, {self.scenarios_completed} complete), "
                f"{self.errors} errors, {self.elapsed:,.1f}s")


class _Sender:
    """Keys by source id (one device's events stay ordered in one partition), values as JSON.

    With ``record``, every event handed on is also written there, one JSON line each, byte for byte
    the value produced to Kafka (sensor readings sent over MQTT: the event the gateway was given).
    """

    def __init__(self, producer: AIOKafkaProducer, target: KafkaTarget, stats: SimulationStats,
                 gateway: IotGateway | None = None, record: IO[bytes] | None = None):
        self.producer = producer
        self.topics = {f.value: t for f, t in target.input_topics().items()}
        self.stats = stats
        self.gateway = gateway
        self.record = record
        self.incident_sensors: IncidentSensors | None = None
        """With it, the sensors of injected incidents go on reporting (see _keep_reporting)."""

    async def send(self, event: Event, scenario: bool = False) -> None:
        value = orjson.dumps(event)
        if self.gateway is not None and event["family"] == "sensor":
            sent = self.gateway.publish(event)
            if not sent:
                self._error(SimulatorError("the MQTT client's queue is full"))
        else:
            sent = await self._produce(event, value)
        if not sent:
            return
        if self.record is not None:
            self.record.write(value + b"\n")
        if scenario:
            self.stats.scenario_events_sent += 1
            if self.incident_sensors is not None:
                self.incident_sensors.saw(event)
        else:
            self.stats.background_sent += 1
        self.stats.by_family[event["family"]] += 1

    async def _produce(self, event: Event, value: bytes) -> bool:
        try:
            fut = await self.producer.send(self.topics[event["family"]], value,
                                           key=event["source_id"].encode())
        except KafkaError as exc:
            self._error(exc)
            return False
        fut.add_done_callback(self._delivered)
        return True

    def _delivered(self, fut: asyncio.Future[Any]) -> None:
        if not fut.cancelled() and fut.exception() is not None:
            self._error(fut.exception())

    def _error(self, exc: BaseException | None) -> None:
        self.stats.errors += 1
        self.stats.last_error = f"{type(exc).__name__}: {exc}"


async def _start_producer(target: KafkaTarget) -> AIOKafkaProducer:
    producer = AIOKafkaProducer(**target.client_options(), linger_ms=5,
                                client_id="riskstream-simulator", max_batch_size=256 * 1024)
    try:
        await asyncio.wait_for(producer.start(), START_TIMEOUT)
    except (KafkaError, OSError, TimeoutError) as exc:
        with contextlib.suppress(Exception):
            await producer.stop()
        reason = str(exc) or f"no answer within {START_TIMEOUT:g}s"
        if target.security.protocol != "PLAINTEXT":  # a refused login or TLS handshake looks the same
            reason += f" over {target.security.describe()}: check RISKSTREAM_KAFKA_*"
        raise KafkaUnavailableError(target.bootstrap, reason) from None
    try:
        await _await_topics(producer, target)
    except TopicMissingError:
        await producer.stop()
        raise
    return producer


async def _await_topics(producer: AIOKafkaProducer, target: KafkaTarget) -> None:
    """Fetch every input topic's metadata before pacing starts, so that a broker auto-creating
    topics does not eat the first second of a timed run, and a missing topic fails loudly.

    aiokafka logs each not-yet-created topic as an ERROR; here that is the expected first step
    of auto-creation, so those records are muted for the duration (connectors.kafka_quiet).
    """
    with quiet_topic_setup():
        for topic in target.input_topics().values():
            try:
                await asyncio.wait_for(producer.partitions_for(topic), START_TIMEOUT)
            except (KafkaError, TimeoutError):
                raise TopicMissingError(
                    f"topic {topic} does not exist on {target.bootstrap} and the broker "
                    "did not create it: start the worker once (it creates its topics) or enable "
                    "auto.create.topics.enable"
                ) from None


async def _stop_producer(producer: AIOKafkaProducer, stats: SimulationStats) -> None:
    try:
        await asyncio.wait_for(producer.stop(), STOP_TIMEOUT)  # stop() flushes first
    except (KafkaError, TimeoutError) as exc:
        stats.errors += 1
        stats.last_error = f"flush on shutdown failed: {exc or 'timed out'}"


async def _play(
    sender: _Sender,
    scenario: ScenarioSpec,
    injection: Injection,
    time_scale: float,
    truth_log: GroundTruthLog | None,
    gap: float = 0.0,
) -> GroundTruth:
    """Send one injection, each event at ``at * time_scale`` wall seconds after the first.

    ``gap`` adds wall time between consecutive events: events of one scenario travel on several
    topics and partitions, and only a gap keeps their processing order equal to their time order.
    """
    events = materialise(scenario, injection)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    sent: list[str] = []
    sender.stats.scenarios_injected += 1
    try:
        for i, (at, event) in enumerate(events):
            delay = t0 + at * time_scale + i * gap - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await sender.send(event, scenario=True)
            sent.append(event["event_id"])
    finally:
        done = len(sent) == len(events)
        sender.stats.scenarios_completed += done
        truth = ground_truth(scenario, injection, sent, complete=done)
        if truth_log is not None:
            truth_log.write(truth)
    return truth


async def inject(
    target: KafkaTarget,
    scenarios: Sequence[ScenarioSpec],
    run_id: str,
    start: datetime | None = None,
    time_scale: float = 0.0,
    gap: float = 0.0,
) -> list[GroundTruth]:
    """Send exactly the scenarios' events (no background) from ``start``; flush; return the truth.

    Every scenario's events carry ``run_id``; one casting (seeded by it) gives them all distinct
    identifiers. For integration tests: a send that fails raises, so a test never waits for unsent
    alerts.
    """
    stats = SimulationStats(run_id=run_id)
    producer = await _start_producer(target)
    sender = _Sender(producer, target, stats)
    begin = start or utc_now()
    casting = Casting(seed=run_id)
    try:
        truths = await asyncio.gather(*(
            _play(sender, s, casting.injection(s, run_id, begin), time_scale, None, gap)
            for s in scenarios))
        await producer.flush()
    finally:
        await _stop_producer(producer, stats)
    if stats.errors:
        raise SimulatorError(f"{stats.errors} scenario event(s) were not delivered to "
                             f"{target.bootstrap}; last error: {stats.last_error}")
    return list(truths)


async def _keep_reporting(sender: _Sender, sensors: IncidentSensors, clock: Clock) -> None:
    """Heartbeats of the sensors incidents were played on, each when due (connectors.incident_sensors)."""
    while True:
        for event in sensors.due(clock()):
            await sender.send(event)
        await asyncio.sleep(KEEP_REPORTING_EVERY)


async def _background(sender: _Sender, events: Iterator[Event], rate: float) -> None:
    bucket = TokenBucket(rate, burst=rate * BURST_SECONDS)
    loop = asyncio.get_running_loop()
    while True:
        for _ in range(bucket.take(loop.time())):
            await sender.send(next(events))
        await asyncio.sleep(max(bucket.wait(), MIN_TICK))


@dataclass
class _Injector:
    """Schedules injections: one scenario every ``every`` seconds in turn, or all at once.

    Injection ``n`` of the run has run id ``RUN-n`` (in its event ids) and identifiers of its own
    from ``casting``.
    """

    sender: _Sender
    scenarios: Sequence[ScenarioSpec]
    run_id: str
    every: float
    time_scale: float
    truth_log: GroundTruthLog | None
    clock: Clock
    casting: Casting
    running: set[asyncio.Task[GroundTruth]] = field(default_factory=set)

    def launch(self, scenario: ScenarioSpec, n: int) -> asyncio.Task[GroundTruth]:
        injection = self.casting.injection(scenario, f"{self.run_id}-{n}", self.clock())
        task = asyncio.create_task(_play(self.sender, scenario, injection, self.time_scale,
                                         self.truth_log))
        self.running.add(task)
        task.add_done_callback(self.running.discard)
        return task

    async def all_at_once(self) -> None:
        await asyncio.gather(*(self.launch(s, n) for n, s in enumerate(self.scenarios)))

    async def in_turn(self) -> None:
        n = 0
        while True:
            self.launch(self.scenarios[n % len(self.scenarios)], n)
            n += 1
            await asyncio.sleep(self.every)

    async def cancel(self) -> None:
        for task in list(self.running):
            task.cancel()
        await asyncio.gather(*self.running, return_exceptions=True)


async def _log_progress(stats: SimulationStats, every: float = 10.0) -> None:
    while True:
        await asyncio.sleep(every)
        log.info("%s", stats.line())


async def _live_progress(stats: SimulationStats) -> None:
    """One status line on the terminal, with the rate of the last half second next to the mean."""
    prev_t, prev_n = time.monotonic(), 0
    with Live(console=Console(stderr=True), refresh_per_second=4, transient=True) as live:
        while True:
            await asyncio.sleep(0.5)
            now, n = time.monotonic(), stats.background_sent
            current = (n - prev_n) / (now - prev_t)
            prev_t, prev_n = now, n
            err = f"  last error: {stats.last_error}" if stats.last_error else ""
            live.update(Text(f"sent {n:,} ({current:,.0f}/s now, {stats.rate:,.0f}/s avg) · "
                             f"scenarios {stats.scenarios_injected} injected, "
                             f"{stats.scenarios_completed} done · errors {stats.errors}{err}"))


@contextlib.contextmanager
def _stop_on_signals(stop: asyncio.Event, main: asyncio.Task[Any] | None) -> Iterator[None]:
    """First Ctrl-C stops cleanly (flushing the producer); a second one cancels at once."""
    loop = asyncio.get_running_loop()

    def handle() -> None:
        if stop.is_set() and main is not None:
            main.cancel()
        stop.set()

    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, handle)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # not the main thread, or not a Unix loop: Ctrl-C then cancels the run instead
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


async def run_simulation(
    target: KafkaTarget,
    rate: float,
    duration: float | None,
    scenarios: Sequence[ScenarioSpec],
    every: float,
    ground_truth: Path | None,
    progress: bool,
    seed: int,
    once: bool,
    *,
    time_scale: float = 1.0,
    clock: Clock = utc_now,
    run_id: str | None = None,
    mqtt: tuple[str, int] | None = None,
    record: Path | None = None,
) -> SimulationStats:
    """Background traffic at ``rate``/s plus scenario injections until ``duration`` or Ctrl-C.

    With ``once`` every scenario is injected together at the start and, without a duration, the
    run ends when the last one is sent. Otherwise scenarios are injected one after another every
    ``every`` seconds (never when ``every <= 0``), each injection under its own run id. With ``mqtt``
    (host, port) sensor events are published there as an IoT gateway would, not produced to Kafka.

    The ground-truth file exists from the start (empty if new); the identifiers its recent records
    (``RESERVE``) used are kept out of this run's casting, so a restarted simulator does not open
    its incidents on the devices of alerts a worker may still hold open. With ``record``, every
    event sent is appended there as one JSON line (see ``_Sender``). The sensors incidents were
    played on go on beating afterwards, as real ones do (connectors.incident_sensors).
    """
    run_id = run_id or new_run_id()
    stats = SimulationStats(run_id=run_id)
    city = CityModel(seed)
    casting = Casting(seed=run_id, reserved=city.identifiers())
    truth_log = None
    if ground_truth is not None:
        casting.remember(recent_casts(ground_truth, clock() - RESERVE))
        truth_log = GroundTruthLog(ground_truth)
    with contextlib.ExitStack() as files:
        recorder = None
        if record is not None:
            record.parent.mkdir(parents=True, exist_ok=True)
            recorder = files.enter_context(record.open("ab"))
        gateway = IotGateway(*mqtt) if mqtt else None
        if gateway is not None:
            await gateway.start()
        producer = await _start_producer(target)
        sender = _Sender(producer, target, stats, gateway, recorder)
        sender.incident_sensors = IncidentSensors(run_id)
        injector = _Injector(sender, scenarios, run_id, every, time_scale, truth_log, clock, casting)
        stop = asyncio.Event()
        stats.started = time.monotonic()  # rates count from the first send, not from the connect
        tasks = [asyncio.create_task(_live_progress(stats) if progress else _log_progress(stats))]
        if rate > 0:
            traffic = city.background_events(rate, run_id, clock)
            tasks.append(asyncio.create_task(_background(sender, traffic, rate)))
        if scenarios:
            tasks.append(asyncio.create_task(_keep_reporting(sender, sender.incident_sensors, clock)))
        if scenarios and once:
            tasks.append(asyncio.create_task(_finish(injector.all_at_once(), stop, duration is None)))
        elif scenarios and every > 0:
            tasks.append(asyncio.create_task(injector.in_turn()))
        try:
            with _stop_on_signals(stop, asyncio.current_task()), contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), duration)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await injector.cancel()
            stats.finished = time.monotonic()
            await _stop_producer(producer, stats)
            if gateway is not None:
                missing = await gateway.stop()
                if missing:
                    stats.errors += missing
                    stats.last_error = f"{missing} MQTT message(s) not acknowledged by the broker"
    return stats


async def _finish(work: Awaitable[None], stop: asyncio.Event, then_stop: bool) -> None:
    await work
    if then_stop:
        stop.set()
