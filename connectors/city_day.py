"""A simulated city day, offline: the seeded city's traffic with every incident scenario injected in
turn, on a virtual clock, as a recording (events in time order) and its ground truth.

The live simulator paces events to the wall clock; measuring accuracy over a day must not take a
day, and must give the same events for the same seed, so this builds the day in memory instead
(`riskstream score --city-day`, tests/unit/test_score_city_day.py, the README's Accuracy figures).

Two things differ from the live simulator's traffic, on purpose, because without them the day would
raise alerts no city would: every sensor reports on a period of its own (``heartbeat``), not as a
random share of the traffic (at a low rate, random heartbeats leave the hours-long gaps that
``sensor-offline`` rightly reports), so a low ``rate`` keeps the day cheap without making it sick;
and, as in the live simulator, a sensor an incident was played on goes on reporting after its
incident (connectors.incident_sensors).
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import orjson

from connectors.city import HEARTBEAT_PERIOD, CityModel, Event
from connectors.incident_sensors import IncidentSensors, heartbeat
from connectors.scenarios import Casting, GroundTruth, ground_truth, materialise
from rules.schema import ScenarioSpec

DAY_START = datetime.fromisoformat("2026-01-05T00:00:00+08:00")
"""A Monday, local midnight in 乌海: the day's start when none is given (for reproducible figures)."""


@dataclass(frozen=True)
class DayPlan:
    """What a simulated day is made of. The defaults are the README's Accuracy run."""

    seed: int = 7
    start: datetime = DAY_START
    hours: float = 24.0
    """The day's length: traffic and every injection (one that would not end within it is left for
    the next scenario in turn that does)."""
    rate: float = 2.0
    """Background events per second besides heartbeats (readings, camera analytics, logins, calls)."""
    every: float = 900.0
    """Seconds between injections; the scenarios take turns, the first at ``start``."""
    heartbeat: float = HEARTBEAT_PERIOD
    """Each sensor's reporting period, seconds (the city's sensors beat every 5 minutes)."""

    @property
    def run_id(self) -> str:
        return f"day{self.seed}"


@dataclass
class CityDay:
    """The day's events in time order (JSON-ready, as the simulator sends them) and what each
    injection must raise."""

    plan: DayPlan
    events: list[Event] = field(default_factory=list)
    truths: list[GroundTruth] = field(default_factory=list)

    def write(self, events_path: Path, truth_path: Path) -> None:
        """The recording (for `riskstream rules backtest`) and the ground truth (for `score`)."""
        for path in (events_path, truth_path):
            path.parent.mkdir(parents=True, exist_ok=True)
        with events_path.open("wb") as f:
            for event in self.events:
                f.write(orjson.dumps(event) + b"\n")
        with truth_path.open("w", encoding="utf-8") as t:
            for truth in self.truths:
                t.write(truth.model_dump_json() + "\n")

    def lines(self) -> Iterator[bytes]:
        """Each event as a line of the recording, without the file."""
        return (orjson.dumps(event) for event in self.events)


def city_day(scenarios: Sequence[ScenarioSpec], plan: DayPlan = DayPlan()) -> CityDay:
    """The day ``plan`` describes, the same for the same plan."""
    if plan.every <= 0 or plan.hours <= 0 or plan.heartbeat <= 0 or plan.rate < 0:
        raise ValueError("a day needs hours, every and heartbeat above 0 and a rate of at least 0")
    city = CityModel(plan.seed)
    rng = random.Random(f"{plan.seed}:day")
    casting = Casting(seed=plan.run_id, reserved=city.identifiers())
    timed: list[tuple[datetime, int, Event]] = []

    def add(when: datetime, event: Event) -> None:
        timed.append((when, len(timed), event))

    day = CityDay(plan)
    sensors = IncidentSensors(plan.run_id, plan.heartbeat)
    end = plan.start + timedelta(hours=plan.hours)
    turn = 0
    for n, at in enumerate(_steps(plan.start, end, plan.every)):
        order = [(turn + k) % len(scenarios) for k in range(len(scenarios))]
        fits = [i for i in order if at + _span(scenarios[i]) <= end]
        if not fits:
            continue
        scenario = scenarios[fits[0]]
        turn = fits[0] + 1
        injection = casting.injection(scenario, f"{plan.run_id}-{n}", at)
        events = materialise(scenario, injection)
        for offset, event in events:
            add(at + timedelta(seconds=offset), event)
            sensors.saw(event)
        day.truths.append(ground_truth(scenario, injection, [e["event_id"] for _, e in events]))
    for event in sensors.due(end):
        add(datetime.fromisoformat(event["time"]), event)

    now = plan.start
    # No heartbeats drawn at random (an infinite rate leaves them no share): each sensor beats below.
    traffic = city.background_events(float("inf"), plan.run_id, lambda: now)
    if plan.rate > 0:
        for now in _steps(plan.start, end, 1 / plan.rate):
            add(now, next(traffic))
    for device in city.sensors:
        first = plan.start + timedelta(seconds=rng.uniform(0, plan.heartbeat))
        for when in _steps(first, end, plan.heartbeat):
            add(when, heartbeat(device, when, plan.run_id, rng))
    timed.sort(key=lambda item: (item[0], item[1]))
    day.events = [event for _, _, event in timed]
    return day


def _span(scenario: ScenarioSpec) -> timedelta:
    return timedelta(seconds=max(ev.at for ev in scenario.events))


def _steps(start: datetime, stop: datetime, every: float) -> Iterator[datetime]:
    """start, start + every, ... while before ``stop`` (computed from the start: no drift)."""
    n = 0
    while (when := start + timedelta(seconds=n * every)) < stop:
        yield when
        n += 1
