"""Accuracy against the simulator's ground truth: did each injected incident raise the alerts it
must, at what tier and how late, and which alerts does no incident explain.

The definitions (docs/rules.md, "Scoring accuracy"), strict on purpose so precision cannot be
defined away:

- An *expected alert* is one rule and group an injection's ``expected`` notices name. Its tier is
  the highest those notices reach; it is due at the injection's start plus the earliest ``at``.
- It is *raised* (a true positive) when an alert of that rule and exactly that group was opened
  (its ``first_seen``) at or after the injection's start and within ``horizon`` of it, at any
  tier. If several injections expect the same rule and group, an alert belongs to the latest one
  started by then. Raised below the expected tier is *tier short*, reported apart.
- Every alert (alert id) no expected alert matched is a *false positive*: raised by background
  traffic, or by an injection's events but not in its scenario's expectations. Withheld alerts
  (silenced, inhibited) count: they are still on the audit topic. Nothing in the background is
  exempt unless an injection's ground truth expects it. Shadow rules' notices are not alerts here.
- An injection that stopped part way (``complete: false``) is not scored: its expected alerts count
  neither way, and alerts matching them are neither true nor false.
- recall = raised / expected alerts; precision = alerts matched / all alerts; time to alert = the
  alert's first notice (``raised_at``) minus the due time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from rules.alerts import Alert
from rules.model import Risk, Tier
from rules.schema import ExpectedAlert

Group = tuple[tuple[str, str], ...]
HORIZON = timedelta(hours=48)
"""How long after an injection's start its alert may open: the simulator keeps an injection's
identifiers out of other injections for as long (connectors.scenarios.RESERVE)."""
BACKGROUND = "(background)"
"""Where false positives that no injection's events raised are counted."""


class Incident(Protocol):
    """One injection's ground truth (connectors.scenarios.GroundTruth is one)."""

    @property
    def scenario(self) -> str: ...
    @property
    def risk(self) -> Risk: ...
    @property
    def run_id(self) -> str: ...
    @property
    def injected_at(self) -> datetime: ...
    @property
    def event_ids(self) -> list[str]: ...
    @property
    def expected(self) -> list[ExpectedAlert]: ...
    @property
    def complete(self) -> bool: ...


def group_of(group: Mapping[str, Any]) -> Group:
    """A group as alerts carry it (values as text), in field order, to compare by value."""
    return tuple(sorted((str(k), str(v)) for k, v in group.items()))


@dataclass
class SeenAlert:
    """One alert as its notices show it."""

    alert_id: str
    rule: str
    group: Group
    risk: Risk
    opened: datetime
    """Its ``first_seen``: the event time of the first event it holds."""
    raised: datetime
    """``raised_at`` of its first notice: when it was first sent."""
    top: Tier
    first_at: dict[Tier, datetime] = field(default_factory=dict)
    """Each tier it reached, and when a notice first carried it."""
    withheld: bool = True
    """Every notice of it was held back from agencies (audit only)."""
    evidence: set[str] = field(default_factory=set)

    def add(self, alert: Alert) -> None:
        self.opened = min(self.opened, alert.first_seen)
        self.raised = min(self.raised, alert.raised_at)
        if alert.tier.rank > self.top.rank:
            self.top = alert.tier
        if alert.tier not in self.first_at or alert.raised_at < self.first_at[alert.tier]:
            self.first_at[alert.tier] = alert.raised_at
        self.withheld = self.withheld and alert.withheld_by is not None
        self.evidence.update(alert.evidence)

    def reached(self, tier: Tier) -> datetime | None:
        """When a notice first carried ``tier`` or a higher one."""
        times = [t for tr, t in self.first_at.items() if tr.rank >= tier.rank]
        return min(times) if times else None


def seen_alerts(notices: Iterable[Alert]) -> list[SeenAlert]:
    """Notices (in any order, duplicates welcome: a redelivered notice changes nothing) as alerts,
    in the order their first notice was raised. A shadow rule's notices are left out: they reach no
    agency (`riskstream rules shadow-report` compares them with the live rule)."""
    out: dict[str, SeenAlert] = {}
    for n in notices:
        if n.shadow:
            continue
        seen = out.get(n.alert_id)
        if seen is None:
            seen = out[n.alert_id] = SeenAlert(
                n.alert_id, n.rule_id, group_of(n.group), n.risk, n.first_seen, n.raised_at, n.tier
            )
        seen.add(n)
    return sorted(out.values(), key=lambda a: (a.raised, a.alert_id))


@dataclass
class Outcome:
    """One expected alert of one injection, and the alerts that met it."""

    scenario: str
    run_id: str
    risk: Risk
    """The expected rule's risk (the scenario's when the rule is not known)."""
    rule: str
    group: Group | None
    tier: Tier | None
    """The highest tier its expected notices reach."""
    started: datetime
    due: datetime
    tier_due: datetime
    scored: bool = True
    alerts: list[SeenAlert] = field(default_factory=list)

    @property
    def raised(self) -> bool:
        return bool(self.alerts)

    @property
    def reached(self) -> Tier | None:
        """The highest tier any of its alerts reached."""
        return max((a.top for a in self.alerts), key=lambda t: t.rank, default=None)

    @property
    def tier_short(self) -> bool:
        reached = self.reached
        return reached is not None and self.tier is not None and reached.rank < self.tier.rank

    @property
    def time_to_alert(self) -> float | None:
        """Seconds from the due time to the first notice of any of its alerts."""
        if not self.alerts:
            return None
        return (min(a.raised for a in self.alerts) - self.due).total_seconds()

    @property
    def time_to_tier(self) -> float | None:
        """Seconds from the due time of the expected tier to a notice at (or above) it."""
        if self.tier is None:
            return self.time_to_alert
        times = [t for a in self.alerts if (t := a.reached(self.tier)) is not None]
        return (min(times) - self.tier_due).total_seconds() if times else None


@dataclass(frozen=True)
class FalseAlert:
    """An alert no expected alert explains, and the injection whose events it holds, if any."""

    alert: SeenAlert
    scenario: str | None
    run_id: str | None


@dataclass(frozen=True)
class Figures:
    """Recall, precision and time to alert over some expected alerts and alerts."""

    expected: int = 0
    raised: int = 0
    tier_short: int = 0
    alerts: int = 0
    false: int = 0
    times: tuple[float, ...] = ()
    """Time to alert of each raised expected alert, seconds, ascending."""

    @property
    def recall(self) -> float | None:
        return self.raised / self.expected if self.expected else None

    @property
    def precision(self) -> float | None:
        return (self.alerts - self.false) / self.alerts if self.alerts else None

    @property
    def median(self) -> float | None:
        return percentile(self.times, 50)

    @property
    def p95(self) -> float | None:
        return percentile(self.times, 95)

    @property
    def max(self) -> float | None:
        return self.times[-1] if self.times else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "expected": self.expected, "raised": self.raised, "missed": self.expected - self.raised,
            "tier_short": self.tier_short, "alerts": self.alerts, "false_positives": self.false,
            "recall": self.recall, "precision": self.precision,
            "time_to_alert_s": {"median": self.median, "p95": self.p95, "max": self.max},
        }


def percentile(ascending: Sequence[float], p: float) -> float | None:
    """Nearest rank: the smallest value with at least p % of the values at or below it."""
    if not ascending:
        return None
    return ascending[max(0, math.ceil(p / 100 * len(ascending)) - 1)]


def _figures(outcomes: Iterable[Outcome], true_alerts: Iterable[str], false_alerts: int) -> Figures:
    scored = [o for o in outcomes if o.scored]
    raised = [o for o in scored if o.raised]
    true = set(true_alerts)
    times = sorted(t for o in raised if (t := o.time_to_alert) is not None)
    return Figures(len(scored), len(raised), sum(o.tier_short for o in raised),
                   len(true) + false_alerts, false_alerts, tuple(times))


@dataclass
class Score:
    outcomes: list[Outcome]
    false_alerts: list[FalseAlert]
    alerts: list[SeenAlert]
    injections: int
    partial: int
    """Injections that stopped part way, left out."""
    unscored: int
    """Alerts matching only a partial injection's expectations, counted neither way."""

    def figures(self, outcomes: Iterable[Outcome], false: Iterable[FalseAlert]) -> Figures:
        outcomes = list(outcomes)
        true = {a.alert_id for o in outcomes if o.scored for a in o.alerts}
        return _figures(outcomes, true, len(list(false)))

    @property
    def overall(self) -> Figures:
        return self.figures(self.outcomes, self.false_alerts)

    @property
    def by_scenario(self) -> dict[str, Figures]:
        """Per scenario; false positives no injection raised go to BACKGROUND."""
        names = sorted({o.scenario for o in self.outcomes})
        out = {
            name: self.figures((o for o in self.outcomes if o.scenario == name),
                               (f for f in self.false_alerts if f.scenario == name))
            for name in names
        }
        background = [f for f in self.false_alerts if f.scenario is None]
        if background:
            out[BACKGROUND] = self.figures((), background)
        return out

    @property
    def by_risk(self) -> dict[Risk, Figures]:
        """Per risk of the rule: expected alerts by their rule's, alerts by their own."""
        out: dict[Risk, Figures] = {}
        for risk in Risk:
            outcomes = [o for o in self.outcomes if o.risk is risk]
            true = {a.alert_id for o in self.outcomes if o.scored for a in o.alerts if a.risk is risk}
            false = [f for f in self.false_alerts if f.alert.risk is risk]
            if outcomes or true or false:
                out[risk] = _figures(outcomes, true, len(false))
        return out

    def as_dict(self) -> dict[str, Any]:
        """Everything, JSON-ready: the figures, each expected alert and each false positive."""
        return {
            "injections": self.injections,
            "partial_injections": self.partial,
            "unscored_alerts": self.unscored,
            "overall": self.overall.as_dict(),
            "by_scenario": {k: v.as_dict() for k, v in self.by_scenario.items()},
            "by_risk": {k.value: v.as_dict() for k, v in self.by_risk.items()},
            "expected": [_outcome_dict(o) for o in self.outcomes],
            "false_positives": [_false_dict(f) for f in self.false_alerts],
        }


def _outcome_dict(o: Outcome) -> dict[str, Any]:
    reached = o.reached
    return {
        "scenario": o.scenario, "run_id": o.run_id, "risk": o.risk.value, "rule": o.rule,
        "group": dict(o.group) if o.group is not None else None, "scored": o.scored,
        "expected_tier": o.tier.value if o.tier else None, "due": o.due.isoformat(),
        "raised": o.raised, "tier": reached.value if reached else None, "tier_short": o.tier_short,
        "time_to_alert_s": o.time_to_alert, "time_to_tier_s": o.time_to_tier,
        "alert_ids": [a.alert_id for a in o.alerts],
    }


def _false_dict(f: FalseAlert) -> dict[str, Any]:
    a = f.alert
    return {
        "alert_id": a.alert_id, "rule": a.rule, "group": dict(a.group), "risk": a.risk.value,
        "tier": a.top.value, "opened": a.opened.isoformat(), "raised": a.raised.isoformat(),
        "withheld": a.withheld, "scenario": f.scenario, "run_id": f.run_id,
    }


def expected_outcomes(incident: Incident, rule_risk: Mapping[str, Risk]) -> list[Outcome]:
    """An injection's expected alerts: one per rule and group, at the highest tier its notices name."""
    out: dict[tuple[str, Group | None], Outcome] = {}
    start = incident.injected_at
    for exp in incident.expected:
        key = (exp.rule, group_of(exp.group) if exp.group is not None else None)
        at = start + timedelta(seconds=exp.at or 0.0)
        have = out.get(key)
        if have is None:
            risk = rule_risk.get(exp.rule, incident.risk)
            have = out[key] = Outcome(incident.scenario, incident.run_id, risk, exp.rule, key[1], exp.tier,
                                      start, at, at, scored=incident.complete)
        have.due = min(have.due, at)
        if exp.tier is not None and (have.tier is None or exp.tier.rank > have.tier.rank):
            have.tier, have.tier_due = exp.tier, at
        elif exp.tier is not None and exp.tier is have.tier:
            have.tier_due = min(have.tier_due, at)
    return list(out.values())


def score(
    incidents: Iterable[Incident],
    notices: Iterable[Alert],
    rule_risk: Mapping[str, Risk] | None = None,
    horizon: timedelta = HORIZON,
) -> Score:
    """Match ``notices`` (every notice of the run, e.g. the audit topic's) to the injections'
    expected alerts. ``rule_risk``: each rule's risk, for the per-risk figures of missed alerts."""
    incidents = list(incidents)
    outcomes = [o for i in incidents for o in expected_outcomes(i, rule_risk or {})]
    by_key: dict[tuple[str, Group], list[Outcome]] = {}
    by_rule: dict[str, list[Outcome]] = {}  # expectations that name no group
    for o in sorted(outcomes, key=lambda o: o.started):
        if o.group is None:
            by_rule.setdefault(o.rule, []).append(o)
        else:
            by_key.setdefault((o.rule, o.group), []).append(o)
    injection_of = {eid: i for i in incidents for eid in i.event_ids}
    alerts = seen_alerts(notices)
    false: list[FalseAlert] = []
    unscored = 0
    for alert in alerts:
        found = _owner(alert, by_key.get((alert.rule, alert.group), []), horizon)
        if found is None:
            found = _owner(alert, [o for o in by_rule.get(alert.rule, [])
                                   if alert.evidence & set(_events(incidents, o.run_id))], horizon)
        if found is not None:
            found.alerts.append(alert)
            unscored += not found.scored
            continue
        cause = next((injection_of[e] for e in sorted(alert.evidence) if e in injection_of), None)
        false.append(FalseAlert(alert, cause.scenario if cause else None, cause.run_id if cause else None))
    return Score(outcomes, false, alerts, len(incidents), sum(not i.complete for i in incidents), unscored)


def _owner(alert: SeenAlert, candidates: Sequence[Outcome], horizon: timedelta) -> Outcome | None:
    """The latest-started of ``candidates`` (in start order) that ``alert`` may belong to."""
    owner = None
    for o in candidates:
        if o.started <= alert.opened < o.started + horizon:
            owner = o
    return owner


def _events(incidents: Sequence[Incident], run_id: str) -> list[str]:
    return next((i.event_ids for i in incidents if i.run_id == run_id), [])
