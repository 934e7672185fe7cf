"""The city workload: the simulator's background traffic of 乌海市 with its incidents injected.

Unlike the stress workload (kinds drawn uniformly, a fifth of events raising alerts), this is what
a city's streams look like: mostly sensor readings and heartbeats in normal ranges, keyed by the
device that sent them, and every few hundred events one event of an incident scenario.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from bench.workload import EventFactory
from connectors.city import CityModel
from connectors.scenarios import SCENARIOS_FILE, Casting, load_scenarios, materialise
from rules.events import Family

INCIDENT_EVERY = 250
"""One incident event per this many events: about 20 incidents per 20,000 events."""
TRAFFIC_RATE = 2000.0
"""The city's event rate the traffic is drawn for (it sets the heartbeat share)."""


class CityFactory(EventFactory):
    def __init__(self, run_id: str, seed: int):
        super().__init__(run_id, seed)
        self._now = 0.0
        city = CityModel(seed)
        self._traffic = city.background_events(TRAFFIC_RATE, run_id, self._clock)
        self._casting = Casting(seed=seed, reserved=city.identifiers())
        self._scenarios = itertools.cycle(load_scenarios(SCENARIOS_FILE))
        self._incident: Iterator[dict[str, Any]] = iter(())
        self._injections = 0

    def _clock(self) -> datetime:
        return datetime.fromtimestamp(self._now, UTC)

    def background(self, tag: str, ts: float) -> tuple[Family, str, dict[str, Any]]:
        self._now = ts
        self.seq += 1
        body = self._next_incident_event(ts) if self.seq % INCIDENT_EVERY == 0 else None
        if body is None:
            body = next(self._traffic)
        return Family(body["family"]), str(body["source_id"]), body

    def _next_incident_event(self, ts: float) -> dict[str, Any] | None:
        for _ in range(2):
            event = next(self._incident, None)
            if event is not None:
                return event
            self._injections += 1
            run, scenario = f"{self.run_id}i{self._injections}", next(self._scenarios)
            injection = self._casting.injection(scenario, run, datetime.fromtimestamp(ts, UTC))
            events = materialise(scenario, injection)
            self._incident = iter(e for _, e in events)
        return None
