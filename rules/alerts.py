"""The alert contract: candidates from detection, alerts to agencies, in a CloudEvents envelope.

Identity is deterministic: the fingerprint names what an alert is about (rule + group) and the
alert id names one occurrence of it (fingerprint + the event that opened it). Replaying the same
input after a crash yields the same ids, so consumers drop duplicates by id.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
)

from rules.events import Family, Location
from rules.model import Risk, Tier

_ALERT_NAMESPACE = uuid.UUID("6f1c3a52-2b7e-4f0e-9a51-7d3c2e8b9a10")
MAX_EVIDENCE = 20
CLOUDEVENT_SOURCE = "urn:riskstream"


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
    event_id: str
    event_time: AwareDatetime
    location: Location
    ingested_at: float | None = Field(
        default=None, description="Wall-clock seconds when detection consumed the event"
    )
    status: Literal["firing", "resolved"] = "firing"
    evidence: tuple[str, ...] = Field(default=(), description="Stateful rules: the window's event ids")
    window: dict[str, float | int] | None = Field(default=None, description="Stateful rules: figures")


class Alert(_Frozen):
    """What a duty officer receives: what, where, since when, how often, evidence, who and why."""

    alert_id: str
    fingerprint: str
    status: Literal["firing", "resolved"] = "firing"
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
        data=alert,
    )
