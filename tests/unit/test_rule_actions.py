"""Rule tests that script people and time: acks, resolves, silences and notices on the virtual clock.

A case's ``actions`` happen at their offsets (before an event or tick at the same offset); ``until``
runs the clock on so quiet time, escalation and absence can act. Expectations may name a notice's
``status``, ``change`` and whether it was ``withheld`` (and by what).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

from rules.compiler import load_ruleset
from rules.errors import RuleSetError
from rules.testing import CaseResult, run_cases
from tests.unit.conftest import pack_text
from tests.unit.dispatch_kit import routing

if TYPE_CHECKING:
    from tests.unit.conftest import LoadRules, WriteYaml

GAS = """\
- id: gas
  title: Gas
  risk: public_safety
  on: sensor
  kind: combustible_gas
  group_by: [location.grid]
  cooldown: 5m
  route: [fire]
  tier:
    red: value >= 50.0
    yellow: value >= 20.0
"""


def gas(at: str, value: float = 25.0, grid: str = "G-07") -> str:
    where = f"location: {{city: C, grid: {grid}}}"
    return f"    - {{at: {at}, on: sensor, kind: combustible_gas, value: {value}, {where}}}\n"


def case(events: str, expect: str = "", actions: str = "", until: str | None = None, start: str = "") -> str:
    out = "- name: scripted\n" + start
    out += "  events:\n" + events
    if actions:
        out += "  actions:\n" + actions
    if until:
        out += f"  until: {until}\n"
    if expect:
        out += "  expect:\n" + expect
    return out


def run(load_rules: LoadRules, text: str, rules: str = GAS) -> CaseResult:
    (result,) = run_cases(load_rules(rules, text))
    return result


def passes(result: CaseResult) -> CaseResult:
    assert result.failures == [], result.failures
    return result


# --- quiet time and until -------------------------------------------------------------------------


def test_until_lets_the_quiet_time_resolve_the_alert(load_rules: LoadRules) -> None:
    expect = (
        "    - {rule: gas, status: firing, change: opened, at: 0s}\n"
        "    - {rule: gas, status: resolved, change: resolved, agencies: [fire], at: 6m}\n"
    )
    result = passes(run(load_rules, case(gas("0s") + gas("1m"), expect, until="1h")))
    assert [n.alert.notice_seq for n in result.notices] == [1, 2]


def test_without_until_the_clock_stops_at_the_last_event(load_rules: LoadRules) -> None:
    passes(run(load_rules, case(gas("0s") + gas("1m"), "    - {rule: gas, change: opened}\n")))


def test_a_match_after_the_quiet_time_resolves_and_reopens(load_rules: LoadRules) -> None:
    expect = (
        "    - {rule: gas, change: opened, at: 0s}\n"
        "    - {rule: gas, change: resolved, at: 5m}\n"
        "    - {rule: gas, change: opened, count: 1, at: 7m}\n"
    )
    result = passes(run(load_rules, case(gas("0s") + gas("7m"), expect)))
    assert result.notices[0].alert.alert_id != result.notices[2].alert.alert_id


def test_tier_raised_and_tier_lowered_are_expected_by_change(load_rules: LoadRules) -> None:
    rules = GAS.replace("  cooldown: 5m\n", "  cooldown: 1h\n  tier_down_after: 2m\n")
    events = gas("0s") + gas("1m", 60.0) + gas("2m") + gas("3m") + gas("4m")
    expect = (
        "    - {rule: gas, tier: yellow, change: opened}\n"
        "    - {rule: gas, tier: red, change: tier_raised, at: 1m}\n"
        "    - {rule: gas, tier: yellow, change: tier_lowered, at: 4m}\n"
    )
    passes(run(load_rules, case(events, expect), rules))


def test_repeat_interval_is_expected_by_change(load_rules: LoadRules) -> None:
    rules = GAS.replace("  cooldown: 5m\n", "  repeat_interval: 4m\n")
    events = "".join(gas(f"{m}m") for m in range(0, 10, 2))
    expect = "    - {rule: gas, change: opened}\n    - {rule: gas, change: repeat, count: 5, at: 4m}\n"
    expect += "    - {rule: gas, change: repeat, at: 8m}\n"
    passes(run(load_rules, case(events, expect), rules))


# --- acknowledge and resolve ----------------------------------------------------------------------


def test_an_ack_is_a_notice_at_its_time(load_rules: LoadRules) -> None:
    actions = "    - {at: 2m, ack: {rule: gas, location.grid: G-07}, by: li, note: on my way}\n"
    expect = (
        "    - {rule: gas, change: opened}\n"
        "    - {rule: gas, status: acknowledged, change: acknowledged, agencies: [fire], at: 2m}\n"
    )
    result = passes(run(load_rules, case(gas("0s") + gas("3m"), expect, actions)))
    ack = result.notices[1].alert
    assert (ack.acknowledged_by, ack.ack_note) == ("li", "on my way")


def test_an_action_at_the_same_offset_as_an_event_comes_first(load_rules: LoadRules) -> None:
    actions = "    - {at: 1m, resolve: {location.grid: G-07}}\n"
    expect = (
        "    - {rule: gas, change: opened}\n"
        "    - {rule: gas, status: resolved, at: 1m}\n"
        "    - {rule: gas, change: opened, at: 1m}\n"
    )
    passes(run(load_rules, case(gas("0s") + gas("1m"), expect, actions)))


def test_resolve_by_hand_names_who_resolved_it_and_why(load_rules: LoadRules) -> None:
    actions = "    - {at: 2m, resolve: {rule: gas}, by: zhao, note: valve closed}\n"
    expect = "    - {rule: gas}\n    - {rule: gas, status: resolved, change: resolved, at: 2m}\n"
    result = passes(run(load_rules, case(gas("0s"), expect, actions, until="1h")))
    done = result.notices[1].alert
    assert (done.resolved_by, done.resolve_note) == ("zhao", "valve closed")
    assert done.acknowledged_by is None


def test_an_ack_then_a_resolve_each_keep_their_own_who_why_and_when(load_rules: LoadRules) -> None:
    actions = (
        "    - {at: 1m, ack: {rule: gas}, by: li, note: on my way}\n"
        "    - {at: 2m, resolve: {rule: gas}, by: zhao, note: valve closed}\n"
    )
    expect = (
        "    - {rule: gas}\n    - {rule: gas, change: acknowledged, at: 1m}\n"
        "    - {rule: gas, status: resolved, change: resolved, at: 2m}\n"
    )
    result = passes(run(load_rules, case(gas("0s"), expect, actions, until="1h")))
    done, start = result.notices[2].alert, result.notices[0].alert.raised_at
    assert (done.acknowledged_by, done.ack_note, done.acknowledged_at - start) == (
        "li",
        "on my way",
        timedelta(minutes=1),
    )
    assert (done.resolved_by, done.resolve_note, done.resolved_at - start) == (
        "zhao",
        "valve closed",
        timedelta(minutes=2),
    )


def test_an_action_naming_no_open_alert_fails_the_case(load_rules: LoadRules) -> None:
    actions = "    - {at: 2m, ack: {rule: gas, location.grid: G-99}}\n"
    result = run(load_rules, case(gas("0s"), "    - {rule: gas}\n", actions))
    assert result.failures == [
        "evaluation error: action at 120s: 0 open alerts match {'rule': 'gas', 'location.grid': 'G-99'}, "
        "expected exactly one"
    ]


def test_an_action_naming_several_open_alerts_fails_the_case(load_rules: LoadRules) -> None:
    actions = "    - {at: 2m, ack: {rule: gas}}\n"
    expect = "    - {rule: gas}\n    - {rule: gas}\n"
    result = run(load_rules, case(gas("0s") + gas("1s", grid="G-08"), expect, actions))
    assert result.failures == [
        "evaluation error: action at 120s: 2 open alerts match {'rule': 'gas'}, expected exactly one"
    ]


def test_actions_after_until_are_still_done(load_rules: LoadRules) -> None:
    actions = "    - {at: 4m, ack: {rule: gas}}\n"
    expect = "    - {rule: gas}\n    - {rule: gas, change: acknowledged, at: 4m}\n"
    passes(run(load_rules, case(gas("0s"), expect, actions, until="3m")))


def test_escalation_and_ack_on_the_virtual_clock(write_yaml: WriteYaml) -> None:
    body = """\
    routes:
      - name: safety
        match: {risk: [public_safety]}
        agencies: [emergency]
        escalate: {after: 10m, to: [governance, mayor]}
    """
    router = routing(write_yaml, body)
    rules = GAS.replace("  cooldown: 5m\n", "  cooldown: 1h\n")
    actions = "    - {at: 25m, ack: {rule: gas}}\n"
    expect = (
        "    - {rule: gas, agencies: [fire, emergency], at: 0s}\n"
        "    - {rule: gas, status: escalated, change: escalated, at: 10m,"
        " agencies: [fire, emergency, governance]}\n"
        "    - {rule: gas, status: escalated, agencies: [fire, emergency, governance, mayor], at: 20m}\n"
        "    - {rule: gas, status: acknowledged, change: acknowledged, at: 25m}\n"
        "    - {rule: gas, status: resolved, agencies: [fire, emergency, governance, mayor], at: 1h}\n"
    )
    path = write_yaml("packs/esc.yaml", pack_text(rules, case(gas("0s"), expect, actions, until="2h")))
    (result,) = run_cases(load_ruleset([path], router))
    passes(result)


def test_an_escalation_step_to_an_agency_that_already_heard_is_no_notice(write_yaml: WriteYaml) -> None:
    body = """\
    routes:
      - name: safety
        match: {risk: [public_safety]}
        agencies: [emergency]
        escalate: {after: 10m, to: [fire, governance]}
    """
    router = routing(write_yaml, body)
    rules = GAS.replace("  cooldown: 5m\n", "  cooldown: 1h\n")
    expect = (
        "    - {rule: gas, agencies: [fire, emergency], at: 0s}\n"
        "    - {rule: gas, change: escalated, agencies: [fire, emergency, governance], at: 20m}\n"
        "    - {rule: gas, status: resolved, at: 1h}\n"
    )
    path = write_yaml("packs/esc.yaml", pack_text(rules, case(gas("0s"), expect, until="2h")))
    (result,) = run_cases(load_ruleset([path], router))
    passes(result)


# --- silences -------------------------------------------------------------------------------------


def test_a_silence_withholds_notices_and_the_next_match_after_it_releases(load_rules: LoadRules) -> None:
    actions = "    - {at: 0s, silence: {rule: gas, grid: G-07}, for: 3m, by: wang, reason: drill}\n"
    events = gas("0s") + gas("1m", 60.0) + gas("2m") + gas("4m")
    expect = (
        "    - {rule: gas, tier: yellow, change: opened, withheld: silence}\n"
        "    - {rule: gas, tier: red, change: tier_raised, withheld: true, at: 1m}\n"
        "    - {rule: gas, tier: red, change: released, withheld: false, count: 4, at: 4m}\n"
    )
    result = passes(run(load_rules, case(events, expect, actions)))
    assert result.notices[0].alert.withheld_by is not None
    assert result.notices[0].alert.withheld_by.endswith(" by wang: drill")


def test_a_silence_on_other_alerts_withholds_nothing(load_rules: LoadRules) -> None:
    actions = "    - {at: 0s, silence: {grid: G-08}, for: 1h}\n"
    passes(run(load_rules, case(gas("0s"), "    - {rule: gas, withheld: false}\n", actions)))


def test_a_weekly_maintenance_window_in_local_time(load_rules: LoadRules) -> None:
    # Sunday 01:00 Shanghai; the device is under maintenance every Sunday 02:00-04:00.
    start = "  start: 2026-01-11T01:00:00+08:00\n"
    actions = (
        "    - {at: 0s, silence: {location.grid: G-07}, for: 30d, every: [sun], from: '02:00', to: '04:00'}\n"
    )
    events = gas("0s") + gas("90m") + gas("3h30m")
    expect = (
        "    - {rule: gas, change: opened, withheld: false, at: 0s}\n"
        "    - {rule: gas, change: resolved, withheld: false, at: 5m}\n"
        "    - {rule: gas, change: opened, withheld: silence, at: 90m}\n"
        "    - {rule: gas, change: resolved, withheld: silence, at: 95m}\n"
        "    - {rule: gas, change: opened, withheld: false, at: 3h30m}\n"
    )
    passes(run(load_rules, case(events, expect, actions, start=start)))


# --- expectations on status, change and withheld --------------------------------------------------


@pytest.mark.parametrize(
    ("expect", "failure"),
    [
        ("{rule: gas, status: resolved}", "alert 1: status: expected resolved, got firing"),
        ("{rule: gas, change: repeat}", "alert 1: change: expected repeat, got opened"),
        ("{rule: gas, withheld: true}", "alert 1: withheld: expected it held back, it was delivered"),
        ("{rule: gas, withheld: silence}", "alert 1: withheld: expected silence, got delivered"),
    ],
)
def test_a_wrong_status_change_or_withheld_is_reported(
    load_rules: LoadRules, expect: str, failure: str
) -> None:
    result = run(load_rules, case(gas("0s"), f"    - {expect}\n"))
    assert result.failures == [failure]


def test_a_notice_withheld_for_another_reason_is_reported(load_rules: LoadRules) -> None:
    actions = "    - {at: 0s, silence: {rule: gas}, for: 1h, reason: works}\n"
    result = run(load_rules, case(gas("0s"), "    - {rule: gas, withheld: inhibited}\n", actions))
    assert result.failures == ["alert 1: withheld: expected inhibited, got silence"]
    result = run(load_rules, case(gas("0s"), "    - {rule: gas, withheld: false}\n", actions))
    (failure,) = result.failures
    assert failure.startswith("alert 1: withheld: expected a delivered notice, it was held back (silence ")


def test_an_unexpected_notice_shows_its_change_status_and_withholding(load_rules: LoadRules) -> None:
    actions = "    - {at: 0s, silence: {rule: gas}, for: 1h, by: wang, reason: works}\n"
    result = run(load_rules, case(gas("0s"), "    - {rule: gas}\n", actions, until="1h"))
    (failure,) = result.failures
    assert failure.startswith("alert 2: expected nothing more, got rule=gas tier=yellow status=resolved ")
    assert "change=resolved withheld=(silence " in failure and "by wang: works)" in failure


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ("{at: 1m, ack: {rule: gas}, resolve: {rule: gas}}", "exactly one of ack, resolve, silence"),
        ("{at: 1m}", "exactly one of ack, resolve, silence; got none"),
        ("{at: 1m, silence: {rule: gas}}", "a silence needs 'for'"),
        ("{at: 1m, silence: {rule: gas}, for: 1h, from: '02:00'}", "needs both 'from' and 'to'"),
        ("{at: 1m, silence: {rule: gas}, for: 1h, from: '2am', to: '04:00'}", "actions.0.from"),
        ("{at: 1m, silence: {rule: gas}, for: 1h, every: [sunday], from: '02:00', to: '04:00'}", "every"),
        ("{at: 1m, mute: {rule: gas}}", "unknown key 'mute'"),
    ],
)
def test_bad_actions_are_refused_when_the_pack_loads(
    load_rules: LoadRules, action: str, message: str
) -> None:
    with pytest.raises(RuleSetError) as info:
        load_rules(GAS, case(gas("0s"), actions=f"    - {action}\n"))
    assert any(message in e.message for e in info.value.errors), [e.message for e in info.value.errors]
