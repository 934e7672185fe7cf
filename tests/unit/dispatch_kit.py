"""Helpers for the dispatch specs: candidates, routing files, and dispatch run in memory.

``Desk`` runs the Dispatcher as the worker does, with states by fingerprint and one shared World:
it applies Publish effects to the active index, hands InhibitedNotes to the inhibiting alert and
dispatches forwarded (storm summary) candidates, like the rule-test runner.
"""

from __future__ import annotations

import textwrap
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from rules.alert_book import AlertBook
from rules.alerts import Alert, AlertCandidate, fingerprint
from rules.events import Family, Location
from rules.lifecycle import AlertState, Decision, Dispatcher
from rules.model import Risk, Tier
from rules.routing import Router, load_routing
from rules.world import Ack, World
from tests.unit.conftest import T0

if TYPE_CHECKING:
    from tests.unit.conftest import WriteYaml

AGENCIES = """\
version: 1
default_agency: governance
agencies:
  fire:            {topic: alerts.fire,       name: fire and rescue 119}
  police:          {topic: alerts.police,     name: police 110}
  emergency:       {topic: alerts.emergency,  name: emergency management bureau}
  governance:      {topic: alerts.governance, name: city governance centre}
  grid_office:     {topic: alerts.grid,       name: grid office}
  street_office:   {topic: alerts.street,     name: street office}
  district_office: {topic: alerts.district,   name: district office}
  mayor:           {topic: alerts.mayor,      name: mayor's office}
"""
"""The head of every routing file these specs build; the body is theirs."""


def routing(write_yaml: WriteYaml, body: str, name: str = "routing.yaml") -> Router:
    """A router from the shared agencies and a body of routes, hierarchy, inhibit or storm."""
    return load_routing(write_yaml(name, AGENCIES + textwrap.dedent(body)))


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def cand(
    event_id: str,
    seconds: float,
    tier: Tier = Tier.yellow,
    *,
    rule: str = "gas",
    grid: str | None = "G-07",
    district: str | None = "D1",
    street: str | None = None,
    community: str | None = None,
    risk: Risk = Risk.public_safety,
    **kw: Any,
) -> AlertCandidate:
    """A candidate of rule ``rule`` grouped by grid, at T0 + ``seconds`` (event time)."""
    key = f"location.grid={grid}"
    data: dict[str, Any] = {
        "rule_id": rule,
        "rule_version": 1,
        "risk": risk,
        "tier": tier,
        "title": rule.capitalize(),
        "summary": f"{rule} high",
        "family": Family.sensor,
        "kind": "combustible_gas",
        "group": {"location.grid": grid or ""},
        "group_key": key,
        "fingerprint": fingerprint(rule, key),
        "route": (),
        "cooldown": 3600.0,
        "event_id": event_id,
        "event_time": at(seconds),
        "location": Location(city="C", district=district, street=street, community=community, grid=grid),
    }
    data.update(kw)
    return AlertCandidate(**data)


class Desk:
    """The dispatch stage in memory (an AlertBook) that also keeps every notice it sends."""

    def __init__(self, router: Router, world: World | None = None):
        self.dispatcher = Dispatcher(router)
        self.book = AlertBook(self.dispatcher, world or World(), on_decision=self._decided)
        self.world = self.book.world
        self.states = self.book.states
        self.notices: list[Alert] = []
        self.now = T0

    def _decided(self, fp: str, d: Decision) -> None:
        self.notices.extend(n.alert for n in d.notices)

    def send(self, c: AlertCandidate, now: datetime | None = None) -> Decision:
        """Dispatch a candidate; the clock is ``now`` or else its event time."""
        self.now = now or c.event_time
        return self.book.handle(c, self.now)

    def tick(self, fp: str, now: datetime) -> Decision:
        self.now = now
        return self.book.tick(fp, now)

    def act(
        self,
        fp: str,
        now: datetime,
        action: Literal["ack", "resolve"] = "ack",
        by: str = "officer-1",
        note: str | None = None,
    ) -> Decision:
        """A duty officer acks or resolves the alert; the worker then ticks it."""
        aid = self.states[fp].alert_id
        self.world.ack(Ack(alert_id=aid, action=action, by=by, note=note, at=now))
        return self.tick(fp, now)

    def state(self, c: AlertCandidate | str) -> AlertState:
        return self.states[c if isinstance(c, str) else c.fingerprint]

