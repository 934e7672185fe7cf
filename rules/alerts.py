"""The alert contract: candidates from detection, alerts to agencies, in a CloudEvents envelope.

Identity is deterministic: the fingerprint names what an alert is about (rule + group) and the
alert id names one occurrence of it (fingerprint + the event that opened it). Replaying the same
input after a crash yields the same ids, so consumers drop duplicates by id.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    SerializerFunctionWrapHandler,
    Tag,
    TypeAdapter,
    model_serializer,
)

from rules.events import Family, Location
from rules.model import Risk, Tier

_ALERT_NAMESPACE = uuid.UUID("6f1c3a52-2b7e-4f0e-9a51-7d3c2e8b9a10")
MAX_EVIDENCE = 20
CLOUDEVENT_SOURCE = "urn:riskstream"
DEFAULT_REPEAT_INTERVAL = 3600.0
DEFAULT_TIER_DOWN_AFTER = 600.0
Status = Literal["firing", "escalated", "acknowledged", "resolved"]
Change = Literal[
    "opened", "tier_raised", "tier_lowered", "repeat", "escalated", "acknowledged", "resolved", "released"
]


def group_key(group_by: tuple[str, ...], values: dict[str, str]) -> str:
    """A canonical text for a group, e.g. 'location.grid=G-07' ('*' when the rule has no group_by)."""
    if not group_by:
        return "*"
    return "|".join(f"{path}={values[path]}" for path in group_by)


def fingerprint(rule_id: str, key: str) -> str:
    return hashlib.sha256(f"{rule_id}\x1f{key}".encode()).hexdigest()[:24]


def alert_id(fp: str, opening_event_id: str) -> str:
    return str(uuid.uuid5(_ALERT_NAMESPACE, f"{fp}|{opening_event_id}"))


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AlertCandidate(_Frozen):
    """One rule matched one event; detection sends it to dispatch keyed by fingerprint."""

    type: Literal["candidate"] = "candidate"
    rule_id: str
    rule_version: int
    risk: Risk
    tier: Tier
    title: str
    summary: str
    action: str | None = None
    family: Family
    kind: str
    group: dict[str, str]
    group_key: str
    fingerprint: str
    route: tuple[str, ...]
    cooldown: float
    repeat_interval: float = DEFAULT_REPEAT_INTERVAL
    tier_down_after: float = DEFAULT_TIER_DOWN_AFTER
    event_id: str
    event_time: AwareDatetime
    location: Location
    ingested_at: float | None = Field(
        default=None, description="Wall-clock seconds when detection consumed the event"
    )
    status: Literal["firing", "resolved"] = "firing"
    evidence: tuple[str, ...] = Field(default=(), description="Stateful rules: the window's event ids")
    window: dict[str, float | int] | None = Field(default=None, description="Stateful rules: figures")
    until_resolved: bool = Field(
        default=False, description="Fires until a resolved candidate ends it (absence), not until quiet"
    )
    storm_member: str | None = Field(
        default=None, description="Storm control: the group of the alert this summary candidate stands for"
    )
    shadow: bool = Field(default=False, description="A shadow rule's match: its notices reach no agency")
    replaces: str | None = Field(default=None, description="A shadow rule's: the live rule it would replace")


class DispatchTick(_Frozen):
    """The clock, for one alert: resolution after quiet time, escalation, an acknowledgement to apply."""

    type: Literal["tick"] = "tick"
    fingerprint: str
    now: AwareDatetime


class InhibitedNote(_Frozen):
    """To a firing alert: an alert in its area was withheld because of it (listed, not lost)."""

    type: Literal["inhibited"] = "inhibited"
    fingerprint: str = Field(description="The inhibiting alert's")
    alert_id: str = Field(description="The withheld alert's")
    rule_id: str
    group_key: str


def _message_type(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("type", "candidate"))
    return str(getattr(value, "type", "candidate"))


DispatchMessage = Annotated[
    Annotated[AlertCandidate, Tag("candidate")]
    | Annotated[DispatchTick, Tag("tick")]
    | Annotated[InhibitedNote, Tag("inhibited")],
    Discriminator(_message_type),
]
DISPATCH_MESSAGE: TypeAdapter[AlertCandidate | DispatchTick | InhibitedNote] = TypeAdapter(DispatchMessage)


class StormSummary(_Frozen):
    groups: int = Field(description="Groups of the rule folded into this summary")
    top: list[tuple[str, int]] = Field(description="The groups with the most matches, with their counts")


class Alert(_Frozen):
    """What a duty officer receives: what, where, since when, how often, evidence, who and why."""

    alert_id: str
    fingerprint: str
    status: Status = "firing"
    change: Change = Field(
        default="opened",
        description="What this notice reports: opened, tier_raised, tier_lowered, repeat, escalated, "
        "acknowledged, resolved, released",
    )
    notice_seq: int = Field(default=1, ge=1, description="Increases with every notice of this alert")
    rule_id: str
    rule_version: int
    risk: Risk
    tier: Tier
    tier_level: str = Field(description="IV (blue) .. I (red)")
    title: str
    summary: str
    action: str | None = None
    family: Family
    kind: str
    group: dict[str, str]
    group_key: str
    location: Location
    grid_path: list[str]
    first_seen: AwareDatetime
    last_seen: AwareDatetime
    count: int = Field(ge=1)
    window: dict[str, float | int] | None = Field(
        default=None, description="Stateful rules: the window's figures, e.g. count, distinct, held"
    )
    evidence: list[str] = Field(description=f"Event ids, at most {MAX_EVIDENCE}")
    agencies: list[str]
    routed_because: dict[str, str] = Field(description="Agency id to why it received the alert")
    raised_at: AwareDatetime = Field(description="Processing time the notice was produced")
    escalation: int = Field(default=0, ge=0, description="Escalation steps taken while unacknowledged")
    acknowledged_by: str | None = Field(default=None, description="Who took it on (`riskstream ack --by`)")
    acknowledged_at: AwareDatetime | None = Field(default=None, description="When they took it on")
    ack_note: str | None = Field(default=None, description="What they said they are doing (`ack --note`)")
    resolved_by: str | None = Field(
        default=None,
        description="Who closed it by hand (`riskstream resolve --by`); none when it ended by itself",
    )
    resolved_at: AwareDatetime | None = Field(
        default=None,
        description="When it resolved: the duty officer's resolve, or the clock when it ended by itself",
    )
    resolve_note: str | None = Field(default=None, description="Why it was closed (`resolve --note`)")
    inhibited: list[str] = Field(default_factory=list, description="Alert ids withheld because of this one")
    inhibited_count: int = 0
    storm: StormSummary | None = None
    withheld_by: str | None = Field(
        default=None,
        description="Audit copies only: the silence, inhibiting alert or storm that held it back",
    )
    shadow: bool = Field(
        default=False,
        description="A shadow rule's would-be notice: on the audit topic only, never sent to an agency "
        "(agencies and routed_because say who would have heard it)",
    )
    replaces: str | None = Field(
        default=None, description="Shadow notices: the live rule the shadow rule would replace, if any"
    )


class CloudEvent(_Frozen):
    """CloudEvents 1.0, structured JSON mode, carrying one alert notice."""

    specversion: Literal["1.0"] = "1.0"
    id: str
    source: str
    type: str
    subject: str
    time: datetime
    datacontenttype: Literal["application/json"] = "application/json"
    dataschema: str | None = None
    riskstreamtier: str
    riskstreamrisk: str
    riskstreammode: Literal["shadow"] | None = Field(
        default=None, description="'shadow' on a shadow rule's notice (audit topic only); absent on live ones"
    )
    data: Alert

    @model_serializer(mode="wrap")
    def _leave_out_unset(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """CloudEvents attributes are never null: an unset optional one is left out."""
        out: dict[str, Any] = handler(self)
        return {k: v for k, v in out.items() if v is not None}


def to_cloudevent(alert: Alert) -> CloudEvent:
    return CloudEvent(
        id=f"{alert.alert_id}:{alert.notice_seq}",
        source=f"{CLOUDEVENT_SOURCE}:rule:{alert.rule_id}",
        type=f"city.riskstream.alert.{alert.status}",
        subject=alert.group_key,
        time=alert.raised_at,
        riskstreamtier=alert.tier.value,
        riskstreamrisk=alert.risk.value,
        riskstreammode="shadow" if alert.shadow else None,
        data=alert,
    )
