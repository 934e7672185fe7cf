"""The alert lifecycle: when a duty officer hears of an alert, and when not.

An alert opens on a match and notifies; later matches merge into it silently. It notifies again
when its tier goes up (at once), when a lower tier has held for ``tier_down_after``, and after
``repeat_interval`` while it keeps firing. With no match for ``cooldown`` (quiet time, counted from
the last match) it resolves, and the resolved notice goes to whoever heard it fire.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rules.alerts import (
    DISPATCH_MESSAGE,
    MAX_EVIDENCE,
    AlertCandidate,
    DispatchTick,
    InhibitedNote,
    alert_id,
    fingerprint,
)
from rules.lifecycle import RESOLVED_RETENTION, AlertState, Decision, Dispatcher, Publish
from rules.model import Tier
from rules.routing import Router
from rules.silences import Silence
from rules.world import World
from tests.unit import dispatch_kit
from tests.unit.conftest import T0
from tests.unit.dispatch_kit import at

COOLDOWN = 300.0
FP = fingerprint("gas", "location.grid=G-07")


def cand(event_id: str, seconds: float, tier: Tier = Tier.yellow, **kw: Any) -> AlertCandidate:
    """A 'gas' candidate for grid G-07, routed by its rule to fire, with a 5 min quiet time."""
    kw.setdefault("route", ("fire",))
    kw.setdefault("cooldown", COOLDOWN)
    return dispatch_kit.cand(event_id, seconds, tier, **kw)


@pytest.fixture
def dispatcher(router: Router) -> Dispatcher:
    return Dispatcher(router)


def run(dispatcher: Dispatcher, *cands: AlertCandidate) -> list[Decision]:
    """Feed candidates in order (the clock is each one's event time), carrying state like the worker."""
    state: AlertState | None = None
    out = []
    for c in cands:
        d = dispatcher.handle(state, c)
        state = d.state
        out.append(d)
    return out


def last_state(decisions: list[Decision]) -> AlertState:
    state = decisions[-1].state
    assert state is not None
    return state


def reasons(decisions: list[Decision]) -> str:
    return " ".join(d.reason for d in decisions)


def notices(decisions: list[Decision]) -> list[tuple[str, str, int]]:
    """(change, status, notice_seq) of every notice, in order."""
    return [(n.alert.change, n.alert.status, n.alert.notice_seq) for d in decisions for n in d.notices]


# --- opening --------------------------------------------------------------------------------------


def test_first_candidate_opens_an_alert_and_notifies(dispatcher: Dispatcher) -> None:
    (d,) = run(dispatcher, cand("e1", 0))
    assert d.reason == "opened"
    assert d.alert is not None and d.state is not None
    assert d.alert.alert_id == alert_id(FP, "e1") == d.state.alert_id
    assert (d.alert.status, d.alert.change, d.alert.notice_seq) == ("firing", "opened", 1)
    assert (d.alert.count, d.alert.evidence) == (1, ["e1"])
    assert d.alert.first_seen == d.alert.last_seen == T0
    assert d.alert.tier == Tier.yellow and d.alert.tier_level == "III"
    assert d.alert.agencies == ["fire"]
    assert d.alert.routed_because == {"fire": "rule gas routes to it"}
    assert d.alert.withheld_by is None


def test_opening_publishes_the_alert_to_the_active_index(dispatcher: Dispatcher) -> None:
    (d,) = run(dispatcher, cand("e1", 0))
    (effect,) = d.effects
    assert isinstance(effect, Publish) and effect.fingerprint == FP
    assert effect.alert is not None
    assert (effect.alert.alert_id, effect.alert.tier, effect.alert.withheld) == (
        alert_id(FP, "e1"),
        Tier.yellow,
        False,
    )
    assert effect.alert.place == ("C", "D1", None, None, "G-07")


def test_opening_from_the_same_event_after_a_restart_gives_the_same_id(dispatcher: Dispatcher) -> None:
    # State lost (fresh table): the same input must still produce the same alert id.
    (a,) = run(dispatcher, cand("e1", 0))
    (b,) = run(dispatcher, cand("e1", 0))
    assert a.alert is not None and b.alert is not None
    assert a.alert.alert_id == b.alert.alert_id


def test_raised_at_is_processing_time_in_utc_when_given(dispatcher: Dispatcher) -> None:
    now = at(2)
    d = dispatcher.handle(None, cand("e1", 0), now=now)
    assert d.alert is not None
    assert d.alert.raised_at == now and d.alert.raised_at.tzinfo == UTC
    assert d.state is not None and d.state.opened_clock == now


def test_raised_at_defaults_to_event_time(dispatcher: Dispatcher) -> None:
    d = dispatcher.handle(None, cand("e1", 0))
    assert d.alert is not None and d.alert.raised_at == T0


# --- merging --------------------------------------------------------------------------------------


def test_candidate_inside_quiet_time_merges_without_a_notice(dispatcher: Dispatcher) -> None:
    first, second = run(dispatcher, cand("e1", 0), cand("e2", 120))
    assert second.reason == "in_cooldown"
    assert second.notices == [] and second.alert is None and second.effects == []
    assert second.state is not None and first.state is not None
    assert second.state.alert_id == first.state.alert_id
    assert second.state.count == 2
    assert second.state.evidence == ("e1", "e2")
    assert second.state.last_seen == at(120)
    assert second.state.notified_at == T0


def test_same_tier_matches_never_notify_in_between(dispatcher: Dispatcher) -> None:
    decisions = run(dispatcher, *(cand(f"e{i}", i * 60) for i in range(30)))
    assert notices(decisions) == [("opened", "firing", 1)]
    assert last_state(decisions).count == 30


def test_late_event_widens_first_seen(dispatcher: Dispatcher) -> None:
    _, late = run(dispatcher, cand("e1", 60), cand("e0", 10))
    assert late.reason == "in_cooldown"
    assert late.state is not None
    assert late.state.first_seen == at(10)
    assert late.state.last_seen == at(60)


def test_evidence_keeps_only_the_most_recent_event_ids(dispatcher: Dispatcher) -> None:
    decisions = run(dispatcher, *(cand(f"e{i}", i) for i in range(MAX_EVIDENCE + 5)))
    state = last_state(decisions)
    assert state.count == MAX_EVIDENCE + 5
    assert len(state.evidence) == MAX_EVIDENCE
    assert state.evidence[-1] == f"e{MAX_EVIDENCE + 4}"


def test_window_evidence_is_merged_without_repeats(dispatcher: Dispatcher) -> None:
    decisions = run(dispatcher, cand("w1", 0, evidence=("a", "b")), cand("w2", 60, evidence=("b", "c")))
    assert last_state(decisions).evidence == ("a", "b", "w1", "c", "w2")


# --- duplicates -----------------------------------------------------------------------------------


def test_redelivery_of_the_opening_event_sends_nothing_and_changes_nothing(dispatcher: Dispatcher) -> None:
    first, again = run(dispatcher, cand("e1", 0), cand("e1", 0))
    assert again.reason == "duplicate"
    assert again.notices == [] and again.effects == []
    assert again.state == first.state


def test_redelivery_with_zero_quiet_time_does_not_open_a_second_alert(dispatcher: Dispatcher) -> None:
    first, again = run(dispatcher, cand("e1", 0, cooldown=0.0), cand("e1", 0, cooldown=0.0))
    assert first.alert is not None
    assert again.reason == "duplicate" and again.notices == []


def test_duplicate_event_is_not_counted_twice(dispatcher: Dispatcher) -> None:
    decisions = run(dispatcher, cand("e1", 0), cand("e2", 60), cand("e2", 60))
    assert decisions[-1].reason == "duplicate"
    assert decisions[-1].notices == []
    assert last_state(decisions).count == 2
    assert last_state(decisions).evidence == ("e1", "e2")


def test_redelivery_after_resolution_is_still_recognised(dispatcher: Dispatcher) -> None:
    opened = dispatcher.handle(None, cand("e1", 0))
    assert opened.state is not None
    resolved = dispatcher.tick(opened.state, at(COOLDOWN))
    assert resolved.state is not None
    again = dispatcher.handle(resolved.state, cand("e1", 0), now=at(COOLDOWN + 1))
    assert again.reason == "duplicate" and again.notices == []
    assert again.state == resolved.state


# --- quiet time and resolution --------------------------------------------------------------------


def test_quiet_time_counts_from_the_last_match_not_the_last_notice(dispatcher: Dispatcher) -> None:
    decisions = run(dispatcher, cand("e1", 0), cand("e2", 200), cand("e3", 310), cand("e4", 609.999))
    assert [d.reason for d in decisions] == ["opened", "in_cooldown", "in_cooldown", "in_cooldown"]
    assert last_state(decisions).count == 4


def test_candidate_just_before_the_quiet_time_still_merges(dispatcher: Dispatcher) -> None:
    _, second = run(dispatcher, cand("e1", 0), cand("e2", COOLDOWN - 0.001))
    assert second.reason == "in_cooldown"


def test_candidate_at_exactly_the_quiet_time_resolves_the_old_alert_and_opens_a_new_one(
    dispatcher: Dispatcher,
) -> None:
    first, second = run(dispatcher, cand("e1", 0), cand("e2", COOLDOWN))
    assert second.reason == "resolved_and_opened"
    resolved, opened = (n.alert for n in second.notices)
    assert first.alert is not None
    assert resolved.alert_id == first.alert.alert_id
    assert (resolved.status, resolved.change, resolved.notice_seq) == ("resolved", "resolved", 2)
    assert resolved.agencies == first.alert.agencies == ["fire"]
    assert resolved.last_seen == T0 and resolved.count == 1
    assert opened.alert_id == alert_id(FP, "e2") != first.alert.alert_id
    assert (opened.status, opened.change, opened.notice_seq, opened.count) == ("firing", "opened", 1, 1)
    assert second.alert == opened
    # The index first loses the old alert, then holds the new one.
    assert [
        (e.fingerprint, e.alert and e.alert.alert_id) for e in second.effects if isinstance(e, Publish)
    ] == [
        (FP, None),
        (FP, opened.alert_id),
    ]


def test_a_late_candidate_after_the_quiet_time_resolves_on_its_own_event_time(dispatcher: Dispatcher) -> None:
    # No tick came (the worker lagged): the candidate itself shows the quiet time has passed.
    opened = dispatcher.handle(None, cand("e1", 0))
    d = dispatcher.handle(opened.state, cand("e2", 900), now=at(905))
    assert d.reason == "resolved_and_opened"
    assert [n.alert.raised_at for n in d.notices] == [at(905), at(905)]


def test_tick_before_the_quiet_time_waits(dispatcher: Dispatcher) -> None:
    opened = dispatcher.handle(None, cand("e1", 0))
    assert opened.state is not None
    d = dispatcher.tick(opened.state, at(COOLDOWN - 0.001))
    assert d.reason == "waiting" and d.notices == [] and d.state is opened.state


def test_tick_at_the_quiet_time_resolves_with_a_notice_to_the_same_agencies(dispatcher: Dispatcher) -> None:
    decisions = run(dispatcher, cand("e1", 0), cand("e2", 100))
    state = last_state(decisions)
    assert dispatcher.next_due(state) == at(100 + COOLDOWN)
    d = dispatcher.tick(state, at(100 + COOLDOWN))
    assert d.reason == "resolved"
    (n,) = d.notices
    assert n.alert.alert_id == state.alert_id
    assert (n.alert.status, n.alert.change, n.alert.notice_seq) == ("resolved", "resolved", 2)
    assert n.alert.routed_because == {"fire": "rule gas routes to it"}
    assert n.alert.count == 2 and n.alert.last_seen == at(100)
    assert n.alert.raised_at == at(100 + COOLDOWN)
    assert d.state is not None and not d.state.open and d.state.resolved_clock == at(400)
    assert d.effects == [Publish(FP, None)]


def test_resolved_notice_reaches_everyone_who_heard_it_at_a_higher_tier(dispatcher: Dispatcher) -> None:
    # Red reached governance (escalation by tier); it came down to yellow, then ended.
    decisions = run(
        dispatcher,
        cand("e1", 0, tier=Tier.red, cooldown=3600.0),
        *(cand(f"y{i}", 60 * i, cooldown=3600.0) for i in range(1, 12)),
    )
    assert notices(decisions) == [("opened", "firing", 1), ("tier_lowered", "firing", 2)]
    lowered = decisions[-1].notices[0].alert
    assert lowered.tier == Tier.yellow
    assert lowered.routed_because == {
        "fire": "rule gas routes to it",
        "governance": "red I alerts escalate to it",
    }
    d = dispatcher.tick(last_state(decisions), at(660 + 3600))
    (n,) = d.notices
    assert n.alert.change == "resolved" and n.alert.tier == Tier.yellow
    assert n.alert.agencies == ["fire", "governance"]


def test_after_resolution_a_new_match_opens_a_new_alert(dispatcher: Dispatcher) -> None:
    opened = dispatcher.handle(None, cand("e1", 0))
    assert opened.state is not None
    resolved = dispatcher.tick(opened.state, at(COOLDOWN))
    d = dispatcher.handle(resolved.state, cand("e2", 400))
    assert d.reason == "opened"
    (n,) = d.notices
    assert n.alert.alert_id == alert_id(FP, "e2") and n.alert.notice_seq == 1


def test_resolved_state_is_forgotten_after_the_retention(dispatcher: Dispatcher) -> None:
    opened = dispatcher.handle(None, cand("e1", 0))
    assert opened.state is not None
    resolved = dispatcher.tick(opened.state, at(COOLDOWN))
    assert resolved.state is not None
    gone = at(COOLDOWN + RESOLVED_RETENTION)
    assert dispatcher.next_due(resolved.state) == gone
    waiting = dispatcher.tick(resolved.state, gone - timedelta(microseconds=1))
    assert waiting.reason == "waiting" and waiting.state is resolved.state and waiting.notices == []
    forgotten = dispatcher.tick(resolved.state, gone)
    assert forgotten.reason == "forgotten" and forgotten.state is None and forgotten.notices == []


def test_a_resolved_candidate_ends_the_alert(dispatcher: Dispatcher) -> None:
    opened = dispatcher.handle(None, cand("a1", 0, until_resolved=True))
    back = cand("b1", 500, status="resolved", until_resolved=True)
    d = dispatcher.handle(opened.state, back, now=at(501))
    assert d.reason == "resolved"
    (n,) = d.notices
    assert (n.alert.status, n.alert.change, n.alert.notice_seq) == ("resolved", "resolved", 2)
    assert n.alert.last_seen == at(500) and n.alert.evidence == ["a1", "b1"]
    assert d.effects == [Publish(FP, None)]


def test_a_resolved_candidate_with_nothing_open_does_nothing(dispatcher: Dispatcher) -> None:
    d = dispatcher.handle(None, cand("b1", 0, status="resolved"))
    assert (d.reason, d.state, d.notices) == ("nothing_to_resolve", None, [])


def test_until_resolved_never_resolves_on_quiet(dispatcher: Dispatcher) -> None:
    opened = dispatcher.handle(None, cand("a1", 0, until_resolved=True, repeat_interval=90 * 86400.0))
    assert opened.state is not None
    assert dispatcher.next_due(opened.state) == at(90 * 86400)
    d = dispatcher.tick(opened.state, at(30 * 86400))
    assert d.reason == "waiting" and d.notices == [] and d.state is opened.state
    # A match long after the quiet time (inside the repeat interval) still merges into the firing alert.
    later = dispatcher.handle(opened.state, cand("a2", 3000, until_resolved=True))
    assert later.reason == "in_cooldown" and later.notices == []


# --- repeat interval ------------------------------------------------------------------------------


def test_repeat_interval_notifies_again_while_it_keeps_firing(dispatcher: Dispatcher) -> None:
    decisions = run(
        dispatcher, *(cand(f"e{i}", i * 240, repeat_interval=600.0, cooldown=3600.0) for i in range(8))
    )
    # Matches at 0, 4, 8, 12 (repeat: >= 10 min after 0), 16, 20, 24 (repeat: >= 10 min after 12), 28 min.
    assert (
        reasons(decisions)
        == "opened in_cooldown in_cooldown repeat in_cooldown in_cooldown repeat in_cooldown"
    )
    assert notices(decisions) == [("opened", "firing", 1), ("repeat", "firing", 2), ("repeat", "firing", 3)]
    repeat = decisions[3].notices[0].alert
    assert repeat.count == 4 and repeat.first_seen == T0 and repeat.last_seen == at(720)
    assert last_state(decisions).notified_at == at(1440)


def test_default_repeat_interval_is_an_hour(dispatcher: Dispatcher) -> None:
    decisions = run(dispatcher, *(cand(f"e{i}", i * 240, cooldown=600.0) for i in range(16)))
    changes = [(n.alert.change, n.alert.last_seen) for d in decisions for n in d.notices]
    assert changes == [("opened", T0), ("repeat", at(3600))]


def test_a_firing_absence_repeats_on_the_clock_every_repeat_interval(dispatcher: Dispatcher) -> None:
    d = dispatcher.handle(None, cand("a1", 0, until_resolved=True, repeat_interval=3600.0))
    assert d.state is not None
    assert dispatcher.tick(d.state, at(3599)).notices == []
    seen = []
    for hour in (1, 2):
        assert dispatcher.next_due(d.state) == at(hour * 3600)
        d = dispatcher.tick(d.state, at(hour * 3600))
        assert d.state is not None and d.state.open
        seen += [(n.alert.change, n.alert.status, n.alert.notice_seq) for n in d.notices]
    assert seen == [("repeat", "firing", 2), ("repeat", "firing", 3)]


def test_a_silenced_absence_is_looked_at_every_repeat_interval_and_held_again(
    dispatcher: Dispatcher,
) -> None:
    opened = dispatcher.handle(None, cand("a1", 0, until_resolved=True, repeat_interval=3600.0))
    assert opened.state is not None
    world = World()
    world.silences.put(
        Silence(matchers={"rule": "gas"}, starts_at=T0, ends_at=at(5400), author="x", reason="y")
    )
    held = opened.state.model_copy(update={"withheld": "silenced by s1", "notified_clock": T0})
    assert dispatcher.next_due(held) == at(3600), "a silence must not stop the reminders for good"
    again = dispatcher.tick(held, at(3600), world)
    (notice,) = again.notices
    assert notice.alert.change == "repeat" and notice.withheld_by is not None
    assert again.state is not None and dispatcher.next_due(again.state) == at(7200)
    released = dispatcher.tick(again.state, at(7200), world)
    assert [(n.alert.change, n.withheld_by) for n in released.notices] == [("released", None)]


def test_an_absence_of_a_rule_that_no_longer_runs_stops_reminding(router: Router) -> None:
    gone = Dispatcher(router, rule_ids={"other-rule"})
    opened = gone.handle(None, cand("a1", 0, until_resolved=True, repeat_interval=3600.0))
    assert opened.state is not None
    assert gone.next_due(opened.state) == datetime.max.replace(tzinfo=UTC)


def test_an_absence_kept_by_an_older_version_repeats_from_its_last_notice_not_its_opening(
    dispatcher: Dispatcher,
) -> None:
    opened = dispatcher.handle(None, cand("a1", 0, until_resolved=True, repeat_interval=3600.0))
    assert opened.state is not None
    old = opened.state.model_copy(update={"notified_clock": None, "notified_at": at(7000)})
    assert dispatcher.next_due(old) == at(7000 + 3600)


# --- tier up, tier down ---------------------------------------------------------------------------


def test_higher_tier_notifies_at_once_with_the_same_alert(dispatcher: Dispatcher) -> None:
    first, raised = run(dispatcher, cand("e1", 0), cand("e2", 60, tier=Tier.red))
    assert raised.reason == "tier_raised"
    assert raised.alert is not None and first.alert is not None
    assert raised.alert.alert_id == first.alert.alert_id
    assert (raised.alert.change, raised.alert.notice_seq) == ("tier_raised", 2)
    assert raised.alert.tier == Tier.red and raised.alert.tier_level == "I"
    assert raised.alert.count == 2
    assert raised.state is not None and raised.state.notified_at == at(60)


def test_higher_tier_update_reaches_escalation_agencies_and_the_index(dispatcher: Dispatcher) -> None:
    _, raised = run(dispatcher, cand("e1", 0), cand("e2", 60, tier=Tier.red))
    assert raised.alert is not None
    assert raised.alert.agencies == ["fire", "governance"]
    (effect,) = raised.effects
    assert isinstance(effect, Publish) and effect.alert is not None and effect.alert.tier == Tier.red


def test_a_tier_raise_restarts_the_repeat_interval(dispatcher: Dispatcher) -> None:
    kw: dict[str, Any] = {"repeat_interval": 600.0, "cooldown": 3600.0}
    decisions = run(
        dispatcher, cand("e1", 0, **kw), cand("e2", 300, Tier.red, **kw), cand("e3", 660, Tier.red, **kw),
        cand("e4", 900, Tier.red, **kw),
    )  # fmt: skip
    assert [d.reason for d in decisions] == ["opened", "tier_raised", "in_cooldown", "repeat"]


def test_lower_tier_is_not_reported_before_it_has_held(dispatcher: Dispatcher) -> None:
    decisions = run(
        dispatcher,
        cand("e1", 0, tier=Tier.orange),
        *(cand(f"b{i}", 60 * i, tier=Tier.blue) for i in range(1, 5)),
    )
    assert notices(decisions) == [("opened", "firing", 1)]
    state = last_state(decisions)
    assert state.tier == Tier.orange and state.notice_seq == 1 and state.count == 5
    assert (state.lower_since, state.lower_tier) == (at(60), Tier.blue)


def test_lower_tier_is_reported_once_it_has_held_for_tier_down_after(dispatcher: Dispatcher) -> None:
    decisions = run(
        dispatcher,
        cand("e1", 0, tier=Tier.orange),
        cand("b1", 60, tier=Tier.blue),
        cand("b2", 200, tier=Tier.blue),
        cand("b3", 300, tier=Tier.blue, tier_down_after=240.0),
    )
    assert [d.reason for d in decisions] == ["opened", "in_cooldown", "in_cooldown", "tier_lowered"]
    lowered = decisions[-1].alert
    assert lowered is not None
    assert (lowered.change, lowered.tier, lowered.notice_seq) == ("tier_lowered", Tier.blue, 2)
    state = last_state(decisions)
    assert (state.tier, state.lower_since, state.lower_tier) == (Tier.blue, None, None)
    (effect,) = decisions[-1].effects
    assert isinstance(effect, Publish) and effect.alert is not None and effect.alert.tier == Tier.blue


def test_default_tier_down_hold_is_ten_minutes(dispatcher: Dispatcher) -> None:
    kw: dict[str, Any] = {"cooldown": 3600.0}
    decisions = run(
        dispatcher, cand("e1", 0, Tier.red, **kw), cand("b1", 60, Tier.blue, **kw),
        cand("b2", 659, Tier.blue, **kw), cand("b3", 660, Tier.blue, **kw),
    )  # fmt: skip
    assert [d.reason for d in decisions] == ["opened", "in_cooldown", "in_cooldown", "tier_lowered"]


def test_a_match_at_the_alert_tier_restarts_the_hold(dispatcher: Dispatcher) -> None:
    kw: dict[str, Any] = {"cooldown": 3600.0}
    decisions = run(
        dispatcher,
        cand("e1", 0, Tier.orange, **kw),
        cand("b1", 60, Tier.blue, **kw),
        cand("o1", 300, Tier.orange, **kw),  # flaps back up: the hold starts again
        cand("b2", 400, Tier.blue, **kw),
        cand("b3", 900, Tier.blue, **kw),  # 660 s after the first blue, 500 s after the hold restarted
        cand("b4", 1000, Tier.blue, **kw),
    )
    assert [d.reason for d in decisions] == (
        ["opened", "in_cooldown", "in_cooldown", "in_cooldown", "in_cooldown", "tier_lowered"]
    )


def test_a_higher_match_during_the_hold_is_reported_at_once_and_ends_the_hold(dispatcher: Dispatcher) -> None:
    kw: dict[str, Any] = {"cooldown": 3600.0}
    decisions = run(
        dispatcher,
        cand("e1", 0, Tier.orange, **kw),
        cand("b1", 60, Tier.blue, **kw),
        cand("r1", 120, Tier.red, **kw),
        cand("b2", 700, Tier.blue, **kw),
    )
    assert [d.reason for d in decisions] == ["opened", "in_cooldown", "tier_raised", "in_cooldown"]
    assert last_state(decisions).lower_since == at(700)


def test_the_tier_comes_down_to_the_highest_tier_seen_while_it_held(dispatcher: Dispatcher) -> None:
    kw: dict[str, Any] = {"cooldown": 3600.0}
    decisions = run(
        dispatcher,
        cand("e1", 0, Tier.red, **kw),
        cand("b1", 60, Tier.blue, **kw),
        cand("y1", 120, Tier.yellow, **kw),
        cand("b2", 660, Tier.blue, **kw),
    )
    assert decisions[-1].reason == "tier_lowered"
    assert last_state(decisions).tier == Tier.yellow


def test_a_late_lower_match_does_not_lower_the_tier(dispatcher: Dispatcher) -> None:
    kw: dict[str, Any] = {"cooldown": 3600.0}
    decisions = run(dispatcher, cand("e1", 700, Tier.red, **kw), cand("b0", 0, Tier.blue, **kw))
    assert decisions[-1].reason == "in_cooldown"
    assert last_state(decisions).tier == Tier.red


# --- next_due -------------------------------------------------------------------------------------


def test_next_due_is_the_end_of_the_quiet_time_and_moves_with_each_match(dispatcher: Dispatcher) -> None:
    decisions = run(dispatcher, cand("e1", 0))
    assert dispatcher.next_due(last_state(decisions)) == at(COOLDOWN)
    decisions = run(dispatcher, cand("e1", 0), cand("e2", 250))
    assert dispatcher.next_due(last_state(decisions)) == at(250 + COOLDOWN)
    # A late match does not move it back.
    decisions = run(dispatcher, cand("e1", 250), cand("e0", 0))
    assert dispatcher.next_due(last_state(decisions)) == at(250 + COOLDOWN)


# --- the dispatch topic's messages ----------------------------------------------------------------


def test_dispatch_messages_are_told_apart_by_type() -> None:
    c = cand("e1", 0)
    assert DISPATCH_MESSAGE.validate_python(c.model_dump(mode="json")) == c
    untyped = c.model_dump(mode="json")
    del untyped["type"]
    assert DISPATCH_MESSAGE.validate_python(untyped) == c  # older candidates carry no type
    tick = DispatchTick(fingerprint=FP, now=T0)
    assert DISPATCH_MESSAGE.validate_json(tick.model_dump_json()) == tick
    note = InhibitedNote(fingerprint=FP, alert_id="a", rule_id="gas", group_key="k")
    assert DISPATCH_MESSAGE.validate_json(note.model_dump_json()) == note
