"""Judging one group's window for its rule: a hit or the clock in, the new window and a candidate out.

``rules.window_book.WindowBook`` holds the windows and calls this; the worker's window stages and
the rule-test runner both go through it. Tier ladders are judged here, on the firing event's
fields plus the window's figures (``window.count >= 10``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rules.alerts import AlertCandidate
from rules.compiler import CompiledRule
from rules.conditions import WINDOW, Activation
from rules.engine import ErrorHook, ladder_tier, make_candidate
from rules.hits import Hit, Tick
from rules.model import Tier
from rules.windows import Entry, Figures, Firing, GroupWindow, expired, next_due, observe, tick


def _ignore(rule_id: str, message: str) -> None:
    return None


@dataclass(frozen=True)
class StageResult:
    """``state`` None means forget the group; ``outcome`` is for metrics and tests."""

    state: GroupWindow | None
    candidate: AlertCandidate | None
    outcome: str
    evicted: int = 0


def _ts(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def window_activation(rule: CompiledRule, hit: Hit, figures: Figures) -> Activation:
    """What a stateful rule's tiers and summary read when its window fires: the firing event's
    fields, its time and the window's figures (``window.count``)."""
    fields: dict[str, Any] = dict(hit.fields)
    fields["time"] = hit.event_time
    fields[WINDOW] = figures
    return Activation(fields, rule.text_reads)


class WindowJudge:
    """The stateful rules' window logic; one instance serves every group of every stateful rule."""

    def __init__(self, rules: Iterable[CompiledRule], on_error: ErrorHook = _ignore):
        self.rules = {r.id: r for r in rules if r.form is not None and r.spec.enabled}
        self._on_error = on_error

    def on_hit(self, state: GroupWindow | None, hit: Hit, now: datetime) -> StageResult:
        rule = self.rules.get(hit.rule_id)
        if rule is None or rule.form is None:
            return StageResult(state, None, "unknown_rule")
        entry = Entry(hit.event_time.timestamp(), hit.event_id, hit.ok, hit.value, hit.steps)
        new, seen = observe(rule.form, rule.spec.lateness, state, entry, rule.spec.version, now.timestamp())
        newest = new.sample is None or hit.event_time.timestamp() >= new.watermark
        if seen.outcome == "counted" and rule.form.keeps_sample and newest:
            new.sample = hit
        candidate = None
        if seen.firing is not None:
            candidate = self._candidate(rule, hit, seen.firing, hit.event_id)
        return StageResult(new, candidate, seen.outcome, seen.evicted)

    def on_tick(self, state: GroupWindow, t: Tick) -> StageResult:
        rule = self.rules.get(t.rule_id)
        if rule is None or rule.form is None or state.rule_version != rule.spec.version:
            return StageResult(None, None, "stale")
        new, firing = tick(rule.form, rule.spec.lateness, state, t.now.timestamp())
        if new is None:
            return StageResult(None, None, "expired")
        if firing is None or new.sample is None:
            return StageResult(new, None, "waiting")
        sample = new.sample
        return StageResult(
            new, self._candidate(rule, sample, firing, f"absent-after:{sample.event_id}"), "absent"
        )

    def fires_on_clock(self, rule_id: str) -> bool:
        rule = self.rules.get(rule_id)
        return rule is not None and rule.form is not None and rule.form.fires_on_clock

    def lapsed(self, rule_id: str, state: GroupWindow, now: float) -> bool:
        """Idle past its expiry at clock ``now``, so its next event starts it afresh, exactly as if
        the clock had dropped it on time (an event at the very moment of expiry still finds it)."""
        rule = self.rules.get(rule_id)
        if rule is None or rule.form is None:
            return False
        form = rule.form
        return not form.waiting(state) and now > state.touched + form.idle_expiry(rule.spec.lateness)

    def forgettable(self, rule_id: str, state: GroupWindow, now: float) -> bool:
        """A group the clock does not watch that can go: its rule is gone or changed, or it expired."""
        rule = self.rules.get(rule_id)
        if rule is None or rule.form is None or state.rule_version != rule.spec.version:
            return True
        return not rule.form.fires_on_clock and expired(rule.form, rule.spec.lateness, state, now)

    def next_due(self, rule_id: str, state: GroupWindow) -> float | None:
        """Clock seconds when a tick would next change this group; None if none will (or its rule is gone)."""
        rule = self.rules.get(rule_id)
        if rule is None or rule.form is None:
            return None
        return next_due(rule.form, rule.spec.lateness, state)

    def _candidate(
        self, rule: CompiledRule, hit: Hit, firing: Firing, event_id: str
    ) -> AlertCandidate | None:
        assert rule.form is not None
        judged = window_activation(rule, hit, firing.figures)
        fields = judged.variables
        tier = ladder_tier(rule, judged, self._on_error)
        if tier is None:
            if firing.status != "resolved":
                return None
            tier = rule.ladder[-1][0] if rule.ladder else Tier.blue
        return make_candidate(
            rule,
            tier,
            fields,
            hit.group,
            hit.group_key,
            hit.fingerprint,
            family=hit.family,
            kind=hit.kind,
            event_id=event_id,
            event_time=hit.event_time
            if firing.event_time == hit.event_time.timestamp()
            else _ts(firing.event_time),
            location=hit.location,
            ingested_at=hit.ingested_at,
            status=firing.status,
            until_resolved=rule.form.until_resolved,
            evidence=firing.evidence,
            window=firing.figures,
        )
