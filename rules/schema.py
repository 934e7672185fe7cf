"""What a rule author writes: the YAML shape of rule packs, as frozen pydantic models.

These models only check shape. Meaning (CEL compiles, fields exist, agencies exist) is the
compiler's job, so the two kinds of error read differently and are tested apart.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from rules.alerts import DEFAULT_REPEAT_INTERVAL, DEFAULT_TIER_DOWN_AFTER, Change
from rules.case_events import CaseEvent, arrival_order
from rules.durations import Duration
from rules.events import Family
from rules.model import Risk, Tier

RuleId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=80)]
AgencyId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)]
FieldPath = Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*$")]
PackName = Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*$", max_length=64)]
"""The name of a pack's list or macro, as conditions write it: ``gov_sites``, ``night``."""
ListItem = str | bool | int | Annotated[float, Field(allow_inf_nan=False)]
RuleMode = Literal["live", "shadow"]
"""live: notices reach agencies; shadow: evaluated on live traffic, its notices go to the audit topic only."""

DEFAULT_COOLDOWN = 300.0
DEFAULT_LATENESS = 60.0
MAX_WINDOW_EVENTS = 10_000
"""Events one group keeps per stateful rule; the oldest beyond it are evicted (and counted)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class CountSpec(_Strict):
    """At least N matching events of one group within a window."""

    at_least: int = Field(ge=1, le=MAX_WINDOW_EVENTS)
    within: Duration = Field(gt=0)


class DistinctSpec(_Strict):
    """At least N different values of a field among one group's matching events within a window."""

    field: FieldPath
    at_least: int = Field(ge=1, le=MAX_WINDOW_EVENTS)
    within: Duration = Field(gt=0)


class AggregateSpec(_Strict):
    """A statistic of a numeric field over a window, compared with a threshold or the previous window."""

    fn: Literal["avg", "min", "max", "sum"]
    field: FieldPath
    within: Duration = Field(gt=0)
    at_least: float | None = Field(default=None, description="Fire when the statistic is >= this")
    at_most: float | None = Field(default=None, description="Fire when the statistic is <= this")
    rise_by: float | None = Field(
        default=None, description="Fire when it rose by this since the previous window"
    )
    rise_pct: float | None = Field(
        default=None, description="Fire when it rose by this % since the previous window"
    )
    min_events: int = Field(default=1, ge=1, description="Events a window needs before it is judged")

    @model_validator(mode="after")
    def _one_comparison(self) -> AggregateSpec:
        given = [k for k in _COMPARISONS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"an aggregate needs exactly one of {', '.join(_COMPARISONS)}; "
                f"got {', '.join(given) if given else 'none'}"
            )
        return self

    @property
    def comparison(self) -> tuple[str, float]:
        for key in _COMPARISONS:
            value = getattr(self, key)
            if value is not None:
                return key, float(value)
        raise AssertionError("validated to have one comparison")


_COMPARISONS = ("at_least", "at_most", "rise_by", "rise_pct")


class HoldsForSpec(_Strict):
    """The condition holds on every event of the group for a duration, with no silence longer than max_gap."""

    duration: Duration = Field(gt=0)
    max_gap: Duration = Field(default=60.0, gt=0, description="Longer silence breaks the run")


class StepSpec(_Strict):
    """One step of a sequence: an event (or N events within a window) of the group."""

    kind: str | list[str] | None = None
    when: str = Field(default="true", min_length=1)
    count: CountSpec | None = None

    @property
    def kinds(self) -> tuple[str, ...]:
        if self.kind is None:
            return ()
        return (self.kind,) if isinstance(self.kind, str) else tuple(self.kind)


class Reference(_Strict):
    """A source a rule rests on: a standard, law, plan or document, and where in it."""

    title: str = Field(min_length=1, max_length=300, description="e.g. 'GB/T 50493-2019 石油化工可燃气体...'")
    section: str | None = Field(
        default=None, max_length=300, description="Clause, article or section title, e.g. '5.5.2'"
    )
    url: str | None = Field(default=None, max_length=1000)
    note: str | None = Field(default=None, max_length=500, description="What the rule takes from it")


class RuleSpec(_Strict):
    """One rule as written. Stateless unless it names one stateful form (count, distinct, ...)."""

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
    cooldown: Duration = Field(
        default=DEFAULT_COOLDOWN, description="Quiet time: with no match for this long the alert resolves"
    )
    repeat_interval: Duration = Field(
        default=DEFAULT_REPEAT_INTERVAL, gt=0, description="Notify again after this while it keeps firing"
    )
    tier_down_after: Duration = Field(
        default=DEFAULT_TIER_DOWN_AFTER, description="A lower tier is reported once it has held this long"
    )
    route: list[AgencyId] = Field(default_factory=list)
    summary: str | None = Field(default=None, max_length=500, description="'{field.path}' template")
    action: str | None = Field(default=None, max_length=1000, description="What a duty officer does")
    enabled: bool = True
    references: list[Annotated[str, Field(min_length=1, max_length=300)] | Reference] = Field(
        default_factory=list,
        description="Standards, laws, plans or documents the rule rests on: a string or "
        "{title, section, url, note}",
    )
    falsepositives: list[Annotated[str, Field(min_length=1, max_length=500)]] = Field(
        default_factory=list, description="Known situations where it fires without a real risk"
    )
    mode: RuleMode | None = Field(
        default=None,
        description="live, or shadow: evaluated with its full lifecycle, notices to the audit topic only "
        "(omitted: the pack's mode)",
    )
    replaces: RuleId | None = Field(
        default=None, description="A shadow rule: the id of the live rule it would replace (shadow-report)"
    )

    count: CountSpec | None = None
    distinct: DistinctSpec | None = None
    aggregate: AggregateSpec | None = None
    holds_for: HoldsForSpec | None = Field(default=None, description="'2m' or {duration, max_gap}")
    sequence: list[StepSpec] | None = Field(default=None, min_length=2)
    within: Duration | None = Field(default=None, gt=0, description="Time bound of a sequence")
    absent_for: Duration | None = Field(default=None, gt=0, description="No event of the group for this")
    lateness: Duration = Field(
        default=DEFAULT_LATENESS, description="How late (event time) an event may arrive and still count"
    )

    @property
    def kinds(self) -> tuple[str, ...]:
        if self.kind is None:
            return ()
        return (self.kind,) if isinstance(self.kind, str) else tuple(self.kind)

    @property
    def forms(self) -> list[str]:
        """The stateful forms named; more than one is an error, none means stateless."""
        return [f for f in STATEFUL_FORMS if getattr(self, f) is not None]

    @field_validator("holds_for", mode="before")
    @classmethod
    def _holds_for_shorthand(cls, v: object) -> object:
        return {"duration": v} if isinstance(v, str | int | float) and not isinstance(v, bool) else v

    @field_validator("tier")
    @classmethod
    def _ladder_not_empty(cls, v: Tier | dict[Tier, str]) -> Tier | dict[Tier, str]:
        if isinstance(v, dict) and not v:
            raise ValueError(
                "a tier ladder needs at least one tier, e.g. {red: 'value >= 50', yellow: 'true'}"
            )
        return v


STATEFUL_FORMS = ("count", "distinct", "aggregate", "holds_for", "sequence", "absent_for")


class ExpectedAlert(_Strict):
    rule: RuleId
    tier: Tier | None = None
    group: dict[str, Any] | None = None
    agencies: list[AgencyId] | None = None
    count: int | None = Field(default=None, ge=1, description="Matching events merged into it")
    at: Duration | None = Field(
        default=None, description="Offset of the event that raised the notice, or of the clock tick"
    )
    decided: Duration | None = Field(
        default=None,
        description="Offset of the virtual clock when the notice was decided: 'at' unless a late "
        "event raised it, which is decided when it arrives",
    )
    status: Literal["firing", "escalated", "acknowledged", "resolved"] | None = None
    change: Change | None = Field(default=None, description="What the notice reports")
    withheld: bool | Literal["silence", "inhibited", "storm", "shadow"] | None = Field(
        default=None, description="false: delivered; true or a reason: held back from agencies (audit only)"
    )
    window: dict[str, float | int] | None = Field(
        default=None, description="Window figures the notice must carry, e.g. {count: 3}"
    )
    alert: Annotated[str, Field(min_length=1, max_length=40)] | None = Field(
        default=None,
        description="A label: notices expected with the same label belong to one alert, with "
        "different labels to different alerts",
    )
    notice_count: int | None = Field(
        default=None, ge=1, description="The count this notice carries (events merged so far)"
    )
    inhibited_count: int | None = Field(
        default=None, ge=0, description="Alerts this notice says it holds back (inhibition)"
    )


class NeverNotice(_Strict):
    """What must not happen in a case: no notice of a rule, or none delivered to an agency, or
    both, optionally only of a tier or change, between ``from`` and ``to`` (offsets, inclusive)."""

    rule: RuleId | None = None
    agency: AgencyId | None = Field(default=None, description="Delivered to this agency")
    tier: Tier | None = None
    change: Change | None = None
    from_: Duration = Field(default=0.0, alias="from")
    to: Duration | None = Field(default=None, description="Omitted: to the end of the case")

    @model_validator(mode="after")
    def _names_something(self) -> NeverNotice:
        if self.rule is None and self.agency is None:
            raise ValueError("'never' names a rule, an agency or both, e.g. {rule: gas-leak, agency: police}")
        if self.to is not None and self.to < self.from_:
            raise ValueError("'never' ends ('to') before it starts ('from')")
        return self


class CaseAction(_Strict):
    """Something a person does during a case: acknowledge or resolve an alert, or add a silence.

    ``ack``/``resolve`` name the alert by its rule and group fields, e.g. {rule: gas-leak, source_id: G1};
    ``silence`` gives matchers, e.g. {rule: gas-leak, grid: G-07}, with ``for`` (and, for a weekly
    maintenance window, ``every``, ``from``, ``to``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    at: Duration
    ack: dict[str, str] | None = None
    resolve: dict[str, str] | None = None
    silence: dict[str, str | list[str]] | None = None
    for_: Duration | None = Field(default=None, alias="for", gt=0)
    every: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] | None = None
    from_: str | None = Field(default=None, alias="from", pattern=r"^\d{2}:\d{2}$")
    to: str | None = Field(default=None, pattern=r"^\d{2}:\d{2}$")
    by: str = Field(default="test-officer", min_length=1)
    note: str | None = None
    reason: str = "rule test"

    @model_validator(mode="after")
    def _one_action(self) -> CaseAction:
        given = [k for k in ("ack", "resolve", "silence") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"an action is exactly one of ack, resolve, silence; got {given or 'none'}")
        if self.silence is not None and self.for_ is None:
            raise ValueError("a silence needs 'for', e.g. for: 2h")
        if (self.from_ is None) != (self.to is None):
            raise ValueError("a maintenance window needs both 'from' and 'to'")
        return self


class RuleCaseSpec(_Strict):
    """A case: events on a virtual clock and the notices they must (and must never) raise.

    ``events`` hold every event in arrival order once validated: a series written on one line
    (``every``) stands there as the events it generates.
    """

    name: str = Field(min_length=1)
    start: AwareDatetime | None = None
    events: list[CaseEvent] = Field(
        min_length=1, description="In arrival order; an 'at' earlier than a previous one arrives late"
    )
    until: Duration | None = Field(
        default=None, description="Run the virtual clock on to this offset after the last event"
    )
    actions: list[CaseAction] = Field(default_factory=list, description="Acks, resolves and silences")
    expect: list[ExpectedAlert] = Field(default_factory=list)
    match: Literal["exact", "subset"] = Field(
        default="exact",
        description="exact: 'expect' lists every notice; subset: the notices named occur in this "
        "order, others are ignored",
    )
    ignore: list[Change] = Field(
        default_factory=list, description="Changes left out of the notices before 'expect' is matched"
    )
    never: list[NeverNotice] = Field(
        default_factory=list, description="Notices that must not occur (checked on every notice)"
    )

    @field_validator("events")
    @classmethod
    def _generate(cls, events: list[CaseEvent]) -> list[CaseEvent]:
        return arrival_order(events)

    @model_validator(mode="after")
    def _expects_what_it_keeps(self) -> RuleCaseSpec:
        for i, exp in enumerate(self.expect):
            if exp.change is not None and exp.change in self.ignore:
                raise ValueError(
                    f"expect {i + 1} is a '{exp.change}' notice, which 'ignore' leaves out; "
                    f"drop '{exp.change}' from 'ignore' or from the expectation"
                )
        return self


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
    lists: dict[PackName, Annotated[list[ListItem], Field(min_length=1)]] = Field(
        default_factory=dict,
        description="Named lists of values for conditions (`location.name in gov_sites`), for all packs",
    )
    macros: dict[PackName, Annotated[str, Field(min_length=1)]] = Field(
        default_factory=dict,
        description="Named CEL conditions for conditions (`night && people > 50`), for all packs",
    )
    require_references: bool = Field(
        default=False, description="Lint refuses a rule of this pack without 'references'"
    )
    mode: RuleMode = Field(default="live", description="Mode of every rule that does not give its own")
    tests: list[RuleCaseSpec] = Field(default_factory=list)


DEFAULT_TEST_START = datetime.fromisoformat("2026-01-05T09:00:00+08:00")
