"""Detection: which rules an event meets, at which tier, about which group.

Stateless rules decide on the event alone and yield alert candidates. Stateful rules cannot, so
they yield hits for their window, which sees all of one group's events.

Rules are indexed by (family, kind) at construction, so the work per event grows with the rules
that could match it, not with the size of the rule set; each index entry also knows which fields
its rules read, so an event's CEL activation holds only those.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import reduce
from operator import or_
from typing import Any

from pydantic import BaseModel

from rules.alerts import AlertCandidate, fingerprint, group_key
from rules.compiler import CompiledRule, Condition
from rules.conditions import NOTHING, Activation, Reads
from rules.events import KINDS, EventBase, Family, field_getter
from rules.hits import Hit
from rules.model import Tier

NO_VALUE = "(none)"
ErrorHook = Callable[[str, str], None]
RungHook = Callable[[Tier, Condition | None, bool], None]
"""Told of one rung of a tier ladder that was tried: its tier, condition (None: true) and answer."""


def _ignore(rule_id: str, message: str) -> None:
    return None


@dataclass
class Detection:
    """What one event set off: candidates of stateless rules, hits for stateful ones."""

    candidates: list[AlertCandidate] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)


def holds(rule_id: str, cond: Condition, activation: Activation, on_error: ErrorHook) -> bool:
    """A condition's truth; one that cannot be evaluated is false and reported, never raised."""
    try:
        value = cond(activation)
    except Exception as exc:  # cel raises KeyError/TypeError/RuntimeError/...; none may stop a worker
        on_error(rule_id, str(exc).split("\n", 1)[0])
        return False
    if isinstance(value, bool):
        return value
    on_error(rule_id, f"condition {cond.source!r} must be true or false, got {type(value).__name__}")
    return False


def ladder_tier(
    rule: CompiledRule, activation: Activation, on_error: ErrorHook, seen: RungHook | None = None
) -> Tier | None:
    """The highest tier whose condition holds; a tier that cannot be evaluated is skipped.

    ``seen`` is told of each rung tried, highest first, with its answer (``rules.explain``)."""
    for tier, cond in rule.ladder:
        held = cond is None or holds(rule.id, cond, activation, on_error)
        if seen is not None:
            seen(tier, cond, held)
        if held:
            return tier
    return None


def activation(event: EventBase, reads: Reads) -> Activation:
    """The CEL variables ``reads`` names, taken from the event."""
    return Activation(reads.fields(event), reads)


def make_candidate(
    rule: CompiledRule,
    tier: Tier,
    fields: dict[str, Any],
    group: dict[str, str],
    key: str,
    fp: str,
    **about: Any,
) -> AlertCandidate:
    """A rule's candidate at a tier: what the rule says, plus ``about`` (event id, time, place, ...).

    ``fields`` needs only what the rule's summary reads.
    """
    spec = rule.spec
    return AlertCandidate(
        rule_id=spec.id,
        rule_version=spec.version,
        risk=spec.risk,
        tier=tier,
        title=spec.title,
        summary=rule.summary.render(fields),
        action=spec.action,
        group=group,
        group_key=key,
        fingerprint=fp,
        route=tuple(spec.route),
        cooldown=spec.cooldown,
        repeat_interval=spec.repeat_interval,
        tier_down_after=spec.tier_down_after,
        shadow=rule.mode == "shadow",
        replaces=spec.replaces,
        **about,
    )


def group_of(rule: CompiledRule, event: EventBase) -> tuple[dict[str, str], str, str]:
    """The group an event belongs to for a rule: values, canonical key and fingerprint."""
    group = {}
    for path, get in rule.group_getters:
        value = get(event)
        if isinstance(value, BaseModel):
            value = value.model_dump()
        group[path] = NO_VALUE if value is None else str(value)
    key = group_key(rule.group_by, group)
    return group, key, fingerprint(rule.id, key)


@dataclass(frozen=True)
class _Plan:
    """The rules an event of one family and kind may meet, and the fields they read.

    Rules with a literal guard (``location.street == 'JD05' && ...``) are looked up by the event's
    value of the guarded field instead of being evaluated one by one; the rules an event meets
    keep the order they were written in.
    """

    rules: tuple[CompiledRule, ...]
    reads: Reads
    unguarded: tuple[tuple[int, CompiledRule], ...] = ()
    guarded: tuple[tuple[Callable[[EventBase], Any], dict[Any, list[tuple[int, CompiledRule]]]], ...] = ()

    def meets(self, event: EventBase) -> Iterable[CompiledRule]:
        if not self.guarded:
            return self.rules
        chosen = list(self.unguarded)
        for get, by_value in self.guarded:
            value = get(event)
            if isinstance(value, str):
                chosen += by_value.get(value, ())
        if len(chosen) > len(self.unguarded):
            chosen.sort(key=lambda pr: pr[0])
        return [rule for _, rule in chosen]


class Engine:
    """Evaluates compiled rules against events; pure, so tests and backtests run the worker's code."""

    def __init__(self, rules: Iterable[CompiledRule], on_error: ErrorHook = _ignore):
        self.rules = [r for r in rules if r.spec.enabled]
        self._on_error = on_error
        any_kind: dict[Family, list[CompiledRule]] = {f: [] for f in Family}
        by_kind: dict[tuple[Family, str], list[CompiledRule]] = {}
        for rule in self.rules:
            if rule.kinds:
                for kind in rule.kinds:
                    by_kind.setdefault((rule.spec.on, kind), []).append(rule)
            else:
                any_kind[rule.spec.on].append(rule)
        self._any_kind = {f: self._plan(rs) for f, rs in any_kind.items()}
        self._index: dict[tuple[Family, str], _Plan] = {}
        for family, kinds in KINDS.items():
            for kind in kinds:
                self._index[(family, kind)] = self._plan(
                    by_kind.get((family, kind), []) + any_kind[family]
                )

    @staticmethod
    def _plan(rules: list[CompiledRule]) -> _Plan:
        reads = reduce(or_, (r.reads for r in rules), NOTHING)
        unguarded: list[tuple[int, CompiledRule]] = []
        by_path: dict[str, dict[Any, list[tuple[int, CompiledRule]]]] = {}
        for i, rule in enumerate(rules):
            if rule.guard is None:
                unguarded.append((i, rule))
            else:
                path, text = rule.guard
                by_path.setdefault(path, {}).setdefault(text, []).append((i, rule))
        guarded = tuple((field_getter(path), by_value) for path, by_value in by_path.items())
        return _Plan(tuple(rules), reads, tuple(unguarded), guarded)

    def candidates_for(self, family: Family, kind: str) -> tuple[CompiledRule, ...]:
        return self._index.get((family, kind), self._any_kind[family]).rules

    def evaluate(self, event: EventBase, ingested_at: float | None = None) -> list[AlertCandidate]:
        """Candidates of the stateless rules only (stateful rules need their windows)."""
        return self.detect(event, ingested_at).candidates

    def detect(self, event: EventBase, ingested_at: float | None = None) -> Detection:
        out = Detection()
        plan = self._index.get((event.family, event.kind)) or self._any_kind[event.family]
        if not plan.rules:
            return out
        act = activation(event, plan.reads)
        on_error = self._on_error
        for rule in plan.meets(event):
            if rule.form is not None:
                hit = self._hit(rule, event, act, ingested_at)
                if hit is not None:
                    out.hits.append(hit)
                continue
            if rule.when_met is not None and not holds(rule.id, rule.when_met, act, on_error):
                continue
            tier = ladder_tier(rule, act, on_error)
            if tier is not None:
                group, key, fp = group_of(rule, event)
                out.candidates.append(
                    make_candidate(
                        rule,
                        tier,
                        rule.text_reads.fields(event),
                        group,
                        key,
                        fp,
                        family=event.family,
                        kind=event.kind,
                        event_id=event.event_id,
                        event_time=event.time,
                        location=event.location,
                        ingested_at=ingested_at,
                    )
                )
        return out

    def _hit(
        self, rule: CompiledRule, event: EventBase, act: Activation, ingested_at: float | None
    ) -> Hit | None:
        form = rule.form
        assert form is not None
        on_error = self._on_error
        ok = rule.when_met is None or holds(rule.id, rule.when_met, act, on_error)
        if not ok and not form.reads_misses:
            return None
        reading = form.read(event, ok, lambda cond: holds(rule.id, cond, act, on_error))
        if reading is None:
            return None
        group, key, fp = group_of(rule, event)
        return Hit(
            rule_id=rule.id,
            rule_version=rule.spec.version,
            fingerprint=fp,
            group=group,
            group_key=key,
            event_id=event.event_id,
            event_time=event.time,
            family=event.family,
            kind=event.kind,
            location=event.location,
            ok=reading.ok,
            value=reading.value,
            steps=reading.steps,
            fields=rule.text_reads.fields(event),
            ingested_at=ingested_at,
        )
