"""Stateful workloads: generated window rules over many groups, and one rule over a million groups.

``stateful100``: 100 rules of mixed forms (mostly count and distinct) grouped by grid cell. The
group vocabulary is 100,000 grid cells, each watched by exactly one rule (its family, kind and
street), so every background event is one hit on one (rule, group) window and the window stage
does state work for every event. The backlog starts with an untimed warm-up of one event per cell
(shuffled), so the timed part finds every group in its window table; then its events pick
a cell uniformly at random. The thresholds (5 or 6 events, 4 or 5 devices, a rare maximum, a
spike then a normal reading) make about 1 % of events fire, and ``FiringModel`` predicts the
firings exactly from the generated events, so the report can compare what the worker did with
what it had to do.

``groups``: one count rule grouped by ``source_id`` and events whose sources are all different,
so N events leave N groups in the window tables and none fires: the worker's memory then
grows with state alone.

Backlog events all carry the same event time (like the stateless backlog) and every window is an
hour or longer, so the prediction does not depend on how fast the worker drains.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

from bench.packs import PROBE_RULE_ID, RISK_OF, ROUTE_OF, _threshold, rule_pairs
from bench.workload import (
    METRIC_OF,
    PROBE_FAMILY,
    PROBE_KIND,
    STREETS,
    EventFactory,
    Metric,
    _family_fields,
    _iso,
    draw_metric,
    encode,
)
from rules.events import Family
from rules.routing import Router
from rules.templates import lookup

StatefulForm = Literal["count", "distinct", "aggregate", "holds_for", "sequence", "absent_for"]

STATEFUL_RULES = 100
STATEFUL_GROUPS = 100_000
STATEFUL_EVENTS = 100_000
DEVICES_PER_GRID = 8
"""Sources reporting from one grid cell; the distinct rules count them."""

FORM_PATTERN: tuple[StatefulForm, ...] = (
    "count", "distinct", "count", "distinct", "count", "aggregate", "count", "distinct", "count",
    "sequence", "count", "distinct", "count", "aggregate", "count", "distinct", "count", "holds_for",
    "count", "absent_for",
)  # fmt: skip
"""Per 20 rules: 10 count, 5 distinct, 2 aggregate, 1 each of sequence, holds_for, absent_for."""

THRESHOLDS: dict[str, int] = {"count": 5, "distinct": 4}
"""at_least of count and distinct rules (every other one adds 1): with the warm-up's event and
about one more per cell, 1 to 2 % of events fire."""
WINDOW = "1h"
AGGREGATE_SHARE = 0.01
"""Share of events whose metric reaches an aggregate rule's maximum."""
SPIKE_SHARE = 0.05
"""Share of events that are a sequence rule's first step (a spike); the rest are its second."""
HOLD_SHARE = 0.5
"""Share of events on which a holds_for rule's condition holds."""

GROUPS_RULE_ID = "bench-groups-count"
GROUPS_FAMILY = Family.sensor
GROUPS_KIND = "residual_current"
GROUPS_WITHIN = "12h"
"""Longer than any run: no group of the memory scenario expires while it is measured."""


@dataclass(frozen=True)
class StatefulRule:
    """One generated stateful rule: its form, what it reads and which street it is scoped to."""

    index: int
    form: StatefulForm
    family: Family
    kind: str
    street: int
    at_least: int = 0

    @property
    def id(self) -> str:
        return f"bench-st-{self.index:03d}-{self.form.replace('_', '-')}"


def aggregate_metric(family: Family) -> Metric:
    """A numeric top-level field per family (aggregates read top-level numbers only)."""
    return Metric("severity", 1.0, integer=True) if family is Family.cyber else METRIC_OF[family]


def cyber_severity(metric: float) -> int:
    """1..5 from the drawn metric, so a cyber maximum is as rare as the metric's tail."""
    return min(5, 1 + int(metric // 20))


def plan_rules(count: int = STATEFUL_RULES) -> list[StatefulRule]:
    """``count`` rules over the (family, kind) pairs, one street each, forms from FORM_PATTERN.

    A holds_for rule gets a (family, kind) pair of its own: it sees every event of its kind (its
    condition decides whether the run holds, not whether there is a hit), so a second rule on the
    same kind would double that kind's hits. The other rules fill the remaining pairs, then the
    same pairs again on the next street.
    """
    pairs = _interleaved_pairs()
    if not 0 < count <= len(pairs) * len(STREETS) // 2:
        raise ValueError(f"stateful rule count must be 1..{len(pairs) * len(STREETS) // 2}, got {count}")
    forms = [FORM_PATTERN[i % len(FORM_PATTERN)] for i in range(count)]
    holds = [i for i, f in enumerate(forms) if f == "holds_for"]
    if len(holds) >= len(pairs):
        raise ValueError("too many holds_for rules for the kinds available")
    own = pairs[len(pairs) - len(holds) :]
    shared = pairs[: len(pairs) - len(holds)]
    slot: dict[int, tuple[tuple[Family, str], int]] = {i: (own[n], 0) for n, i in enumerate(holds)}
    others = [i for i in range(count) if forms[i] != "holds_for"]
    for n, i in enumerate(others):
        slot[i] = (shared[n % len(shared)], n // len(shared))
    out = []
    seen: Counter[str] = Counter()
    for i in range(count):
        (family, kind), street = slot[i]
        base = THRESHOLDS.get(forms[i], 0)
        at_least = base + seen[forms[i]] % 2 if base else 0  # alternately base and base + 1
        seen[forms[i]] += 1
        out.append(StatefulRule(i, forms[i], family, kind, street, at_least))
    return out


def _interleaved_pairs() -> list[tuple[Family, str]]:
    """(family, kind) pairs taking the families in turn, so any prefix mixes the five families."""
    by_family: dict[Family, list[str]] = {}
    for f, k in rule_pairs():
        by_family.setdefault(f, []).append(k)
    out: list[tuple[Family, str]] = []
    depth = max(len(ks) for ks in by_family.values())
    for level in range(depth):
        out += [(f, ks[level]) for f, ks in by_family.items() if level < len(ks)]
    return out


def _literal(metric: Metric, cut: float) -> str:
    value = cut * metric.scale
    return str(int(value)) if metric.integer else f"{value:.4f}"


def _cut(metric: Metric, share: float) -> str:
    """The CEL literal with P(field >= literal) == share under draw_metric."""
    return _literal(metric, _threshold(metric, share))


@dataclass(frozen=True)
class Thresholds:
    """The literals a rule's conditions use, kept so the firing model compares the same numbers."""

    aggregate: str
    spike: str
    hold: str


@cache
def thresholds(rule: StatefulRule) -> Thresholds:
    agg = aggregate_metric(rule.family)
    agg_cut = "5" if rule.family is Family.cyber else _cut(agg, AGGREGATE_SHARE)
    metric = METRIC_OF[rule.family]
    return Thresholds(agg_cut, _cut(metric, SPIKE_SHARE), _cut(metric, HOLD_SHARE))


def _rule_yaml(rule: StatefulRule, agencies: set[str]) -> dict[str, Any]:
    family, street = rule.family, STREETS[rule.street]
    metric = METRIC_OF[family]
    cuts = thresholds(rule)
    scope = f"location.street == '{street}'"
    out: dict[str, Any] = {
        "id": rule.id,
        "title": f"bench {rule.form} {family.value} {rule.kind} {street}",
        "risk": RISK_OF[family],
        "on": family.value,
        "kind": rule.kind,
        "when": scope,
    }
    figure, orange = "count", "window.count >= 3"
    if rule.form == "count":
        out["count"] = {"at_least": rule.at_least, "within": WINDOW}
        orange = f"window.count >= {rule.at_least + 2}"
    elif rule.form == "distinct":
        out["distinct"] = {"field": "source_id", "at_least": rule.at_least, "within": WINDOW}
        figure, orange = "distinct", f"window.distinct >= {rule.at_least + 2}"
    elif rule.form == "aggregate":
        agg = aggregate_metric(family)
        limit = float(cuts.aggregate)
        out["aggregate"] = {"fn": "max", "field": agg.path, "within": WINDOW, "at_least": limit}
        figure = "value"
    elif rule.form == "holds_for":
        out["when"] = f"{metric.path} >= {cuts.hold}"
        out["holds_for"] = {"duration": "10m", "max_gap": "30m"}
        figure, orange = "held", "window.count >= 10"
    elif rule.form == "sequence":
        out["sequence"] = [
            {"when": f"{metric.path} >= {cuts.spike}"},
            {"when": f"{metric.path} < {cuts.spike}"},
        ]
        out["within"] = WINDOW
    else:
        out["absent_for"] = "1h"
        figure, orange = "absent", "window.absent >= 7200.0"
    out["tier"] = {"orange": orange, "yellow": "true"}
    out["group_by"] = ["location.grid"]
    out["cooldown"] = "10m"
    out["route"] = [ROUTE_OF[family]] if ROUTE_OF[family] in agencies else []
    out["summary"] = f"{{location.grid}} {rule.form} {rule.kind}: {{window.{figure}}}"
    return out


def stateful_pack(rules: list[StatefulRule], router: Router) -> dict[str, Any]:
    agencies = set(router.agencies)
    return {
        "version": 1,
        "pack": f"bench-stateful-{len(rules)}",
        "description": "riskstream bench: generated stateful rules grouped by grid cell",
        "rules": [_rule_yaml(r, agencies) for r in rules],
    }


def stateful_probe_pack() -> dict[str, Any]:
    """The latency probe as a window rule: every probe is its own group and fires at once, so the
    measured path is detect, hits, window stage, candidates, dispatch."""
    return {
        "version": 1,
        "pack": "bench-probe-stateful",
        "description": "riskstream bench latency probe through the window stage (generated)",
        "rules": [
            {
                "id": PROBE_RULE_ID,
                "title": "bench latency probe (stateful)",
                "risk": "public_safety",
                "on": PROBE_FAMILY.value,
                "kind": PROBE_KIND,
                "when": "source_id.startsWith('bench-probe-')",
                "count": {"at_least": 1, "within": "10m"},
                "tier": "blue",
                "group_by": ["source_id"],
                "cooldown": "1s",
                "route": ["device_ops"],
                "summary": "bench probe {source_id}",
            }
        ],
    }


def groups_pack() -> dict[str, Any]:
    """One count rule, grouped by a field every memory-scenario event has its own value of."""
    return {
        "version": 1,
        "pack": "bench-groups",
        "description": "riskstream bench: one window per source (memory scenario, generated)",
        "rules": [
            {
                "id": GROUPS_RULE_ID,
                "title": "bench groups: two readings from one source",
                "risk": "public_safety",
                "on": GROUPS_FAMILY.value,
                "kind": GROUPS_KIND,
                "when": "source_id.startsWith('bench-g-')",
                "count": {"at_least": 2, "within": GROUPS_WITHIN},
                "tier": "blue",
                "group_by": ["source_id"],
                "cooldown": "10m",
                "route": [],
                "summary": "{source_id}: {window.count} readings",
            }
        ],
    }


def grid_name(group: int, street: int) -> str:
    return f"{STREETS[street]}-G{group:06d}"


class GroupSpace:
    """The grid cells: cell g is watched by rule g mod len(rules) and lies on that rule's street."""

    def __init__(self, rules: list[StatefulRule], groups: int):
        if groups < len(rules):
            raise ValueError(f"need at least one group per rule ({len(rules)}), got {groups}")
        self.rules, self.groups = rules, groups

    def rule_of(self, group: int) -> StatefulRule:
        return self.rules[group % len(self.rules)]

    def grid(self, group: int) -> str:
        return grid_name(group, self.rule_of(group).street)


class StatefulFactory(EventFactory):
    """Background events on a uniformly drawn grid cell, keyed by the cell so that one group's
    events keep their order; probes are inherited (a heartbeat from a source of its own)."""

    def __init__(self, run_id: str, seed: int, space: GroupSpace):
        super().__init__(run_id, seed)
        self.space = space

    def background(self, tag: str, ts: float) -> tuple[Family, str, dict[str, Any]]:
        return self.event_for(self.rng.randrange(self.space.groups), tag, ts)

    def event_for(self, group: int, tag: str, ts: float) -> tuple[Family, str, dict[str, Any]]:
        rule = self.space.rule_of(group)
        metric = draw_metric(self.rng)
        grid = self.space.grid(group)
        source = f"{rule.family.value}-{group}-{self.rng.randrange(DEVICES_PER_GRID)}"
        body = self._envelope(self._next_id(tag), rule.family, rule.kind, source, rule.street, ts)
        body["location"]["grid"] = grid
        body.update(_family_fields(rule.family, metric, body["event_id"]))
        if rule.family is Family.cyber:
            body["attributes"] = {"risk_score": round(metric, 3)}
            body["severity"] = cyber_severity(metric)
        return rule.family, grid, body


@dataclass
class FiringModel:
    """What the window stage must decide on a backlog whose events all fall inside every window.

    Mirrors rules.windows for that case: count and distinct fire on each event once the group
    reaches the threshold, the maximum on each event from the first one at or above the cut, a
    sequence on each normal reading after a spike; holds_for (no event time passes) and
    absent_for (no clock passes) do not fire.
    """

    space: GroupSpace
    hits: int = 0
    firings: int = 0
    by_form: Counter[str] = field(default_factory=Counter)
    _seen: dict[str, Any] = field(default_factory=dict)

    def observe(self, body: dict[str, Any]) -> bool:
        grid = body["location"]["grid"]
        group = int(grid.rsplit("G", 1)[1])
        rule = self.space.rule_of(group)
        self.hits += 1
        fired = self._fires(rule, grid, body)
        if fired:
            self.firings += 1
            self.by_form[rule.form] += 1
        return fired

    def _fires(self, rule: StatefulRule, grid: str, body: dict[str, Any]) -> bool:
        cuts = thresholds(rule)
        if rule.form == "count":
            n = self._seen[grid] = self._seen.get(grid, 0) + 1
            return bool(n >= rule.at_least)
        if rule.form == "distinct":
            sources = self._seen.setdefault(grid, set())
            sources.add(body["source_id"])
            return len(sources) >= rule.at_least
        if rule.form == "aggregate":
            value = lookup(body, aggregate_metric(rule.family).path)
            high = self._seen.get(grid, False) or value >= float(cuts.aggregate)
            self._seen[grid] = high
            return bool(high)
        if rule.form == "sequence":
            spike = _number(lookup(body, METRIC_OF[rule.family].path)) >= _number(cuts.spike)
            spiked = self._seen.get(grid, False)
            if spike:
                self._seen[grid] = True
                return False
            return bool(spiked)
        return False


def _number(value: Any) -> float:
    return float(value)


def stateful_backlog(
    factory: StatefulFactory,
    topics: dict[Family, str],
    n: int,
    tag: str,
    model: FiringModel,
    warmup: bool = False,
) -> list[tuple[str, bytes, bytes]]:
    """``n`` events on random cells, all at one event time and each one hit; ``model`` learns what
    they must fire. With ``warmup`` they follow one event for every cell in a shuffled order, so
    the measured part of a drain runs with every group already holding window state."""
    now = time.time()
    groups: list[int] = []
    if warmup:
        groups = list(range(factory.space.groups))
        factory.rng.shuffle(groups)
    groups += [factory.rng.randrange(factory.space.groups) for _ in range(n)]
    out = []
    for group in groups:
        family, key, body = factory.event_for(group, tag, now)
        model.observe(body)
        out.append((topics[family], key.encode(), encode(body)))
    return out


def unique_group_events(
    run_id: str, topics: dict[Family, str], n: int, chunk: int = 20_000
) -> Iterator[list[tuple[str, bytes, bytes]]]:
    """The memory scenario's ``n`` events in chunks, each from a source no other event has."""
    topic = topics[GROUPS_FAMILY]
    stamp = _iso(time.time())
    for start in range(0, n, chunk):
        out = []
        for i in range(start, min(n, start + chunk)):
            source = f"bench-g-{i:07d}"
            body = {
                "event_id": f"{run_id}-g-{i}",
                "family": GROUPS_FAMILY.value,
                "kind": GROUPS_KIND,
                "time": stamp,
                "source_id": source,
                "location": {"city": "bench-city", "street": STREETS[i % len(STREETS)]},
                "value": 1.0,
                "unit": "mA",
                "status": "normal",
            }
            out.append((topic, source.encode(), encode(body)))
        yield out
