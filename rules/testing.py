"""The rule test runner: replay a case's events on a virtual clock through the worker's own code.

Detection (Engine), the window stage (WindowStage) and dispatch (Dispatcher) run in-process with
state in dicts instead of Faust tables, so a passing case means the worker decides the same way.
Events arrive in the order they are written; the clock is the latest event time so far, so an
event written after a later one arrives late. Between events, and on to ``until``, the clock ticks
exactly when a group is due (an absence firing, an idle group expiring).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from rules.alerts import Alert, AlertCandidate
from rules.compiler import PackCase, RuleSet
from rules.engine import Engine
from rules.errors import Location
from rules.events import EVENT_ADAPTER, EventBase
from rules.hits import Tick
from rules.lifecycle import AlertState, Dispatcher
from rules.schema import DEFAULT_TEST_START, ExpectedAlert
from rules.stateful import WindowStage
from rules.windows import GroupWindow


@dataclass
class Notice:
    """An alert notice raised during a case, with the case offset of the event that raised it."""

    at: float
    alert: Alert


@dataclass
class CaseResult:
    name: str
    location: Location
    notices: list[Notice] = field(default_factory=list)
    final_counts: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def _case_events(case: PackCase) -> list[tuple[float, EventBase]]:
    start = case.spec.start or DEFAULT_TEST_START
    out: list[tuple[float, EventBase]] = []
    for i, ev in enumerate(case.spec.events):
        data: dict[str, Any] = dict(ev.model_extra or {})
        data["family"] = ev.on.value
        data.setdefault("event_id", f"case-event-{i + 1}")
        data.setdefault("source_id", "test-source")
        data["time"] = start + timedelta(seconds=ev.at)
        loc = dict(data.get("location") or {})
        loc.setdefault("city", "test-city")
        data["location"] = loc
        try:
            out.append((ev.at, EVENT_ADAPTER.validate_python(data)))
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(map(str, first["loc"]))
            raise ValueError(
                f"event {i + 1} (at {ev.at:g}s) is not a valid event: {where}: {first['msg']}"
            ) from None
    return out


def describe(alert: Alert | None, exp: ExpectedAlert | None = None) -> str:
    """A one-line view of an alert, limited to the keys an expectation names when one is given."""
    if alert is None:
        return "(nothing)"
    parts = [f"rule={alert.rule_id}", f"tier={alert.tier.value}"]
    if alert.status != "firing":
        parts.append(f"status={alert.status}")
    if exp is None or exp.group is not None:
        parts.append(f"group={alert.group}")
    if exp is None or exp.agencies is not None:
        parts.append(f"agencies={alert.agencies}")
    return " ".join(parts)


def _mismatches(exp: ExpectedAlert, n: Notice, final_count: int) -> list[str]:
    a = n.alert
    out = []
    if a.rule_id != exp.rule:
        out.append(f"rule: expected {exp.rule}, got {a.rule_id}")
    if exp.tier is not None and a.tier != exp.tier:
        out.append(f"tier: expected {exp.tier.value}, got {a.tier.value}")
    if exp.group is not None:
        want = {k: str(v) for k, v in exp.group.items()}
        if a.group != want:
            out.append(f"group: expected {want}, got {a.group}")
    if exp.agencies is not None and sorted(a.agencies) != sorted(exp.agencies):
        out.append(f"agencies: expected {sorted(exp.agencies)}, got {sorted(a.agencies)}")
    if exp.count is not None and final_count != exp.count:
        out.append(f"count: expected {exp.count}, got {final_count}")
    if exp.at is not None and abs(n.at - exp.at) > 1e-9:
        out.append(f"at: expected {exp.at:g}s, raised at {n.at:g}s")
    if exp.status is not None and a.status != exp.status:
        out.append(f"status: expected {exp.status}, got {a.status}")
    if exp.window is not None:
        figures = a.window or {}
        for key, figure in exp.window.items():
            have = figures.get(key)
            if have is None or not math.isclose(float(have), float(figure), abs_tol=1e-6):
                shown = "(none)" if have is None else f"{have:g}"
                out.append(f"window.{key}: expected {figure:g}, got {shown}")
    return out


class _Replay:
    """One case's run: the three stages, their state, and the virtual clock."""

    def __init__(self, ruleset: RuleSet, start: datetime, result: CaseResult, errors: list[str]):
        def on_error(rule: str, msg: str) -> None:
            errors.append(f"rule {rule}: {msg}")

        self.engine = Engine(ruleset.rules, on_error=on_error)
        self.stage = WindowStage(ruleset.rules, on_error=on_error)
        self.dispatcher = Dispatcher(ruleset.router)
        self.start = start
        self.result = result
        self.clock = -math.inf
        self.states: dict[str, AlertState] = {}
        self.windows: dict[str, tuple[str, GroupWindow]] = {}

    def now(self) -> datetime:
        return self.start + timedelta(seconds=max(self.clock, 0.0))

    def dispatch(self, cand: AlertCandidate, at: float) -> None:
        decision = self.dispatcher.handle(self.states.get(cand.fingerprint), cand)
        if decision.state is None:
            return
        self.states[cand.fingerprint] = decision.state
        self.result.final_counts[decision.state.alert_id] = decision.state.count
        if decision.alert is not None:
            self.result.notices.append(Notice(at, decision.alert))

    def advance(self, offset: float) -> None:
        """Run the clock on to ``offset``, ticking each group at the moment it is due."""
        limit = self.start.timestamp() + offset
        while True:
            due = []
            for fp, (rule_id, w) in self.windows.items():
                when = self.stage.next_due(rule_id, w)
                if when is not None and when <= limit:
                    due.append((when, fp))
            if not due:
                break
            when, fp = min(due)
            rule_id, w = self.windows[fp]
            # Datetimes hold whole microseconds: round the tick up, never to just before it is due
            # (a tick that changes nothing would be due again at once, for ever).
            tick_at = datetime.fromtimestamp(when, UTC)
            while tick_at.timestamp() < when:
                tick_at += timedelta(microseconds=1)
            at = round(when - self.start.timestamp(), 6)
            self.clock = max(self.clock, at)
            res = self.stage.on_tick(w, Tick(rule_id=rule_id, fingerprint=fp, now=tick_at))
            if res.state is None:
                del self.windows[fp]
            if res.candidate is not None:
                self.dispatch(res.candidate, at)
        self.clock = max(self.clock, offset)

    def event(self, at: float, event: EventBase) -> None:
        self.advance(at)
        found = self.engine.detect(event)
        for cand in found.candidates:
            self.dispatch(cand, at)
        for hit in found.hits:
            held = self.windows.get(hit.fingerprint)
            res = self.stage.on_hit(held[1] if held else None, hit, self.now())
            if res.state is None:
                self.windows.pop(hit.fingerprint, None)
            else:
                self.windows[hit.fingerprint] = (hit.rule_id, res.state)
            if res.candidate is not None:
                self.dispatch(res.candidate, at)


def run_case(ruleset: RuleSet, case: PackCase) -> CaseResult:
    result = CaseResult(case.spec.name, case.location)
    errors: list[str] = []
    try:
        events = _case_events(case)
    except ValueError as exc:
        result.failures.append(str(exc))
        return result
    replay = _Replay(ruleset, case.spec.start or DEFAULT_TEST_START, result, errors)
    for at, event in events:
        replay.event(at, event)
    last = max(at for at, _ in events)
    replay.advance(case.spec.until if case.spec.until is not None else last)
    result.failures.extend(f"evaluation error: {e}" for e in errors)
    expected = case.spec.expect
    for i in range(max(len(expected), len(result.notices))):
        exp = expected[i] if i < len(expected) else None
        got = result.notices[i] if i < len(result.notices) else None
        if exp is None and got is not None:
            result.failures.append(f"alert {i + 1}: expected nothing more, got {describe(got.alert)}")
        elif exp is not None and got is None:
            result.failures.append(f"alert {i + 1}: expected rule={exp.rule}, got (nothing)")
        elif exp is not None and got is not None:
            bad = _mismatches(exp, got, result.final_counts.get(got.alert.alert_id, 0))
            result.failures.extend(f"alert {i + 1}: {m}" for m in bad)
    return result


def run_cases(ruleset: RuleSet) -> list[CaseResult]:
    return [run_case(ruleset, c) for c in ruleset.cases]


def replay(ruleset: RuleSet, events: list[EventBase], until: datetime | None = None) -> list[Notice]:
    """Every notice the worker's stages raise for ``events`` in arrival order (``at`` counts from
    the first event's time); the clock then runs on to ``until``, if given."""
    if not events:
        return []
    start = events[0].time
    result = CaseResult("replay", Location("replay"))
    errors: list[str] = []
    run = _Replay(ruleset, start, result, errors)
    for event in events:
        run.event((event.time - start).total_seconds(), event)
    if until is not None:
        run.advance((until - start).total_seconds())
    return result.notices
