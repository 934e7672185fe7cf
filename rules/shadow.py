"""Shadow rules: which live rule each would replace, and what the swap would change for duty desks.

A shadow rule (``mode: shadow``) runs on live traffic with its whole lifecycle, and its notices go
to the audit topic only. Before promoting it, its author asks what agencies would have seen
instead: the alerts it adds, the alerts it drops, whether it fires earlier or later, and at which
tiers. The answer is worked out here from the two rules' notices alone, so a backtest over
recorded events, a recorded audit file and the audit topic itself give the same report.
"""

from __future__ import annotations

import difflib
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from rules.alerts import Alert
from rules.errors import RuleError, RuleWarning
from rules.model import Tier

if TYPE_CHECKING:
    from rules.compiler import CompiledRule

DEFAULT_SLACK = 600.0
"""How far apart (event time) two alerts of the same group may be and still be the same occurrence."""


# -- which rule replaces which -----------------------------------------------------------------------


@dataclass(frozen=True)
class Pairing:
    """A shadow rule and the live rule it would replace (None: it would be a new rule)."""

    shadow: str
    live: str | None


def check_replacements(rules: Sequence[CompiledRule]) -> tuple[list[CompiledRule], list[RuleError]]:
    """The rules, with a warning on each ``replaces`` that names no loaded rule, and the errors.

    ``replaces`` on a live rule is an error: only a shadow rule stands beside the rule it would
    replace. A name no loaded pack has is only a warning (a pack linted on its own does not see
    the others), but the report cannot pair that shadow rule with anything.
    """
    ids = {r.id for r in rules}
    out: list[CompiledRule] = []
    errors: list[RuleError] = []
    for rule in rules:
        target = rule.spec.replaces
        if target is None:
            out.append(rule)
        elif rule.mode != "shadow":
            errors.append(RuleError(
                f"'replaces: {target}' is for a shadow rule: add 'mode: shadow' to this rule (or its "
                "pack), or drop 'replaces'",
                rule.location,
                rule.id,
            ))
            out.append(rule)
        elif target == rule.id:
            errors.append(RuleError(
                "a shadow rule cannot replace itself: give it an id of its own (e.g. "
                f"'{rule.id}-v{rule.spec.version + 1}') and 'replaces: {rule.id}'",
                rule.location,
                rule.id,
            ))
            out.append(rule)
        elif target not in ids:
            near = difflib.get_close_matches(target, sorted(ids - {rule.id}), n=1)
            hint = f" (did you mean '{near[0]}'?)" if near else ""
            warning = RuleWarning(
                f"replaces '{target}', which no loaded pack has{hint}: `riskstream rules shadow-report` "
                "cannot pair the two",
                rule.location,
                rule.id,
            )
            out.append(replace(rule, warnings=(*rule.warnings, warning)))
        else:
            out.append(rule)
    return out, errors


def pairings(rules: Iterable[CompiledRule]) -> list[Pairing]:
    """Every enabled shadow rule of a rule set with the rule it would replace, in file order."""
    return [Pairing(r.id, r.spec.replaces) for r in rules if r.mode == "shadow" and r.spec.enabled]


def pairings_in(notices: Iterable[Alert]) -> list[Pairing]:
    """The shadow rules that raised these notices, each with the rule its notices say it replaces."""
    found: dict[str, str | None] = {}
    for alert in notices:
        if alert.shadow:
            found[alert.rule_id] = found.get(alert.rule_id) or alert.replaces
    return [Pairing(shadow, live) for shadow, live in sorted(found.items())]


# -- alerts as their notices tell them ------------------------------------------------------------------


@dataclass
class AlertSpan:
    """One alert of one rule, from all its notices: when it fired, for how long, how high."""

    alert_id: str
    rule_id: str
    group: dict[str, str]
    group_key: str
    fired: datetime
    """Event time it fired at (its first match, or for a window its firing)."""
    last_seen: datetime
    first_tier: Tier
    top_tier: Tier
    notices: int = 0
    delivered: int = 0
    """Notices that reached (for a shadow rule: would have reached) agencies."""
    evidence: set[str] = field(default_factory=set)
    agencies: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, alert: Alert) -> AlertSpan:
        return cls(
            alert.alert_id,
            alert.rule_id,
            dict(alert.group),
            alert.group_key,
            alert.first_seen,
            alert.last_seen,
            alert.tier,
            alert.tier,
        )

    def add(self, alert: Alert) -> None:
        if alert.first_seen < self.fired:
            self.fired, self.first_tier = alert.first_seen, alert.tier
        self.last_seen = max(self.last_seen, alert.last_seen)
        if alert.tier.rank > self.top_tier.rank:
            self.top_tier = alert.tier
        self.notices += 1
        if alert.withheld_by is None:
            self.delivered += 1
            self.agencies.update(alert.agencies)
        self.evidence.update(alert.evidence)


def spans(notices: Iterable[Alert], rule_ids: Iterable[str] | None = None) -> dict[str, list[AlertSpan]]:
    """Alerts by rule (each rule's in the order they fired); a notice seen twice counts once."""
    wanted = None if rule_ids is None else set(rule_ids)
    by_id: dict[str, AlertSpan] = {}
    seen: set[tuple[str, int]] = set()
    for alert in notices:
        if wanted is not None and alert.rule_id not in wanted:
            continue
        if (alert.alert_id, alert.notice_seq) in seen:
            continue
        seen.add((alert.alert_id, alert.notice_seq))
        span = by_id.get(alert.alert_id)
        if span is None:
            span = by_id[alert.alert_id] = AlertSpan.of(alert)
        span.add(alert)
    out: dict[str, list[AlertSpan]] = {}
    for span in sorted(by_id.values(), key=lambda s: (s.fired, s.alert_id)):
        out.setdefault(span.rule_id, []).append(span)
    return out


# -- the comparison ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pair:
    """A shadow alert and the live alert about the same occurrence."""

    shadow: AlertSpan
    live: AlertSpan

    @property
    def shift(self) -> float:
        """Seconds the shadow alert fired after the live one (negative: before it)."""
        return (self.shadow.fired - self.live.fired).total_seconds()

    @property
    def tier_move(self) -> int:
        """Tiers the shadow alert reached above the live one (negative: below)."""
        return self.shadow.top_tier.rank - self.live.top_tier.rank


@dataclass(frozen=True)
class Spread:
    """Median and largest of some non-negative seconds."""

    count: int
    median: float
    largest: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Spread | None:
        if not seconds:
            return None
        return cls(len(seconds), statistics.median(seconds), max(seconds))


@dataclass
class Comparison:
    """What promoting ``shadow`` in place of ``live`` would have changed over the same traffic."""

    pairing: Pairing
    shadow_alerts: list[AlertSpan]
    live_alerts: list[AlertSpan]
    pairs: list[Pair]
    added: list[AlertSpan]
    """Shadow alerts with no live alert about the same occurrence: new work for duty desks."""
    dropped: list[AlertSpan]
    """Live alerts the shadow rule did not raise: what duty desks would no longer hear of."""

    @property
    def earlier(self) -> Spread | None:
        """How much earlier the shadow rule fired, over the pairs where it did."""
        return Spread.of([-p.shift for p in self.pairs if p.shift < 0])

    @property
    def later(self) -> Spread | None:
        """How much later the shadow rule fired, over the pairs where it did."""
        return Spread.of([p.shift for p in self.pairs if p.shift > 0])

    @property
    def same_time(self) -> int:
        return sum(1 for p in self.pairs if p.shift == 0)

    @property
    def tier_moves(self) -> Counter[str]:
        """Of the pairs: how many reached a higher, lower or the same top tier as live."""
        return Counter(
            "higher" if p.tier_move > 0 else "lower" if p.tier_move < 0 else "same" for p in self.pairs
        )

    @staticmethod
    def top_tiers(alerts: Iterable[AlertSpan]) -> Counter[Tier]:
        return Counter(a.top_tier for a in alerts)

    @staticmethod
    def notices(alerts: Iterable[AlertSpan]) -> int:
        """Notices that reached (or would have reached) agencies: the load on duty desks."""
        return sum(a.delivered for a in alerts)


def _same_occurrence(shadow: AlertSpan, live: AlertSpan, slack: timedelta) -> bool:
    """About the same thing at about the same time: one group (when both rules group alike) with
    overlapping firing (give or take ``slack``), or some evidence event in common (whatever each
    groups by)."""
    if shadow.evidence & live.evidence:
        return True
    if set(shadow.group) != set(live.group) or shadow.group_key != live.group_key:
        return False
    return shadow.fired <= live.last_seen + slack and live.fired <= shadow.last_seen + slack


def compare(
    pairing: Pairing, notices: Iterable[Alert], slack: float = DEFAULT_SLACK
) -> Comparison:
    """Pair each shadow alert, in firing order, with the live alert about the same occurrence that
    fired nearest to it; the shadow alerts left over are added, the live ones dropped."""
    rules = [pairing.shadow] if pairing.live is None else [pairing.shadow, pairing.live]
    found = spans(notices, rules)
    shadow = found.get(pairing.shadow, [])
    live = found.get(pairing.live, []) if pairing.live is not None else []
    window = timedelta(seconds=slack)
    free = list(live)
    pairs: list[Pair] = []
    added: list[AlertSpan] = []
    for s in shadow:
        near = [lv for lv in free if _same_occurrence(s, lv, window)]
        if not near:
            added.append(s)
            continue
        best = min(near, key=lambda lv: (abs((s.fired - lv.fired).total_seconds()), lv.fired))
        free.remove(best)
        pairs.append(Pair(s, best))
    return Comparison(pairing, shadow, live, pairs, added, free)


def compare_all(
    chosen: Iterable[Pairing], notices: Iterable[Alert], slack: float = DEFAULT_SLACK
) -> list[Comparison]:
    """One comparison per pairing, over the same notices."""
    kept = list(notices)
    return [compare(p, kept, slack) for p in chosen]
