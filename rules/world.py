"""What dispatch knows beyond one alert: alerts firing elsewhere, acknowledgements and silences.

Every worker holds the whole of it (it is small), read from compacted topics that every worker
consumes in full; the rule-test runner holds it in memory. Decisions read it; changes to it are
effects that dispatch returns for the caller to publish, so the core stays pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from rules.events import Family
from rules.model import Risk, Tier
from rules.routing import LEVELS, InhibitRule, RouteInput, matches
from rules.silences import SilenceBook


class ActiveAlert(BaseModel):
    """One open alert as other alerts' decisions see it (inhibition, storm control)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fingerprint: str
    alert_id: str
    rule_id: str
    risk: Risk
    tier: Tier
    family: Family
    kind: str
    place: tuple[str | None, str | None, str | None, str | None, str | None] = Field(
        description="city, district, street, community, grid"
    )
    opened_at: AwareDatetime
    withheld: bool = False
    storm: bool = False

    def route_input(self) -> RouteInput:
        city, district, street, community, grid = self.place
        return RouteInput(
            self.rule_id,
            (),
            self.risk,
            self.tier,
            self.family,
            self.kind,
            district,
            grid,
            city,
            street,
            community,
        )


def _contains(outer: tuple[str | None, ...], inner: tuple[str | None, ...]) -> bool:
    """Every level the outer place names, the inner place names the same: same place or inside it."""
    return all(o is None or o == i for o, i in zip(outer, inner, strict=True))


class ActiveIndex:
    def __init__(self, alerts: Iterable[ActiveAlert] = ()):
        self._by_fp: dict[str, ActiveAlert] = {a.fingerprint: a for a in alerts}

    def __iter__(self) -> Iterator[ActiveAlert]:
        return iter(self._by_fp.values())

    def __len__(self) -> int:
        return len(self._by_fp)

    def put(self, alert: ActiveAlert) -> None:
        self._by_fp[alert.fingerprint] = alert

    def drop(self, fingerprint: str) -> None:
        self._by_fp.pop(fingerprint, None)

    def inhibitor(
        self, target: ActiveAlert, rules: Iterable[InhibitRule]
    ) -> tuple[ActiveAlert, InhibitRule] | None:
        """A firing alert that withholds ``target`` under some rule, the highest tier first."""
        t_in = target.route_input()
        best: tuple[ActiveAlert, InhibitRule] | None = None
        for rule in rules:
            if not matches(rule.target, t_in):
                continue
            for src in self._by_fp.values():
                if src.fingerprint == target.fingerprint or src.withheld or src.tier.rank <= target.tier.rank:
                    continue
                if not matches(rule.source, src.route_input()):
                    continue
                if any(getattr(src, _LABEL[k]) != getattr(target, _LABEL[k]) for k in rule.equal):
                    continue
                same = src.place == target.place
                if rule.area == "same_grid" and not same:
                    continue
                if rule.area == "same_or_ancestor" and not _contains(src.place, target.place):
                    continue
                if best is None or src.tier.rank > best[0].tier.rank:
                    best = (src, rule)
        return best

    def opened_since(self, rule_id: str, since: datetime, exclude: str) -> int:
        return sum(
            1
            for a in self._by_fp.values()
            if a.rule_id == rule_id and not a.storm and a.fingerprint != exclude and a.opened_at >= since
        )


_LABEL = {"risk": "risk", "rule": "rule_id", "family": "family", "kind": "kind"}
assert tuple(LEVELS) == ("city", "district", "street", "community", "grid")


class Ack(BaseModel):
    """A duty officer's acknowledgement (or resolution) of one alert, from `riskstream ack|resolve`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    alert_id: str = Field(min_length=1)
    action: Literal["ack", "resolve"] = "ack"
    by: str = Field(min_length=1, max_length=100)
    note: str | None = Field(default=None, max_length=1000)
    at: AwareDatetime


@dataclass
class World:
    active: ActiveIndex = field(default_factory=ActiveIndex)
    acks: dict[str, Ack] = field(default_factory=dict)
    silences: SilenceBook = field(default_factory=SilenceBook)

    def ack(self, ack: Ack) -> None:
        """The first ack of an alert counts (a later resolve still does)."""
        held = self.acks.get(ack.alert_id)
        if held is None or (held.action == "ack" and ack.action == "resolve"):
            self.acks[ack.alert_id] = ack
