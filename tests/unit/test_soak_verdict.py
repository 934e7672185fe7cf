"""The chaos soak's verdict from recorded notices, ground truth, offsets, samples and logs
(bench.soak.verdict): lost alerts, duplicates, events accounted for, recovery time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from bench.soak.logs import LogCounts
from bench.soak.verdict import (
    EventCheck,
    Exit,
    Expected,
    Notice,
    Outage,
    Sample,
    check_alerts,
    check_duplicates,
    expected_alerts,
    group_of,
    notice_from,
    passed,
    recovery_times,
    verdict_rows,
)
from connectors.scenarios import GroundTruth
from rules.schema import ExpectedAlert

T0 = datetime(2026, 11, 29, 7, 0, tzinfo=UTC)


def truth(run_id: str, *expected: dict[str, Any], complete: bool = True) -> GroundTruth:
    return GroundTruth(
        scenario="chemical-park-gas-leak", risk="public_safety", run_id=run_id, injected_at=T0,
        event_ids=[f"scn-{run_id}-1"], complete=complete,
        expected=[ExpectedAlert.model_validate(e) for e in expected],
    )


def notice(alert: str, seq: int, rule: str = "gas", tier: str = "yellow", topic: str = "audit",
           withheld: bool = False, **group: str) -> Notice:
    return Notice(topic, alert, seq, rule, tier, group_of(group) or (), None, withheld)


GAS: dict[str, Any] = {"rule": "gas", "tier": "yellow", "group": {"source_id": "GAS-1"}}
GAS_RED: dict[str, Any] = {"rule": "gas", "tier": "red", "group": {"source_id": "GAS-1"}}
CAM: dict[str, Any] = {"rule": "cam", "tier": "blue", "group": {"location.grid": "HBW-01-07"}}


def test_each_rule_and_group_of_an_injection_is_one_expected_alert_at_its_highest_tier() -> None:
    exp = expected_alerts([truth("r-0", GAS, GAS_RED, CAM)])
    assert sorted((e.rule, e.group, e.tier) for e in exp) == [
        ("cam", (("location.grid", "HBW-01-07"),), "blue"),
        ("gas", (("source_id", "GAS-1"),), "red"),
    ]


def test_an_incomplete_injection_expects_nothing() -> None:
    assert expected_alerts([truth("r-0", GAS, complete=False)]) == []


def test_an_expected_alert_without_any_notice_is_lost() -> None:
    exp = expected_alerts([truth("r-0", GAS, CAM)])
    check = check_alerts(exp, [notice("a1", 1, source_id="GAS-1")])
    assert [e.rule for e in check.lost] == ["cam"]
    assert not check.ok


def test_a_withheld_notice_still_shows_the_alert_was_opened() -> None:
    exp = expected_alerts([truth("r-0", GAS)])
    check = check_alerts(exp, [notice("a1", 1, withheld=True, source_id="GAS-1")])
    assert check.ok and check.lost == []


def test_an_alert_that_never_reached_its_expected_tier_is_reported_with_the_tier_seen() -> None:
    exp = expected_alerts([truth("r-0", GAS_RED)])
    check = check_alerts(exp, [notice("a1", 1, tier="yellow", source_id="GAS-1"),
                               notice("a1", 2, tier="orange", source_id="GAS-1")])
    assert check.ok
    assert [(e.tier, seen) for e, seen in check.tier_short] == [("red", "orange")]


def test_tiers_reached_in_any_order_count() -> None:
    exp = expected_alerts([truth("r-0", GAS, GAS_RED)])
    check = check_alerts(exp, [notice("a1", 1, tier="red", source_id="GAS-1"),
                               notice("a1", 2, tier="yellow", source_id="GAS-1")])
    assert check.tier_short == []


def test_alerts_no_injection_expects_are_counted_apart() -> None:
    exp = expected_alerts([truth("r-0", GAS)])
    audit = [notice("a1", 1, source_id="GAS-1"), notice("b1", 1, rule="offline", source_id="X")]
    check = check_alerts(exp, audit)
    assert check.other_alerts == 1 and check.notices == 2


def test_group_values_compare_as_text() -> None:
    exp = [Expected("s", "r-0", "count", group_of({"site_id": 12}), None)]
    assert check_alerts(exp, [notice("a", 1, rule="count", site_id="12")]).ok


def test_the_same_alert_id_and_notice_seq_twice_is_one_duplicate_per_extra_copy() -> None:
    audit = [notice("a1", 1), notice("a1", 2), notice("a1", 2), notice("a1", 2), notice("b1", 1)]
    deliveries = [notice("a1", 2, topic="alerts.fire"), notice("a1", 2, topic="alerts.fire"),
                  notice("a1", 2, topic="alerts.police")]
    dupes = check_duplicates(audit, deliveries)
    assert (dupes.audit, dupes.deliveries) == (2, 1)
    assert dupes.examples == ["a1:2"]
    assert not dupes.ok


def test_a_notice_on_several_agency_topics_is_no_duplicate() -> None:
    deliveries = [notice("a1", 1, topic=t) for t in ("alerts.fire", "alerts.police", "alerts.grid")]
    assert check_duplicates([notice("a1", 1)], deliveries).ok


def test_a_notice_is_read_from_a_cloudevent_and_anything_else_is_skipped() -> None:
    value = orjson.dumps({"id": "a1:3", "data": {
        "alert_id": "a1", "notice_seq": 3, "rule_id": "gas", "tier": "red", "change": "tier_raised",
        "group": {"source_id": "GAS-1"}, "withheld_by": ["inhibited"]}})
    n = notice_from("t", value)
    assert n is not None
    assert (n.cloudevent_id, n.rule, n.tier, n.group, n.withheld) == (
        "a1:3", "gas", "red", (("source_id", "GAS-1"),), True)
    assert notice_from("t", b"not json") is None
    assert notice_from("t", None) is None
    assert notice_from("t", b'{"data": {"alert_id": "x"}}') is None


def events(**changes: float) -> EventCheck:
    base: dict[str, float] = dict(generated=1000, acked=1000, on_topics=1000, uncommitted=0,
                                  counted_valid=1180, counted_invalid=0, detect_done=1100)
    base.update(changes)
    return EventCheck(**base)  # type: ignore[arg-type]


def test_events_all_in_all_committed_and_counted_at_least_once_pass_with_replays_reported() -> None:
    check = events()
    assert check.ok and check.replayed == 180


def test_events_fail_when_an_input_record_is_never_committed() -> None:
    assert events(uncommitted=3).problems() == ["3 input records never committed by the group"]


def test_events_fail_when_the_counters_miss_events() -> None:
    assert not events(counted_valid=999).ok
    assert not events(detect_done=900).ok


def test_events_fail_when_the_input_holds_other_than_what_was_acknowledged() -> None:
    assert "more records" in events(on_topics=1002).problems()[0]
    assert "never acknowledged" in events(acked=990, on_topics=990).problems()[0]
    assert not events(counted_invalid=1).ok


def test_recovery_is_the_first_progress_after_the_broker_answers_per_worker() -> None:
    samples = [
        Sample(9.0, "a", 1, 500), Sample(9.5, "b", 2, 300),
        Sample(10.5, "a", 1, 500), Sample(10.5, "b", 2, 300),
        Sample(11.0, "a", 1, 520), Sample(11.5, "b", 2, 300),
        Sample(14.0, "b", 2, 301),
    ]
    assert recovery_times(samples, back_at=10.0) == {"a": 1.0, "b": 4.0}


def test_a_worker_that_never_progresses_after_the_return_has_no_recovery_time() -> None:
    samples = [Sample(9.0, "a", 1, 500), Sample(12.0, "a", 1, 500)]
    assert recovery_times(samples, back_at=10.0) == {"a": None}


def test_a_worker_restarted_after_the_return_recovers_on_its_own_first_progress() -> None:
    samples = [Sample(9.0, "a", 1, 500), Sample(12.0, "a", 2, 0), Sample(13.0, "a", 2, 40)]
    assert recovery_times(samples, back_at=10.0) == {"a": 3.0}


def outage(recovery: dict[str, float | None], during: int = 3, tracebacks: int = 0) -> Outage:
    logs = {"a": LogCounts(during, tracebacks), "b": LogCounts(0, 0)}
    return Outage(100.0, 128.0, 20.0, logs, {"a": LogCounts(), "b": LogCounts()}, 30.0, recovery, 0.4)


def rows_for(
    out: Outage | None = None, exits: list[Exit] | None = None, dupes: int = 0
) -> dict[str, bool | None]:
    exp = expected_alerts([truth("r-0", GAS)])
    audit = [notice("a1", 1, source_id="GAS-1")] * (1 + dupes)
    rows = verdict_rows(check_alerts(exp, audit), check_duplicates(audit, []), events(), out, exits or [],
                        kills=3, kills_planned=3)
    return {r.check: r.ok for r in rows}


def test_a_clean_run_passes_every_check() -> None:
    rows = rows_for(outage({"a": 2.5, "b": 4.0}))
    assert all(ok is not False for ok in rows.values()), rows


def test_recovery_beyond_the_target_or_never_fails() -> None:
    assert rows_for(outage({"a": 2.5, "b": 31.0}))["processing again after the broker's return"] is False
    assert rows_for(outage({"a": 2.5, "b": None}))["processing again after the broker's return"] is False


def test_an_error_line_per_second_of_outage_is_a_summary_and_more_is_a_loop() -> None:
    assert rows_for(outage({"a": 1.0}, during=28))["worker logs while the broker was down"] is True
    assert rows_for(outage({"a": 1.0}, during=3300 * 20))["worker logs while the broker was down"] is False
    assert rows_for(outage({"a": 1.0}, tracebacks=5))["worker logs while the broker was down"] is False


def test_the_first_line_of_each_kind_of_error_is_allowed_beyond_the_rate() -> None:
    """28 s down: 28 lines a second's worth, plus the first line of each of ten kinds."""
    assert rows_for(outage({"a": 1.0}, during=38))["worker logs while the broker was down"] is True
    assert rows_for(outage({"a": 1.0}, during=39))["worker logs while the broker was down"] is False


def test_a_duplicate_or_an_exit_of_its_own_fails_the_run() -> None:
    assert rows_for(dupes=1)["duplicate notices"] is False
    rows = rows_for(exits=[Exit("a", 2, 140.0, 70)])
    assert rows["workers exiting by themselves"] is False
    assert not passed([r for r in verdict_rows(
        check_alerts([], []), check_duplicates([], []), events(), None, [Exit("a", 2, 1.0, 70)], 0, 0)])
