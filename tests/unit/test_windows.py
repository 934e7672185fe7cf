"""Event-time windows, called directly: what a group remembers, when its form is met, what it forgets.

Times are seconds of event time; ``now`` (the clock) is the newest time fed so far unless a test
says otherwise. Every window is a closed interval ``[t - within, t]``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from datetime import UTC, datetime

import pytest

from rules.events import Family, Location
from rules.forms import (
    ABSENCE_FORGET,
    AbsenceForm,
    AggregateForm,
    CountForm,
    DistinctForm,
    Form,
    HoldsForm,
    SequenceForm,
    Step,
)
from rules.hits import Hit
from rules.schema import MAX_WINDOW_EVENTS
from rules.windows import Entry, Firing, GroupWindow, Observation, next_due, observe, tick

LATENESS = 60.0
THREE_IN_10M = CountForm(at_least=3, within=600.0)


def at(t: float, eid: str | None = None, **kw: object) -> Entry:
    """An entry at event time t; its id defaults to 'e<t>'."""
    return Entry(t, eid if eid is not None else f"e{t:g}", **kw)  # type: ignore[arg-type]


def feed(
    form: Form,
    entries: Iterable[Entry],
    state: GroupWindow | None = None,
    lateness: float = LATENESS,
    version: int = 1,
) -> tuple[GroupWindow, list[Observation]]:
    """Observe entries in the order given (arrival order), the clock at the newest time so far."""
    now = state.touched if state is not None else -math.inf
    seen = []
    for e in entries:
        now = max(now, e.time)
        state, o = observe(form, lateness, state, e, version, now)
        seen.append(o)
    assert state is not None
    return state, seen


def fired(seen: list[Observation]) -> list[Firing]:
    return [o.firing for o in seen if o.firing is not None]


# --- closed intervals -------------------------------------------------------------------------


def test_events_exactly_within_apart_are_in_one_window() -> None:
    _, seen = feed(THREE_IN_10M, [at(0), at(300), at(600)])
    assert [o.firing for o in seen[:2]] == [None, None]
    last = seen[2].firing
    assert last is not None
    assert last.event_time == 600
    assert last.figures == {"count": 3, "span": 600}
    assert last.evidence == ("e0", "e300", "e600")


def test_events_a_hair_more_than_within_apart_are_not_in_one_window() -> None:
    _, seen = feed(THREE_IN_10M, [at(0), at(300), at(600.001)])
    assert fired(seen) == []


def test_every_event_that_completes_a_window_fires_again() -> None:
    _, seen = feed(THREE_IN_10M, [at(0), at(300), at(600), at(700)])
    assert [f.figures["count"] for f in fired(seen)] == [3, 3]
    assert [f.event_time for f in fired(seen)] == [600, 700]


def test_events_at_the_same_instant_all_count() -> None:
    _, seen = feed(THREE_IN_10M, [at(5, "a"), at(5, "b"), at(5, "c")])
    assert [f.figures for f in fired(seen)] == [{"count": 3, "span": 0}]


# --- lateness ---------------------------------------------------------------------------------


def test_a_late_event_within_lateness_is_counted() -> None:
    state, seen = feed(THREE_IN_10M, [at(100), at(130), at(90)])
    assert [o.outcome for o in seen] == ["counted", "counted", "counted"]
    assert [e.time for e in state.entries] == [90, 100, 130]
    assert seen[2].firing is not None and seen[2].firing.event_time == 130


def test_a_late_event_can_complete_the_window_ending_at_a_later_event() -> None:
    _, seen = feed(THREE_IN_10M, [at(0), at(600), at(550)])
    firing = seen[2].firing
    assert firing is not None
    assert firing.event_time == 600, "the window that the late event completes ends at 600"
    assert firing.figures == {"count": 3, "span": 600}
    assert firing.evidence == ("e0", "e550", "e600")


def test_an_event_exactly_lateness_behind_the_newest_still_counts() -> None:
    _, seen = feed(THREE_IN_10M, [at(600), at(540)])
    assert seen[1].outcome == "counted"


def test_an_event_later_than_lateness_is_reported_late_and_not_counted() -> None:
    state, seen = feed(THREE_IN_10M, [at(0), at(599), at(600), at(539)])
    # 539 would have made a third event in [0, 599], but it is 61 s behind the newest.
    assert seen[3] == Observation("late")
    assert "e539" not in [e.event_id for e in state.entries]
    assert fired(seen)[0].evidence == ("e0", "e599", "e600")


def test_the_watermark_is_the_newest_event_time_so_a_late_event_does_not_move_it() -> None:
    state, _ = feed(THREE_IN_10M, [at(600), at(560)])
    assert state.watermark == 600


# --- duplicates -------------------------------------------------------------------------------


def test_a_redelivered_event_is_not_counted_twice() -> None:
    state, seen = feed(THREE_IN_10M, [at(0), at(10), at(10), at(20, "e10")])
    assert [o.outcome for o in seen] == ["counted", "counted", "duplicate", "duplicate"]
    assert len(state.entries) == 2
    assert fired(seen) == []


def test_a_redelivered_firing_event_yields_the_same_firing_again() -> None:
    state, seen = feed(THREE_IN_10M, [at(0), at(10), at(20)])
    state, again = feed(THREE_IN_10M, [at(20)], state)
    assert again[0].outcome == "duplicate"
    assert again[0].firing == seen[2].firing
    assert len(state.entries) == 3


def test_a_redelivered_event_that_did_not_fire_yields_nothing() -> None:
    state, _ = feed(THREE_IN_10M, [at(0), at(10), at(20)])
    _, again = feed(THREE_IN_10M, [at(10)], state)
    assert again[0] == Observation("duplicate")


def test_redelivery_of_an_earlier_firing_event_after_a_newer_firing_yields_nothing() -> None:
    state, seen = feed(THREE_IN_10M, [at(0), at(10), at(20), at(30)])
    assert len(fired(seen)) == 2
    _, again = feed(THREE_IN_10M, [at(20)], state)
    assert again[0] == Observation("duplicate")


# --- bounded memory ---------------------------------------------------------------------------


def test_entries_older_than_window_plus_lateness_are_forgotten() -> None:
    assert THREE_IN_10M.memory(LATENESS) == 660
    state, _ = feed(THREE_IN_10M, [at(0), at(1), at(661)])
    assert [e.time for e in state.entries] == [1, 661], "0 is forgotten, 1 is exactly 660 behind"


def test_a_long_stream_for_one_group_keeps_its_window_small() -> None:
    # One event a minute for a day: a 10 min window plus 1 min lateness never holds more than 12.
    state, seen = feed(THREE_IN_10M, (at(60.0 * i) for i in range(24 * 60)))
    assert len(state.entries) <= 12
    assert all(o.outcome == "counted" and o.evicted == 0 for o in seen)
    assert len(fired(seen)) == 24 * 60 - 2


def test_beyond_max_window_events_the_oldest_are_evicted_and_counted() -> None:
    form = CountForm(at_least=MAX_WINDOW_EVENTS, within=3600.0)
    full = GroupWindow(
        rule_version=1,
        entries=[Entry(i * 0.01, f"old-{i}") for i in range(MAX_WINDOW_EVENTS)],
        watermark=(MAX_WINDOW_EVENTS - 1) * 0.01,
    )
    state, seen = feed(form, [at(200, "new")], full)
    assert seen[0].evicted == 1
    assert state.evicted == 1
    assert len(state.entries) == MAX_WINDOW_EVENTS
    assert state.entries[0].event_id == "old-1"
    assert state.entries[-1].event_id == "new"
    assert seen[0].firing is not None and seen[0].firing.figures["count"] == MAX_WINDOW_EVENTS


# --- persistence and versions -----------------------------------------------------------------


def test_group_state_round_trips_through_json() -> None:
    state = GroupWindow(
        rule_version=3,
        entries=[Entry(1.5, "a", True, 2.5, (0,)), Entry(2.0, "b", False, "x", (0, 1))],
        watermark=2.0,
        touched=2.5,
        run=(0.5, 1.0, 2),
        last_fired=Firing(2.0, {"count": 2, "span": 0.5}, ("a", "b")),
        fired_by="b",
        absent_since=1.0,
        sample=Hit(
            rule_id="offline",
            rule_version=3,
            fingerprint="fp",
            group={"source_id": "D1"},
            group_key="source_id=D1",
            event_id="b",
            event_time=datetime(2026, 1, 5, 9, 0, 2, tzinfo=UTC),
            family=Family.sensor,
            kind="heartbeat",
            location=Location(city="乌海市", grid="G-1"),
            fields={"value": 2.5},
        ),
        evicted=4,
    )
    text = json.dumps(state.to_json())
    assert GroupWindow.from_json(json.loads(text)) == state


def test_a_fresh_group_state_round_trips_through_json() -> None:
    state = GroupWindow(rule_version=1)
    assert GroupWindow.from_json(json.loads(json.dumps(state.to_json()))) == state


def test_a_resolved_firing_round_trips_through_json() -> None:
    state = GroupWindow(rule_version=1, last_fired=Firing(9.0, {"absent": 9.0}, ("x",), "resolved"))
    assert GroupWindow.from_json(json.loads(json.dumps(state.to_json()))) == state


def test_a_new_rule_version_starts_from_empty_state() -> None:
    state, _ = feed(THREE_IN_10M, [at(0), at(10)], version=1)
    state, seen = feed(THREE_IN_10M, [at(20)], state, version=2)
    assert state.rule_version == 2
    assert [e.event_id for e in state.entries] == ["e20"]
    assert seen[0].firing is None


def test_a_new_rule_version_forgets_the_old_watermark() -> None:
    state, _ = feed(THREE_IN_10M, [at(1000)], version=1)
    _, seen = feed(THREE_IN_10M, [at(0)], state, version=2)
    assert seen[0].outcome == "counted"


def test_a_new_rule_version_still_resolves_an_absence_that_fired_under_the_old_one() -> None:
    form = AbsenceForm(900.0)
    state, _ = feed(form, [at(0)], version=1)
    fired, firing = tick(form, LATENESS, state, 900)
    assert fired is not None and firing is not None
    _, seen = feed(form, [at(2000, "back")], fired, version=2)
    assert seen[0].firing is not None and seen[0].firing.status == "resolved"


# --- the clock: expiry and next_due -----------------------------------------------------------

FORMS: list[Form] = [
    THREE_IN_10M,
    DistinctForm("caller_hash", 3, 3600.0),
    AggregateForm("avg", "value", 600.0, "at_least", 10.0, 1),
    AggregateForm("max", "value", 600.0, "rise_by", 5.0, 1),
    HoldsForm(120.0, 60.0),
    SequenceForm((Step((), None), Step((), None)), 900.0),
    AbsenceForm(900.0),
]


@pytest.mark.parametrize(
    "form", [f for f in FORMS if not isinstance(f, AbsenceForm)], ids=lambda f: type(f).__name__
)
def test_an_idle_group_expires_on_tick_and_next_due_says_when(form: Form) -> None:
    state, _ = feed(form, [at(1000, value=1.0, steps=(0,))])
    due = next_due(form, LATENESS, state)
    assert due == state.touched + form.idle_expiry(LATENESS)
    kept, nothing = tick(form, LATENESS, state, due - 0.001)
    assert kept is state and nothing is None
    gone, nothing = tick(form, LATENESS, state, due)
    assert gone is None and nothing is None


def test_a_silent_group_whose_absence_fired_is_kept_until_it_reports_again() -> None:
    form = AbsenceForm(900.0)
    state, _ = feed(form, [at(1000)])
    assert next_due(form, LATENESS, state) == 1000 + 900
    after, firing = tick(form, LATENESS, state, 1900)
    assert after is state and firing is not None
    assert next_due(form, LATENESS, state) is None, "nothing is due: only its next event resolves it"
    kept, nothing = tick(form, LATENESS, state, 1000 + 10 * form.idle_expiry(LATENESS))
    assert kept is state and nothing is None


def test_expiry_counts_from_the_clock_of_the_last_event_not_its_event_time() -> None:
    state, _ = observe(THREE_IN_10M, LATENESS, None, at(0), 1, now=5000.0)
    assert next_due(THREE_IN_10M, LATENESS, state) == 5000 + 660


def test_idle_expiry_of_a_window_is_its_memory_and_of_an_absence_at_least_a_week() -> None:
    assert THREE_IN_10M.idle_expiry(LATENESS) == THREE_IN_10M.memory(LATENESS) == 660
    assert AbsenceForm(900.0).idle_expiry(LATENESS) == ABSENCE_FORGET == 7 * 86400
    assert AbsenceForm(5 * 86400.0).idle_expiry(LATENESS) == 10 * 86400


def test_memory_of_a_comparison_with_the_previous_window_covers_both_windows() -> None:
    assert AggregateForm("avg", "value", 600.0, "rise_by", 1.0, 1).memory(LATENESS) == 1260
    assert AggregateForm("avg", "value", 600.0, "at_least", 1.0, 1).memory(LATENESS) == 660
    assert HoldsForm(3600.0, 60.0).memory(LATENESS) == 120, "a run is folded, not remembered"


@pytest.mark.parametrize(
    ("form", "keys"),
    [
        (THREE_IN_10M, ("count", "span")),
        (DistinctForm("f", 1, 1.0), ("distinct", "count")),
        (AggregateForm("avg", "value", 1.0, "at_most", 1.0, 1), ("value", "count")),
        (
            AggregateForm("avg", "value", 1.0, "rise_pct", 1.0, 1),
            ("value", "count", "previous", "change", "change_pct"),
        ),
        (HoldsForm(1.0, 1.0), ("held", "count")),
        (SequenceForm((), 1.0), ("count", "span")),
        (AbsenceForm(1.0), ("absent",)),
    ],
    ids=lambda x: type(x).__name__ if not isinstance(x, tuple) else "",
)
def test_each_form_names_its_window_figures(form: Form, keys: tuple[str, ...]) -> None:
    assert form.figures == keys


# --- distinct ---------------------------------------------------------------------------------


def test_distinct_counts_different_values_not_events() -> None:
    form = DistinctForm("caller_hash", 3, 3600.0)
    _, seen = feed(form, [at(0, value="a"), at(10, value="a"), at(20, value="b"), at(30, value="b")])
    assert fired(seen) == []
    _, seen = feed(form, [at(0, value="a"), at(10, value="a"), at(20, value="b"), at(30, value="c")])
    assert [f.figures for f in fired(seen)] == [{"distinct": 3, "count": 4}]


def test_distinct_values_outside_the_window_do_not_count() -> None:
    form = DistinctForm("caller_hash", 2, 600.0)
    _, seen = feed(form, [at(0, value="a"), at(601, value="b")])
    assert fired(seen) == []


# --- absence ----------------------------------------------------------------------------------

SILENT_15M = AbsenceForm(900.0)


def test_absence_fires_when_the_group_is_silent_for_absent_for() -> None:
    state, _ = feed(SILENT_15M, [at(0), at(300)])
    assert next_due(SILENT_15M, LATENESS, state) == 1200
    state2, nothing = tick(SILENT_15M, LATENESS, state, 1199.999)
    assert state2 is not None and nothing is None
    state2, firing = tick(SILENT_15M, LATENESS, state2, 1200)
    assert firing == Firing(1200, {"absent": 900}, ("",))
    assert state2 is not None and state2.absent_since == 300


def test_absence_fires_once_per_silence() -> None:
    state, _ = feed(SILENT_15M, [at(0)])
    state2, first = tick(SILENT_15M, LATENESS, state, 900)
    assert first is not None and state2 is not None
    for later in (901, 5000, 86400):
        state2, again = tick(SILENT_15M, LATENESS, state2, later)
        assert again is None and state2 is not None
    assert next_due(SILENT_15M, LATENESS, state2) is None


def test_absence_names_the_last_event_before_the_silence_from_its_sample() -> None:
    state, _ = feed(SILENT_15M, [at(0)])
    state.sample = Hit(
        rule_id="offline",
        rule_version=1,
        fingerprint="fp",
        group={},
        group_key="*",
        event_id="hb-7",
        event_time=datetime(2026, 1, 5, 9, 0, tzinfo=UTC),
        family=Family.sensor,
        kind="heartbeat",
        location=Location(city="乌海市"),
    )
    _, firing = tick(SILENT_15M, LATENESS, state, 900)
    assert firing is not None and firing.evidence == ("hb-7",)


def test_absence_resolves_when_the_group_reports_again_and_can_fire_again() -> None:
    state, _ = feed(SILENT_15M, [at(0)])
    state2, _ = tick(SILENT_15M, LATENESS, state, 900)
    assert state2 is not None
    state2, seen = feed(SILENT_15M, [at(1000, "back")], state2)
    assert seen[0].firing == Firing(1000, {"absent": 1000}, ("back",), "resolved")
    assert state2.absent_since is None
    _, seen = feed(SILENT_15M, [at(1100)], state2)
    assert seen[0].firing is None, "resolved once, not on every later event"
    assert next_due(SILENT_15M, LATENESS, state2) == 1100 + 900
    _, firing = tick(SILENT_15M, LATENESS, state2, 2000)
    assert firing is not None and firing.event_time == 2000


def test_events_of_an_absent_group_that_keeps_reporting_never_fire() -> None:
    state, seen = feed(SILENT_15M, (at(600.0 * i) for i in range(10)))
    assert fired(seen) == []
    _, firing = tick(SILENT_15M, LATENESS, state, 5400 + 899)
    assert firing is None


def test_a_late_event_of_an_absent_group_is_late_and_does_not_postpone_its_absence() -> None:
    state, seen = feed(SILENT_15M, [at(1000), at(900)])
    assert seen[1].outcome == "late"
    assert next_due(SILENT_15M, LATENESS, state) == 1900


def fired_silence(last: float = 0.0, now: float = 1200.0) -> GroupWindow:
    """A group whose last report was at ``last`` and whose absence fired on the clock at ``now``."""
    state, _ = feed(SILENT_15M, [at(last)])
    state2, firing = tick(SILENT_15M, LATENESS, state, now)
    assert firing is not None and state2 is not None and state2.absent_since == last
    return state2


@pytest.mark.parametrize("late", [1.0, 300.0, 899.999, 900.0])
def test_a_buffered_report_from_inside_the_silence_does_not_resolve_it(late: float) -> None:
    """Silent from 0, fired for 900; a gateway then flushes a report it held from inside the
    silence (arriving on the clock at 1200). The device was alive then, it is not back: the alert
    stays open, and the clock does not fire a second alert for the same silence."""
    state, seen = feed(SILENT_15M, [at(late, "buffered")], fired_silence())
    assert seen[0] == Observation("counted", None)
    assert state.absent_since == 0.0
    assert next_due(SILENT_15M, LATENESS, state) is None
    for later in (1200.0, late + 900.0, 86400.0):
        state2, again = tick(SILENT_15M, LATENESS, state, later)
        assert again is None and state2 is state


def test_a_report_newer_than_the_moment_the_silence_counted_resolves_it() -> None:
    state, seen = feed(SILENT_15M, [at(500, "buffered"), at(900.5, "back")], fired_silence())
    assert fired(seen) == [Firing(900.5, {"absent": 900.5}, ("back",), "resolved")]
    assert state.absent_since is None


def test_a_flush_of_buffered_reports_resolves_the_alert_once_and_opens_none() -> None:
    """A gateway back after 40 minutes sends what it held (every 5 minutes), then a live report:
    the first held report newer than the alert's time resolves it, nothing fires again."""
    flush = [at(60.0 * m, f"held-{m}") for m in range(5, 40, 5)]
    state, seen = feed(SILENT_15M, [*flush, at(2400, "live")], fired_silence(now=2400))
    assert fired(seen) == [Firing(1200, {"absent": 1200}, ("held-20",), "resolved")]
    assert state.absent_since is None
    assert next_due(SILENT_15M, LATENESS, state) == 2400 + 900
    _, again = tick(SILENT_15M, LATENESS, state, 2400)
    assert again is None


def test_a_buffered_report_before_the_absence_fired_postpones_it() -> None:
    """Not fired yet: a report that arrives late but within the lateness is just the newest one."""
    state, _ = feed(SILENT_15M, [at(0), at(600)])
    assert next_due(SILENT_15M, LATENESS, state) == 1500


# --- aggregates -------------------------------------------------------------------------------


def agg(
    fn: str, comparison: str, threshold: float, within: float = 600.0, min_events: int = 1
) -> AggregateForm:
    return AggregateForm(fn, "value", within, comparison, threshold, min_events)


def values(*pairs: tuple[float, float]) -> list[Entry]:
    return [at(t, value=v) for t, v in pairs]


@pytest.mark.parametrize(
    ("fn", "comparison", "threshold", "expected"),
    [
        ("avg", "at_least", 20.0, 20.0),
        ("avg", "at_least", 20.1, None),
        ("avg", "at_most", 20.0, 20.0),
        ("avg", "at_most", 19.9, None),
        ("min", "at_most", 10.0, 10.0),
        ("min", "at_least", 11.0, None),
        ("max", "at_least", 30.0, 30.0),
        ("max", "at_most", 29.0, None),
        ("sum", "at_least", 60.0, 60.0),
        ("sum", "at_least", 60.5, None),
    ],
)
def test_aggregate_compares_its_statistic_with_the_threshold_inclusively(
    fn: str, comparison: str, threshold: float, expected: float | None
) -> None:
    _, seen = feed(agg(fn, comparison, threshold), values((0, 30.0), (100, 10.0), (200, 20.0)))
    last = seen[-1].firing
    if expected is None:
        assert last is None
    else:
        assert last is not None and last.figures == {"value": expected, "count": 3}


def test_aggregate_reads_only_the_window_ending_at_the_event() -> None:
    _, seen = feed(agg("avg", "at_least", 50.0), values((0, 100.0), (601, 10.0)))
    assert seen[1].firing is None, "the 100 at 0 left the window [1, 601]"


def test_aggregate_waits_for_min_events() -> None:
    form = agg("avg", "at_least", 50.0, min_events=3)
    _, seen = feed(form, values((0, 90.0), (10, 90.0), (20, 90.0)))
    assert [o.firing is not None for o in seen] == [False, False, True]


def test_rise_by_compares_with_the_previous_window() -> None:
    # previous window [t-20m, t-10m), current [t-10m, t]
    _, seen = feed(agg("max", "rise_by", 5.0), values((0, 10.0), (700, 15.0)))
    firing = seen[1].firing
    assert firing is not None
    assert firing.figures == {"value": 15, "count": 1, "previous": 10, "change": 5, "change_pct": 50}


def test_rise_by_below_the_threshold_does_not_fire() -> None:
    _, seen = feed(agg("max", "rise_by", 5.1), values((0, 10.0), (700, 15.0)))
    assert fired(seen) == []


def test_an_event_exactly_within_before_belongs_to_the_current_window_not_the_previous() -> None:
    _, seen = feed(agg("max", "rise_by", 5.0), values((100, 10.0), (700, 15.0)))
    assert fired(seen) == [], "the 10 at 100 is in [100, 700], so there is no previous window"


def test_rise_by_without_a_previous_window_does_not_fire() -> None:
    _, seen = feed(agg("max", "rise_by", 1.0), values((0, 10.0), (100, 50.0)))
    assert fired(seen) == []


def test_rise_pct_compares_the_relative_change() -> None:
    _, seen = feed(agg("avg", "rise_pct", 50.0), values((0, 8.0), (50, 12.0), (700, 15.0)))
    firing = seen[-1].firing
    assert firing is not None and firing.figures["change_pct"] == 50
    _, seen = feed(agg("avg", "rise_pct", 51.0), values((0, 8.0), (50, 12.0), (700, 15.0)))
    assert fired(seen) == []


def test_rise_pct_from_zero_is_undefined_and_does_not_fire() -> None:
    _, seen = feed(agg("avg", "rise_pct", 10.0), values((0, 0.0), (700, 5.0)))
    assert fired(seen) == []


def test_rise_by_from_zero_fires_without_an_undefined_percentage() -> None:
    # Figures travel as JSON: an infinite change_pct would arrive as null and break the alert.
    _, seen = feed(agg("avg", "rise_by", 5.0), values((0, 0.0), (700, 5.0)))
    (firing,) = fired(seen)
    assert firing.figures == {"value": 5, "count": 1, "previous": 0, "change": 5}
    assert all(math.isfinite(v) for v in firing.figures.values())


def test_rise_needs_min_events_in_the_previous_window_too() -> None:
    form = agg("avg", "rise_by", 1.0, min_events=2)
    _, seen = feed(form, values((0, 1.0), (700, 9.0), (710, 9.0)))
    assert fired(seen) == []


# --- holds_for --------------------------------------------------------------------------------

HOLDS_2M = HoldsForm(duration=120.0, max_gap=60.0)


def test_holds_for_fires_once_the_condition_held_for_the_duration() -> None:
    _, seen = feed(HOLDS_2M, [at(0), at(50), at(100), at(150)])
    assert [o.firing is not None for o in seen] == [False, False, False, True]
    firing = seen[3].firing
    assert firing is not None and firing.figures == {"held": 150, "count": 4}
    # Evidence is what the group still remembers of the run: e0 is past max_gap + lateness.
    assert firing.evidence == ("e50", "e100", "e150")


def test_holds_for_exactly_the_duration_is_enough() -> None:
    _, seen = feed(HOLDS_2M, [at(0), at(60), at(120)])
    assert seen[2].firing is not None and seen[2].firing.figures["held"] == 120


def test_holds_for_is_broken_by_an_event_where_the_condition_is_false() -> None:
    _, seen = feed(HOLDS_2M, [at(0), at(50), at(100, ok=False), at(150), at(200)])
    assert fired(seen) == []
    _, seen = feed(HOLDS_2M, [at(0), at(50), at(100, ok=False), at(150), at(200), at(250), at(270)])
    assert [f.figures for f in fired(seen)] == [{"held": 120, "count": 4}]


def test_holds_for_does_not_fire_on_an_event_where_the_condition_is_false() -> None:
    _, seen = feed(HOLDS_2M, [at(0), at(60), at(120), at(150, ok=False)])
    assert seen[3].firing is None


def test_holds_for_is_broken_by_a_gap_longer_than_max_gap() -> None:
    _, seen = feed(HOLDS_2M, [at(0), at(60), at(121), at(150)])
    assert fired(seen) == []


def test_holds_for_survives_a_gap_of_exactly_max_gap() -> None:
    _, seen = feed(HOLDS_2M, [at(0), at(60), at(120)])
    assert len(fired(seen)) == 1


def test_a_late_false_event_breaks_a_run_retroactively() -> None:
    _, seen = feed(HOLDS_2M, [at(0), at(60), at(100), at(70, ok=False), at(130)])
    assert fired(seen) == []


def test_a_holds_for_run_outlives_the_events_it_forgets() -> None:
    form = HoldsForm(duration=3600.0, max_gap=60.0)
    state, seen = feed(form, (at(30.0 * i) for i in range(121)), lateness=30.0)
    assert len(state.entries) <= 4, "memory is max_gap + lateness, not the duration"
    assert state.run is not None and state.run[0] == 0
    (firing,) = fired(seen)
    assert firing.figures == {"held": 3600, "count": 121}


def test_a_folded_run_is_still_broken_by_a_later_false_event() -> None:
    form = HoldsForm(duration=600.0, max_gap=60.0)
    events = [at(30.0 * i) for i in range(10)] + [at(300, ok=False)]
    events += [at(300.0 + 30 * i) for i in range(1, 12)]
    _, seen = feed(form, events, lateness=30.0)
    assert fired(seen) == []


# --- sequences --------------------------------------------------------------------------------

FAIL, OK = (0,), (1,)
BRUTE = SequenceForm(
    (Step(("auth_failure",), None, at_least=3, within=300.0), Step(("auth_success",), None)),
    within=900.0,
)


def test_sequence_with_a_counted_first_step_fires_on_the_success_after_it() -> None:
    _, seen = feed(
        BRUTE,
        [at(0, steps=FAIL), at(60, steps=FAIL), at(120, steps=OK), at(180, steps=FAIL), at(240, steps=OK)],
    )
    assert [o.firing is not None for o in seen] == [False, False, False, False, True]
    firing = seen[4].firing
    assert firing is not None and firing.event_time == 240
    assert firing.figures == {"count": 5, "span": 240}
    assert firing.evidence == ("e0", "e60", "e120", "e180", "e240")


def test_sequence_counted_step_needs_its_events_within_the_step_window() -> None:
    _, seen = feed(BRUTE, [at(0, steps=FAIL), at(200, steps=FAIL), at(301, steps=FAIL), at(320, steps=OK)])
    assert fired(seen) == []


def test_sequence_beyond_its_within_does_not_fire() -> None:
    fails = [at(0, steps=FAIL), at(10, steps=FAIL), at(20, steps=FAIL)]
    _, seen = feed(BRUTE, [*fails, at(921, steps=OK)])
    assert fired(seen) == []
    _, seen = feed(BRUTE, [*fails, at(900, steps=OK)])
    assert [f.figures for f in fired(seen)] == [{"count": 4, "span": 900}]


def test_sequence_steps_out_of_order_do_not_fire() -> None:
    _, seen = feed(BRUTE, [at(0, steps=OK), at(10, steps=FAIL), at(20, steps=FAIL), at(30, steps=FAIL)])
    assert fired(seen) == []


def test_one_event_matching_two_steps_does_not_complete_them_both() -> None:
    either = SequenceForm((Step((), None), Step((), None)), within=60.0)
    _, seen = feed(either, [at(0, steps=(0, 1))])
    assert fired(seen) == []
    _, seen = feed(either, [at(10, steps=(0, 1))], feed(either, [at(0, steps=(0, 1))])[0])
    assert [f.figures for f in fired(seen)] == [{"count": 2, "span": 10}]


def test_a_late_first_step_can_complete_a_sequence_ending_at_a_later_event() -> None:
    two = SequenceForm((Step(("a",), None), Step(("b",), None)), within=900.0)
    _, seen = feed(two, [at(100, steps=(1,)), at(50, steps=(0,))])
    firing = seen[1].firing
    assert firing is not None and firing.event_time == 100 and firing.figures["span"] == 50


A_THEN_TWO_B = SequenceForm(
    (Step(("a",), None), Step(("b",), None, at_least=2, within=300.0)),
    within=900.0,
)


def test_a_counted_later_step_needs_its_events_after_the_previous_step() -> None:
    _, seen = feed(A_THEN_TWO_B, [at(0, steps=(1,)), at(10, steps=(0,)), at(20, steps=(1,))])
    assert fired(seen) == []
    _, seen = feed(A_THEN_TWO_B, [at(0, steps=(0,)), at(10, steps=(1,)), at(20, steps=(1,))])
    assert [f.figures for f in fired(seen)] == [{"count": 3, "span": 20}]


def test_a_repeated_first_step_does_not_hide_an_earlier_match_of_a_counted_step() -> None:
    # a@0 b@10 a@20 b@30: a@0 then both b's is a match, although the second a has only one b after it.
    events = [at(0, steps=(0,)), at(10, steps=(1,)), at(20, steps=(0,)), at(30, steps=(1,))]
    _, seen = feed(A_THEN_TWO_B, events)
    assert [f.event_time for f in fired(seen)] == [30]
    assert fired(seen)[0].figures == {"count": 4, "span": 30}
