"""`riskstream rules shadow-report`: a shadow rule against the live rule it would replace.

Alerts of the two rules are paired when they are about the same occurrence: the same group at
overlapping times (give or take ``--match-within``), or an evidence event in common whatever each
groups by. Shadow alerts left over are added, live ones dropped; pairs say how much earlier or
later the shadow rule fired and whether it reached a higher or lower tier.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pytest
from typer.testing import CliRunner

from rules.alerts import Alert, to_cloudevent
from rules.model import Tier
from rules.shadow import Pairing, Spread, compare, pairings_in, spans
from streams.cli import app
from tests.unit.conftest import T0, pack_text
from tests.unit.dispatch_kit import Desk, cand, routing

if TYPE_CHECKING:
    from tests.unit.conftest import WriteYaml

GAS_V2 = Pairing("gas-v2", "gas")


@pytest.fixture
def desk(write_yaml: WriteYaml) -> Desk:
    return Desk(routing(write_yaml, "routes: []\n"))


def live(desk: Desk, event_id: str, seconds: float, tier: Tier = Tier.yellow, **kw: Any) -> None:
    desk.send(cand(event_id, seconds, tier, **kw))


def shadow(desk: Desk, event_id: str, seconds: float, tier: Tier = Tier.yellow, **kw: Any) -> None:
    desk.send(cand(event_id, seconds, tier, rule="gas-v2", shadow=True, replaces="gas", **kw))


# --- pairing ------------------------------------------------------------------------------------------------


def test_alerts_about_one_group_at_about_the_same_time_are_paired_with_how_much_earlier(desk: Desk) -> None:
    shadow(desk, "s1", 0, grid="G-1")
    live(desk, "l1", 120, grid="G-1")
    report = compare(GAS_V2, desk.notices)
    (pair,) = report.pairs
    assert (pair.shadow.rule_id, pair.live.rule_id, pair.shift) == ("gas-v2", "gas", -120.0)
    assert (report.added, report.dropped) == ([], [])
    assert report.earlier == Spread(1, 120.0, 120.0) and report.later is None


def test_a_shadow_alert_nobody_else_raised_is_added_and_a_live_one_it_missed_dropped(desk: Desk) -> None:
    shadow(desk, "s1", 0, grid="G-2")
    live(desk, "l1", 0, grid="G-3")
    report = compare(GAS_V2, desk.notices)
    assert report.pairs == []
    assert [a.group_key for a in report.added] == ["location.grid=G-2"]
    assert [a.group_key for a in report.dropped] == ["location.grid=G-3"]


def test_one_group_firing_far_apart_in_time_is_two_occurrences(desk: Desk) -> None:
    live(desk, "l1", 0, grid="G-1")
    shadow(desk, "s1", 601, grid="G-1")
    report = compare(GAS_V2, desk.notices, slack=600)
    assert (len(report.added), len(report.dropped)) == (1, 1)
    assert len(compare(GAS_V2, desk.notices, slack=601).pairs) == 1


def test_rules_that_group_differently_are_paired_by_an_event_both_took_as_evidence(desk: Desk) -> None:
    live(desk, "e1", 0, grid="G-1")
    desk.send(
        cand(
            "e1",
            0,
            rule="gas-v2",
            shadow=True,
            group={"source_id": "GAS-7"},
            group_key="source_id=GAS-7",
            fingerprint="fp-by-source",
        )
    )
    (pair,) = compare(GAS_V2, desk.notices).pairs
    assert (pair.live.group_key, pair.shadow.group_key) == ("location.grid=G-1", "source_id=GAS-7")


def test_leads_and_lags_are_summarised_by_their_median_and_largest(desk: Desk) -> None:
    for grid, shadow_at in (("G-1", 0), ("G-2", 0), ("G-3", 210)):
        shadow(desk, f"s-{grid}", shadow_at, grid=grid)
    for grid, live_at in (("G-1", 60), ("G-2", 180), ("G-3", 180)):
        live(desk, f"l-{grid}", live_at, grid=grid)
    report = compare(GAS_V2, desk.notices)
    assert report.earlier == Spread(2, 120.0, 180.0)
    assert report.later == Spread(1, 30.0, 30.0)
    assert report.same_time == 0


def test_each_pair_says_whether_the_shadow_rule_reached_a_higher_lower_or_the_same_tier(desk: Desk) -> None:
    shadow(desk, "s1", 0, Tier.yellow, grid="G-1")
    shadow(desk, "s2", 30, Tier.red, grid="G-1")
    live(desk, "l1", 0, Tier.yellow, grid="G-1")
    shadow(desk, "s3", 0, Tier.blue, grid="G-2")
    live(desk, "l3", 0, Tier.yellow, grid="G-2")
    report = compare(GAS_V2, desk.notices)
    assert report.tier_moves == {"higher": 1, "lower": 1}
    assert report.top_tiers(report.shadow_alerts) == {Tier.red: 1, Tier.blue: 1}


def test_a_notice_read_twice_counts_once(desk: Desk) -> None:
    shadow(desk, "s1", 0, grid="G-1")
    shadow(desk, "s2", 0, Tier.red, grid="G-1")
    (alert,) = spans([*desk.notices, *desk.notices])["gas-v2"]
    assert (alert.notices, alert.top_tier) == (2, Tier.red)


def test_shadow_notices_name_the_live_rule_they_would_replace(desk: Desk) -> None:
    shadow(desk, "s1", 0)
    live(desk, "l1", 0)
    desk.send(cand("n1", 0, rule="brand-new", shadow=True))
    assert pairings_in(desk.notices) == [Pairing("brand-new", None), GAS_V2]
    fresh = compare(Pairing("brand-new", None), desk.notices)
    assert (len(fresh.added), fresh.live_alerts) == (1, [])


# --- the command ---------------------------------------------------------------------------------------

RULES = """\
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
- id: gas-v2
  mode: shadow
  replaces: gas
  title: Gas, lower threshold
  risk: public_safety
  on: sensor
  kind: combustible_gas
  when: value != null && value >= 15
  group_by: [source_id]
  tier: {red: "value >= 40", yellow: "true"}
  cooldown: 10m
  route: [fire]
"""


def gas(at_s: float, source: str, value: float) -> bytes:
    body = {
        "event_id": f"{source}-{at_s:g}",
        "family": "sensor",
        "kind": "combustible_gas",
        "time": (T0 + timedelta(seconds=at_s)).isoformat(),
        "source_id": source,
        "value": value,
        "location": {"city": "C", "district": "D1", "grid": "G-07"},
    }
    return orjson.dumps(body)


EVENTS = [gas(0, "A", 16), gas(60, "A", 25), gas(120, "A", 45), gas(3600, "B", 30), gas(7200, "C", 17)]
"""A: the shadow rule fires a minute earlier and reaches red; B: both at once; C: only the shadow rule."""


def invoke(*argv: str) -> Any:
    return CliRunner().invoke(app, ["rules", *argv], env={"COLUMNS": "160"})


@pytest.fixture
def files(write_yaml: WriteYaml, routing_file: Path) -> dict[str, str]:
    pack = write_yaml("packs/gas.yaml", pack_text(RULES))
    events = write_yaml("events.jsonl", b"\n".join(EVENTS).decode() + "\n")
    return {"pack": str(pack), "events": str(events), "routing": str(routing_file)}


SUMMARY = [
    "gas-v2 (shadow) in place of gas (live)",
    "paired 2 · added 1 · dropped 0",
    "fires earlier in 1 (median 1m, at most 1m) · later in none · at the same time in 1",
    "top tier: 1 higher · 0 lower · 1 the same",
]


def test_a_backtest_of_recorded_events_reports_what_the_shadow_rule_would_change(
    files: dict[str, str],
) -> None:
    result = invoke(
        "shadow-report", files["events"], "--rules", files["pack"], "--routing", files["routing"]
    )
    assert result.exit_code == 0, result.output
    for line in SUMMARY:
        assert line in result.output
    assert "source_id=C" in result.output.split("added:")[1]


def test_recorded_notices_give_the_same_report_as_cloudevents_or_backtest_rows(
    files: dict[str, str], tmp_path: Path
) -> None:
    rows = tmp_path / "notices.jsonl"
    made = invoke(
        "backtest", files["events"], "--rules", files["pack"], "--routing", files["routing"],
        "--notices", str(rows),
    )
    assert made.exit_code == 0, made.output
    audit = tmp_path / "audit.jsonl"
    alerts = [Alert.model_validate(orjson.loads(line)["alert"]) for line in rows.read_bytes().splitlines()]
    audit.write_bytes(b"".join(to_cloudevent(a).model_dump_json().encode() + b"\n" for a in alerts))
    for recorded in (rows, audit):
        result = invoke("shadow-report", "--audit", str(recorded))
        assert result.exit_code == 0, result.output
        for line in SUMMARY:
            assert line in result.output


def test_lines_of_a_recording_that_are_not_notices_are_named_and_skipped(
    files: dict[str, str], tmp_path: Path, desk: Desk
) -> None:
    shadow(desk, "s1", 0)
    audit = tmp_path / "audit.jsonl"
    audit.write_bytes(b"[1]\n" + to_cloudevent(desk.notices[0]).model_dump_json().encode() + b"\n")
    result = invoke("shadow-report", "--audit", str(audit))
    assert result.exit_code == 0, result.output
    assert f"not a notice {audit}:1: not a JSON object" in result.output
    assert "paired 0 · added 1 · dropped 0" in result.output


def test_packs_without_a_shadow_rule_say_how_to_make_one(
    files: dict[str, str], write_yaml: WriteYaml
) -> None:
    pack = write_yaml("packs/live.yaml", pack_text(RULES.split("- id: gas-v2")[0]))
    result = invoke("shadow-report", files["events"], "--rules", str(pack), "--routing", files["routing"])
    assert result.exit_code == 1
    assert "no shadow rule in the packs: mark a rule (or a pack) `mode: shadow`" in result.output


def test_a_rule_asked_for_that_is_not_a_shadow_rule_is_refused_naming_those_that_are(
    files: dict[str, str],
) -> None:
    result = invoke(
        "shadow-report", files["events"], "--rules", files["pack"], "--routing", files["routing"],
        "--rule", "gas",
    )
    assert result.exit_code == 1
    assert "gas: not a shadow rule in the packs (shadow rules: gas-v2)" in result.output


@pytest.mark.parametrize("argv", [[], ["EVENTS", "--since", "1h"], ["--audit", "EVENTS", "--since", "1h"]])
def test_exactly_one_source_of_notices_is_given(files: dict[str, str], argv: list[str]) -> None:
    result = invoke("shadow-report", *(files["events"] if a == "EVENTS" else a for a in argv))
    assert result.exit_code == 2
    assert "give one of: event files, --audit files of notices, --since DURATION" in result.output
