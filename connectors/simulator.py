"""The city simulator: steady 乌海市 background traffic plus scripted incidents with ground truth.

Background traffic stays inside normal ranges so every alert the worker raises during a run should
belong to an injected scenario; the ground-truth file then lets missed and false alerts be counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import random
import re
import secrets
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError
from rich.console import Console
from rich.live import Live
from rich.text import Text

from rules.errors import Location, RiskstreamError, RuleError, RuleSetError
from rules.events import EVENT_ADAPTER
from rules.model import Risk
from rules.schema import ExpectedAlert, ScenarioFile, ScenarioSpec
from rules.yaml_source import load_yaml, locate, to_plain
from streams.settings import Settings

log = logging.getLogger("riskstream.simulator")

Clock = Callable[[], datetime]
Event = dict[str, Any]

CITY = "乌海市"
SCENARIOS_FILE = Path(__file__).resolve().with_name("scenarios.yaml")
UNIQUE_FIELDS: tuple[str, ...] = (
    "source_id", "site_id", "ticket_id", "caller_hash", "employer", "asset", "src_ip", "dst_ip",
    "location.grid",
)
"""What rules group alerts by, suffixed with ``~run_id`` in scenario events so that re-injecting a
scenario opens new alerts instead of merging into the previous injection's, still cooling down.
A suffix keeps substring conditions (``asset.matches('政务')``) true; exact-value tests would not."""
DEFAULT_SOURCE_ID = "test-source"  # the rule test runner's default, so expectations carry over
HEARTBEAT_PERIOD = 300.0
FAMILY_MIX = {"sensor": 0.62, "camera": 0.20, "cyber": 0.10, "safety": 0.05, "hotline": 0.03}
BURST_SECONDS = 0.25
MIN_TICK = 0.004
START_TIMEOUT = 20.0
STOP_TIMEOUT = 30.0


def utc_now() -> datetime:
    return datetime.now(UTC)


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


# ---------------------------------------------------------------------------------------- city

_DISTRICTS: tuple[tuple[str, str, float, float, tuple[str, ...]], ...] = (
    ("海勃湾区", "HBW", 106.825, 39.675, (
        "新华街道", "新华西街道", "海北街道", "滨河街道", "凤凰岭街道", "卡布其街道", "林荫街道",
        "千里山镇",
    )),
    ("乌达区", "WD", 106.722, 39.505, (
        "三道坎街道", "梁家沟街道", "五虎山街道", "苏海图街道", "滨海街道", "巴音赛街道",
        "乌兰淖尔镇",
    )),
    ("海南区", "HN", 106.885, 39.441, (
        "拉僧仲街道", "西卓子山街道", "赛汗乌素街道", "公乌素镇", "巴音陶亥镇",
    )),
)
_COMMUNITY_STEMS = (
    "团结", "和平", "幸福", "光明", "育才", "康乐", "滨湖", "金沙", "青山", "阳光", "民族", "胜利",
    "友谊", "新民", "建设", "长青", "人民", "文化", "安康", "兴盛", "朝阳", "黄河", "甘德尔",
    "海馨",
)
_ROADS = (
    "滨河大道", "人民路", "海拉路", "黄河街", "新华大街", "乌兰淖尔路", "甘德尔街", "团结路",
    "卡布其街", "千里山路", "林荫路", "公园路", "海达路", "巴音赛大街", "拉僧庙路",
)
_CAMERA_PLACES = (
    "人民广场", "汽车客运站", "火车站广场", "实验小学门口", "第一中学门口", "政务服务中心门前",
    "步行街", "人民医院门诊楼", "体育场", "黄河湖景区入口", "万达广场", "农贸市场", "信访接待中心",
)


@dataclass(frozen=True)
class SensorType:
    """A family of IoT devices and the normal range its background readings stay in."""

    kind: str
    unit: str | None
    low: float
    high: float
    prefix: str
    count: int
    places: tuple[str, ...]
    battery: bool = False


SENSOR_TYPES: tuple[SensorType, ...] = (
    SensorType("combustible_gas", "%LEL", 0.0, 8.0, "GAS", 160,
               ("燃气调压箱", "餐饮店后厨", "燃气阀门井", "地下管廊"), battery=True),
    SensorType("h2s", "mg/m3", 0.0, 4.5, "H2S", 40, ("污水泵站", "化粪池检查井")),
    SensorType("co", "mg/m3", 0.0, 9.0, "CO", 60, ("地下车库", "锅炉房")),
    SensorType("water_level", "cm", 0.0, 4.0, "WL", 40, ("下穿通道", "立交桥下", "低洼路段")),
    SensorType("manhole_tilt", "deg", 0.0, 2.8, "MH", 200, ("井盖",), battery=True),
    SensorType("residual_current", "mA", 5.0, 95.0, "RC", 120, ("配电箱", "充电桩", "商铺配电室")),
    SensorType("heartbeat", None, 0.0, 0.0, "ELV", 150, ("电梯",)),
)
"""Elevator monitors only send heartbeats in normal operation: their readings are alarms."""

SAFETY_READINGS: tuple[tuple[str, str, float, float], ...] = (
    ("tank_pressure", "MPa", 0.15, 1.15),
    ("tank_level", "%", 15.0, 68.0),
    ("tank_temperature", "℃", 8.0, 35.0),
    ("combustible_gas", "%LEL", 0.0, 8.0),
)
_SITE_KINDS = (("焦化", "chemical"), ("氯碱化工", "chemical"), ("电石", "chemical"),
               ("PVC", "chemical"), ("煤矿", "mine"))
_FIRM_STEMS = ("蒙西", "黄河", "金石", "泰和", "宏远", "东源", "北方", "中盛", "华峰", "广宇")
_PARKS = (("海南区", "低碳产业园"), ("乌达区", "乌达工业园"), ("海勃湾区", "千里山工业园"))


@dataclass(frozen=True)
class Device:
    """A source of events: its id, what it reads, where it is, and fixed fields it always sends."""

    source_id: str
    family: str
    kinds: tuple[str, ...]
    location: dict[str, Any]
    fixed: dict[str, Any] = field(default_factory=dict)
    sensor: SensorType | None = None


class CityModel:
    """乌海市 as a fixed, seeded set of grids and devices; the same seed builds the same city."""

    def __init__(self, seed: int = 7):
        self.seed = seed
        rng = random.Random(seed)
        self.grids = _build_grids(rng)
        self.sensors = [d for t in SENSOR_TYPES for d in _sensors(rng, self.grids, t)]
        self.cameras = _cameras(rng, self.grids)
        self.sites = _sites(rng, self.grids)
        self.monitors = _cyber_monitors(self.grids)
        self.callers = [hashlib.sha256(f"{seed}:caller:{i}".encode()).hexdigest()[:16]
                        for i in range(2000)]

    def devices(self) -> list[Device]:
        """Every event source, e.g. to seed a device registry that matches the traffic."""
        return [*self.sensors, *self.cameras, *self.sites, *self.monitors]

    def background_events(
        self, rate: float, run_id: str = "bg", clock: Clock = utc_now
    ) -> Iterator[Event]:
        """An endless, seed-determined stream of normal traffic as JSON-ready event dicts.

        ``rate`` (events/s) sets the heartbeat share: each sensor beats every HEARTBEAT_PERIOD
        seconds, so heartbeats are a visible part of slow traffic and a trace of fast traffic.
        """
        return _Traffic(self, rate, run_id, clock, random.Random(f"{self.seed}:traffic")).events()


def _build_grids(rng: random.Random) -> list[dict[str, Any]]:
    grids: list[dict[str, Any]] = []
    for district, code, lon, lat, streets in _DISTRICTS:
        for s, street in enumerate(streets, start=1):
            s_lon, s_lat = lon + rng.uniform(-0.05, 0.05), lat + rng.uniform(-0.04, 0.04)
            stems = rng.sample(_COMMUNITY_STEMS, rng.randint(2, 4))
            number = 0
            for stem in stems:
                suffix = "村" if street.endswith("镇") else "社区"
                for _ in range(rng.randint(2, 5)):
                    number += 1
                    grids.append({
                        "city": CITY, "district": district, "street": street,
                        "community": f"{stem}{suffix}", "grid": f"{code}-{s:02d}-{number:02d}",
                        "lon": round(s_lon + rng.uniform(-0.01, 0.01), 5),
                        "lat": round(s_lat + rng.uniform(-0.008, 0.008), 5),
                    })
    return grids


def _place(rng: random.Random, grid: dict[str, Any], name: str) -> dict[str, Any]:
    loc = dict(grid, name=name)
    loc["lon"] = round(grid["lon"] + rng.uniform(-0.002, 0.002), 6)
    loc["lat"] = round(grid["lat"] + rng.uniform(-0.0015, 0.0015), 6)
    return loc


def _sensors(rng: random.Random, grids: list[dict[str, Any]], t: SensorType) -> list[Device]:
    out = []
    for i in range(1, t.count + 1):
        grid = rng.choice(grids)
        where = rng.choice(_ROADS) if t.kind == "manhole_tilt" else grid["community"]
        name = f"{where}{rng.choice(t.places)}{rng.randint(1, 30)}号"
        if t.kind == "heartbeat":
            name = f"{where}{rng.randint(1, 30)}号楼{rng.randint(1, 4)}单元电梯"
        kinds = ("heartbeat",) if t.kind == "heartbeat" else (t.kind, "heartbeat")
        code = grid["grid"].split("-")[0]
        out.append(Device(f"{t.prefix}-{code}-{i:04d}", "sensor", kinds, _place(rng, grid, name),
                          sensor=t))
    return out


CAMERA_KINDS: tuple[tuple[str, str, float], ...] = (
    ("crowd_density", "EVENT_IVS_CROWDDETECTION", 0.80),
    ("illegal_parking", "EVENT_IVS_CITY_MOTORPARKING", 0.13),
    ("street_vending", "EVENT_IVS_FLOWBUSINESS", 0.07),
)
"""Head counts plus the 城管 detections no risk rule reads, as a city's analytics mostly emit."""


def _cameras(rng: random.Random, grids: list[dict[str, Any]]) -> list[Device]:
    out = []
    for i in range(1, 301):
        grid = rng.choice(grids)
        fixed = {"channel": rng.randint(1, 8),
                 "attributes": {"area_m2": rng.choice((80, 120, 200, 400, 800))}}
        name = f"{grid['street'].removesuffix('街道')}{rng.choice(_CAMERA_PLACES)}"
        code = grid["grid"].split("-")[0]
        out.append(Device(f"CAM-{code}-{i:04d}", "camera", tuple(k for k, _, _ in CAMERA_KINDS),
                          _place(rng, grid, name), fixed))
    return out


def _sites(rng: random.Random, grids: list[dict[str, Any]]) -> list[Device]:
    out = []
    for i in range(1, 19):
        district, park = _PARKS[i % len(_PARKS)]
        grid = rng.choice([g for g in grids if g["district"] == district])
        trade, kind = _SITE_KINDS[i % len(_SITE_KINDS)]
        firm = f"乌海市{rng.choice(_FIRM_STEMS)}{trade}有限公司"
        site_id = f"WH-{'MINE' if kind == 'mine' else 'HC'}-{i:03d}"
        readings = ("ch4", "combustible_gas") if kind == "mine" else tuple(
            r[0] for r in SAFETY_READINGS)
        fixed = {"site_id": site_id, "enterprise": firm, "hazard_level": rng.randint(1, 4),
                 "tanks": [f"T-{100 + n}" for n in range(1, rng.randint(3, 7))]}
        out.append(Device(f"SIS-{site_id}", "safety", readings, _place(rng, grid, f"{park}{firm}"),
                          fixed))
    return out


def _cyber_monitors(grids: list[dict[str, Any]]) -> list[Device]:
    centre = next(g for g in grids if g["district"] == "海勃湾区")
    loc = dict(centre, name="乌海市大数据中心")
    assets = [("乌海市政务服务网", "10.16.1.10"), ("12345工单系统", "10.16.2.21"),
              ("视频专网平台", "10.32.0.5"), ("智慧燃气SCADA", "10.48.3.7"),
              ("城市运行管理平台", "10.16.4.30"), ("VPN网关", "10.16.0.2")]
    return [Device(sid, "cyber", kinds, loc, {"assets": assets})
            for sid, kinds in (("IDS-GOV-01", ("port_scan",)), ("FW-CORE-01", ("port_scan",)),
                               ("VPN-01", ("auth_success",)), ("AD-01", ("auth_success",)))]


class _Traffic:
    """Draws background events; all randomness comes from one Random, so a seed fixes the stream."""

    def __init__(self, city: CityModel, rate: float, run_id: str, clock: Clock, rng: random.Random):
        self.city, self.run_id, self.clock, self.rng = city, run_id, clock, rng
        self.readers = [d for d in city.sensors if d.kinds[0] != "heartbeat"]
        self.families = list(FAMILY_MIX)
        self.cum = list(itertools.accumulate(FAMILY_MIX.values()))
        self.camera_cum = list(itertools.accumulate(w for _, _, w in CAMERA_KINDS))
        beats = len(city.sensors) / HEARTBEAT_PERIOD  # per second, from all sensors
        self.heartbeat_share = min(0.5, beats / (rate * FAMILY_MIX["sensor"])) if rate > 0 else 0.0
        self.n = 0
        self.makers: dict[str, Callable[[], Event]] = {
            "sensor": self._sensor, "camera": self._camera, "safety": self._safety,
            "cyber": self._cyber, "hotline": self._hotline,
        }

    def events(self) -> Iterator[Event]:
        while True:
            self.n += 1
            family = self.rng.choices(self.families, cum_weights=self.cum)[0]
            yield self.makers[family]()

    def _envelope(self, device: Device, kind: str) -> Event:
        return {"event_id": f"bg-{self.run_id}-{self.n}", "family": device.family, "kind": kind,
                "time": self.clock().isoformat(), "source_id": device.source_id,
                "location": device.location}

    def _reading(self, low: float, high: float) -> float:
        """Skewed towards the low end, as real readings idle near zero with rare larger values."""
        return round(low + (high - low) * self.rng.random() ** 2, 2)

    def _sensor(self) -> Event:
        beat = self.rng.random() < self.heartbeat_share
        device = self.rng.choice(self.city.sensors if beat else self.readers)
        t = device.sensor
        assert t is not None
        ev = self._envelope(device, "heartbeat" if beat else t.kind)
        if not beat:
            ev["value"], ev["unit"] = self._reading(t.low, t.high), t.unit
        ev["status"] = "normal"
        if t.battery:
            ev["battery"] = round(self.rng.uniform(45, 100), 1)
        return ev

    def _camera(self) -> Event:
        device = self.rng.choice(self.city.cameras)
        kind, vendor_code, _ = self.rng.choices(CAMERA_KINDS, cum_weights=self.camera_cum)[0]
        ev = self._envelope(device, kind)
        ev.update(device.fixed, vendor_code=vendor_code, state="pulse",
                  confidence=round(self.rng.uniform(0.7, 0.99), 2))
        if kind == "crowd_density":
            people = int(39 * self.rng.random() ** 1.5)
            ev.update(people=people, density=round(people / device.fixed["attributes"]["area_m2"], 3))
        return ev

    def _safety(self) -> Event:
        device = self.rng.choice(self.city.sites)
        kind = self.rng.choice(device.kinds)
        ev = self._envelope(device, kind)
        fx = device.fixed
        ev.update(site_id=fx["site_id"], enterprise=fx["enterprise"],
                  hazard_level=fx["hazard_level"])
        if kind == "ch4":
            ev["value"], ev["unit"] = self._reading(0.0, 0.35), "%"
        else:
            _, unit, low, high = next(r for r in SAFETY_READINGS if r[0] == kind)
            ev["value"], ev["unit"] = self._reading(low, high), unit
            if kind.startswith("tank_"):
                ev["tank_id"] = self.rng.choice(fx["tanks"])
        return ev

    def _cyber(self) -> Event:
        device = self.rng.choice(self.city.monitors)
        kind = device.kinds[0]
        asset, dst_ip = self.rng.choice(device.fixed["assets"])
        ev = self._envelope(device, kind)
        ev.update(asset=asset, dst_ip=dst_ip, protocol="TCP")
        if kind == "auth_success":
            ev.update(user=f"wh{self.rng.randint(1000, 1400)}", severity=1, dst_port=443,
                      src_ip=f"10.{self.rng.randint(16, 63)}.{self.rng.randint(0, 255)}."
                             f"{self.rng.randint(2, 254)}")
        else:
            net = self.rng.choice(("198.51.100", "203.0.113"))
            ev.update(src_ip=f"{net}.{self.rng.randint(1, 254)}", severity=self.rng.randint(1, 2),
                      dst_port=self.rng.choice((22, 23, 445, 3306, 3389, 8080)), category="NA",
                      signature="ET SCAN Potential scan detected (blocked at perimeter)")
        return ev

    def _hotline(self) -> Event:
        grid = self.rng.choice(self.city.grids)
        kind, text = self.rng.choice(_HOTLINE_TOPICS)
        channel = self.rng.choice(("12345", "12345", "12345", "app"))
        building = f"{grid['community']}{self.rng.randint(1, 40)}号楼"
        return {"event_id": f"bg-{self.run_id}-{self.n}", "family": "hotline", "kind": kind,
                "time": self.clock().isoformat(),
                "source_id": "wuhai-12345" if channel == "12345" else "wuhai-suishoupai",
                "location": dict(grid, name=building), "ticket_id": f"WH{self.run_id}-{self.n:08d}",
                "channel": channel, "caller_hash": self.rng.choice(self.city.callers),
                "address": f"{grid['district']}{grid['street']}{building}", "text": text,
                "people_involved": self.rng.randint(1, 2)}


_HOTLINE_TOPICS = (
    ("noise", "楼上夜间装修噪音扰民，希望协调处理"),
    ("noise", "小区附近烧烤店深夜噪音较大"),
    ("property_dispute", "物业费收取标准有疑问，希望物业公示"),
    ("property_dispute", "小区电梯维修进度慢，物业答复不明确"),
    ("other", "咨询社保卡补办需要哪些材料"),
    ("other", "路灯不亮，夜间出行不便"),
    ("other", "建议公交车延长末班时间"),
)


# ----------------------------------------------------------------------------------- scenarios


def load_scenarios(path: Path) -> list[ScenarioSpec]:
    """Read and check a scenarios file; every problem is reported with its file:line."""
    node = load_yaml(path)
    if node is None:
        raise RuleError("file is empty; a scenarios file needs 'version: 1' and 'scenarios'",
                        Location(path))
    try:
        spec = ScenarioFile.model_validate(to_plain(node))
    except ValidationError as exc:
        raise RuleSetError(_shape_errors(exc, node, path)) from None
    errors: list[RuleError] = []
    seen: dict[str, int] = {}
    for i, scenario in enumerate(spec.scenarios):
        where = locate(node, ["scenarios", i, "name"], path)
        if scenario.name in seen:
            errors.append(RuleError(f"duplicate scenario name '{scenario.name}' (first is "
                                    f"scenario {seen[scenario.name] + 1})", where))
        seen.setdefault(scenario.name, i)
        for j, ev in enumerate(scenario.events):
            try:
                _event_dict(scenario, j, ev.model_extra or {}, "check", utc_now())
            except ValueError as exc:
                where = locate(node, ["scenarios", i, "events", j], path)
                errors.append(RuleError(str(exc), where))
    if errors:
        raise RuleSetError(errors)
    return spec.scenarios


def _shape_errors(exc: ValidationError, node: Any, path: Path) -> list[RuleError]:
    out = []
    for err in exc.errors(include_url=False):
        loc = [p for p in err["loc"]
               if not (isinstance(p, str) and p.startswith(("function-", "str", "dict")))]
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = f"unknown key '{loc[-1]}'"
        elif err["type"] == "missing":
            msg = f"missing required key '{loc[-1]}'"
        out.append(RuleError(f"{'.'.join(map(str, loc))}: {msg}", locate(node, loc, path)))
    return out


def _suffix(value: Any, run_id: str) -> str:
    return f"{value}~{run_id}"


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")[:48] or "scenario"


def _event_dict(
    scenario: ScenarioSpec, index: int, fields: dict[str, Any], run_id: str, start: datetime
) -> Event:
    ev = scenario.events[index]
    data = dict(fields)
    data["family"] = ev.on.value
    data["event_id"] = f"scn-{run_id}-{_slug(scenario.name)}-{index + 1}"
    data.setdefault("source_id", DEFAULT_SOURCE_ID)
    data["time"] = start + timedelta(seconds=ev.at)
    data["location"] = dict(data.get("location") or {})
    data["location"].setdefault("city", CITY)
    for path in UNIQUE_FIELDS:
        *parents, key = path.split(".")
        holder = data
        for p in parents:
            holder = holder.get(p) or {}
        if holder.get(key) is not None:
            holder[key] = _suffix(holder[key], run_id)
    try:
        event = EVENT_ADAPTER.validate_python(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(map(str, first["loc"][1:] or first["loc"]))
        raise ValueError(f"scenario '{scenario.name}': event {index + 1} (at {ev.at:g}s) is not a "
                         f"valid {ev.on.value} event: {where}: {first['msg']}") from None
    out: Event = event.model_dump(mode="json", exclude_none=True)
    return out


def materialise(scenario: ScenarioSpec, run_id: str, start: datetime) -> list[tuple[float, Event]]:
    """The scenario's events, in time order, as they go on the wire for one injection.

    Times are ``start + at``; event ids and the UNIQUE_FIELDS get the run id, so two injections
    never share an alert (see ``expected_alerts`` for the matching expectations).
    """
    out = [(ev.at, _event_dict(scenario, i, ev.model_extra or {}, run_id, start))
           for i, ev in enumerate(scenario.events)]
    return sorted(out, key=lambda p: p[0])


def expected_alerts(scenario: ScenarioSpec, run_id: str) -> list[ExpectedAlert]:
    """The scenario's expectations with group values rewritten exactly as ``materialise`` does."""
    out = []
    for exp in scenario.expect:
        if exp.group is None:
            out.append(exp)
            continue
        group = {k: _suffix(v, run_id) if k in UNIQUE_FIELDS else v for k, v in exp.group.items()}
        out.append(exp.model_copy(update={"group": group}))
    return out


class GroundTruth(BaseModel):
    """One injected scenario: what was sent and which alerts it must raise, one JSON line each."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scenario: str
    risk: Risk
    run_id: str
    injected_at: AwareDatetime
    """Event-time origin: expected ``at`` offsets and event times count from here."""
    event_ids: list[str]
    expected: list[ExpectedAlert]
    complete: bool = True
    """False when the run stopped before all of the scenario's events were sent."""


def ground_truth(
    scenario: ScenarioSpec, run_id: str, start: datetime, sent: Sequence[str], complete: bool = True
) -> GroundTruth:
    return GroundTruth(scenario=scenario.name, risk=scenario.risk, run_id=run_id,
                       injected_at=start, event_ids=list(sent),
                       expected=expected_alerts(scenario, run_id), complete=complete)


class GroundTruthLog:
    """Appends records, so the truth of several runs (distinct run ids) can be scored together."""

    def __init__(self, path: Path):
        self.path = path

    def write(self, truth: GroundTruth) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(truth.model_dump_json() + "\n")


def read_ground_truth(path: Path) -> list[GroundTruth]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [GroundTruth.model_validate_json(line) for line in lines if line.strip()]


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
    """Keys by source id (one device's events stay ordered in one partition), values as JSON."""

    def __init__(self, producer: AIOKafkaProducer, settings: Settings, stats: SimulationStats):
        self.producer = producer
        self.topics = {f.value: t for f, t in settings.input_topics().items()}
        self.stats = stats

    async def send(self, event: Event, scenario: bool = False) -> None:
        try:
            fut = await self.producer.send(self.topics[event["family"]], orjson.dumps(event),
                                           key=event["source_id"].encode())
        except KafkaError as exc:
            self._error(exc)
            return
        fut.add_done_callback(self._delivered)
        if scenario:
            self.stats.scenario_events_sent += 1
        else:
            self.stats.background_sent += 1
        self.stats.by_family[event["family"]] += 1

    def _delivered(self, fut: asyncio.Future[Any]) -> None:
        if not fut.cancelled() and fut.exception() is not None:
            self._error(fut.exception())

    def _error(self, exc: BaseException | None) -> None:
        self.stats.errors += 1
        self.stats.last_error = f"{type(exc).__name__}: {exc}"


async def _start_producer(settings: Settings) -> AIOKafkaProducer:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, linger_ms=5,
                                client_id="riskstream-simulator", max_batch_size=256 * 1024)
    try:
        await asyncio.wait_for(producer.start(), START_TIMEOUT)
    except (KafkaError, OSError, TimeoutError) as exc:
        with contextlib.suppress(Exception):
            await producer.stop()
        reason = str(exc) or f"no answer within {START_TIMEOUT:g}s"
        raise KafkaUnavailableError(settings.kafka_bootstrap, reason) from None
    try:
        await _await_topics(producer, settings)
    except TopicMissingError:
        await producer.stop()
        raise
    return producer


async def _await_topics(producer: AIOKafkaProducer, settings: Settings) -> None:
    """Fetch every input topic's metadata before pacing starts, so that a broker auto-creating
    topics does not eat the first second of a timed run, and a missing topic fails loudly.

    aiokafka logs each not-yet-created topic as an ERROR; here that is the expected first step
    of auto-creation, so those records are muted for the duration.
    """
    cluster_log = logging.getLogger("aiokafka.cluster")
    level = cluster_log.level
    cluster_log.setLevel(logging.CRITICAL)
    try:
        for topic in settings.input_topics().values():
            try:
                await asyncio.wait_for(producer.partitions_for(topic), START_TIMEOUT)
            except (KafkaError, TimeoutError):
                raise TopicMissingError(
                    f"topic {topic} does not exist on {settings.kafka_bootstrap} and the broker "
                    "did not create it: start the worker once (it creates its topics) or enable "
                    "auto.create.topics.enable"
                ) from None
    finally:
        cluster_log.setLevel(level)


async def _stop_producer(producer: AIOKafkaProducer, stats: SimulationStats) -> None:
    try:
        await asyncio.wait_for(producer.stop(), STOP_TIMEOUT)  # stop() flushes first
    except (KafkaError, TimeoutError) as exc:
        stats.errors += 1
        stats.last_error = f"flush on shutdown failed: {exc or 'timed out'}"


async def _play(
    sender: _Sender,
    scenario: ScenarioSpec,
    run_id: str,
    start: datetime,
    time_scale: float,
    truth_log: GroundTruthLog | None,
    gap: float = 0.0,
) -> GroundTruth:
    """Send one injection, each event at ``at * time_scale`` wall seconds after the first.

    ``gap`` adds wall time between consecutive events: events of one scenario travel on several
    topics and partitions, and only a gap keeps their processing order equal to their time order.
    """
    events = materialise(scenario, run_id, start)
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
        truth = ground_truth(scenario, run_id, start, sent, complete=done)
        if truth_log is not None:
            truth_log.write(truth)
    return truth


async def inject(
    settings: Settings,
    scenarios: Sequence[ScenarioSpec],
    run_id: str,
    start: datetime | None = None,
    time_scale: float = 0.0,
    gap: float = 0.0,
) -> list[GroundTruth]:
    """Send exactly the scenarios' events (no background) from ``start``; flush; return the truth.

    For integration tests: a send that fails raises, so a test never waits for unsent alerts.
    """
    stats = SimulationStats(run_id=run_id)
    producer = await _start_producer(settings)
    sender = _Sender(producer, settings, stats)
    begin = start or utc_now()
    try:
        truths = await asyncio.gather(*(
            _play(sender, s, run_id, begin, time_scale, None, gap) for s in scenarios))
        await producer.flush()
    finally:
        await _stop_producer(producer, stats)
    if stats.errors:
        raise SimulatorError(f"{stats.errors} scenario event(s) were not delivered to "
                             f"{settings.kafka_bootstrap}; last error: {stats.last_error}")
    return list(truths)


async def _background(sender: _Sender, events: Iterator[Event], rate: float) -> None:
    bucket = TokenBucket(rate, burst=rate * BURST_SECONDS)
    loop = asyncio.get_running_loop()
    while True:
        for _ in range(bucket.take(loop.time())):
            await sender.send(next(events))
        await asyncio.sleep(max(bucket.wait(), MIN_TICK))


@dataclass
class _Injector:
    """Schedules injections: one scenario every ``every`` seconds in turn, or all at once."""

    sender: _Sender
    scenarios: Sequence[ScenarioSpec]
    run_id: str
    every: float
    time_scale: float
    truth_log: GroundTruthLog | None
    clock: Clock
    running: set[asyncio.Task[GroundTruth]] = field(default_factory=set)

    def launch(self, scenario: ScenarioSpec, n: int) -> asyncio.Task[GroundTruth]:
        task = asyncio.create_task(_play(self.sender, scenario, f"{self.run_id}-{n}", self.clock(),
                                         self.time_scale, self.truth_log))
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
    settings: Settings,
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
) -> SimulationStats:
    """Background traffic at ``rate``/s plus scenario injections until ``duration`` or Ctrl-C.

    With ``once`` every scenario is injected together at the start and, without a duration, the
    run ends when the last one is sent. Otherwise scenarios are injected one after another every
    ``every`` seconds (never when ``every <= 0``), each injection under its own run id.
    """
    run_id = run_id or new_run_id()
    stats = SimulationStats(run_id=run_id)
    producer = await _start_producer(settings)
    sender = _Sender(producer, settings, stats)
    injector = _Injector(sender, scenarios, run_id, every, time_scale,
                         GroundTruthLog(ground_truth) if ground_truth else None, clock)
    stop = asyncio.Event()
    stats.started = time.monotonic()  # rates count from the first send, not from the connect
    tasks = [asyncio.create_task(_live_progress(stats) if progress else _log_progress(stats))]
    if rate > 0:
        traffic = CityModel(seed).background_events(rate, run_id, clock)
        tasks.append(asyncio.create_task(_background(sender, traffic, rate)))
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
    return stats


async def _finish(work: Awaitable[None], stop: asyncio.Event, then_stop: bool) -> None:
    await work
    if then_stop:
        stop.set()
