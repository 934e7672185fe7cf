"""The rule test runner: replay a case's events on a virtual clock through the worker's own code.

Detection (Engine), the window stage (WindowJudge) and dispatch (Dispatcher) run in-process with
state in dicts instead of Faust tables, so a passing case means the worker decides the same way.
Events arrive in the order they are written; the clock is the latest event time so far, so an
event written after a later one arrives late. Between events, and on to ``until``, the clock ticks
exactly when a group is due (an absence firing, an idle group expiring). What the case's notices are
held against (``expect``, ``match``, ``ignore``, ``never``) is ``rules.case_verdict``'s to judge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import ValidationError

from rules.alert_book import AlertBook
from rules.alerts import Alert, AlertCandidate
from rules.case_verdict import NoticeMark, judge, unknown_names
from rules.case_verdict import describe as describe  # re-exported: rules_cli and others list notices
from rules.compiler import PackCase, RuleSet
from rules.engine import Engine
from rules.errors import Location, RuleError
from rules.events import EVENT_ADAPTER, EventBase
from rules.lifecycle import Decision
from rules.pipeline import Detector, Outbox
from rules.schema import DEFAULT_TEST_START, CaseAction, ExpectedAlert
from rules.silences import WEEKDAYS, Recurrence, Silence
from rules.stateful import WindowJudge
from rules.window_book import WindowBook
from rules.world import Ack


@dataclass
class Notice:
    """An alert notice raised during a case, in the order decided.

    ``at`` is the case offset of what raised it: the event (its own time), the clock tick or the
    action. ``decided`` is where the virtual clock stood when it was decided: the same, except for
    a late event, which is decided when it arrives, after later ones.
    """

    at: float
    alert: Alert
    decided: float | None = None

    def __post_init__(self) -> None:
        if self.decided is None:
            self.decided = self.at

    @property
    def late(self) -> bool:
        """Raised by an event older than the clock when it arrived."""
        return self.decided is not None and self.decided - self.at > 1e-9

    def when(self) -> str:
        """``at 120s``, or for a late event both times: ``at 120s (late event, decided at 300s)``."""
        if self.late:
            return f"at {self.at:g}s (late event, decided at {self.decided:g}s)"
        return f"at {self.at:g}s"


@dataclass
class CaseResult:
    name: str
    location: Location
    notices: list[Notice] = field(default_factory=list)
    final_counts: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    marks: list[NoticeMark] = field(default_factory=list)
    """How each notice compares with what the case expects (see ``rules.case_verdict``)."""
    expected: list[ExpectedAlert] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)
    """Expectations (from 0) that no notice met."""

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
            raise ValueError(f"{ev.describe(i)} is not a valid event: {where}: {first['msg']}") from None
    return out


class _Replay:
    """One case's run: the worker's stages in one process, the shared world and the virtual clock."""

    def __init__(self, ruleset: RuleSet, start: datetime, result: CaseResult, errors: list[str]):
        def on_error(rule: str, msg: str) -> None:
            errors.append(f"rule {rule}: {msg}")

        self.windows = WindowBook(WindowJudge(ruleset.rules, on_error=on_error))
        engine = Engine(ruleset.rules, on_error=on_error)
        self.detector = Detector(engine, self.windows, holds_every_group=True)
        self.dispatcher = ruleset.dispatcher()
        self.book = AlertBook(self.dispatcher, on_decision=self._decided)
        self.world = self.book.world
        self.states = self.book.states
        self.at = 0.0
        """Offset of what is being decided now: the time its notices are recorded at."""
        self.start = start
        self.result = result
        self.errors = errors
        self.clock = -math.inf
        self.clock_ticks = True
        """False: only events drive decisions, as when a recorded stream is injected faster than its
        event time passes (the simulator): then no wall-clock deadline falls inside the run."""
        self.actions: list[CaseAction] = []

    def now(self) -> datetime:
        return self.start + timedelta(seconds=max(self.clock, 0.0))

    def _decided(self, fp: str, decision: Decision) -> None:
        if decision.state is not None:
            self.result.final_counts[decision.state.alert_id] = decision.state.count
        decided = max(self.at, self.clock)
        for notice in decision.notices:
            self.result.notices.append(Notice(self.at, notice.alert, decided))

    def dispatch(self, cand: AlertCandidate, at: float) -> None:
        self.at = at
        self.book.handle(cand, self.now())

    def _due(self) -> tuple[float, int, str] | None:
        """The earliest thing the clock must do: (time, kind, key); kind 0 an action, 1 an alert,
        2 a window. At equal times actions go first, then alerts, then windows."""
        due = [
            (when, kind, key)
            for kind, head in ((1, self.book.next_tick()), (2, self.windows.next_tick()))
            if head is not None
            for when, key in [head]
        ]
        best = min(due) if due else None
        if self.actions:
            at = self.start.timestamp() + self.actions[0].at
            if best is None or at <= best[0]:
                best = (at, 0, "")
        return best

    def advance(self, offset: float, before: bool = False) -> None:
        """Run the clock on to ``offset``, doing each action and tick at the moment it is due.

        ``before``: for an event arriving at ``offset``: actions due then come first, ticks due then
        after it (a heartbeat exactly ``absent_for`` after the last one is not an absence).
        """
        limit = self.start.timestamp() + offset
        while self.clock_ticks:
            due = self._due()
            if due is None or due[0] > limit or (before and due[0] == limit and due[1] != 0):
                break
            when, kind, fp = due
            # Datetimes hold whole microseconds: round the tick up, never to just before it is due
            # (a tick that changes nothing would be due again at once, for ever).
            # A deadline that passed while nothing could act on it (an escalation policy that applies
            # only from a tier the alert just reached) is acted on now, not back in time.
            when = max(when, self.start.timestamp() + max(self.clock, 0.0))
            tick_at = datetime.fromtimestamp(when, UTC)
            while tick_at.timestamp() < when:
                tick_at += timedelta(microseconds=1)
            at = round(when - self.start.timestamp(), 6)
            self.clock = max(self.clock, at)
            if kind == 0:
                self._act(self.actions.pop(0), at)
            elif kind == 1:
                held = self.states[fp]
                self.book.due.pop(fp)
                self.at = at
                decision = self.book.tick(fp, tick_at)
                unchanged = decision is not None and decision.state is held
                if unchanged and self.dispatcher.next_due(held) <= tick_at:
                    raise RuntimeError(
                        f"alert {held.alert_id} is due at {tick_at} but its tick changes nothing"
                    )
            else:
                self.windows.due.pop(fp)
                res = self.windows.tick_one(fp, tick_at)
                if res is not None and res.candidate is not None:
                    self.dispatch(res.candidate, at)
        self.clock = max(self.clock, offset)

    def _act(self, action: CaseAction, at: float) -> None:
        now = self.now()
        if action.silence is not None:
            assert action.for_ is not None
            recurring = None
            if action.from_ is not None:
                recurring = Recurrence.model_validate(
                    {"every": action.every or list(WEEKDAYS), "from": action.from_, "to": action.to}
                )
            self.world.silences.put(
                Silence(
                    matchers=action.silence,
                    starts_at=now,
                    ends_at=now + timedelta(seconds=action.for_),
                    recurring=recurring,
                    author=action.by,
                    reason=action.reason,
                )
            )
            return
        ref = action.ack if action.ack is not None else action.resolve
        assert ref is not None
        found = [
            st
            for st in self.states.values()
            if st.open
            and st.candidate.rule_id == ref.get("rule", st.candidate.rule_id)
            and all(st.candidate.group.get(k) == v for k, v in ref.items() if k != "rule")
        ]
        if len(found) != 1:
            self.errors.append(
                f"action at {at:g}s: {len(found)} open alerts match {ref}, expected exactly one"
            )
            return
        verb: Literal["ack", "resolve"] = "ack" if action.ack is not None else "resolve"
        self.at = at
        self.book.acknowledge(
            Ack(alert_id=found[0].alert_id, action=verb, by=action.by, note=action.note, at=now), now
        )

    def event(self, at: float, event: EventBase) -> None:
        self.advance(at, before=True)
        out = Outbox()
        self.detector.on_event(event, self.now(), out)
        for cand in out.candidates:
            self.dispatch(cand, at)


def run_case(ruleset: RuleSet, case: PackCase, clock_ticks: bool = True) -> CaseResult:
    """Run one case; ``clock_ticks=False`` lets only events decide (see _Replay.clock_ticks)."""
    result = CaseResult(case.spec.name, case.location)
    errors: list[str] = []
    try:
        events = _case_events(case)
    except ValueError as exc:
        result.failures.append(str(exc))
        return result
    replay = _Replay(ruleset, case.spec.start or DEFAULT_TEST_START, result, errors)
    replay.actions = sorted(case.spec.actions, key=lambda a: a.at)
    replay.clock_ticks = clock_ticks
    for at, event in events:
        replay.event(at, event)
    last = max([at for at, _ in events] + [a.at for a in case.spec.actions])
    # Every written action is done, even one after 'until'.
    replay.advance(last if case.spec.until is None else max(case.spec.until, last))
    result.failures.extend(f"evaluation error: {e}" for e in errors)
    result.failures.extend(unknown_names(case.spec, ruleset.by_id(), ruleset.router.agencies))
    verdict = judge(case.spec, result.notices, result.final_counts)
    result.failures.extend(verdict.failures)
    result.marks, result.expected, result.missing = verdict.marks, list(case.spec.expect), verdict.missing
    return result


def run_cases(ruleset: RuleSet) -> list[CaseResult]:
    return [run_case(ruleset, c) for c in ruleset.cases]


def case_errors(ruleset: RuleSet) -> list[RuleError]:
    """What the lint refuses in the packs' test cases: a rule or agency that is not loaded, with
    the nearest known name (the case would only fail as "not raised")."""
    return [
        RuleError(f"test '{case.spec.name}': {problem}", case.location)
        for case in ruleset.cases
        for problem in unknown_names(case.spec, ruleset.by_id(), ruleset.router.agencies)
    ]


class Replay:
    """Recorded events fed one at a time, in arrival order, through the worker's three stages.

    The virtual clock follows the events' own time (it starts at the first event's), so quiet
    time, escalation and absences act when they would have acted live. For backtests over files
    too large to hold: notices accumulate, events do not.
    """

    def __init__(self, ruleset: RuleSet, clock_ticks: bool = True):
        self.ruleset = ruleset
        self.clock_ticks = clock_ticks
        self.result = CaseResult("replay", Location("replay"))
        self.errors: list[str] = []
        """Evaluation errors, as "rule ID: message" (a condition that met a field it cannot use)."""
        self._run: _Replay | None = None

    @property
    def notices(self) -> list[Notice]:
        return self.result.notices

    def stages(self, start: datetime) -> _Replay:
        """The run's stages, begun at ``start`` (its first event's time) unless begun already: for
        tools that watch what they decide (``rules.explain``)."""
        if self._run is None:
            self._run = _Replay(self.ruleset, start, self.result, self.errors)
            self._run.clock_ticks = self.clock_ticks
        return self._run

    def feed(self, event: EventBase) -> None:
        run = self.stages(event.time)
        run.event((event.time - run.start).total_seconds(), event)

    def finish(self, until: datetime | None = None) -> list[Notice]:
        """Run the clock on to ``until`` (if given and after the last event); every notice."""
        if self._run is not None and until is not None:
            self._run.advance((until - self._run.start).total_seconds())
        return self.notices


def replay(
    ruleset: RuleSet, events: list[EventBase], until: datetime | None = None, clock_ticks: bool = True
) -> list[Notice]:
    """Every notice the worker's stages raise for ``events`` in arrival order (``at`` counts from
    the first event's time); the clock then runs on to ``until``, if given."""
    run = Replay(ruleset, clock_ticks)
    for event in events:
        run.feed(event)
    return run.finish(until)
