"""The contract between detection and the window stage: hits and clock ticks, keyed by fingerprint.

A stateful rule cannot decide on one event, so detection sends each relevant event as a Hit to an
internal topic keyed by rule and group; all of one group's hits meet in one partition, where the
window stage keeps their state. Ticks carry the clock to groups that receive no events (absence,
expiry); they travel the same way so that only the stage owning a group ever changes it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

from rules.events import Family, Location


class Hit(BaseModel):
    """One event relevant to one stateful rule and group."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["hit"] = "hit"
    rule_id: str
    rule_version: int
    fingerprint: str
    group: dict[str, str]
    group_key: str
    event_id: str
    event_time: AwareDatetime
    family: Family
    kind: str
    location: Location
    ok: bool = Field(default=True, description="holds_for: whether the condition held on this event")
    value: float | str | None = Field(default=None, description="distinct/aggregate: the field's value")
    steps: tuple[int, ...] = Field(default=(), description="sequence: the steps this event matches")
    fields: dict[str, Any] = Field(description="The event's fields, for tier conditions and summaries")
    ingested_at: float | None = None


class Tick(BaseModel):
    """The clock, for one group: fires absences and forgets idle groups."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["tick"] = "tick"
    rule_id: str
    fingerprint: str
    now: AwareDatetime


WindowMessage = Annotated[Hit | Tick, Field(discriminator="type")]
WINDOW_MESSAGE: TypeAdapter[Hit | Tick] = TypeAdapter(WindowMessage)
