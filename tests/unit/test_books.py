"""The books the worker and the replay share: who is due, what expires lazily, what a failing tick costs."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

from rules.alert_book import AlertBook
from rules.engine import Engine
from rules.lifecycle import AlertState, Dispatcher
from rules.pipeline import Detector, Outbox
from rules.stateful import WindowJudge
from rules.window_book import WindowBook
from rules.world import World
from tests.unit.conftest import T0

if TYPE_CHECKING:
    from tests.unit.conftest import LoadRules, MakeEvent

CROWD = """\
- id: crowd
  title: Crowd
  risk: public_order
  on: camera
  kind: crowd_density
  when: people >= 100
  group_by: [location.grid]
  count: {at_least: 2, within: 10m}
  lateness: 1m
  tier: orange
  route: [police]
"""

OFFLINE = """\
- id: offline
  title: Device offline
  risk: public_safety
  on: sensor
  kind: heartbeat
  group_by: [source_id]
  absent_for: 15m
  route: [emergency]
  tier: blue
"""

GAS = """\
- id: gas
  title: Gas
  risk: public_safety
  on: sensor
  kind: combustible_gas
  group_by: [source_id]
  tier: red
  route: [fire]
"""


def book_of(load_rules: LoadRules, rules: str) -> tuple[Detector, WindowBook]:
    compiled = load_rules(rules).rules
    windows = WindowBook(WindowJudge(compiled))
    return Detector(Engine(compiled), windows, holds_every_group=True), windows


def test_only_groups_the_clock_can_fire_are_in_the_due_index(
    load_rules: LoadRules, make_event: MakeEvent
) -> None:
    detector, windows = book_of(load_rules, CROWD + OFFLINE)
    out = Outbox()
    detector.on_event(make_event("camera", "crowd_density", people=150), T0, out)
    detector.on_event(make_event("sensor", "heartbeat", source_id="D1"), T0, out)
    assert len(windows.store) == 2
    assert len(windows.due) == 1, "the crowd window expires lazily; only the absence is watched"
    assert windows.next_tick() == ((T0 + timedelta(minutes=15)).timestamp(), next(
        fp for fp, (rule, _) in windows.store.items() if rule == "offline"
    ))


def test_a_group_idle_past_its_expiry_starts_afresh_as_if_the_clock_had_dropped_it(
    load_rules: LoadRules, make_event: MakeEvent
) -> None:
    detector, _ = book_of(load_rules, CROWD)
    out = Outbox()
    detector.on_event(make_event("camera", "crowd_density", people=150, at=0), T0, out)
    later = T0 + timedelta(minutes=12)  # past 10m window + 1m lateness, on the clock
    detector.on_event(make_event("camera", "crowd_density", people=150, at=0), later, out)
    assert out.candidates == [], "the first event was forgotten with its group, so one event is no crowd"


def test_a_group_that_reports_at_the_moment_of_expiry_still_finds_its_window(
    load_rules: LoadRules, make_event: MakeEvent
) -> None:
    detector, _ = book_of(load_rules, CROWD)
    out = Outbox()
    detector.on_event(make_event("camera", "crowd_density", people=150, at=0), T0, out)
    at_expiry = T0 + timedelta(minutes=11)
    detector.on_event(make_event("camera", "crowd_density", people=150, at=60), at_expiry, out)
    assert [c.rule_id for c in out.candidates] == ["crowd"]


def test_a_sweep_drops_expired_groups_and_keeps_a_silent_absence_waiting_for_its_group(
    load_rules: LoadRules, make_event: MakeEvent
) -> None:
    detector, windows = book_of(load_rules, CROWD + OFFLINE)
    out = Outbox()
    detector.on_event(make_event("camera", "crowd_density", people=150), T0, out)
    detector.on_event(make_event("sensor", "heartbeat", source_id="D1"), T0, out)
    detector.tick(T0 + timedelta(minutes=20), out)
    assert [c.rule_id for c in out.candidates] == ["offline"]
    gone = windows.sweep(list(windows.store), T0 + timedelta(days=30))
    assert gone == 1
    assert [rule for rule, _ in windows.store.values()] == ["offline"]


def test_a_failing_tick_is_reported_and_the_other_alerts_still_get_their_turn(
    load_rules: LoadRules, make_event: MakeEvent, monkeypatch: pytest.MonkeyPatch
) -> None:
    ruleset = load_rules(GAS)
    book = AlertBook(ruleset.dispatcher(), World())
    for source in ("G1", "G2"):
        (cand,) = Engine(ruleset.rules).evaluate(make_event(source_id=source))
        book.handle(cand, T0)
    broken = next(fp for fp, st in book.states.items() if st.candidate.group == {"source_id": "G1"})
    real_tick = Dispatcher.tick

    def tick(self: Dispatcher, state: AlertState, now: object, world: object = None) -> object:
        if state.candidate.fingerprint == broken:
            raise RuntimeError("a bug in one alert")
        return real_tick(self, state, now, world)  # type: ignore[arg-type]

    monkeypatch.setattr(Dispatcher, "tick", tick)
    failed: list[str] = []
    decided = book.tick_due(T0 + timedelta(hours=2), lambda fp, exc: failed.append(fp))
    assert failed == [broken]
    assert [d.reason for d in decided] == ["resolved"]
    with pytest.raises(RuntimeError):
        book.tick(broken, T0 + timedelta(hours=3))
