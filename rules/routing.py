"""Which agencies hear an alert, and why: the routing file and its decisions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rules.errors import RuleError, RuleSetError
from rules.events import Family
from rules.model import Risk, Tier
from rules.schema import AgencyId, RuleId
from rules.yaml_source import load_yaml, locate, to_plain


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AgencySpec(_Strict):
    topic: str = Field(pattern=r"^[A-Za-z0-9._-]{1,200}$", description="Kafka topic (before prefix)")
    name: str = Field(min_length=1, description="Name a duty officer recognises")


class RouteMatch(_Strict):
    """All given keys must match; a list means any of its values."""

    risk: list[Risk] | None = None
    tier: list[Tier] | None = None
    family: list[Family] | None = None
    kind: list[str] | None = None
    rule: list[RuleId] | None = None
    district: list[str] | None = None
    grid: list[str] | None = None


class RouteSpec(_Strict):
    name: str = Field(min_length=1)
    match: RouteMatch = RouteMatch()
    agencies: list[AgencyId] = Field(min_length=1)


class RoutingSpec(_Strict):
    version: int = Field(ge=1, le=1)
    default_agency: AgencyId = Field(description="Hears an alert that no rule or route sends anywhere")
    agencies: dict[AgencyId, AgencySpec] = Field(min_length=1)
    routes: list[RouteSpec] = Field(default_factory=list)
    escalation: dict[Tier, list[AgencyId]] = Field(default_factory=dict)


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


def _matches(m: RouteMatch, a: RouteInput) -> bool:
    return (
        (m.risk is None or a.risk in m.risk)
        and (m.tier is None or a.tier in m.tier)
        and (m.family is None or a.family in m.family)
        and (m.kind is None or a.kind in m.kind)
        and (m.rule is None or a.rule_id in m.rule)
        and (m.district is None or a.district in m.district)
        and (m.grid is None or a.grid in m.grid)
    )


class Router:
    """Resolves agencies; every alert reaches at least the default agency, never nowhere."""

    def __init__(self, spec: RoutingSpec):
        self.spec = spec

    @property
    def agencies(self) -> dict[str, AgencySpec]:
        return dict(self.spec.agencies)

    def topic_of(self, agency: str) -> str:
        return self.spec.agencies[agency].topic

    def resolve(self, a: RouteInput) -> dict[str, str]:
        """Agency id to the reason it was chosen, in a stable order."""
        out: dict[str, str] = {}
        for agency in a.rule_route:
            out.setdefault(agency, f"rule {a.rule_id} routes to it")
        for route in self.spec.routes:
            if _matches(route.match, a):
                for agency in route.agencies:
                    out.setdefault(agency, f"route '{route.name}' matched")
        for agency in self.spec.escalation.get(a.tier, []):
            out.setdefault(agency, f"{a.tier.label} alerts escalate to it")
        if not out:
            out[self.spec.default_agency] = "default agency: no rule route or route matched"
        return out


def load_routing(path: Path) -> Router:
    """Read and check a routing file; every agency named anywhere must be declared."""
    node = load_yaml(path)
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
    for i, route in enumerate(spec.routes):
        for j, agency in enumerate(route.agencies):
            check(agency, ["routes", i, "agencies", j])
    for tier, agencies in spec.escalation.items():
        for j, agency in enumerate(agencies):
            check(agency, ["escalation", tier.value, j])
    if errors:
        raise RuleSetError(errors)
    return Router(spec)
