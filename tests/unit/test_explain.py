"""`rules explain`: why a rule did or did not fire on an event, and what became of an alert."""

from __future__ import annotations

from datetime import timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pytest
from aiokafka.partitioner import DefaultPartitioner
from rich.console import Console
from typer.testing import CliRunner

from rules.alert_history import history_of, read_notices
from rules.alerts import Alert, to_cloudevent
from rules.backtest import Backtest
from rules.cel_parts import top_level_parts
from rules.compiler import RuleSet, load_ruleset
from rules.events import EVENT_ADAPTER, EventBase
from rules.explain import EventExplanation, Explainer, RuleTrace, explain
from rules.routing import load_routing
from streams.audit_history import partition_of
from streams.cli import app
from streams.explain_cli import render_event, render_history
from tests.unit.conftest import ROUTING_YAML, T0, pack_text

if TYPE_CHECKING:
    from tests.unit.conftest import LoadRules, WriteYaml

CITY = timezone(timedelta(hours=8), "CST")

GAS = """\
- id: gas
  title: Gas
  risk: public_safety
  on: sensor
  kind: combustible_gas
  when: value != null && value >= 20
  group_by: [source_id]
  tier: {red: "value >= 50", yellow: "true"}
  cooldown: 10m
  route: [fire]
"""
BURST = """\
- id: burst
  title: Gas readings in a row
  risk: public_safety
  on: sensor
  kind: combustible_gas
  when: value >= 20
  group_by: [source_id]
  count: {at_least: 3, within: 5m}
  tier: {orange: "window.count >= 4", blue: "true"}
"""
OFFLINE = """\
- id: offline
  title: Device offline
  risk: public_safety
  on: sensor
  kind: heartbeat
  group_by: [source_id]
  absent_for: 15m
  tier: blue
"""
INHIBIT = """\
inhibit:
  - name: red-holds-back-lower
    source: {tier: [red]}
    target: {tier: [blue, yellow]}
"""
SMOKE = """\
- id: smoke
  title: Smoke
  risk: public_safety
  on: sensor
  kind: smoke
  group_by: [source_id]
  tier: blue
"""


def gas(
    at: float, value: float | None, n: int | None = None, source: str = "GAS-1", **extra: Any
) -> EventBase:
    data: dict[str, Any] = {
        "event_id": f"{source}-{n if n is not None else int(at)}",
        "family": "sensor",
        "kind": "combustible_gas",
        "time": T0 + timedelta(seconds=at),
        "source_id": source,
        "location": {"city": "C", "district": "D1", "grid": "G-07"},
        **extra,
    }
    if value is not None:
        data["value"] = value
    return EVENT_ADAPTER.validate_python(data)


def event(family: str, kind: str, at: float, event_id: str, **fields: Any) -> EventBase:
    data = {
        "event_id": event_id,
        "family": family,
        "kind": kind,
        "time": T0 + timedelta(seconds=at),
        "source_id": fields.pop("source_id", "dev-1"),
        "location": {"city": "C", "district": "D1", "grid": "G-07"},
        **fields,
    }
    return EVENT_ADAPTER.validate_python(data)


def rule(x: EventExplanation, rule_id: str) -> RuleTrace:
    (found,) = [r for r in x.rules if r.rule.id == rule_id]
    return found


@pytest.fixture
def ruleset(load_rules: LoadRules) -> RuleSet:
    return load_rules(GAS + BURST + SMOKE)


# --- conditions and tiers ---------------------------------------------------------------------


def test_a_false_condition_shows_each_top_level_part_with_the_values_it_read(ruleset: RuleSet) -> None:
    when = rule(explain(ruleset, [gas(0, 10)], "GAS-1-0"), "gas").when
    assert when is not None and when.joiner == "&&"
    assert [(p.source, p.read, p.result) for p in when.parts] == [
        ("value != null", {"value": 10.0}, True),
        ("value >= 20", {"value": 10.0}, False),
    ]
    assert when.whole.result is False


def test_a_condition_that_meets_a_missing_field_says_it_cannot_be_evaluated(load_rules: LoadRules) -> None:
    ruleset = load_rules(GAS.replace("when: value != null && value >= 20", "when: value >= 20"))
    trace = rule(explain(ruleset, [gas(0, None)], "GAS-1-0"), "gas")
    assert trace.when is not None and trace.when.whole.result is None
    assert trace.when.whole.error and trace.when.whole.read == {"value": None}
    assert trace.verdict == "no match: 'when' could not be evaluated"


def test_the_ladder_shows_each_rung_tried_from_the_highest_until_one_holds(ruleset: RuleSet) -> None:
    tier = rule(explain(ruleset, [gas(0, 30)], "GAS-1-0"), "gas").tier
    assert tier is not None and tier.chosen is not None and tier.chosen.value == "yellow"
    assert [(r.tier.value, r.held) for r in tier.rungs] == [("red", False), ("yellow", True)]
    red = tier.rungs[0].condition
    assert red is not None and red.whole.read == {"value": 30.0}


def test_only_rules_that_read_the_events_family_and_kind_are_explained(ruleset: RuleSet) -> None:
    x = explain(ruleset, [gas(0, 30)], "GAS-1-0")
    assert [r.rule.id for r in x.rules] == ["gas", "burst"]


def test_a_disabled_rule_of_the_events_kind_is_named_as_not_run(load_rules: LoadRules) -> None:
    ruleset = load_rules(GAS + BURST.replace("  tier: {orange", "  enabled: false\n  tier: {orange"))
    x = explain(ruleset, [gas(0, 30)], "GAS-1-0")
    assert x.disabled == ("burst",) and [r.rule.id for r in x.rules] == ["gas"]


def test_explaining_can_be_narrowed_to_named_rules(ruleset: RuleSet) -> None:
    x = explain(ruleset, [gas(0, 30)], "GAS-1-0", only=["burst"])
    assert [r.rule.id for r in x.rules] == ["burst"]


# --- windows ----------------------------------------------------------------------------------


def test_a_count_rule_says_how_far_its_window_is_from_firing(ruleset: RuleSet) -> None:
    trace = rule(explain(ruleset, [gas(0, 25), gas(60, 25)], "GAS-1-60"), "burst")
    assert trace.window is not None and not trace.window.fired
    assert trace.window.progress.text == "count 2 of 3 within 5m"
    assert trace.verdict == "counted, not met yet: count 2 of 3 within 5m" and trace.decisions == ()


def test_an_event_its_when_leaves_out_is_not_counted_and_the_window_stays_as_it_was(ruleset: RuleSet) -> None:
    trace = rule(explain(ruleset, [gas(0, 25), gas(60, 5)], "GAS-1-60"), "burst")
    assert trace.window is not None and trace.window.outcome == "not_read"
    assert trace.verdict == "not counted ('when' is false): count 1 of 3 within 5m"


def test_the_event_that_fills_the_window_shows_the_figures_its_tiers_read(ruleset: RuleSet) -> None:
    history = [gas(0, 25), gas(60, 25), gas(120, 25), gas(180, 25)]
    trace = rule(explain(ruleset, history, "GAS-1-180"), "burst")
    assert trace.window is not None and trace.window.fired
    assert trace.tier is not None and trace.tier.chosen is not None and trace.tier.chosen.value == "orange"
    orange = trace.tier.rungs[0].condition
    assert orange is not None and orange.whole.read == {"window.count": 4}
    assert trace.verdict == "count met (count 4 of 3 within 5m): tier_raised notice to governance"


def test_a_late_event_is_reported_late_and_not_counted(ruleset: RuleSet) -> None:
    x = explain(ruleset, [gas(0, 25), gas(600, 25), gas(60, 25)], "GAS-1-60")
    trace = rule(x, "burst")
    assert x.late and trace.window is not None and trace.window.outcome == "late"
    assert trace.verdict.startswith("not counted: later than the allowed lateness")


def test_a_holds_for_rule_says_how_long_its_condition_has_held(load_rules: LoadRules) -> None:
    ruleset = load_rules(
        """\
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
    )
    readings = [
        event("safety", "tank_pressure", at, f"p{at}", site_id="S1", tank_id="T1", value=1.8)
        for at in (0, 30, 60)
    ]
    trace = rule(explain(ruleset, readings, "p60"), "tank")
    assert trace.window is not None
    assert trace.window.progress.text == "held 1m of 2m (a gap over 1m ends the run), 3 events"


def test_a_sequence_rule_says_which_step_comes_next(load_rules: LoadRules) -> None:
    ruleset = load_rules(
        """\
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
    )
    failures = [event("cyber", "auth_failure", at, f"f{at}", src_ip="10.0.0.9") for at in (0, 60, 120)]
    trace = rule(explain(ruleset, failures, "f120"), "brute")
    assert trace.window is not None
    assert trace.window.progress.text == "1 of 2 steps within 15m; next: step 2 (auth_success)"
    assert [(s.index, s.kind_ok, s.taken) for s in trace.steps] == [(0, True, True), (1, False, False)]


def test_an_absence_rule_says_when_the_group_would_count_as_silent(load_rules: LoadRules) -> None:
    ruleset = load_rules(OFFLINE)
    trace = rule(explain(ruleset, [event("sensor", "heartbeat", 0, "hb-1")], "hb-1"), "offline")
    assert trace.window is not None
    assert trace.window.progress.moments[-1] == ("absent if silent until", T0 + timedelta(minutes=15))


def test_a_report_from_a_silent_group_ends_its_absence(load_rules: LoadRules) -> None:
    ruleset = load_rules(OFFLINE)
    beats = [event("sensor", "heartbeat", 0, "hb-1"), event("sensor", "heartbeat", 2400, "hb-2")]
    trace = rule(explain(ruleset, beats, "hb-2"), "offline")
    assert trace.window is not None and trace.window.ends and not trace.window.fired
    assert [n.change for d in trace.clock_before for n in d.notices] == ["opened"]
    assert trace.verdict == "the group reported again: resolved notice to governance"


def test_an_aggregate_rule_shows_its_figure_against_what_it_needs(load_rules: LoadRules) -> None:
    ruleset = load_rules(
        """\
        - id: rising
          title: Water rising
          risk: public_safety
          on: sensor
          kind: water_level
          group_by: [source_id]
          aggregate: {fn: max, field: value, rise_by: 0.5, within: 10m}
          tier: blue
        """
    )
    levels = [event("sensor", "water_level", at, f"w{at}", value=v) for at, v in ((0, 1.0), (660, 1.2))]
    trace = rule(explain(ruleset, levels, "w660"), "rising")
    assert trace.window is not None and not trace.window.fired
    assert trace.window.progress.text == (
        "max(value) over 10m = 1.2 (1 events), 1 before: change +0.2 (+20.0 %); "
        "needs a rise of 0.5 on the 10m before"
    )


# --- the lifecycle ----------------------------------------------------------------------------


def test_a_new_match_opens_an_alert_and_says_who_was_told_and_why(ruleset: RuleSet) -> None:
    trace = rule(explain(ruleset, [gas(0, 55)], "GAS-1-0"), "gas")
    ((notice,),) = [d.notices for d in trace.decisions]
    assert (notice.change, notice.tier.value) == ("opened", "red")
    assert notice.routed_because["fire"] == "rule gas routes to it"
    assert trace.verdict == "match at red: opened notice to fire, governance"


def test_a_match_at_the_same_tier_inside_the_repeat_interval_is_merged_without_a_notice(
    ruleset: RuleSet,
) -> None:
    trace = rule(explain(ruleset, [gas(0, 25), gas(60, 30)], "GAS-1-60"), "gas")
    assert [d.reason for d in trace.decisions] == ["in_cooldown"]
    assert trace.alert is not None and trace.alert.count == 2
    assert trace.verdict.endswith("without a notice: same tier, and its repeat interval has not passed")


def test_a_lower_match_says_the_alert_keeps_its_tier_until_lower_matches_have_held(ruleset: RuleSet) -> None:
    trace = rule(explain(ruleset, [gas(0, 55), gas(60, 30)], "GAS-1-60"), "gas")
    assert trace.verdict.endswith("yellow is below its red, kept until lower matches last 10m")


def test_what_the_clock_did_to_the_groups_alert_before_the_event_is_shown(ruleset: RuleSet) -> None:
    trace = rule(explain(ruleset, [gas(0, 25), gas(3600, 25)], "GAS-1-3600"), "gas")
    assert [(d.reason, [n.change for n in d.notices]) for d in trace.clock_before] == [
        ("resolved", ["resolved"])
    ]
    assert [n.change for d in trace.decisions for n in d.notices] == ["opened"]


def test_a_notice_held_back_by_a_higher_alert_names_the_inhibiting_alert(
    write_yaml: WriteYaml, tmp_path: Path
) -> None:
    routing = write_yaml(
        "inhibiting.yaml",
        ROUTING_YAML + INHIBIT,
    )
    ruleset = load_ruleset([write_yaml("packs/p.yaml", pack_text(GAS + SMOKE))], load_routing(routing))
    smoke = event("sensor", "smoke", 60, "smoke-1", source_id="SMK-1")
    trace = rule(explain(ruleset, [gas(0, 55), smoke], "smoke-1"), "smoke")
    ((notice,),) = [d.notices for d in trace.decisions]
    assert notice.withheld_by is not None and notice.withheld_by.startswith("inhibited by red I alert")
    assert "red-holds-back-lower" in notice.withheld_by


def test_explaining_decides_exactly_what_a_backtest_of_the_same_events_decides(ruleset: RuleSet) -> None:
    history = [gas(0, 25), gas(60, 55), gas(120, 25), gas(180, 25), gas(3600, 30)]
    explainer = Explainer(ruleset, "GAS-1-3600")
    for e in history:
        if explainer.offer(e):
            break
    explainer.finish()
    plain = Backtest(ruleset)
    for e in history:
        plain.feed_event(e)
    assert [n.alert for n in explainer.backtest.replay.notices] == [n.alert for n in plain.replay.notices]


# --- which event, after which history ---------------------------------------------------------


def test_an_event_id_not_among_the_recordings_is_named_in_the_error(ruleset: RuleSet) -> None:
    with pytest.raises(LookupError, match="no event with id nope among the 2 events read"):
        explain(ruleset, [gas(0, 25), gas(60, 25)], "nope")


def test_an_event_given_by_itself_follows_the_recorded_events_up_to_its_time(ruleset: RuleSet) -> None:
    x = explain(ruleset, [gas(0, 25), gas(60, 25), gas(600, 25)], gas(90, 25, n=99))
    assert (x.event.event_id, x.replayed) == ("GAS-1-99", 2)
    assert rule(x, "burst").window is not None
    assert rule(x, "burst").verdict == "count met (count 3 of 3 within 5m): opened notice to governance"


def test_reading_stops_at_the_event_explained(ruleset: RuleSet) -> None:
    explainer = Explainer(ruleset, "GAS-1-60")
    taken = [explainer.offer(e) for e in (gas(0, 25), gas(60, 25))]
    assert taken == [False, True] and explainer.replayed == 1


# --- condition parts --------------------------------------------------------------------------


def test_a_chain_is_cut_only_at_its_top_level_outside_brackets_and_strings() -> None:
    assert top_level_parts("name.contains('a && b') && (x || y) && z > 1") == (
        "&&",
        ["name.contains('a && b')", "(x || y)", "z > 1"],
    )


def test_or_is_the_top_of_a_condition_that_mixes_both_and_a_ternary_is_not_cut() -> None:
    assert top_level_parts("a || b && c") == ("||", ["a", "b && c"])
    assert top_level_parts("x ? a && b : c") == ("", ["x ? a && b : c"])
    assert top_level_parts("(a && b)") == ("&&", ["a", "b"])


# --- an alert's history -----------------------------------------------------------------------


@pytest.fixture
def notices(ruleset: RuleSet) -> list[Alert]:
    test = Backtest(ruleset)
    for e in (gas(0, 25), gas(60, 55), gas(120, 30)):
        test.feed_event(e)
    return [n.alert for n in test.finish(run_on=3600) if n.alert.rule_id == "gas"]


def test_an_alerts_history_keeps_each_notice_once_in_the_order_decided(notices: list[Alert]) -> None:
    first = notices[0].alert_id
    h = history_of(first, [notices[2], notices[0], notices[1], notices[0]])
    assert [(n.notice_seq, n.change) for n in h.notices] == [
        (1, "opened"),
        (2, "tier_raised"),
        (3, "resolved"),
    ]
    assert h.copies == 1


def test_an_alerts_history_names_the_events_each_notice_added_as_evidence(notices: list[Alert]) -> None:
    h = history_of(notices[0].alert_id, notices)
    assert [added for _, added in h.added_evidence()] == [("GAS-1-0",), ("GAS-1-60",), ("GAS-1-120",)]
    assert h.heard["governance"] == ["red I alerts escalate to it"]


def test_notices_are_read_as_cloudevents_backtest_rows_or_bare_alerts(notices: list[Alert]) -> None:
    a = notices[0]
    lines = [
        to_cloudevent(a).model_dump_json().encode(),
        orjson.dumps({"at": 0.0, "decided": 0.0, "alert": a.model_dump(mode="json")}),
        a.model_dump_json().encode(),
        b"",
        b'{"at": 0}',
        b"not json",
    ]
    read, problems = read_notices(lines, "notices.jsonl")
    assert read == [a, a, a]
    assert [p.split(":", 2)[:2] for p in problems] == [["notices.jsonl", "5"], ["notices.jsonl", "6"]]


def test_an_alert_with_no_notice_is_a_lookup_error(notices: list[Alert]) -> None:
    with pytest.raises(LookupError, match="no notice of alert nope"):
        history_of("nope", notices)


def test_an_alerts_notices_are_read_from_the_partition_dispatch_sends_them_to() -> None:
    partitions = list(range(6))
    for alert_id in ("2b1c7f0e-0c5e-5b4a-9d59-1f0a3c1e8e11", "x", "0f0f0f0f"):
        expected = DefaultPartitioner()(alert_id.encode(), partitions, partitions)
        assert partition_of(alert_id, [5, 3, 1, 0, 2, 4]) == expected


# --- what the command prints ------------------------------------------------------------------


def printed(lines: list[Any]) -> str:
    console = Console(width=200, record=True, color_system=None)
    for line in lines:
        console.print(line, soft_wrap=True)
    return console.export_text()


def test_the_explanation_shows_each_part_the_tier_and_who_heard_it_with_times_in_the_city_zone(
    ruleset: RuleSet,
) -> None:
    text = printed(render_event(explain(ruleset, [gas(0, 55)], "GAS-1-0"), CITY, "events.jsonl"))
    assert "event GAS-1-0  sensor/combustible_gas at 09:00:00 CST" in text
    assert "✓ value >= 20   value = 55.0" in text
    assert "✓ red    value >= 50   value = 55.0" in text
    assert "→ fire: rule gas routes to it" in text
    assert "it resolves at 09:10:00 CST unless it matches again (cooldown 10m)" in text


def test_the_history_shows_every_notice_who_heard_it_and_the_evidence_events(notices: list[Alert]) -> None:
    h = history_of(notices[0].alert_id, notices)
    recorded = {"GAS-1-60": gas(60, 55)}
    text = printed(render_history(h, CITY, recorded))
    assert "#2 09:01:00 CST  tier_raised  RED I " in text
    assert "→ governance: red I alerts escalate to it" in text
    assert "GAS-1-60  09:01:00 CST sensor/combustible_gas source GAS-1  value=55.0" in text


def cmd(write_yaml: WriteYaml, routing: Path, *args: str) -> Any:
    pack = write_yaml("packs/test.yaml", pack_text(GAS + BURST))
    argv = ["rules", "explain", "--rules", str(pack), "--routing", str(routing), *args]
    return CliRunner().invoke(app, argv, env={"COLUMNS": "200"})


def recording(write_yaml: WriteYaml, *events: EventBase) -> Path:
    return write_yaml("events.jsonl", "".join(e.model_dump_json() + "\n" for e in events))


def test_the_command_explains_an_event_of_a_recording_after_the_events_before_it(
    write_yaml: WriteYaml, routing_file: Path
) -> None:
    recorded = recording(write_yaml, gas(0, 25), gas(60, 25), gas(120, 25))
    result = cmd(write_yaml, routing_file, "--event-id", "GAS-1-60", str(recorded))
    assert result.exit_code == 0, result.output
    assert "after 1 earlier event(s) replayed" in result.output
    assert "count 2 of 3 within 5m" in result.output


def test_the_command_refuses_a_recording_given_as_the_event_and_says_how_to_name_one(
    write_yaml: WriteYaml, routing_file: Path
) -> None:
    recorded = recording(write_yaml, gas(0, 25), gas(60, 25))
    result = cmd(write_yaml, routing_file, str(recorded))
    assert result.exit_code == 2
    assert f"riskstream rules explain --event-id ID {recorded}" in result.output


def test_the_command_says_which_event_id_it_did_not_find(write_yaml: WriteYaml, routing_file: Path) -> None:
    recorded = recording(write_yaml, gas(0, 25))
    result = cmd(write_yaml, routing_file, "--event-id", "GAS-9", str(recorded))
    assert result.exit_code == 1 and "no event with id GAS-9 among the 1 events read" in result.output


def test_the_command_explains_an_alert_from_recorded_notices(
    write_yaml: WriteYaml, routing_file: Path, notices: list[Alert]
) -> None:
    rows = "".join(
        orjson.dumps({"at": 0, "alert": n.model_dump(mode="json")}).decode() + "\n" for n in notices
    )
    path = write_yaml("notices.jsonl", rows)
    result = cmd(write_yaml, routing_file, "--alert", notices[0].alert_id, "--from-file", str(path))
    assert result.exit_code == 0, result.output
    assert "3 notice(s)" in result.output and "evidence: GAS-1-60" in result.output


def test_the_command_wants_one_question_at_a_time(write_yaml: WriteYaml, routing_file: Path) -> None:
    both = cmd(write_yaml, routing_file, "--alert", "a", "--event-id", "b")
    assert both.exit_code == 2 and "--alert explains an alert" in both.output
    nothing = cmd(write_yaml, routing_file)
    assert nothing.exit_code == 2 and "give an event (a JSON file)" in nothing.output
