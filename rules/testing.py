"""The rule test runner: replay a case's events on a virtual clock through the worker's own code.

Detection (Engine) and dispatch (Dispatcher) run in-process in event order, with state in a dict
instead of a Faust table, so a passing case means the worker decides the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pydantic import ValidationError

from rules.alerts import Alert
from rules.compiler import PackCase, RuleSet
from rules.engine import Engine
from rules.errors import Location
from rules.events import EVENT_ADAPTER, EventBase
from rules.lifecycle import AlertState, Dispatcher
from rules.schema import DEFAULT_TEST_START, ExpectedAlert


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
        out.append(f"at: expected {exp.at:g}s, raised by the event at {n.at:g}s")
    return out


def run_case(ruleset: RuleSet, case: PackCase) -> CaseResult:
    result = CaseResult(case.spec.name, case.location)
    errors: list[str] = []
    engine = Engine(ruleset.rules, on_error=lambda rule, msg: errors.append(f"rule {rule}: {msg}"))
    dispatcher = Dispatcher(ruleset.router)
    try:
        events = _case_events(case)
    except ValueError as exc:
        result.failures.append(str(exc))
        return result
    states: dict[str, AlertState] = {}
    for at, event in sorted(events, key=lambda p: p[0]):
        for cand in engine.evaluate(event):
            decision = dispatcher.handle(states.get(cand.fingerprint), cand)
            states[cand.fingerprint] = decision.state
            result.final_counts[decision.state.alert_id] = decision.state.count
            if decision.alert is not None:
                result.notices.append(Notice(at, decision.alert))
    result.failures.extend(f"evaluation error: {e}" for e in errors)
    expected = case.spec.expect
    for i in range(max(len(expected), len(result.notices))):
        exp = expected[i] if i < len(expected) else None
        got = result.notices[i] if i < len(result.notices) else None
        if exp is None and got is not None:
            result.failures.append(
                f"alert {i + 1}: expected nothing more, got {describe(got.alert)}"
            )
        elif exp is not None and got is None:
            result.failures.append(f"alert {i + 1}: expected rule={exp.rule}, got (nothing)")
        elif exp is not None and got is not None:
            bad = _mismatches(exp, got, result.final_counts.get(got.alert.alert_id, 0))
            result.failures.extend(f"alert {i + 1}: {m}" for m in bad)
    return result


def run_cases(ruleset: RuleSet) -> list[CaseResult]:
    return [run_case(ruleset, c) for c in ruleset.cases]
