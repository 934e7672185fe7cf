"""What a rule author writes: the YAML shape of rule packs, as frozen pydantic models.

These models only check shape. Meaning (CEL compiles, fields exist, agencies exist) is the
compiler's job, so the two kinds of error read differently and are tested apart.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from rules.durations import Duration
from rules.events import Family
from rules.model import Risk, Tier

RuleId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=80)]
AgencyId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)]
FieldPath = Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*$")]

DEFAULT_COOLDOWN = 300.0


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class RuleSpec(_Strict):
    """One rule as written. Stateless: one event that meets ``when`` is enough."""

    id: RuleId
    version: int = Field(default=1, ge=1, description="Bump when the meaning changes")
    title: str = Field(min_length=1, max_length=200)
    description: str | None = None
    risk: Risk
    on: Family = Field(description="Event family (input stream) the rule reads")
    kind: str | list[str] | None = Field(default=None, description="Event kind(s); omit for all")
    when: str = Field(default="true", min_length=1, description="CEL condition on the event")
    tier: Tier | dict[Tier, str] = Field(
        description="A fixed tier, or CEL conditions per tier (highest true wins)"
    )
    group_by: list[FieldPath] = Field(default_factory=list, description="What one alert is about")
    cooldown: Duration = Field(default=DEFAULT_COOLDOWN, description="No new alert inside this")
    route: list[AgencyId] = Field(default_factory=list)
    summary: str | None = Field(default=None, max_length=500, description="'{field.path}' template")
    action: str | None = Field(default=None, max_length=1000, description="What a duty officer does")
    enabled: bool = True

    @property
    def kinds(self) -> tuple[str, ...]:
        if self.kind is None:
            return ()
        return (self.kind,) if isinstance(self.kind, str) else tuple(self.kind)

    @field_validator("tier")
    @classmethod
    def _ladder_not_empty(cls, v: Tier | dict[Tier, str]) -> Tier | dict[Tier, str]:
        if isinstance(v, dict) and not v:
            raise ValueError(
                "a tier ladder needs at least one tier, e.g. {red: 'value >= 50', yellow: 'true'}"
            )
        return v


class CaseEvent(BaseModel):
    """An event in a rule test: ``at`` is an offset from the test's start; other keys are event fields."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    at: Duration
    on: Family


class ExpectedAlert(_Strict):
    rule: RuleId
    tier: Tier | None = None
    group: dict[str, Any] | None = None
    agencies: list[AgencyId] | None = None
    count: int | None = Field(default=None, ge=1, description="Matching events merged into it")
    at: Duration | None = Field(default=None, description="Event time offset of the firing event")


class RuleCaseSpec(_Strict):
    """A case: events on a virtual clock and exactly the alerts they must raise, in order."""

    name: str = Field(min_length=1)
    start: AwareDatetime | None = None
    events: list[CaseEvent] = Field(min_length=1)
    expect: list[ExpectedAlert] = Field(default_factory=list)


class ScenarioSpec(RuleCaseSpec):
    """A simulator incident: a rule test case the simulator can inject into live topics."""

    description: str = Field(min_length=1)
    risk: Risk


class ScenarioFile(_Strict):
    version: Literal[1]
    scenarios: list[ScenarioSpec] = Field(min_length=1)


class PackSpec(_Strict):
    """A rule pack file."""

    version: Literal[1] = Field(description="Schema version of the pack format")
    pack: str = Field(min_length=1, max_length=80)
    description: str | None = None
    rules: list[RuleSpec] = Field(default_factory=list)
    tests: list[RuleCaseSpec] = Field(default_factory=list)


DEFAULT_TEST_START = datetime.fromisoformat("2026-01-05T09:00:00+08:00")
