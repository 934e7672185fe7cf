"""Why a rule did or did not fire on one event: each condition with the values it read, the tier
the ladder chose, the group's window, and what the lifecycle did with the match.

Nothing here decides anything. The event goes through the offline runner a backtest uses
(``rules.backtest.Backtest``), after the events recorded before it, so its windows and alerts
stand as they stood live; what each stage decided for it is recorded as it is decided (the
window book's results, the alert book's decisions). Detection is asked again on the same event
(it is pure), and each rule's conditions are evaluated on the activation detection builds, by
the same function: the answers shown are the engine's. To show which part of a condition failed,
its top-level ``&&`` (or ``||``) parts are compiled by the same compiler and evaluated likewise.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rules.alert_book import AlertBook
from rules.alert_state import AlertState, storm_fingerprint
from rules.alerts import Alert
from rules.backtest import Backtest
from rules.cel_parts import top_level_parts
from rules.compiler import CompiledRule, RuleSet
from rules.conditions import WINDOW, Activation, Condition, compile_condition
from rules.durations import format_duration
from rules.engine import Detection, Engine, activation, group_of, holds, ladder_tier
from rules.errors import RuleError
from rules.events import EventBase
from rules.forms import SequenceForm
from rules.hits import Hit
from rules.lifecycle import Decision
from rules.model import Tier
from rules.stateful import StageResult, window_activation
from rules.testing import Replay
from rules.window_book import Held, WindowBook
from rules.window_progress import Progress, progress


@dataclass(frozen=True)
class Part:
    """One condition, or one top-level part of one, on the event."""

    source: str
    read: dict[str, Any]
    """The fields it reads, by dotted name, with the values it saw (``None``: absent)."""
    result: bool | None
    """None: it could not be evaluated (``error`` says why); the rule then takes it as false."""
    error: str | None = None


@dataclass(frozen=True)
class ConditionTrace:
    label: str
    whole: Part
    joiner: str = ""
    """``&&`` or ``||`` when the condition is a chain of ``parts``; empty when it is one part."""
    parts: tuple[Part, ...] = ()


@dataclass(frozen=True)
class Rung:
    """One tier of a ladder as it was tried, highest first; the first that holds is the tier."""

    tier: Tier
    condition: ConditionTrace | None
    """None: the rung is ``true`` (a fixed tier, or the ladder's catch-all)."""
    held: bool


@dataclass(frozen=True)
class TierTrace:
    chosen: Tier | None
    rungs: tuple[Rung, ...]


@dataclass(frozen=True)
class StepTrace:
    """A sequence step as this event meets it: its kinds, its condition, and whether it counts."""

    index: int
    kinds: tuple[str, ...]
    kind_ok: bool
    when: ConditionTrace | None
    taken: bool


@dataclass(frozen=True)
class WindowTrace:
    form: str
    outcome: str
    """What the window did with the event: ``counted``, ``duplicate``, ``late``, or ``not_read``
    (detection gave it no hit: ``when`` false, or no value for the form)."""
    fired: bool
    """The form is met at this event (its alert then depends on the tier ladder and the lifecycle)."""
    progress: Progress
    ends: bool = False
    """The event ends what the form had fired for (an absent group reporting again)."""


@dataclass(frozen=True)
class DecisionTrace:
    """What the lifecycle decided for one alert: its own reason, the notices, the state after."""

    fingerprint: str
    reason: str
    notices: tuple[Alert, ...]
    state: AlertState | None
    next_due: datetime | None
    """When the clock would next act on the alert (resolution after quiet time, escalation, ...)."""


@dataclass(frozen=True)
class RuleTrace:
    rule: CompiledRule
    group: dict[str, str]
    fingerprint: str
    when: ConditionTrace | None
    """None: the rule has no condition (``true``)."""
    matched: bool
    """Detection took the event for this rule: a candidate (stateless) or a hit for its window."""
    verdict: str
    tier: TierTrace | None = None
    steps: tuple[StepTrace, ...] = ()
    window: WindowTrace | None = None
    decisions: tuple[DecisionTrace, ...] = ()
    clock_before: tuple[DecisionTrace, ...] = ()
    """What the clock did to this group's alert after the previous event and before this one."""
    alert: AlertState | None = None
    """The group's alert after the event (open, or resolved and still remembered), if any."""


@dataclass(frozen=True)
class EventExplanation:
    event: EventBase
    replayed: int
    """Recorded events replayed before it."""
    clock: datetime
    """Where the replay's clock stood when the event arrived (the newest event time so far)."""
    rules: tuple[RuleTrace, ...]
    disabled: tuple[str, ...] = ()
    """Rules of the event's family and kind that are disabled, so did not run."""

    @property
    def late(self) -> bool:
        return self.event.time < self.clock


@dataclass
class _Seen:
    """What the stages decided while being watched."""

    decisions: list[tuple[str, Decision]] = field(default_factory=list)
    windows: list[tuple[str, StageResult]] = field(default_factory=list)


@contextmanager
def _watching(book: AlertBook, windows: WindowBook) -> Iterator[_Seen]:
    """Listen to the replay's alert book and window book, as the worker's metrics do."""
    seen = _Seen()
    decided, resulted = book.on_decision, windows.on_result

    def on_decision(fp: str, decision: Decision) -> None:
        decided(fp, decision)
        seen.decisions.append((fp, decision))

    def on_result(rule_id: str, result: StageResult) -> None:
        resulted(rule_id, result)
        seen.windows.append((rule_id, result))

    book.on_decision, windows.on_result = on_decision, on_result
    try:
        yield seen
    finally:
        book.on_decision, windows.on_result = decided, resulted


_SUBKEY = r"(?<![\w.]){name}\s*(?:\.\s*([A-Za-z_]\w*)|\[\s*['\"]([^'\"]+)['\"]\s*\])"


def _read(cond: Condition, act: Activation) -> dict[str, Any]:
    """The fields a condition reads, with the values it saw; a map (location, attributes, window)
    by the keys the condition names."""
    out: dict[str, Any] = {}
    names = set(cond.reads.variables)
    if WINDOW in act.variables:
        names.add(WINDOW)
    for name in sorted(names):
        value = act.variables.get(name)
        keys = [a or b for a, b in re.findall(_SUBKEY.format(name=re.escape(name)), cond.source)]
        if name == WINDOW and not keys:
            continue
        if isinstance(value, dict) and keys:
            for key in dict.fromkeys(keys):
                out[f"{name}.{key}"] = value.get(key)
        else:
            out[name] = value
    return out


def _evaluate(rule_id: str, cond: Condition, act: Activation) -> Part:
    errors: list[str] = []
    ok = holds(rule_id, cond, act, lambda _rule, message: errors.append(message))
    return Part(cond.source, _read(cond, act), None if errors else ok, errors[0] if errors else None)


def trace_condition(
    label: str, cond: Condition, act: Activation, rule: CompiledRule, window_keys: Collection[str] = ()
) -> ConditionTrace:
    """The condition's answer on ``act``, and each of its top-level parts' answers."""
    whole = _evaluate(rule.id, cond, act)
    joiner, texts = top_level_parts(cond.source)
    if len(texts) < 2:
        return ConditionTrace(label, whole)
    parts = []
    for text in texts:
        try:
            compiled = compile_condition(text, rule.spec.on, rule.location, rule.id, window_keys)
        except RuleError:  # a part that only makes sense in its whole: show the whole alone
            return ConditionTrace(label, whole)
        parts.append(Part(text, {}, True) if compiled is None else _evaluate(rule.id, compiled, act))
    return ConditionTrace(label, whole, joiner, tuple(parts))


def trace_ladder(rule: CompiledRule, act: Activation, window_keys: Collection[str] = ()) -> TierTrace:
    """The ladder as ``ladder_tier`` tries it, rung by rung, with each rung's condition explained."""
    rungs: list[Rung] = []

    def seen(tier: Tier, cond: Condition | None, held: bool) -> None:
        shown = None if cond is None else trace_condition(f"tier {tier.value}", cond, act, rule, window_keys)
        rungs.append(Rung(tier, shown, held))

    chosen = ladder_tier(rule, act, lambda _rule, _message: None, seen)
    return TierTrace(chosen, tuple(rungs))


def _decision(fp: str, decision: Decision, next_due: Callable[[AlertState], datetime]) -> DecisionTrace:
    state = decision.state
    due = next_due(state) if state is not None and state.open else None
    return DecisionTrace(fp, decision.reason, tuple(n.alert for n in decision.notices), state, due)


def _lifecycle_verdict(decisions: tuple[DecisionTrace, ...], tier: Tier | None = None) -> str:
    """What the lifecycle did with a match (at ``tier``), in a line."""
    told = []
    for d in decisions:
        for a in d.notices:
            if a.withheld_by is not None:
                told.append(f"{a.change} notice withheld ({a.withheld_by})")
            elif a.shadow:
                told.append(
                    f"{a.change} notice of a shadow rule: audit only (would reach {', '.join(a.agencies)})"
                )
            else:
                told.append(f"{a.change} notice to {', '.join(a.agencies)}")
    if told:
        return "; ".join(told)
    reasons = {d.reason for d in decisions}
    state = next((d.state for d in decisions if d.state is not None), None)
    if "duplicate" in reasons:
        return "no notice: the alert has this event already (a redelivery)"
    if "in_cooldown" in reasons and state is not None:
        merged = f"merged into open alert {state.alert_id} (count {state.count}) without a notice"
        if state.withheld is not None:
            return f"{merged}: it stays withheld ({state.withheld})"
        if tier is not None and tier.rank < state.tier.rank:
            hold = format_duration(state.candidate.tier_down_after)
            lower = f"{tier.value} is below its {state.tier.value}, kept until lower matches last {hold}"
            return f"{merged}: {lower}"
        return f"{merged}: same tier, and its repeat interval has not passed"
    if "nothing_to_resolve" in reasons:
        return "no notice: it ends an alert that is not open"
    return f"no notice ({', '.join(sorted(reasons)) or 'no decision'})"


class Explainer:
    """Recorded events offered in arrival order until the one to explain; then its explanation.

    ``target`` is an event id to find among the recorded events, or an event given by itself:
    that one is explained after the recorded events up to its time (or at its place among them,
    if they hold its id). ``only``: the rule ids to explain (all rules still run).
    """

    def __init__(self, ruleset: RuleSet, target: str | EventBase, only: Collection[str] = ()):
        self.ruleset = ruleset
        self.target = target
        self.backtest = Backtest(ruleset, only=frozenset(only))
        self.engine = Engine(ruleset.rules)
        self.replayed = 0
        self.explanation: EventExplanation | None = None

    @property
    def target_id(self) -> str:
        return self.target if isinstance(self.target, str) else self.target.event_id

    def offer(self, event: EventBase) -> bool:
        """The next recorded event; True once the target is explained (read no further)."""
        if self.explanation is not None:
            return True
        if event.event_id == self.target_id:
            self.explanation = self._explain(event)
        elif isinstance(self.target, EventBase) and event.time > self.target.time:
            self.explanation = self._explain(self.target)
        else:
            self.backtest.feed_event(event)
            self.replayed += 1
        return self.explanation is not None

    def finish(self) -> EventExplanation:
        """The explanation; LookupError when the event id never came."""
        if self.explanation is None:
            if isinstance(self.target, str):
                raise LookupError(f"no event with id {self.target} among the {self.replayed:,} events read")
            self.explanation = self._explain(self.target)
        return self.explanation

    def _explain(self, event: EventBase) -> EventExplanation:
        replay: Replay = self.backtest.replay
        run = replay.stages(event.time)
        at = (event.time - run.start).total_seconds()
        with _watching(run.book, run.windows) as before:
            run.advance(at, before=True)
        clock = run.now()
        detection = self.engine.detect(event)
        with _watching(run.book, run.windows) as during:
            self.backtest.feed_event(event)
        only = self.backtest.only
        rules = [r for r in self.engine.candidates_for(event.family, event.kind) if not only or r.id in only]
        disabled = tuple(
            r.id
            for r in self.ruleset.rules
            if not r.spec.enabled and r.spec.on == event.family and (not r.kinds or event.kind in r.kinds)
        )
        traces = tuple(
            self._rule(rule, event, detection, before, during, run.book, run.windows) for rule in rules
        )
        return EventExplanation(event, self.replayed, clock, traces, disabled)

    def _rule(
        self,
        rule: CompiledRule,
        event: EventBase,
        found: Detection,
        before: _Seen,
        during: _Seen,
        book: AlertBook,
        windows: WindowBook,
    ) -> RuleTrace:
        group, _, fp = group_of(rule, event)
        act = activation(event, rule.reads)
        when = None if rule.when is None else trace_condition("when", rule.when, act, rule)
        next_due = book.dispatcher.next_due
        fps = {fp, storm_fingerprint(rule.id)}
        decisions = tuple(_decision(f, d, next_due) for f, d in during.decisions if f in fps)
        earlier = tuple(_decision(f, d, next_due) for f, d in before.decisions if f == fp)
        alert = book.states.get(fp)
        common: dict[str, Any] = {
            "group": group,
            "fingerprint": fp,
            "when": when,
            "decisions": decisions,
            "clock_before": earlier,
            "alert": alert,
        }
        if rule.form is None:
            return self._stateless(rule, act, found, common)
        hit = next((h for h in found.hits if h.rule_id == rule.id), None)
        results = [res for rule_id, res in during.windows if rule_id == rule.id]
        held = windows.store.get(fp)
        return self._stateful(rule, event, act, hit, results[-1] if results else None, held, common)

    def _stateless(
        self, rule: CompiledRule, act: Activation, found: Detection, common: dict[str, Any]
    ) -> RuleTrace:
        matched = any(c.rule_id == rule.id for c in found.candidates)
        when: ConditionTrace | None = common["when"]
        if when is not None and when.whole.result is not True:
            why = "could not be evaluated" if when.whole.result is None else "is false"
            return RuleTrace(rule, matched=matched, verdict=f"no match: 'when' {why}", **common)
        tier = trace_ladder(rule, act)
        if tier.chosen is None:
            return RuleTrace(
                rule, matched=matched, tier=tier, verdict="no match: no tier condition holds", **common
            )
        verdict = f"match at {tier.chosen.value}: {_lifecycle_verdict(common['decisions'], tier.chosen)}"
        return RuleTrace(rule, matched=matched, tier=tier, verdict=verdict, **common)

    def _stateful(
        self,
        rule: CompiledRule,
        event: EventBase,
        act: Activation,
        hit: Hit | None,
        result: StageResult | None,
        held: Held | None,
        common: dict[str, Any],
    ) -> RuleTrace:
        form = rule.form
        assert form is not None
        steps: tuple[StepTrace, ...] = ()
        if isinstance(form, SequenceForm):
            steps = tuple(
                StepTrace(
                    i,
                    step.kinds,
                    not step.kinds or event.kind in step.kinds,
                    None if step.when is None else trace_condition(f"step {i + 1}", step.when, act, rule),
                    hit is not None and i in hit.steps,
                )
                for i, step in enumerate(form.steps)
            )
        state = result.state if result is not None else (held[1] if held is not None else None)
        shown = progress(form, state, event.time.timestamp())
        if result is None:
            window = WindowTrace(form.key, "not_read", False, shown)
            when: ConditionTrace | None = common["when"]
            why = (
                "'when' is false"
                if when is not None and when.whole.result is not True
                else ("no step takes it" if steps else "it has no value for the form")
            )
            return RuleTrace(
                rule,
                matched=False,
                steps=steps,
                window=window,
                verdict=f"not counted ({why}): {shown.text}",
                **common,
            )
        ends = result.candidate is not None and result.candidate.status == "resolved"
        fired = (result.candidate is not None and not ends) or (
            result.state is not None and result.state.fired_by == event.event_id
        )
        window = WindowTrace(form.key, result.outcome, fired, shown, ends)
        tier = None
        if (fired or ends) and hit is not None:
            figures = result.candidate.window if result.candidate is not None else None
            if figures is None and result.state is not None and result.state.last_fired is not None:
                figures = result.state.last_fired.figures
            tier = trace_ladder(rule, window_activation(rule, hit, figures or {}), form.figures)
        if result.outcome != "counted":
            verdict = {
                "duplicate": "not counted again: the window has this event id already (a redelivery)",
                "late": f"not counted: later than the allowed lateness ({rule.spec.lateness:g}s) behind "
                "the group's newest event",
            }.get(result.outcome, f"not counted ({result.outcome})")
        elif ends:
            verdict = f"the group reported again: {_lifecycle_verdict(common['decisions'])}"
        elif result.candidate is not None:
            met = _lifecycle_verdict(common["decisions"], result.candidate.tier)
            verdict = f"{form.key} met ({shown.text}): {met}"
        elif fired:
            verdict = f"{form.key} met ({shown.text}), but no tier condition holds: no alert"
        elif form.fires_on_clock:
            verdict = f"counted: {shown.text}"
        else:
            verdict = f"counted, not met yet: {shown.text}"
        return RuleTrace(
            rule, matched=hit is not None, tier=tier, steps=steps, window=window, verdict=verdict, **common
        )


def explain(
    ruleset: RuleSet, history: Iterable[EventBase], target: str | EventBase, only: Collection[str] = ()
) -> EventExplanation:
    """``target`` explained after ``history`` (recorded events in arrival order), as ``Explainer``."""
    explainer = Explainer(ruleset, target, only)
    for event in history:
        if explainer.offer(event):
            break
    return explainer.finish()
