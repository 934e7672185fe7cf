"""Which agencies hear an alert, and why: the routing file and its decisions.

Routes form a tree like Alertmanager's: the first matching route at each level wins unless it says
``continue: true``; a matching route's child routes are tried below it. On top of that, the grid
hierarchy adds the place's own offices by tier, ``escalation`` adds agencies by tier, and a route
may carry the escalation policy for unacknowledged alerts. The same file holds inhibition rules
and storm control, because they are routing decisions too: who hears what, and how much.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rules.durations import Duration, format_duration
from rules.errors import RuleError, RuleSetError
from rules.events import Family
from rules.model import TIERS_HIGH_FIRST, Risk, Tier
from rules.schema import AgencyId, RuleId
from rules.yaml_source import load_yaml, load_yaml_text, locate, to_plain


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AgencySpec(_Strict):
    topic: str = Field(pattern=r"^[A-Za-z0-9._-]{1,200}$", description="Kafka topic (before prefix)")
    name: str = Field(min_length=1, description="Name a duty officer recognises")


Level = Literal["city", "district", "street", "community", "grid"]
LEVELS: tuple[Level, ...] = ("city", "district", "street", "community", "grid")


class RouteMatch(_Strict):
    """All given keys must match; a list means any of its values."""

    risk: list[Risk] | None = None
    tier: list[Tier] | None = None
    family: list[Family] | None = None
    kind: list[str] | None = None
    rule: list[RuleId] | None = None
    city: list[str] | None = None
    district: list[str] | None = None
    street: list[str] | None = None
    community: list[str] | None = None
    grid: list[str] | None = None


class EscalationPolicy(_Strict):
    """Unacknowledged for ``after``: re-send with the next agency of ``to`` added, up to ``limit`` times.

    A step that reaches no agency that has not heard of the alert already, at an unchanged tier, sends
    nothing, unless ``renotify`` says to tell them again.
    """

    after: Duration = Field(gt=0)
    to: list[AgencyId] = Field(min_length=1)
    raise_tier: bool = Field(default=False, description="Each step also raises the tier by one (to red)")
    limit: int | None = Field(
        default=None,
        ge=1,
        description="Steps at most; default one per agency in 'to' (steps after it name the last one)",
    )
    renotify: bool = Field(
        default=False,
        description="A step that adds no agency and no tier re-sends the alert anyway, saying so; "
        "default: such a step sends nothing",
    )

    @property
    def steps(self) -> int:
        return self.limit if self.limit is not None else len(self.to)

    @model_validator(mode="after")
    def _steps_tell_someone(self) -> EscalationPolicy:
        if self.limit is not None and self.limit > len(self.to) and not (self.raise_tier or self.renotify):
            raise ValueError(
                f"limit {self.limit} is more steps than the agencies in 'to' ({len(self.to)}): the steps "
                "after the last agency would tell nobody new, so they would send nothing; add "
                "'renotify: true' to re-send them, 'raise_tier: true', or lower the limit"
            )
        return self


class RouteSpec(_Strict):
    name: str = Field(min_length=1)
    match: RouteMatch = RouteMatch()
    agencies: list[AgencyId] = Field(default_factory=list)
    continue_: bool = Field(default=False, alias="continue", description="Also try the routes after this one")
    escalate: EscalationPolicy | None = None
    routes: list[RouteSpec] = Field(default_factory=list, description="Tried only when this route matches")

    @model_validator(mode="after")
    def _does_something(self) -> RouteSpec:
        if not self.agencies and not self.routes and self.escalate is None:
            raise ValueError("a route needs 'agencies', child 'routes' or an 'escalate' policy")
        return self


class HierarchyLevel(_Strict):
    level: Level | list[Level] = Field(description="The place level (first one the location has)")
    agency: AgencyId


EqualLabel = Literal["risk", "rule", "family", "kind"]


class InhibitRule(_Strict):
    """While a ``source`` alert fires, ``target`` alerts at a lower tier in its area are withheld."""

    name: str = Field(min_length=1)
    source: RouteMatch
    target: RouteMatch
    equal: list[EqualLabel] = Field(default_factory=lambda: list[EqualLabel](["risk"]))
    area: Literal["same_grid", "same_or_ancestor"] = Field(
        default="same_or_ancestor",
        description="same_grid: identical place; same_or_ancestor: the source's place contains the target's",
    )


class StormControl(_Strict):
    """More than ``more_than`` groups of one rule opened within ``within``: one summary instead."""

    more_than: int = Field(ge=1)
    within: Duration = Field(gt=0)
    top: int = Field(default=10, ge=1, le=100, description="Groups listed in the summary")


class RoutingSpec(_Strict):
    version: int = Field(ge=1, le=1)
    default_agency: AgencyId = Field(description="Hears an alert that no rule or route sends anywhere")
    agencies: dict[AgencyId, AgencySpec] = Field(min_length=1)
    routes: list[RouteSpec] = Field(default_factory=list)
    hierarchy: dict[Tier, HierarchyLevel] = Field(
        default_factory=dict, description="By tier, the place's office that hears it (and every tier above)"
    )
    escalation: dict[Tier, list[AgencyId]] = Field(default_factory=dict)
    inhibit: list[InhibitRule] = Field(default_factory=list)
    storm: StormControl | None = None


@dataclass(frozen=True)
class RouteInput:
    """The facts of an alert that routing may look at."""

    rule_id: str
    rule_route: tuple[str, ...]
    risk: Risk
    tier: Tier
    family: Family
    kind: str
    district: str | None
    grid: str | None
    city: str | None = None
    street: str | None = None
    community: str | None = None

    def place(self, level: Level) -> str | None:
        value: str | None = getattr(self, level)
        return value

    def path(self) -> tuple[str, ...]:
        """The place from the city down, as far as it is known."""
        return tuple(p for p in (self.place(lv) for lv in LEVELS) if p)


def matches(m: RouteMatch, a: RouteInput) -> bool:
    return (
        (m.risk is None or a.risk in m.risk)
        and (m.tier is None or a.tier in m.tier)
        and (m.family is None or a.family in m.family)
        and (m.kind is None or a.kind in m.kind)
        and (m.rule is None or a.rule_id in m.rule)
        and all(getattr(m, lv) is None or a.place(lv) in getattr(m, lv) for lv in LEVELS)
    )


def _walk(routes: list[RouteSpec], a: RouteInput) -> Iterator[RouteSpec]:
    """The matching routes in tree order: first match wins at a level unless it continues."""
    for route in routes:
        if not matches(route.match, a):
            continue
        yield route
        yield from _walk(route.routes, a)
        if not route.continue_:
            return


ROUTES_REMEMBERED = 16_384


class Router:
    """Resolves agencies; every alert reaches at least the default agency, never nowhere.

    Alerts of one rule and tier in one place route alike, and the routing file does not change
    under a router, so answers are remembered: walking the routes for every notice was a twentieth
    of a worker on alert-heavy traffic.
    """

    def __init__(self, spec: RoutingSpec):
        self.spec = spec
        self._resolved = lru_cache(maxsize=ROUTES_REMEMBERED)(self._resolve)
        self._policy = lru_cache(maxsize=ROUTES_REMEMBERED)(self._escalation_policy)

    @property
    def agencies(self) -> dict[str, AgencySpec]:
        return dict(self.spec.agencies)

    def topic_of(self, agency: str) -> str:
        return self.spec.agencies[agency].topic

    def resolve(self, a: RouteInput) -> dict[str, str]:
        """Agency id to the reason it was chosen, in a stable order (the caller's own copy)."""
        return dict(self._resolved(a))

    def _resolve(self, a: RouteInput) -> dict[str, str]:
        out: dict[str, str] = {}
        for agency in a.rule_route:
            out.setdefault(agency, f"rule {a.rule_id} routes to it")
        for route in _walk(self.spec.routes, a):
            for agency in route.agencies:
                out.setdefault(agency, f"route '{route.name}' matched")
        for agency, reason in self.hierarchy(a).items():
            out.setdefault(agency, reason)
        for agency in self.spec.escalation.get(a.tier, []):
            out.setdefault(agency, f"{a.tier.label} alerts escalate to it")
        if not out:
            out[self.spec.default_agency] = "default agency: no rule route or route matched"
        return out

    def hierarchy(self, a: RouteInput) -> dict[str, str]:
        """The offices along the grid hierarchy that this tier reaches, lowest level first."""
        out: dict[str, str] = {}
        for tier in reversed(TIERS_HIGH_FIRST):
            if tier.rank > a.tier.rank:
                break
            spec = self.spec.hierarchy.get(tier)
            if spec is None:
                continue
            levels = [spec.level] if isinstance(spec.level, str) else spec.level
            for level in levels:
                unit = a.place(level)
                if unit:
                    since = "" if tier == a.tier else " and above"
                    out.setdefault(spec.agency, f"{tier.label}{since} alerts reach the {level} ({unit})")
                    break
        return out

    def escalation_policy(self, a: RouteInput) -> tuple[str, EscalationPolicy] | None:
        """The policy of the deepest matching route that has one, with the route's name."""
        return self._policy(a)

    def _escalation_policy(self, a: RouteInput) -> tuple[str, EscalationPolicy] | None:
        found = None
        for route in _walk(self.spec.routes, a):
            if route.escalate is not None:
                found = (route.name, route.escalate)
        return found

    def escalation_step(self, a: RouteInput, step: int) -> tuple[dict[str, str], Tier]:
        """Agencies added (with reasons) and the tier after ``step`` unacknowledged periods."""
        found = self.escalation_policy(a)
        if found is None or step <= 0:
            return {}, a.tier
        name, policy = found
        step = min(step, policy.steps)
        added = {
            agency: f"not acknowledged within {format_duration(policy.after * (i + 1))} "
            f"(route '{name}' escalation {i + 1} of {policy.steps})"
            for i, agency in enumerate(policy.to[: min(step, len(policy.to))])
        }
        tier = a.tier
        if policy.raise_tier:
            for _ in range(step):
                tier = _one_up(tier)
        return added, tier

    def escalation_renotice(self, a: RouteInput, step: int) -> dict[str, str]:
        """When ``step`` tells nobody new: the agency it names and why it hears the alert again, if
        the policy says to re-notify ({} if it does not)."""
        found = self.escalation_policy(a)
        if found is None or step <= 0 or not found[1].renotify:
            return {}
        name, policy = found
        step = min(step, policy.steps)
        agency = policy.to[min(step, len(policy.to)) - 1]
        return {
            agency: f"escalated: not acknowledged within {format_duration(policy.after * step)}; "
            f"re-notified as the policy says (route '{name}' escalation {step} of {policy.steps}, "
            "renotify)"
        }


def _one_up(tier: Tier) -> Tier:
    higher = [t for t in TIERS_HIGH_FIRST if t.rank == tier.rank + 1]
    return higher[0] if higher else tier


def load_routing(path: Path, text: str | None = None) -> Router:
    """Read and check a routing file; every agency named anywhere must be declared.

    ``text``: its content when it does not come from disk (a rule version read from the rules topic);
    ``path`` then only names it in errors."""
    node = load_yaml(path) if text is None else load_yaml_text(text, path)
    try:
        spec = RoutingSpec.model_validate(to_plain(node))
    except ValidationError as exc:
        errors = [
            RuleError(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}",
                locate(node, [str(p) if not isinstance(p, int) else p for p in e["loc"]], path),
            )
            for e in exc.errors(include_url=False)
        ]
        raise RuleSetError(errors) from None
    errors = []
    known = set(spec.agencies)

    def check(agency: str, where: list[str | int]) -> None:
        if agency not in known:
            errors.append(
                RuleError(
                    f"agency '{agency}' is not declared under 'agencies' "
                    f"(declared: {', '.join(sorted(known))})",
                    locate(node, where, path),
                )
            )

    check(spec.default_agency, ["default_agency"])

    def check_routes(routes: list[RouteSpec], where: list[str | int]) -> None:
        for i, route in enumerate(routes):
            for j, agency in enumerate(route.agencies):
                check(agency, [*where, i, "agencies", j])
            if route.escalate is not None:
                for j, agency in enumerate(route.escalate.to):
                    check(agency, [*where, i, "escalate", "to", j])
            check_routes(route.routes, [*where, i, "routes"])

    check_routes(spec.routes, ["routes"])
    for tier, level in spec.hierarchy.items():
        check(level.agency, ["hierarchy", tier.value, "agency"])
    for tier, agencies in spec.escalation.items():
        for j, agency in enumerate(agencies):
            check(agency, ["escalation", tier.value, j])
    if errors:
        raise RuleSetError(errors)
    return Router(spec)
