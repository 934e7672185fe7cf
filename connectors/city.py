"""A seeded 乌海市 whose background traffic stays in normal ranges, so every alert is a scenario's."""

from __future__ import annotations

import hashlib
import itertools
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

Clock = Callable[[], datetime]
Event = dict[str, Any]

CITY = "乌海市"
HEARTBEAT_PERIOD = 300.0
FAMILY_MIX = {"sensor": 0.62, "camera": 0.20, "cyber": 0.10, "safety": 0.05, "hotline": 0.03}


def utc_now() -> datetime:
    return datetime.now(UTC)


def local_date(when: datetime) -> str:
    """The day ``when`` falls on in 乌海 (UTC+8) as YYYYMMDD, as tickets are numbered."""
    return (when.astimezone(UTC) + timedelta(hours=8)).strftime("%Y%m%d")


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

    def identifiers(self) -> set[str]:
        """The ids of the city's own devices and sites (incident scenarios are never cast on them)."""
        return {d.source_id for d in self.devices()} | {d.fixed["site_id"] for d in self.sites}

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
        now = self.clock()
        ticket = f"{'12345' if channel == '12345' else 'SSP'}-{local_date(now)}-{self.n % 1_000_000:06d}"
        return {"event_id": f"bg-{self.run_id}-{self.n}", "family": "hotline", "kind": kind,
                "time": now.isoformat(),
                "source_id": "wuhai-12345" if channel == "12345" else "wuhai-suishoupai",
                "location": dict(grid, name=building), "ticket_id": ticket,
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
