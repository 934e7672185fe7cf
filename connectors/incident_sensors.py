"""Sensors an incident was played on go on reporting after it, as the city's own sensors do.

An injection plays its incident on a device of its own (connectors.scenarios, Casting) and sends
only the scenario's events. A real gas detector or water-level gauge does not fall silent once its
alarm is over: it goes on beating. Without this, ``sensor-offline`` would report every incident's
sensors two hours after their incident, alerts that no city would see and no scenario expects. Used
by the live simulator (on the wall clock) and the simulated city day (on a virtual one).
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator
from datetime import datetime, timedelta

from connectors.city import HEARTBEAT_PERIOD, Device, Event


class IncidentSensors:
    """Each sensor seen in an injection's events beats every ``period`` seconds from its last
    scenario event on (never between its scenario's events, whose story the beats must not join)."""

    def __init__(self, run_id: str, period: float = HEARTBEAT_PERIOD):
        self.run_id = run_id
        self.period = timedelta(seconds=period)
        self._next: dict[str, tuple[datetime, Device]] = {}
        self._heap: list[tuple[datetime, str]] = []

    def __len__(self) -> int:
        return len(self._next)

    def saw(self, event: Event) -> None:
        """An injection's event, as sent: a sensor's puts its next beat one period after it."""
        if event["family"] != "sensor":
            return
        when = event["time"]
        when = datetime.fromisoformat(when) if isinstance(when, str) else when
        source = str(event["source_id"])
        have = self._next.get(source)
        beat = when + self.period
        if have is not None and have[0] >= beat:
            return
        self._next[source] = (beat, Device(source, "sensor", ("heartbeat",), event["location"]))
        heapq.heappush(self._heap, (beat, source))

    def due(self, until: datetime) -> Iterator[Event]:
        """The beats due before ``until``, in time order (each then falls due one period later)."""
        while self._heap and self._heap[0][0] < until:
            when, source = heapq.heappop(self._heap)
            beat, device = self._next[source]
            if beat != when:
                continue  # moved on by a later event of its incident
            self._next[source] = (when + self.period, device)
            heapq.heappush(self._heap, (when + self.period, source))
            yield heartbeat(device, when, self.run_id)


def heartbeat(device: Device, when: datetime, run_id: str, rng: random.Random | None = None) -> Event:
    """A sign of life from ``device`` at ``when``, shaped as the city's own heartbeats."""
    event: Event = {
        "event_id": f"hb-{run_id}-{device.source_id}-{when.timestamp():.0f}",
        "family": "sensor", "kind": "heartbeat", "time": when.isoformat(),
        "source_id": device.source_id, "location": device.location, "status": "normal",
    }
    if rng is not None and device.sensor is not None and device.sensor.battery:
        event["battery"] = round(rng.uniform(45, 100), 1)
    return event
