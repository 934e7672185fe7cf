"""The event contract: one envelope shared by the five input families and a typed body per family.

Events are flat JSON objects: the envelope fields and the family's fields sit side by side, because
rule conditions name them directly (``value >= 20``, ``location.grid == 'G-07'``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import tzinfo
from enum import StrEnum
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

from rules.local_time import LOCAL, local_fields


class Family(StrEnum):
    """An input stream; each has its own topic by default."""

    sensor = "sensor"
    camera = "camera"
    safety = "safety"
    cyber = "cyber"
    hotline = "hotline"


Kind = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
Id = Annotated[str, Field(min_length=1, max_length=128)]


class Location(BaseModel):
    """Where an event happened, on the grid hierarchy city / district / street / community / grid."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    city: str = Field(min_length=1, max_length=64)
    district: str | None = Field(default=None, max_length=64)
    street: str | None = Field(default=None, max_length=64)
    community: str | None = Field(default=None, max_length=64)
    grid: str | None = Field(default=None, max_length=64)
    name: str | None = Field(default=None, max_length=200, description="Place name for people")
    lon: float | None = Field(default=None, ge=-180, le=180)
    lat: float | None = Field(default=None, ge=-90, le=90)

    def path(self) -> list[str]:
        """The hierarchy from the city down, as far as it is known."""
        levels = (self.city, self.district, self.street, self.community, self.grid)
        return [p for p in levels if p]


class EventBase(BaseModel):
    """The envelope every event carries. NaN and infinities are not numbers a reading can have."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    event_id: Id = Field(description="Unique per event; a redelivery carries the same id")
    family: Family
    kind: Kind = Field(description="What happened, from the family's vocabulary (see KINDS)")
    time: AwareDatetime = Field(description="Event time at the source, ISO-8601 with a zone")
    source_id: Id = Field(description="Device, camera, monitor, security sensor or hotline system")
    location: Location
    attributes: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="Free extra fields a connector wants to keep"
    )


class SensorEvent(EventBase):
    """An IoT reading: gas, water level, manhole tilt, bridge strain, smoke, elevator, ..."""

    family: Literal[Family.sensor] = Family.sensor
    value: float | None = Field(default=None, description="The reading, in `unit`")
    unit: str | None = Field(default=None, max_length=16, description="%LEL, ppm, mg/m3, cm, deg, ...")
    status: Literal["normal", "alarm", "fault", "offline"] = "normal"
    battery: float | None = Field(default=None, ge=0, le=100)


class CameraEvent(EventBase):
    """Video-analytics metadata from a camera or NVR (Dahua/Hikvision/GB/T 28181 normalised)."""

    family: Literal[Family.camera] = Family.camera
    channel: int | None = Field(default=None, ge=0)
    state: Literal["start", "stop", "pulse"] = "pulse"
    people: int | None = Field(default=None, ge=0, description="Head count in the region")
    density: float | None = Field(default=None, ge=0, description="Persons per square metre")
    confidence: float | None = Field(default=None, ge=0, le=1)
    vendor_code: str | None = Field(default=None, max_length=64, description="e.g. EVENT_IVS_RIOTERDETECTION")
    snapshot_url: str | None = Field(default=None, max_length=1024)


class SafetyEvent(EventBase):
    """Plant monitoring at a major hazard source: tank T/P/L, gas, interlocks, AI site checks."""

    family: Literal[Family.safety] = Family.safety
    site_id: Id
    enterprise: str | None = Field(default=None, max_length=200)
    tank_id: str | None = Field(default=None, max_length=64)
    value: float | None = None
    unit: str | None = Field(default=None, max_length=16)
    hazard_level: Literal[1, 2, 3, 4] | None = Field(
        default=None, description="Major hazard source grade, 1 highest (R >= 100)"
    )


class CyberEvent(EventBase):
    """A network-security event from an IDS, WAF, firewall or tamper monitor."""

    family: Literal[Family.cyber] = Family.cyber
    src_ip: str | None = Field(default=None, max_length=64)
    dst_ip: str | None = Field(default=None, max_length=64)
    dst_port: int | None = Field(default=None, ge=0, le=65535)
    protocol: str | None = Field(default=None, max_length=16)
    user: str | None = Field(default=None, max_length=128)
    asset: str | None = Field(default=None, max_length=200, description="Affected system or site")
    category: str | None = Field(default=None, max_length=32, description="GB/T 20986-2023 code")
    severity: int | None = Field(default=None, ge=1, le=5, description="1 lowest, 5 highest")
    signature: str | None = Field(default=None, max_length=500)


class HotlineEvent(EventBase):
    """A citizen report from 12345, 110 or a reporting app."""

    family: Literal[Family.hotline] = Family.hotline
    ticket_id: Id
    channel: Literal["12345", "110", "app"] = "12345"
    caller_hash: str | None = Field(default=None, max_length=128, description="Pseudonymised caller")
    address: str | None = Field(default=None, max_length=300)
    employer: str | None = Field(default=None, max_length=200)
    text: str | None = Field(default=None, max_length=4000)
    people_involved: int | None = Field(default=None, ge=0)


Event = Annotated[
    SensorEvent | CameraEvent | SafetyEvent | CyberEvent | HotlineEvent,
    Field(discriminator="family"),
]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)

MODELS: dict[Family, type[EventBase]] = {
    Family.sensor: SensorEvent,
    Family.camera: CameraEvent,
    Family.safety: SafetyEvent,
    Family.cyber: CyberEvent,
    Family.hotline: HotlineEvent,
}

KINDS: dict[Family, frozenset[str]] = {
    Family.sensor: frozenset({
        "combustible_gas", "h2s", "co", "nh3", "cl2", "so2", "o2", "ch4",
        "water_level", "waterlogging", "rainfall", "manhole_tilt", "manhole_displaced",
        "bridge_strain", "bridge_deflection", "smoke", "residual_current", "elevator_trapped",
        "perimeter_alarm", "device_tamper", "heartbeat",
    }),
    Family.camera: frozenset({
        "crowd_density", "crowd_gathering", "intrusion", "line_crossing", "loitering", "fight",
        "fall", "fence_climb", "smoke_fire", "fire_lane_blocked", "ebike_in_elevator",
        "high_toss", "banner", "face_watchlist", "plate_watchlist", "no_helmet", "left_object",
        "water_level", "video_loss", "camera_tamper", "illegal_parking", "street_vending",
    }),
    Family.safety: frozenset({
        "tank_pressure", "tank_temperature", "tank_level", "combustible_gas", "toxic_gas",
        "ch4", "interlock_bypassed", "sis_trip", "no_helmet", "off_post", "hot_work", "wage_platform_alert",
    }),
    Family.cyber: frozenset({
        "auth_failure", "auth_success", "port_scan", "malware", "web_attack", "defacement",
        "ddos", "data_leak", "ics_anomaly", "phishing", "illegal_content", "apt",
    }),
    Family.hotline: frozenset({
        "gas_smell", "smoke_report", "manhole_missing", "waterlogging", "elevator_trapped",
        "wage_arrears", "demolition_dispute", "property_dispute", "neighbour_dispute",
        "noise", "fight_report", "theft", "fraud", "petition", "gathering_report",
        "illegal_content_report", "other",
    }),
}
"""The vocabulary per family; rule lint refuses a kind outside it, which catches typos."""


def field_paths(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Every dotted field path of a model, for checking group_by and condition variables."""
    out: set[str] = set()
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        out.add(path)
        ann = info.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out |= field_paths(ann, f"{path}.")
    return out


def event_fields(event: EventBase) -> dict[str, Any]:
    """The event as plain values, the variables a rule condition sees (absent fields are null)."""
    return event.model_dump()


@cache
def field_getter(path: str) -> Callable[[EventBase], Any]:
    """A dotted field path read from an event: None when a step is absent or null."""
    names = tuple(path.split("."))

    def get(event: EventBase) -> Any:
        node: Any = event
        for name in names:
            node = node.get(name) if isinstance(node, dict) else getattr(node, name, None)
            if node is None:
                return None
        return node

    return get


_LOCATION_KEYS = frozenset(Location.model_fields)
"""Read once: pydantic's ``model_fields`` costs half a microsecond an access, per key per event."""


def plain_fields(
    event: EventBase,
    names: Collection[str],
    location: Collection[str] | None = None,
    zone: tzinfo | None = None,
) -> dict[str, Any]:
    """The named top-level fields as a rule sees them (``event_fields`` narrowed to ``names``).

    ``location``: the location keys wanted (None: all of them). ``zone``: the city's, for the
    event's local time, ``local`` (``rules.local_time``).
    """
    out: dict[str, Any] = {}
    for name in names:
        if name == LOCAL:
            out[name] = local_fields(event.time, zone) if zone is not None else None
            continue
        value = getattr(event, name, None)
        if isinstance(value, Location):
            value = (
                value.model_dump()
                if location is None
                else {k: getattr(value, k) for k in location if k in _LOCATION_KEYS}
            )
        out[name] = value
    return out

