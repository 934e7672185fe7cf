"""The soak's load: the seeded city's background traffic at a steady rate, and the incident
scenarios injected in turn, with the ground truth of each injection.

The same seed gives the same events in the same order (the city, its traffic and the casting of
every injection); event times and ids come from the run. Nothing is dropped: a send the broker did
not take (it was down for longer than the producer waits) is sent again until it is acknowledged,
and counted. While the broker is down the producer's buffers fill and sending waits; pacing then
resumes at the rate, without a catch-up burst beyond a quarter of a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from connectors.city import CityModel, Clock, Event, utc_now
from connectors.scenarios import (
    SCENARIOS_FILE,
    Casting,
    GroundTruth,
    ground_truth,
    load_scenarios,
    materialise,
)
from connectors.simulator import BURST_SECONDS, MIN_TICK, TokenBucket
from rules.schema import ScenarioSpec

RESEND_PAUSE = 1.0


@dataclass
class LoadStats:
    generated: int = 0
    """Events handed to the producer for the first time (each a distinct event id)."""
    acked: int = 0
    """Distinct events the broker acknowledged."""
    failed: int = 0
    """Deliveries that failed (each then sent again)."""
    resent: int = 0
    injections: int = 0
    injections_done: int = 0
    scenario_events: int = 0
    last_error: str | None = None
    first_ack_after: dict[str, float] = field(default_factory=dict)
    """Named moments -> loop time of the first acknowledgement after them (see ``watch_for_ack``)."""
    _watching: dict[str, float] = field(default_factory=dict)

    def watch_for_ack(self, name: str, since: float) -> None:
        """Note when the next acknowledgement arrives (e.g. after the broker's return)."""
        self._watching[name] = since

    def _acked(self, now: float) -> None:
        self.acked += 1
        if self._watching:
            for name in list(self._watching):
                self.first_ack_after[name] = now
                del self._watching[name]


class Sender:
    """Produces events keyed by source id to their family's topic and tracks their delivery."""

    def __init__(self, producer: AIOKafkaProducer, topics: dict[str, str], stats: LoadStats):
        self.producer = producer
        self.topics = topics
        self.stats = stats
        self.pending: set[asyncio.Task[None]] = set()
        self.loop = asyncio.get_running_loop()

    async def send(self, event: Event) -> asyncio.Future[Any]:
        """Hand one event to the producer; the returned future is done when the broker has it."""
        topic, key, value = self.topics[event["family"]], event["source_id"].encode(), orjson.dumps(event)
        done: asyncio.Future[Any] = self.loop.create_future()
        await self._send(topic, key, value, done)
        self.stats.generated += 1  # handed over (a send cancelled before this never reached the producer)
        return done

    async def _send(self, topic: str, key: bytes, value: bytes, done: asyncio.Future[Any]) -> None:
        while True:
            try:
                fut = await self.producer.send(topic, value, key=key)
            except Exception as exc:  # KafkaTimeoutError after request_timeout_ms, and the like
                self._failed(exc)
                await asyncio.sleep(RESEND_PAUSE)
                self.stats.resent += 1
                continue
            fut.add_done_callback(partial(self._delivered, topic, key, value, done))
            return

    def _delivered(self, topic: str, key: bytes, value: bytes, done: asyncio.Future[Any],
                   fut: asyncio.Future[Any]) -> None:
        if not fut.cancelled() and fut.exception() is None:
            self.stats._acked(self.loop.time())
            if not done.done():
                done.set_result(None)
            return
        self._failed(fut.exception() if not fut.cancelled() else None)
        task = self.loop.create_task(self._resend(topic, key, value, done))
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def _resend(self, topic: str, key: bytes, value: bytes, done: asyncio.Future[Any]) -> None:
        await asyncio.sleep(RESEND_PAUSE)
        self.stats.resent += 1
        await self._send(topic, key, value, done)

    def _failed(self, exc: BaseException | None) -> None:
        self.stats.failed += 1
        self.stats.last_error = f"{type(exc).__name__}: {exc}" if exc is not None else "cancelled"


class SoakLoad:
    """Background traffic at ``rate``/s plus one injection every ``incident_every`` seconds."""

    def __init__(self, seed: int, run_id: str, rate: float, incident_every: float, incident_gap: float,
                 clock: Clock = utc_now, scenarios: list[ScenarioSpec] | None = None):
        city = CityModel(seed)
        self.traffic = city.background_events(rate, run_id, clock)
        self.scenarios = scenarios if scenarios is not None else load_scenarios(SCENARIOS_FILE)
        self.casting = Casting(seed=f"soak-{seed}", reserved=city.identifiers())
        self.run_id = run_id
        self.rate = rate
        self.incident_every = incident_every
        self.incident_gap = incident_gap
        self.clock = clock
        self.stats = LoadStats()
        self.truths: list[GroundTruth] = []
        self.started: float | None = None
        self.background_sent = 0

    async def run(self, sender: Sender, stop: asyncio.Event) -> None:
        """Until ``stop`` is set; then every injection begun is sent whole and everything is delivered."""
        self.started = asyncio.get_running_loop().time()
        plays: set[asyncio.Task[None]] = set()
        tasks = [asyncio.create_task(self._background(sender))]
        if self.scenarios and self.incident_every > 0:
            tasks.append(asyncio.create_task(self._incidents(sender, plays)))
        try:
            await stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.gather(*plays, return_exceptions=True)

    async def _background(self, sender: Sender) -> None:
        bucket = TokenBucket(self.rate, burst=self.rate * BURST_SECONDS)
        loop = asyncio.get_running_loop()
        while True:
            for _ in range(bucket.take(loop.time())):
                await sender.send(next(self.traffic))
                self.background_sent += 1
            await asyncio.sleep(max(bucket.wait(), MIN_TICK))

    async def _incidents(self, sender: Sender, plays: set[asyncio.Task[None]]) -> None:
        loop = asyncio.get_running_loop()
        assert self.started is not None
        for n in itertools.count():
            delay = self.started + n * self.incident_every - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            scenario = self.scenarios[n % len(self.scenarios)]
            play = asyncio.create_task(self._play(sender, scenario, n))
            plays.add(play)
            play.add_done_callback(plays.discard)

    async def _play(self, sender: Sender, scenario: ScenarioSpec, n: int) -> None:
        """One injection: its events ``incident_gap`` apart (event times keep the scenario's spacing),
        shielded from cancellation so that an injection begun is sent whole."""
        injection = self.casting.injection(scenario, f"{self.run_id}-{n}", self.clock())
        self.stats.injections += 1
        events = materialise(scenario, injection)
        deliveries = []
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        for i, (_, event) in enumerate(events):
            delay = t0 + i * self.incident_gap - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            deliveries.append(await sender.send(event))
            self.stats.scenario_events += 1
        await asyncio.gather(*deliveries)
        self.truths.append(ground_truth(scenario, injection, [e["event_id"] for _, e in events]))
        self.stats.injections_done += 1


async def delivered(sender: Sender, timeout: float) -> bool:
    """Until every event handed over is acknowledged (resends included), at most ``timeout`` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    with contextlib.suppress(Exception):
        await asyncio.wait_for(sender.producer.flush(), timeout)
    while sender.stats.acked < sender.stats.generated or sender.pending:
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.2)
    return True
