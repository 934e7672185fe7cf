"""The generated city load: contract-valid events whose one metric follows a known distribution."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from rules.events import KINDS, Family

PROBE_FAMILY = Family.sensor
PROBE_KIND = "heartbeat"
"""Probes use a kind no generated rule reads, so their cost is the probe rule plus shipped rules."""


FAMILY_MIX: dict[Family, float] = {
    Family.sensor: 0.62,
    Family.camera: 0.20,
    Family.cyber: 0.10,
    Family.safety: 0.05,
    Family.hotline: 0.03,
}
"""The simulator's city mix: IoT sensors dominate real city traffic."""


STREETS = tuple(f"JD{i:02d}" for i in range(24))
"""Generated rules are scoped per street (街道), the way a city tunes thresholds locally; this
bounds the rule count at kinds x streets and spreads rules without making them overlap."""
DISTRICTS = ("HBW", "WD", "HN")
SOURCES_PER_FAMILY = 3000
METRIC_TOP = 100.0
QUIET_TOP = 10.0
QUIET_SHARE = 0.9
"""Readings are quiet (below 10) nine times in ten, like a city's real sensors, so threshold rules
in the shipped packs fire on the tail only. Kinds are drawn uniformly, so shipped rules that fire on
every event of an incident kind (fight, intrusion, malware) still fire often: about 20 % of events."""


@dataclass(frozen=True)
class Metric:
    """The one number generated rules test on a family: a CEL path, its scale and whether int."""

    path: str
    scale: float
    integer: bool = False


METRIC_OF: dict[Family, Metric] = {
    Family.sensor: Metric("value", 1.0),
    Family.camera: Metric("density", 0.1),
    Family.safety: Metric("value", 1.0),
    Family.cyber: Metric("attributes.risk_score", 1.0),
    Family.hotline: Metric("people_involved", 1.0, integer=True),
}


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def draw_metric(rng: random.Random) -> float:
    """Quiet band [0, 10) with probability 0.9, else the tail [10, 100); both uniform."""
    if rng.random() < QUIET_SHARE:
        return rng.random() * QUIET_TOP
    return QUIET_TOP + rng.random() * (METRIC_TOP - QUIET_TOP)


def survival(x: float) -> float:
    """P(metric >= x) under draw_metric: what makes generated match rates known in advance."""
    tail = 1.0 - QUIET_SHARE
    if x <= 0:
        return 1.0
    if x < QUIET_TOP:
        return tail + QUIET_SHARE * (QUIET_TOP - x) / QUIET_TOP
    if x < METRIC_TOP:
        return tail * (METRIC_TOP - x) / (METRIC_TOP - QUIET_TOP)
    return 0.0


def inverse_survival(q: float) -> float:
    """The x with survival(x) == q, for q in [0, 1]."""
    tail = 1.0 - QUIET_SHARE
    if q >= 1.0:
        return 0.0
    if q <= tail:
        return METRIC_TOP - q / tail * (METRIC_TOP - QUIET_TOP)
    return QUIET_TOP - (q - tail) / QUIET_SHARE * QUIET_TOP


class EventFactory:
    """Contract-valid events whose one metric follows draw_metric, so match rates are known."""

    def __init__(self, run_id: str, seed: int):
        self.run_id = run_id
        self.rng = random.Random(seed)
        self.seq = 0
        self._families = list(FAMILY_MIX)
        self._weights = [FAMILY_MIX[f] for f in self._families]
        self._kinds = {f: sorted(k for k in KINDS[f] if (f, k) != (PROBE_FAMILY, PROBE_KIND)) for f in Family}

    def _next_id(self, tag: str) -> str:
        self.seq += 1
        return f"{self.run_id}-{tag}-{self.seq}"

    def background(self, tag: str, ts: float) -> tuple[Family, str, dict[str, Any]]:
        """A city event of the usual family mix; returns (family, key, body)."""
        family = self.rng.choices(self._families, self._weights)[0]
        kind = self.rng.choice(self._kinds[family])
        metric = draw_metric(self.rng)
        source = f"{family.value}-{self.rng.randrange(SOURCES_PER_FAMILY)}"
        street = self.rng.randrange(len(STREETS))
        body = self._envelope(self._next_id(tag), family, kind, source, street, ts)
        body.update(_family_fields(family, metric, body["event_id"]))
        if family is Family.cyber:
            body["attributes"] = {"risk_score": round(metric, 3)}
        return family, source, body

    def probe(self, tag: str, ts: float) -> tuple[Family, str, dict[str, Any]]:
        """An event only the probe rule fires on, with a group (source) no other event shares."""
        event_id = self._next_id(tag)
        source = f"bench-probe-{event_id}"
        body = self._envelope(event_id, PROBE_FAMILY, PROBE_KIND, source, 0, ts)
        body.update({"value": 0.0, "unit": "raw", "status": "normal"})
        return PROBE_FAMILY, source, body

    def _envelope(
        self, event_id: str, family: Family, kind: str, source: str, street: int, ts: float
    ) -> dict[str, Any]:
        return {
            "event_id": event_id,
            "family": family.value,
            "kind": kind,
            "time": _iso(ts),
            "source_id": source,
            "location": {
                "city": "bench-city",
                "district": DISTRICTS[street % len(DISTRICTS)],
                "street": STREETS[street],
                "grid": f"{STREETS[street]}-G{self.rng.randrange(40):02d}",
                "name": f"bench site {source}",
            },
        }


def _family_fields(family: Family, metric: float, event_id: str) -> dict[str, Any]:
    """The family's own fields, the metric placed where METRIC_OF says rules will look."""
    if family is Family.sensor:
        return {"value": round(metric, 3), "unit": "raw", "status": "normal", "battery": 80.0}
    if family is Family.camera:
        return {
            "density": round(metric * 0.1, 4),
            "people": int(metric * 3),
            "confidence": 0.9,
            "channel": 1,
            "state": "pulse",
        }
    if family is Family.safety:
        return {
            "site_id": f"site-{int(metric * 7) % 50}",
            "tank_id": "T1",
            "value": round(metric, 3),
            "unit": "raw",
            "hazard_level": 3,
        }
    if family is Family.cyber:
        return {
            "src_ip": "10.0.0.1",
            "dst_ip": "10.0.0.2",
            "dst_port": 443,
            "protocol": "tcp",
            "asset": "portal",
            "severity": 3,
            "signature": "bench",
        }
    return {"ticket_id": event_id, "channel": "12345", "people_involved": int(metric), "text": "bench report"}


def encode(body: dict[str, Any]) -> bytes:
    return orjson.dumps(body)


def backlog(
    factory: EventFactory, topics: dict[Family, str], n: int, tag: str
) -> list[tuple[str, bytes, bytes]]:
    now = time.time()
    out = []
    for _ in range(n):
        family, key, body = factory.background(tag, now)
        out.append((topics[family], key.encode(), encode(body)))
    return out
