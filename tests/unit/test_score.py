"""Scoring against the simulator's ground truth: what counts as raised, as tier short, as a false
positive, and how time to alert is measured (rules/score.py; docs/rules.md, Scoring accuracy)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.scenarios import GroundTruth
from rules.alerts import Alert
from rules.events import Family, Location
from rules.model import Risk, Tier
from rules.schema import ExpectedAlert
from rules.score import BACKGROUND, percentile, score

T0 = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def truth(
    run_id: str = "r1",
    expected: list[dict[str, Any]] | None = None,
    start: float = 0.0,
    scenario: str = "gas-leak",
    complete: bool = True,
    event_ids: list[str] | None = None,
) -> GroundTruth:
    if expected is None:
        expected = [{"rule": "gas", "tier": "yellow", "group": {"source_id": "GAS-1"}, "at": 0}]
    return GroundTruth(
        scenario=scenario, risk=Risk.public_safety, run_id=run_id, injected_at=at(start),
        event_ids=event_ids or [f"scn-{run_id}-{scenario}-1"],
        expected=[ExpectedAlert.model_validate(e) for e in expected], complete=complete,
    )


def notice(
    alert_id: str = "a1",
    rule: str = "gas",
    group: dict[str, str] | None = None,
    tier: Tier = Tier.yellow,
    opened: float = 0.0,
    raised: float | None = None,
    evidence: list[str] | None = None,
    risk: Risk = Risk.public_safety,
    **over: Any,
) -> Alert:
    group = {"source_id": "GAS-1"} if group is None else group
    key = ",".join(f"{k}={v}" for k, v in group.items())
    return Alert.model_validate({
        "alert_id": alert_id, "fingerprint": f"fp-{alert_id}", "rule_id": rule, "rule_version": 1,
        "risk": risk, "tier": tier, "tier_level": tier.level, "title": rule, "summary": rule,
        "family": Family.sensor, "kind": "combustible_gas", "group": group, "group_key": key,
        "location": Location(city="C", grid="G-07"), "grid_path": ["C", "G-07"],
        "first_seen": at(opened), "last_seen": at(opened), "count": 1,
        "evidence": evidence or ["bg-1"], "agencies": ["fire"], "routed_because": {"fire": "route"},
        "raised_at": at(opened if raised is None else raised), **over,
    })


def test_an_alert_of_the_expected_rule_and_group_raises_the_expected_alert() -> None:
    result = score([truth()], [notice()])
    assert result.overall.recall == 1.0
    assert result.overall.precision == 1.0
    assert result.outcomes[0].alerts[0].alert_id == "a1"


def test_an_alert_of_the_expected_rule_on_another_group_is_a_miss_and_a_false_positive() -> None:
    result = score([truth()], [notice(group={"source_id": "GAS-2"})])
    assert result.overall.recall == 0.0
    assert result.overall.precision == 0.0
    assert [f.alert.group for f in result.false_alerts] == [(("source_id", "GAS-2"),)]


def test_group_values_compare_as_text() -> None:
    expected = [{"rule": "ddos", "group": {"dst_port": 443}, "at": 0}]
    result = score([truth(expected=expected)], [notice(rule="ddos", group={"dst_port": "443"})])
    assert result.overall.recall == 1.0


def test_a_lower_tier_than_expected_is_raised_but_tier_short() -> None:
    expected = [{"rule": "gas", "tier": "yellow", "group": {"source_id": "GAS-1"}, "at": 0},
                {"rule": "gas", "tier": "red", "group": {"source_id": "GAS-1"}, "at": 180}]
    result = score([truth(expected=expected)], [notice(tier=Tier.yellow)])
    outcome = result.outcomes[0]
    assert (outcome.raised, outcome.tier, outcome.reached, outcome.tier_short) == (
        True, Tier.red, Tier.yellow, True)
    assert (result.overall.recall, result.overall.tier_short) == (1.0, 1)


def test_the_notices_of_one_alert_count_as_one_alert() -> None:
    notices = [notice(tier=Tier.yellow), notice(tier=Tier.orange, raised=90),
               notice(tier=Tier.red, raised=180)]
    result = score([truth()], notices)
    assert result.overall.alerts == 1
    assert result.outcomes[0].reached is Tier.red


def test_an_alert_opened_before_the_injection_started_does_not_count_for_it() -> None:
    result = score([truth(start=600)], [notice(opened=0)])
    assert result.overall.recall == 0.0
    assert len(result.false_alerts) == 1


def test_an_alert_opened_beyond_the_horizon_does_not_count_for_the_injection() -> None:
    result = score([truth()], [notice(opened=49 * 3600)])
    assert result.overall.recall == 0.0


def test_two_injections_of_the_same_group_each_claim_the_alert_opened_after_them() -> None:
    truths = [truth("r1", start=0), truth("r2", start=3600)]
    result = score(truths, [notice("a1", opened=10), notice("a2", opened=3610)])
    assert [[a.alert_id for a in o.alerts] for o in result.outcomes] == [["a1"], ["a2"]]


def test_an_alert_no_injection_expects_is_a_false_positive_of_the_background() -> None:
    result = score([truth()], [notice(), notice("a2", rule="sensor-offline", group={"source_id": "GAS-9"})])
    assert result.overall.precision == 0.5
    assert [f.scenario for f in result.false_alerts] == [None]
    assert result.by_scenario[BACKGROUND].false == 1


def test_an_unexpected_alert_raised_by_an_injections_events_is_that_scenarios_false_positive() -> None:
    extra = notice("a2", rule="sensor-offline", evidence=["scn-r1-gas-leak-1"])
    result = score([truth()], [notice(), extra])
    assert [(f.scenario, f.run_id) for f in result.false_alerts] == [("gas-leak", "r1")]
    assert result.by_scenario["gas-leak"].precision == 0.5
    assert BACKGROUND not in result.by_scenario


def test_a_withheld_alert_still_counts_as_an_alert() -> None:
    held = notice("a2", group={"source_id": "GAS-9"}, withheld_by="silence s1")
    result = score([truth()], [notice(), held])
    assert result.overall.precision == 0.5
    assert result.false_alerts[0].alert.withheld


def test_a_shadow_rules_notices_are_not_alerts() -> None:
    shadow = notice("a2", rule="gas-v2", group={"source_id": "GAS-9"}, shadow=True)
    result = score([truth()], [notice(), shadow])
    assert (result.overall.alerts, result.overall.false) == (1, 0)


def test_a_partial_injection_is_scored_neither_way() -> None:
    result = score([truth(complete=False)], [notice()])
    overall = result.overall
    assert (overall.expected, overall.alerts, overall.false) == (0, 0, 0)
    assert (result.partial, result.unscored) == (1, 1)


def test_time_to_alert_runs_from_the_first_expected_notice_to_the_first_notice_raised() -> None:
    expected = [{"rule": "gas", "tier": "yellow", "group": {"source_id": "GAS-1"}, "at": 60},
                {"rule": "gas", "tier": "orange", "group": {"source_id": "GAS-1"}, "at": 120}]
    notices = [notice(tier=Tier.yellow, opened=60, raised=62.5),
               notice(tier=Tier.orange, opened=60, raised=130)]
    outcome = score([truth(expected=expected, start=0)], notices).outcomes[0]
    assert outcome.time_to_alert == 2.5
    assert outcome.time_to_tier == 10.0


def test_the_time_figures_are_median_p95_and_max_of_the_raised_alerts() -> None:
    truths = [truth(f"r{i}", expected=[{"rule": "gas", "group": {"source_id": f"G{i}"}, "at": 0}],
                    start=i * 100) for i in range(20)]
    notices = [notice(f"a{i}", group={"source_id": f"G{i}"}, opened=i * 100, raised=i * 100 + i + 1)
               for i in range(20)]
    overall = score(truths, notices).overall
    assert (overall.median, overall.p95, overall.max) == (10.0, 19.0, 20.0)


def test_a_nearest_rank_percentile_is_a_value_of_the_data() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 95) == 4.0
    assert percentile([], 50) is None


def test_a_missed_alert_counts_under_its_rules_risk() -> None:
    expected = [{"rule": "hotline-security-clue", "group": {"location.grid": "G1"}, "at": 0}]
    result = score([truth(expected=expected)], [], {"hotline-security-clue": Risk.political_security})
    assert result.by_risk[Risk.political_security].expected == 1
    assert Risk.public_safety not in result.by_risk


def test_an_expectation_without_a_group_is_met_by_an_alert_holding_the_injections_events() -> None:
    expected = [{"rule": "gas", "at": 0}]
    ours = notice("a1", evidence=["scn-r1-gas-leak-1"])
    theirs = notice("a2", group={"source_id": "GAS-2"}, evidence=["bg-7"])
    result = score([truth(expected=expected)], [ours, theirs])
    assert [a.alert_id for a in result.outcomes[0].alerts] == ["a1"]
    assert [f.alert.alert_id for f in result.false_alerts] == ["a2"]


def test_without_alerts_precision_is_undefined_not_perfect() -> None:
    overall = score([truth()], []).overall
    assert overall.precision is None
    assert overall.recall == 0.0


def test_the_json_form_lists_each_false_positive_with_its_rule_and_group() -> None:
    extra = notice("a2", rule="sensor-offline", group={"source_id": "GAS-9"})
    listed = score([truth()], [notice(), extra]).as_dict()["false_positives"]
    assert [(f["rule"], f["group"], f["scenario"]) for f in listed] == [
        ("sensor-offline", {"source_id": "GAS-9"}, None)]
