"""The contract between detection and the windows: hits (and clock ticks), keyed by fingerprint.

A stateful rule cannot decide on one event, so detection hands each relevant event to the rule's
window as a Hit. Rules grouped by something that follows the input's partitioning keep their
windows beside detection; the others' hits travel on an internal topic keyed by rule and group,
so all of one group's hits meet in one partition. A hit carries only what its rule reads later.

Inside a process hits are plain dataclasses; ``HIT`` validates and writes them at the topic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, Field, TypeAdapter

from rules.events import Family, Location


@dataclass(frozen=True, slots=True)
class Hit:
    """One event relevant to one stateful rule and group."""

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
    ok: bool = True
    """holds_for: whether the condition held on this event."""
    value: float | str | None = None
    """distinct/aggregate: the field's value."""
    steps: tuple[int, ...] = ()
    """sequence: the steps this event matches."""
    fields: dict[str, Any] = field(default_factory=dict)
    """The event fields the rule's tier conditions and summary read."""
    ingested_at: float | None = None
    type: Literal["hit"] = "hit"


@dataclass(frozen=True, slots=True)
class Tick:
    """The clock, for one group (sent through the topic by workers before 0.2; still understood)."""

    rule_id: str
    fingerprint: str
    now: datetime
    type: Literal["tick"] = "tick"


HIT: TypeAdapter[Hit] = TypeAdapter(Hit)
WINDOW_MESSAGE: TypeAdapter[Hit | Tick] = TypeAdapter(
    Annotated[Hit | Tick, Field(discriminator="type")]
)
SAMPLE_LEAVES_OUT = frozenset({"ingested_at", "steps", "value"})
"""What an absence's remembered newest hit does not need to describe the group later."""


def encode_hit(hit: Hit) -> bytes:
    return HIT.dump_json(hit)


def sample_of(hit: Hit) -> dict[str, Any]:
    """The hit as a window keeps it (JSON-ready), to describe its group when the clock fires."""
    data: dict[str, Any] = HIT.dump_python(hit, mode="json", exclude=set(SAMPLE_LEAVES_OUT))
    return data


def hit_of_sample(sample: dict[str, Any]) -> Hit:
    return HIT.validate_python(sample)
