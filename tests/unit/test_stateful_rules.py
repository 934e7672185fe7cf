"""Stateful rules end to end: YAML rules and rule-test cases through detection, windows and dispatch.

Each test writes a small pack and runs its case with the rule-test runner, which replays events
in written order (arrival order) on a virtual clock that ticks exactly when a group is due.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson

from rules.alerts import AlertCandidate
from rules.engine import Engine
from rules.hits import Tick
from rules.stateful import WindowJudge
from rules.testing import CaseResult, run_cases
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
  count: {at_least: 3, within: 10m}
  tier: {red: "window.count >= 5", orange: "true"}
  summary: "{location.grid} crowded {window.count} times in {window.span}s"
  route: [police]
"""

WAGE = """\
- id: wage
  title: Wage arrears
  risk: social_conflict
  on: hotline
  kind: wage_arrears
  group_by: [employer]
  distinct: {field: caller_hash, at_least: 3, within: 24h}
  tier: orange
"""

LEVEL = """\
- id: level
  title: Water level
  risk: public_safety
  on: sensor
  kind: water_level
  group_by: [source_id]
  aggregate: {fn: avg, field: value, at_least: 2.0, within: 10m}
  tier: {red: "window.value >= 3.0", yellow: "true"}
  summary: "avg {window.value} m over {window.count} readings"
"""

RISING = """\
- id: rising
  title: Water rising
  risk: public_safety
  on: sensor
  kind: water_level
  group_by: [source_id]
  aggregate: {fn: max, field: value, rise_by: 0.5, within: 10m}
  tier: {orange: "window.change >= 1.0", blue: "true"}
"""

TANK = """\
- id: tank
  title: Tank pressure
  risk: public_safety
  on: safety
  kind: tank_pressure
  when: value != null && value > 1.6
  group_by: [site_id, tank_id]
  holds_for: 2m
  tier: yellow
"""

BRUTE = """\
- id: brute
  title: Brute force
  risk: cyber_security
  on: cyber
  group_by: [src_ip]
  sequence:
    - {kind: auth_failure, count: {at_least: 3, within: 5m}}
    - {kind: auth_success}
  within: 15m
  tier: orange
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


def cam(at: str, grid: str = "G-07", people: int = 150, extra: str = "") -> str:
    return (
        f"    - {{at: {at}, on: camera, kind: crowd_density, people: {people}, "
        f"location: {{grid: {grid}}}{extra}}}\n"
    )


def case(events: str, expect: str = "", until: str | None = None, name: str = "a case") -> str:
    out = f"- name: {name}\n  events:\n{events}"
    if until is not None:
        out += f"  until: {until}\n"
    if expect:
        out += f"  expect:\n{expect}"
    return out


def run(load_rules: LoadRules, rules: str, tests: str) -> CaseResult:
    (result,) = run_cases(load_rules(rules, tests))
    return result


def passes(result: CaseResult) -> CaseResult:
    raised = [f"at {n.at:g}s {n.alert.rule_id} {n.alert.tier.value} {n.alert.status}" for n in result.notices]
    assert result.failures == [], (result.failures, raised)
    return result


# --- count, tiers and summaries ---------------------------------------------------------------


def test_count_rule_fires_when_the_window_fills(load_rules: LoadRules) -> None:
    events = cam("0s") + cam("4m") + cam("10m")
    expect = "    - {rule: crowd, tier: orange, at: 10m, window: {count: 3, span: 600}}\n"
    result = passes(run(load_rules, CROWD, case(events, expect)))
    assert result.notices[0].alert.evidence[-3:] == ["case-event-1", "case-event-2", "case-event-3"]


def test_count_rule_does_not_fire_when_the_events_are_spread_wider_than_within(
    load_rules: LoadRules,
) -> None:
    passes(run(load_rules, CROWD, case(cam("0s") + cam("5m") + cam("10m1s"))))


def test_events_failing_when_are_not_counted(load_rules: LoadRules) -> None:
    events = cam("0s") + cam("1m", people=20) + cam("2m")
    passes(run(load_rules, CROWD, case(events)))


def test_tier_ladder_on_window_count_raises_the_alert_as_the_window_grows(load_rules: LoadRules) -> None:
    events = "".join(cam(f"{m}m") for m in (0, 4, 10, 11, 12, 13))
    expect = (
        "    - {rule: crowd, tier: orange, at: 10m, window: {count: 3}}\n"
        "    - {rule: crowd, tier: red, at: 13m, window: {count: 5}, agencies: [police, governance]}\n"
    )
    result = passes(run(load_rules, CROWD, case(events, expect)))
    first, second = (n.alert for n in result.notices)
    assert second.alert_id == first.alert_id and second.notice_seq == 2
    assert second.count == 4, "the firings at 10m, 11m, 12m and 13m merged into one alert"


def test_a_window_met_below_every_tier_raises_nothing(load_rules: LoadRules) -> None:
    only_red = CROWD.replace(
        'tier: {red: "window.count >= 5", orange: "true"}', 'tier: {red: "window.count >= 5"}'
    )
    passes(run(load_rules, only_red, case(cam("0s") + cam("1m") + cam("2m"))))


def test_summary_renders_window_figures(load_rules: LoadRules) -> None:
    result = passes(run(load_rules, CROWD, case(cam("0s") + cam("1m") + cam("2m"), "    - {rule: crowd}\n")))
    assert result.notices[0].alert.summary == "G-07 crowded 3 times in 120s"


def test_group_by_a_nested_field_keeps_each_grid_apart(load_rules: LoadRules) -> None:
    events = cam("0s") + cam("1m", "G-08") + cam("2m") + cam("3m", "G-08") + cam("4m")
    expect = "    - {rule: crowd, group: {location.grid: G-07}, at: 4m, window: {count: 3}}\n"
    passes(run(load_rules, CROWD, case(events, expect)))


def test_tier_ladder_on_window_value(load_rules: LoadRules) -> None:
    def level(at: str, value: float) -> str:
        return f"    - {{at: {at}, on: sensor, kind: water_level, source_id: W1, value: {value}}}\n"

    events = level("0s", 1.0) + level("1m", 3.0) + level("2m", 5.0)
    expect = (
        "    - {rule: level, tier: yellow, at: 1m, window: {value: 2.0, count: 2}}\n"
        "    - {rule: level, tier: red, at: 2m, window: {value: 3.0, count: 3}}\n"
    )
    result = passes(run(load_rules, LEVEL, case(events, expect)))
    assert result.notices[1].alert.summary == "avg 3 m over 3 readings"


def test_aggregate_rise_compares_with_the_previous_window(load_rules: LoadRules) -> None:
    def level(at: str, value: float) -> str:
        return f"    - {{at: {at}, on: sensor, kind: water_level, source_id: W1, value: {value}}}\n"

    events = level("0s", 1.0) + level("11m", 1.4) + level("12m", 1.6) + level("13m", 2.1)
    expect = (
        "    - {rule: rising, tier: blue, at: 12m, window: {previous: 1.0, change: 0.6, change_pct: 60}}\n"
        "    - {rule: rising, tier: orange, at: 13m, window: {value: 2.1, change: 1.1}}\n"
    )
    passes(run(load_rules, RISING, case(events, expect)))


def test_a_rise_from_zero_reaches_dispatch_intact_as_json(
    load_rules: LoadRules, make_event: MakeEvent
) -> None:
    # The worker sends candidates between stages as JSON, which has no infinity for a percentage.
    rules = load_rules(RISING).rules
    engine, stage = Engine(rules), WindowJudge(rules)
    state = None
    for t, value in ((0, 0.0), (700, 1.0)):
        (hit,) = engine.detect(make_event("sensor", "water_level", at=t, value=value)).hits
        res = stage.on_hit(state, hit, T0)
        state = res.state
    assert res.candidate is not None
    sent = orjson.dumps(res.candidate.model_dump(mode="json"))
    assert AlertCandidate.model_validate_json(sent) == res.candidate
    assert res.candidate.window == {"value": 1.0, "count": 1, "previous": 0.0, "change": 1.0}


# --- distinct ---------------------------------------------------------------------------------


def test_distinct_counts_different_callers_about_one_employer(load_rules: LoadRules) -> None:
    def call(at: str, caller: str, employer: str = "E") -> str:
        return (
            f"    - {{at: {at}, on: hotline, kind: wage_arrears, ticket_id: t-{at}, "
            f"caller_hash: {caller}, employer: {employer}}}\n"
        )

    events = call("0s", "a") + call("1h", "a") + call("2h", "b") + call("2h30m", "c", "F") + call("3h", "c")
    expect = "    - {rule: wage, group: {employer: E}, at: 3h, window: {distinct: 3, count: 4}}\n"
    passes(run(load_rules, WAGE, case(events, expect)))


# --- holds_for --------------------------------------------------------------------------------


def tank(at: str, value: float, tank_id: str = "T1") -> str:
    return (
        f"    - {{at: {at}, on: safety, kind: tank_pressure, site_id: S, tank_id: {tank_id}, "
        f"value: {value}}}\n"
    )


def test_holds_for_fires_once_the_condition_held_long_enough(load_rules: LoadRules) -> None:
    events = "".join(tank(f"{s}s", 1.7) for s in (0, 50, 100, 150))
    expect = "    - {rule: tank, group: {site_id: S, tank_id: T1}, at: 150s, window: {held: 150, count: 4}}\n"
    passes(run(load_rules, TANK, case(events, expect)))


def test_holds_for_is_broken_by_a_reading_below_the_threshold(load_rules: LoadRules) -> None:
    events = tank("0s", 1.7) + tank("50s", 1.7) + tank("100s", 1.5) + tank("150s", 1.7) + tank("200s", 1.7)
    passes(run(load_rules, TANK, case(events)))


def test_holds_for_is_broken_by_silence_longer_than_max_gap(load_rules: LoadRules) -> None:
    events = tank("0s", 1.7) + tank("60s", 1.7) + tank("150s", 1.7)
    passes(run(load_rules, TANK, case(events)))


def test_holds_for_hits_carry_ok_false_when_the_condition_fails(
    load_rules: LoadRules, make_event: MakeEvent
) -> None:
    engine = Engine(load_rules(TANK).rules)
    high = engine.detect(make_event("safety", "tank_pressure", tank_id="T1", value=1.7))
    low = engine.detect(make_event("safety", "tank_pressure", tank_id="T1", value=1.2))
    none = engine.detect(make_event("safety", "tank_pressure", tank_id="T1"))
    assert [h.ok for h in high.hits] == [True]
    assert [h.ok for h in low.hits] == [False], "a false reading must reach the window to break the run"
    assert [h.ok for h in none.hits] == [False]
    assert high.candidates == low.candidates == []
    assert high.hits[0].group == {"site_id": "site-1", "tank_id": "T1"}


def test_other_stateful_forms_send_no_hit_when_the_condition_fails(
    load_rules: LoadRules, make_event: MakeEvent
) -> None:
    engine = Engine(load_rules(CROWD).rules)
    assert engine.detect(make_event("camera", "crowd_density", people=10)).hits == []
    (hit,) = engine.detect(make_event("camera", "crowd_density", people=200)).hits
    assert hit.rule_id == "crowd" and hit.group == {"location.grid": "G-07"}


# --- sequence ---------------------------------------------------------------------------------


def cyber(at: str, kind: str, ip: str = "10.0.0.9") -> str:
    return f"    - {{at: {at}, on: cyber, kind: {kind}, src_ip: {ip}}}\n"


def test_sequence_fires_on_success_after_enough_failures(load_rules: LoadRules) -> None:
    events = (
        cyber("0s", "auth_failure")
        + cyber("1m", "auth_failure")
        + cyber("2m", "auth_success")
        + cyber("3m", "auth_failure")
        + cyber("4m", "auth_success")
    )
    expect = "    - {rule: brute, group: {src_ip: 10.0.0.9}, at: 4m, window: {count: 5, span: 240}}\n"
    passes(run(load_rules, BRUTE, case(events, expect)))


def test_sequence_success_before_the_failures_does_not_fire(load_rules: LoadRules) -> None:
    events = "".join(
        cyber(at, k) for at, k in [("0s", "auth_success")] + [(f"{m}m", "auth_failure") for m in (1, 2, 3)]
    )
    passes(run(load_rules, BRUTE, case(events)))


def test_sequence_completed_after_within_does_not_fire(load_rules: LoadRules) -> None:
    events = "".join(cyber(f"{m}m", "auth_failure") for m in (0, 1, 2)) + cyber("15m1s", "auth_success")
    passes(run(load_rules, BRUTE, case(events)))


def test_sequence_rule_without_kind_reads_the_kinds_of_its_steps(
    load_rules: LoadRules, make_event: MakeEvent
) -> None:
    ruleset = load_rules(BRUTE)
    assert ruleset.rules[0].kinds == ("auth_failure", "auth_success")
    engine = Engine(ruleset.rules)
    assert engine.candidates_for(ruleset.rules[0].spec.on, "port_scan") == ()
    assert engine.detect(make_event("cyber", "port_scan", src_ip="1.2.3.4")).hits == []
    (fail,) = engine.detect(make_event("cyber", "auth_failure", src_ip="1.2.3.4")).hits
    (success,) = engine.detect(make_event("cyber", "auth_success", src_ip="1.2.3.4")).hits
    assert (fail.steps, success.steps) == ((0,), (1,))


# --- absence ----------------------------------------------------------------------------------


def beat(at: str, device: str) -> str:
    return f"    - {{at: {at}, on: sensor, kind: heartbeat, source_id: {device}}}\n"


def test_absence_fires_at_the_virtual_time_the_silence_reaches_absent_for(load_rules: LoadRules) -> None:
    events = beat("0s", "D1") + beat("5m", "D1")
    expect = "    - {rule: offline, group: {source_id: D1}, status: firing, at: 20m, window: {absent: 900}}\n"
    result = passes(run(load_rules, OFFLINE, case(events, expect, until="1h")))
    alert = result.notices[0].alert
    assert alert.first_seen == T0.replace(minute=20)
    assert alert.evidence == ["case-event-2", "absent-after:case-event-2"]


def test_absence_does_not_fire_before_until_reaches_it(load_rules: LoadRules) -> None:
    passes(run(load_rules, OFFLINE, case(beat("0s", "D1"), until="14m59s")))
    passes(run(load_rules, OFFLINE, case(beat("0s", "D1"))))


def test_absence_fires_between_events_of_other_groups_in_time_order(load_rules: LoadRules) -> None:
    events = beat("0s", "D1") + beat("5m", "D1") + beat("30m", "D2") + beat("40m", "D1")
    expect = (
        "    - {rule: offline, group: {source_id: D1}, at: 20m}\n"
        "    - {rule: offline, group: {source_id: D1}, status: resolved, at: 40m, window: {absent: 2100}}\n"
        "    - {rule: offline, group: {source_id: D2}, at: 45m}\n"
        "    - {rule: offline, group: {source_id: D1}, at: 55m}\n"
    )
    passes(run(load_rules, OFFLINE, case(events, expect, until="1h")))


def test_absence_resolves_the_same_alert_to_the_same_agencies(load_rules: LoadRules) -> None:
    events = beat("0s", "D1") + beat("16m", "D1")
    expect = (
        "    - {rule: offline, status: firing, at: 15m, agencies: [emergency]}\n"
        "    - {rule: offline, status: resolved, at: 16m, agencies: [emergency]}\n"
    )
    result = passes(run(load_rules, OFFLINE, case(events, expect)))
    fired, resolved = (n.alert for n in result.notices)
    assert resolved.alert_id == fired.alert_id
    assert (fired.notice_seq, resolved.notice_seq) == (1, 2)
    assert resolved.tier == fired.tier


def test_absence_fires_once_per_silence_then_repeats_the_same_alert_hourly(load_rules: LoadRules) -> None:
    expect = "    - {rule: offline, at: 15m, change: opened}\n" + "".join(
        f"    - {{rule: offline, at: {h}h15m, change: repeat}}\n" for h in range(1, 6)
    )
    passes(run(load_rules, OFFLINE, case(beat("0s", "D1"), expect, until="6h")))


def test_absence_due_between_microseconds_still_fires(load_rules: LoadRules) -> None:
    # 0.2 s + 0.4 s on an epoch clock lands between two microseconds; the runner must not stall.
    rules = OFFLINE.replace("absent_for: 15m", "absent_for: 0.4s")
    expect = "    - {rule: offline, at: 0.6s}\n"
    passes(run(load_rules, rules, case(beat("0.2s", "D1") + beat("0.7s", "D2"), expect, until="1s")))


# --- duplicates and late events in cases -------------------------------------------------------


def test_case_events_with_the_same_event_id_count_once(load_rules: LoadRules) -> None:
    events = (
        cam("0s", extra=", event_id: a") + cam("1m", extra=", event_id: a") + cam("2m", extra=", event_id: b")
    )
    passes(run(load_rules, CROWD, case(events)))
    events += cam("3m", extra=", event_id: c")
    expect = "    - {rule: crowd, at: 3m, window: {count: 3, span: 180}}\n"
    passes(run(load_rules, CROWD, case(events, expect)))


def test_a_redelivered_firing_event_raises_no_second_notice(load_rules: LoadRules) -> None:
    events = cam("0s") + cam("1m") + cam("2m", extra=", event_id: x") + cam("2m", extra=", event_id: x")
    expect = "    - {rule: crowd, at: 2m, count: 1}\n"
    passes(run(load_rules, CROWD, case(events, expect)))


def test_a_late_case_event_within_lateness_completes_the_window(load_rules: LoadRules) -> None:
    events = cam("0s") + cam("10m") + cam("9m30s")
    expect = "    - {rule: crowd, window: {count: 3, span: 600}}\n"
    result = passes(run(load_rules, CROWD, case(events, expect)))
    assert result.notices[0].alert.first_seen == T0.replace(minute=10), "the window ends at 10m"


def test_a_case_event_later_than_lateness_is_not_counted(load_rules: LoadRules) -> None:
    events = cam("0s") + cam("5m") + cam("11m") + cam("4m")
    passes(run(load_rules, CROWD, case(events)))
    with_lateness = CROWD.replace("  route: [police]\n", "  route: [police]\n  lateness: 10m\n")
    expect = (
        "    - {rule: crowd, window: {count: 3, span: 300}}\n    - {rule: crowd, status: resolved, at: 11m}\n"
    )
    passes(run(load_rules, with_lateness, case(events, expect)))


# --- expectations on window figures and status -------------------------------------------------


def test_a_wrong_window_figure_or_status_is_reported(load_rules: LoadRules) -> None:
    events = cam("0s") + cam("1m") + cam("2m")
    expect = "    - {rule: crowd, status: resolved, window: {count: 4, spread: 1}}\n"
    result = run(load_rules, CROWD, case(events, expect))
    assert result.failures == [
        "alert 1: status: expected resolved, got firing",
        "alert 1: window.count: expected 4, got 3",
        "alert 1: window.spread: expected 1, got (none)",
    ]


# --- the window stage -------------------------------------------------------------------------


def test_a_tick_for_state_of_an_older_rule_version_forgets_it(
    load_rules: LoadRules, make_event: MakeEvent
) -> None:
    rules = load_rules(OFFLINE).rules
    (hit,) = Engine(rules).detect(make_event("sensor", "heartbeat")).hits
    res = WindowJudge(rules).on_hit(None, hit, T0)
    assert res.outcome == "counted" and res.state is not None
    newer = WindowJudge(load_rules(OFFLINE.replace("  tier: blue", "  tier: blue\n  version: 2")).rules)
    stale = newer.on_tick(res.state, Tick(rule_id="offline", fingerprint=hit.fingerprint, now=T0))
    assert stale.state is None and stale.outcome == "stale"


def test_the_stage_reports_counted_duplicate_and_late_hits(
    load_rules: LoadRules, make_event: MakeEvent
) -> None:
    rules = load_rules(CROWD).rules
    engine, stage = Engine(rules), WindowJudge(rules)
    (hit,) = engine.detect(make_event("camera", "crowd_density", at=600, people=200)).hits
    (old,) = engine.detect(make_event("camera", "crowd_density", at=0, people=200)).hits
    res = stage.on_hit(None, hit, T0)
    again = stage.on_hit(res.state, hit, T0)
    late = stage.on_hit(again.state, old, T0)
    assert [res.outcome, again.outcome, late.outcome] == ["counted", "duplicate", "late"]
    assert late.state is not None and [e.event_id for e in late.state.entries] == [hit.event_id]
    assert stage.next_due("crowd", late.state) is not None
    assert stage.next_due("gone", late.state) is None, "a group whose rule was removed is never due"
