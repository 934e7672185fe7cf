"""Backtests: recorded events through the worker's stages, summarised per rule and per agency."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pytest
from typer.testing import CliRunner

from rules.backtest import MAX_REJECTS_KEPT, Backtest, by_event_time
from rules.compiler import RuleSet
from rules.decoding import decode_event
from rules.events import EventBase
from streams.cli import app
from tests.unit.conftest import T0

if TYPE_CHECKING:
    from tests.unit.conftest import LoadRules, WriteYaml

RULES = """\
- id: gas
  title: Gas
  risk: public_safety
  on: sensor
  kind: combustible_gas
  group_by: [source_id]
  tier: {red: "value >= 50", yellow: "value >= 20"}
  cooldown: 10m
  route: [fire]
- id: smoke
  title: Smoke
  risk: public_safety
  on: sensor
  kind: smoke
  group_by: [source_id]
  tier: blue
  route: [fire]
"""


def gas(at: float, value: float, source: str = "GAS-1", **extra: Any) -> bytes:
    body = {
        "event_id": f"{source}-{at:g}",
        "family": "sensor",
        "kind": "combustible_gas",
        "time": (T0 + timedelta(seconds=at)).isoformat(),
        "source_id": source,
        "value": value,
        "location": {"city": "C", "district": "D1", "grid": "G-07"},
        **extra,
    }
    return orjson.dumps(body)


@pytest.fixture
def ruleset(load_rules: LoadRules) -> RuleSet:
    return load_rules(RULES)


def feed(test: Backtest, *lines: bytes) -> None:
    for i, line in enumerate(lines, start=1):
        test.feed(line, "events.jsonl", i)


def test_each_rule_is_tallied_by_alerts_notices_changes_tier_and_agencies(ruleset: RuleSet) -> None:
    test = Backtest(ruleset)
    feed(test, gas(0, 25), gas(60, 30), gas(120, 55), gas(7200, 22, source="GAS-2"))
    test.finish(run_on=3600)
    (tally,) = test.tallies()
    assert (tally.rule_id, len(tally.alerts), tally.top_tier and tally.top_tier.value) == ("gas", 2, "red")
    assert tally.changes == {"opened": 2, "tier_raised": 1, "resolved": 2}
    assert tally.agencies["fire"] == tally.notices == 5
    assert (test.events, test.first, test.last) == (4, T0, T0 + timedelta(seconds=7200))


def test_the_clock_runs_on_past_the_newest_event_only_as_far_as_asked(ruleset: RuleSet) -> None:
    test = Backtest(ruleset)
    feed(test, gas(0, 25))
    assert [n.alert.change for n in test.finish(run_on=0)] == ["opened"]
    assert [n.alert.change for n in test.finish(run_on=600)] == ["opened", "resolved"]


def test_lines_that_are_not_events_are_reported_with_source_and_line_and_the_run_goes_on(
    ruleset: RuleSet,
) -> None:
    test = Backtest(ruleset)
    feed(test, b"not json", gas(0, 25), b'{"family": "sensor", "kind": "smoke"}')
    assert (test.events, test.rejected) == (1, 2)
    assert [(r.source, r.line) for r in test.rejects] == [("events.jsonl", 1), ("events.jsonl", 3)]
    assert test.rejects[0].reason.startswith("not_json")
    assert "event_id: Field required" in test.rejects[1].reason


def test_only_the_first_rejected_lines_are_kept_but_all_are_counted(ruleset: RuleSet) -> None:
    test = Backtest(ruleset)
    feed(test, *(b"{" for _ in range(MAX_REJECTS_KEPT + 5)))
    assert (test.rejected, len(test.rejects)) == (MAX_REJECTS_KEPT + 5, MAX_REJECTS_KEPT)


def test_the_summary_can_be_narrowed_to_named_rules_and_lists_those_that_raised_nothing(
    ruleset: RuleSet,
) -> None:
    test = Backtest(ruleset, only=frozenset({"smoke"}))
    feed(test, gas(0, 25))
    assert test.finish() == [] and test.tallies() == []
    assert test.silent_rules() == ["smoke"]


def test_an_unknown_rule_id_is_refused_naming_the_known_ones(ruleset: RuleSet) -> None:
    with pytest.raises(ValueError, match=r"unknown rule id\(s\) smok; the packs have: gas, smoke"):
        Backtest(ruleset, only=frozenset({"smok"}))


def test_a_condition_that_cannot_be_evaluated_is_counted_per_rule(load_rules: LoadRules) -> None:
    test = Backtest(load_rules(RULES.replace('tier: {red: "value >= 50"', 'tier: {red: "battery >= 50"')))
    feed(test, gas(0, 25))
    assert test.evaluation_errors() == {"gas": 1}


# --- the command ----------------------------------------------------------------------------------


def backtest_cmd(write_yaml: WriteYaml, routing: Path, events: bytes, *args: str) -> Any:
    pack = write_yaml("packs/test.yaml", f"version: 1\npack: test\nrules:\n{_indent(RULES)}")
    recorded = write_yaml("events.jsonl", events.decode())
    argv = ["rules", "backtest", str(recorded), "--rules", str(pack), "--routing", str(routing), *args]
    return CliRunner().invoke(app, argv, env={"COLUMNS": "160"})


def _indent(text: str) -> str:
    return "".join(f"  {line}\n" for line in text.splitlines())


def test_the_command_prints_each_rule_and_agency_and_writes_every_notice(
    write_yaml: WriteYaml, routing_file: Path, tmp_path: Path
) -> None:
    events = b"\n".join([gas(0, 25), gas(120, 55), b"oops"]) + b"\n"
    out = tmp_path / "notices.jsonl"
    result = backtest_cmd(write_yaml, routing_file, events, "--notices", str(out), "--show", "1")
    assert result.exit_code == 0, result.output
    assert "backtest: 2 events, 1 rejected" in result.output
    assert "events.jsonl:3: not_json" in result.output
    assert "opened 1 · tier_raised 1 · resolved 1" in result.output
    assert "fire" in result.output and "YELLOW III" in result.output
    written = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert [(w["at"], w["alert"]["change"]) for w in written] == [
        (0, "opened"),
        (120, "tier_raised"),
        (720, "resolved"),
    ]


def test_the_command_refuses_a_missing_file_or_an_unknown_rule(
    write_yaml: WriteYaml, routing_file: Path
) -> None:
    missing = CliRunner().invoke(
        app, ["rules", "backtest", "/no/such/events.jsonl", "--routing", str(routing_file)]
    )
    assert missing.exit_code == 2 and "no such file: /no/such/events.jsonl" in missing.output
    unknown = backtest_cmd(write_yaml, routing_file, gas(0, 25), "--rule", "gsa")
    assert unknown.exit_code == 2 and "unknown rule id(s) gsa" in unknown.output


def test_the_command_wants_event_files_or_since_but_not_both(tmp_path: Path) -> None:
    neither = CliRunner().invoke(app, ["rules", "backtest"])
    assert neither.exit_code == 2 and "give event files, or --since DURATION" in neither.output
    recorded = tmp_path / "events.jsonl"
    recorded.write_text("")
    both = CliRunner().invoke(app, ["rules", "backtest", str(recorded), "--since", "1h"])
    assert both.exit_code == 2


def decoded(*lines: bytes) -> list[EventBase]:
    return [decode_event(line) for line in lines]


def test_several_recordings_replay_interleaved_by_event_time() -> None:
    a = decoded(gas(0, 25, "A"), gas(60, 25, "A"), gas(300, 25, "A"))
    b = decoded(gas(30, 25, "B"), gas(200, 25, "B"))
    merged = [e.source_id for e in by_event_time([a, b])]
    assert merged == ["A", "B", "A", "B", "A"]


def test_each_recording_keeps_its_own_order_when_merged() -> None:
    late = decoded(gas(100, 25, "A"), gas(50, 25, "A"))  # its second event arrived late
    merged = [(e.source_id, e.time) for e in by_event_time([late, decoded(gas(70, 25, "B"))])]
    assert [s for s, _ in merged] == ["B", "A", "A"] and merged[1][1] > merged[2][1]


def test_events_of_the_same_time_come_from_the_earlier_recording_first() -> None:
    merged = by_event_time([decoded(gas(10, 25, "A")), decoded(gas(10, 25, "B"))])
    assert [e.source_id for e in merged] == ["A", "B"]


def test_the_command_backtests_two_files_as_one_stream_in_event_time(
    write_yaml: WriteYaml, routing_file: Path, tmp_path: Path
) -> None:
    """Read one file after the other, the reading at 1000 s would come before the one at 500 s and
    find the alert quiet for longer than its 10-minute cooldown: two alerts instead of one."""
    pack = write_yaml("packs/test.yaml", f"version: 1\npack: test\nrules:\n{_indent(RULES)}")
    first = write_yaml("first.jsonl", (gas(0, 25) + b"\n" + gas(1000, 25) + b"\n").decode())
    second = write_yaml("second.jsonl", (gas(500, 55) + b"\n").decode())
    out = tmp_path / "notices.jsonl"
    argv = ["rules", "backtest", str(first), str(second), "--rules", str(pack),
            "--routing", str(routing_file), "--notices", str(out), "--run-on", "0s"]
    result = CliRunner().invoke(app, argv, env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    written = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert [(w["at"], w["alert"]["change"]) for w in written] == [(0, "opened"), (500, "tier_raised")]
