"""What dispatch knows beyond one alert: alerts firing elsewhere, acknowledgements and silences.

Every worker holds the whole of it (it is small), read from compacted topics that every worker
consumes in full; the rule-test runner holds it in memory. Decisions read it; changes to it are
effects that dispatch returns for the caller to publish, so the core stays pure.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, cast

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from rules.errors import AlertNotOpenError
from rules.events import Family
from rules.model import Risk, Tier
from rules.routing import InhibitRule, RouteInput, matches
from rules.silences import SilenceBook

MIN_ID_PREFIX = 8
"""Shortest start of an alert id a duty officer may type instead of all of it (a uuid's first group)."""


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
    shadow: bool = False
    """A shadow rule's alert: it may hold back other shadow alerts, never a live one."""

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


Place = tuple[str | None, str | None, str | None, str | None, str | None]


def _around(place: Place) -> Iterator[Place]:
    """Every place that contains ``place`` (itself included): each level kept or left out."""
    for mask in itertools.product((True, False), repeat=len(place)):
        yield cast(Place, tuple(p if keep else None for p, keep in zip(place, mask, strict=True)))


class ActiveIndex:
    """Open alerts by fingerprint, also indexed by place and rule, since every notice asks."""

    def __init__(self, alerts: Iterable[ActiveAlert] = ()):
        self._by_fp: dict[str, ActiveAlert] = {}
        self._by_place: dict[Place, dict[str, ActiveAlert]] = {}
        self._by_rule: dict[str, dict[str, ActiveAlert]] = {}
        for a in alerts:
            self.put(a)

    def __iter__(self) -> Iterator[ActiveAlert]:
        return iter(self._by_fp.values())

    def __len__(self) -> int:
        return len(self._by_fp)

    def find(self, alert_id: str) -> ActiveAlert:
        """The open alert with this id, or the only one whose id starts with it (ids are long).

        Raises AlertNotOpenError saying what to do: a duty officer acting on a resolved or
        mistyped id must hear so, not have the request vanish.
        """
        for a in self._by_fp.values():
            if a.alert_id == alert_id:
                return a
        if len(alert_id) < MIN_ID_PREFIX:
            raise AlertNotOpenError(
                f"no open alert has id {alert_id!r}; give the whole id, or at least its first "
                f"{MIN_ID_PREFIX} characters (`riskstream tail` prints it)"
            )
        found = sorted(
            (a for a in self._by_fp.values() if a.alert_id.startswith(alert_id)), key=lambda a: a.alert_id
        )
        if len(found) == 1:
            return found[0]
        if not found:
            raise AlertNotOpenError(
                f"no open alert has id {alert_id!r}: it has resolved already, or the id is mistyped "
                "(`riskstream tail --agency AGENCY --from-beginning` lists alert ids and their status)"
            )
        ids = ", ".join(a.alert_id for a in found[:5])
        raise AlertNotOpenError(
            f"{len(found)} open alerts have ids starting with {alert_id!r} ({ids}); give more of the id"
        )

    def put(self, alert: ActiveAlert) -> None:
        self.drop(alert.fingerprint)
        self._by_fp[alert.fingerprint] = alert
        self._by_place.setdefault(alert.place, {})[alert.fingerprint] = alert
        self._by_rule.setdefault(alert.rule_id, {})[alert.fingerprint] = alert

    def drop(self, fingerprint: str) -> None:
        old = self._by_fp.pop(fingerprint, None)
        if old is None:
            return
        here = self._by_place[old.place]
        del here[fingerprint]
        if not here:
            del self._by_place[old.place]
        mine = self._by_rule[old.rule_id]
        del mine[fingerprint]
        if not mine:
            del self._by_rule[old.rule_id]

    def inhibitor(
        self, target: ActiveAlert, rules: Iterable[InhibitRule]
    ) -> tuple[ActiveAlert, InhibitRule] | None:
        """A firing alert that withholds ``target`` under some rule, the highest tier first."""
        t_in = target.route_input()
        best: tuple[ActiveAlert, InhibitRule] | None = None
        for rule in rules:
            if not matches(rule.target, t_in):
                continue
            places = (
                [target.place] if rule.area == "same_grid" else list(dict.fromkeys(_around(target.place)))
            )
            for place in places:
                for src in self._by_place.get(place, {}).values():
                    if (
                        src.fingerprint == target.fingerprint
                        or src.withheld
                        or (src.shadow and not target.shadow)
                        or src.tier.rank <= target.tier.rank
                    ):
                        continue
                    if not matches(rule.source, src.route_input()):
                        continue
                    if any(getattr(src, _LABEL[k]) != getattr(target, _LABEL[k]) for k in rule.equal):
                        continue
                    if best is None or src.tier.rank > best[0].tier.rank:
                        best = (src, rule)
        return best

    def open_of_rule(self, rule_id: str, exclude: str) -> int:
        """Open alerts of a rule other than ``exclude`` and its storm summary."""
        return sum(
            1 for a in self._by_rule.get(rule_id, {}).values() if not a.storm and a.fingerprint != exclude
        )

    def opened_since(self, rule_id: str, since: datetime, exclude: str, enough: int | None = None) -> int:
        """Alerts of a rule opened since ``since`` (counting stops at ``enough``)."""
        n = 0
        for a in self._by_rule.get(rule_id, {}).values():
            if not a.storm and a.fingerprint != exclude and a.opened_at >= since:
                n += 1
                if enough is not None and n >= enough:
                    break
        return n


_LABEL = {"risk": "risk", "rule": "rule_id", "family": "family", "kind": "kind"}


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
    """Acknowledgements by alert id: the first one of an alert counts."""
    resolves: dict[str, Ack] = field(default_factory=dict)
    """Resolutions by hand by alert id, kept beside the acknowledgement: each has its own who, when
    and why, and a resolve must not hide an acknowledgement not yet applied."""
    silences: SilenceBook = field(default_factory=SilenceBook)

    def ack(self, ack: Ack) -> None:
        """Record an acknowledgement or a resolve; the first of each kind per alert counts."""
        book = self.acks if ack.action == "ack" else self.resolves
        book.setdefault(ack.alert_id, ack)

    def pending(self, alert_id: str, acknowledged: bool) -> bool:
        """Whether an alert has an acknowledgement (if it is not ``acknowledged`` yet) or a resolve
        waiting to be applied."""
        return alert_id in self.resolves or (not acknowledged and alert_id in self.acks)
