"""Dispatch: one notice per occurrence, merged inside the cooldown, re-notified on a higher tier."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

import pytest

from rules.alerts import AlertCandidate, alert_id, fingerprint
from rules.events import Family, Location
from rules.lifecycle import AlertState, Decision, Dispatcher
from rules.model import Risk, Tier
from rules.routing import Router
from tests.unit.conftest import T0

COOLDOWN = 300.0
FP = fingerprint("gas", "location.grid=G-07")


def cand(event_id: str, at: float, tier: Tier = Tier.yellow, **kw: Any) -> AlertCandidate:
    data: dict[str, Any] = {
        "rule_id": "gas",
        "rule_version": 1,
        "risk": Risk.public_safety,
        "tier": tier,
        "title": "Gas",
        "summary": "gas high",
        "family": Family.sensor,
        "kind": "combustible_gas",
        "group": {"location.grid": "G-07"},
        "group_key": "location.grid=G-07",
        "fingerprint": FP,
        "route": ("fire",),
        "cooldown": COOLDOWN,
        "event_id": event_id,
        "event_time": T0 + timedelta(seconds=at),
        "location": Location(city="C", district="D1", grid="G-07"),
    }
    data.update(kw)
    return AlertCandidate(**data)


@pytest.fixture
def dispatcher(router: Router) -> Dispatcher:
    return Dispatcher(router)


def run(dispatcher: Dispatcher, *cands: AlertCandidate) -> list[Decision]:
    """Feed candidates in order, carrying state like the worker's table; return every decision."""
    state: AlertState | None = None
    out = []
    for c in cands:
        d = dispatcher.handle(state, c)
        state = d.state
        out.append(d)
    return out


def test_first_candidate_opens_an_alert_and_notifies(dispatcher: Dispatcher) -> None:
    (d,) = run(dispatcher, cand("e1", 0))
    assert d.reason == "opened"
    assert d.alert is not None
    assert d.alert.alert_id == alert_id(FP, "e1") == d.state.alert_id
    assert (d.alert.notice_seq, d.alert.count, d.alert.evidence) == (1, 1, ["e1"])
    assert d.alert.first_seen == d.alert.last_seen == T0
    assert d.alert.tier == Tier.yellow and d.alert.tier_level == "III"
    assert d.alert.agencies == ["fire"]
    assert d.alert.routed_because == {"fire": "rule gas routes to it"}


def test_candidate_inside_cooldown_merges_without_a_notice(dispatcher: Dispatcher) -> None:
    first, second = run(dispatcher, cand("e1", 0), cand("e2", 120))
    assert second.reason == "in_cooldown"
    assert second.alert is None
    assert second.state.alert_id == first.state.alert_id
    assert second.state.count == 2
    assert second.state.evidence == ("e1", "e2")
    assert second.state.last_seen == T0 + timedelta(seconds=120)
    assert second.state.notified_at == T0


def test_candidate_at_exactly_the_cooldown_opens_a_new_alert(dispatcher: Dispatcher) -> None:
    first, second = run(dispatcher, cand("e1", 0), cand("e2", COOLDOWN))
    assert second.reason == "opened"
    assert second.alert is not None
    assert second.alert.alert_id == alert_id(FP, "e2") != first.state.alert_id
    assert (second.alert.count, second.alert.notice_seq) == (1, 1)


def test_candidate_just_before_the_cooldown_still_merges(dispatcher: Dispatcher) -> None:
    _, second = run(dispatcher, cand("e1", 0), cand("e2", COOLDOWN - 0.001))
    assert second.reason == "in_cooldown"


def test_cooldown_counts_from_the_last_notice_not_the_last_event(dispatcher: Dispatcher) -> None:
    decisions = run(dispatcher, cand("e1", 0), cand("e2", 200), cand("e3", 310))
    assert [d.reason for d in decisions] == ["opened", "in_cooldown", "opened"]


def test_redelivery_of_the_opening_event_sends_nothing_and_changes_nothing(
    dispatcher: Dispatcher,
) -> None:
    first, again = run(dispatcher, cand("e1", 0), cand("e1", 0))
    assert again.reason == "duplicate"
    assert again.alert is None
    assert again.state == first.state


def test_redelivery_with_zero_cooldown_does_not_open_a_second_alert(dispatcher: Dispatcher) -> None:
    first, again = run(dispatcher, cand("e1", 0, cooldown=0.0), cand("e1", 0, cooldown=0.0))
    assert first.alert is not None
    assert again.alert is None


def test_opening_from_the_same_event_after_a_restart_gives_the_same_id(
    dispatcher: Dispatcher,
) -> None:
    # State lost (fresh table): the same input must still produce the same alert id.
    (a,) = run(dispatcher, cand("e1", 0))
    (b,) = run(dispatcher, cand("e1", 0))
    assert a.alert is not None and b.alert is not None
    assert a.alert.alert_id == b.alert.alert_id


def test_duplicate_event_is_not_counted_twice(dispatcher: Dispatcher) -> None:
    decisions = run(dispatcher, cand("e1", 0), cand("e2", 60), cand("e2", 60))
    assert decisions[-1].reason == "duplicate"
    assert decisions[-1].alert is None
    assert decisions[-1].state.count == 2
    assert decisions[-1].state.evidence == ("e1", "e2")


def test_higher_tier_inside_cooldown_sends_an_update_of_the_same_alert(
    dispatcher: Dispatcher,
) -> None:
    first, raised = run(dispatcher, cand("e1", 0), cand("e2", 60, tier=Tier.red))
    assert raised.reason == "tier_raised"
    assert raised.alert is not None and first.alert is not None
    assert raised.alert.alert_id == first.alert.alert_id
    assert raised.alert.notice_seq == first.alert.notice_seq + 1
    assert raised.alert.tier == Tier.red and raised.alert.tier_level == "I"
    assert raised.alert.count == 2
    assert raised.state.notified_at == T0 + timedelta(seconds=60)


def test_higher_tier_update_reaches_escalation_agencies(dispatcher: Dispatcher) -> None:
    _, raised = run(dispatcher, cand("e1", 0), cand("e2", 60, tier=Tier.red))
    assert raised.alert is not None
    assert raised.alert.agencies == ["fire", "governance"]


def test_lower_tier_inside_cooldown_merges_and_keeps_the_higher_tier(
    dispatcher: Dispatcher,
) -> None:
    _, lower = run(dispatcher, cand("e1", 0, tier=Tier.orange), cand("e2", 60, tier=Tier.blue))
    assert lower.reason == "in_cooldown"
    assert lower.alert is None
    assert lower.state.tier == Tier.orange
    assert lower.state.notice_seq == 1
    assert lower.state.count == 2


def test_same_tier_inside_cooldown_does_not_notify(dispatcher: Dispatcher) -> None:
    _, same = run(dispatcher, cand("e1", 0), cand("e2", 60))
    assert same.alert is None


def test_late_event_widens_first_seen(dispatcher: Dispatcher) -> None:
    _, late = run(dispatcher, cand("e1", 60), cand("e0", 10))
    assert late.state.first_seen == T0 + timedelta(seconds=10)
    assert late.state.last_seen == T0 + timedelta(seconds=60)


def test_evidence_keeps_only_the_most_recent_event_ids(dispatcher: Dispatcher) -> None:
    from rules.alerts import MAX_EVIDENCE

    decisions = run(dispatcher, *(cand(f"e{i}", i) for i in range(MAX_EVIDENCE + 5)))
    state = decisions[-1].state
    assert state.count == MAX_EVIDENCE + 5
    assert len(state.evidence) == MAX_EVIDENCE
    assert state.evidence[-1] == f"e{MAX_EVIDENCE + 4}"


def test_raised_at_is_processing_time_in_utc_when_given(dispatcher: Dispatcher) -> None:
    now = T0 + timedelta(seconds=2)
    d = dispatcher.handle(None, cand("e1", 0), now=now)
    assert d.alert is not None
    assert d.alert.raised_at == now and d.alert.raised_at.tzinfo == UTC


def test_raised_at_defaults_to_event_time(dispatcher: Dispatcher) -> None:
    d = dispatcher.handle(None, cand("e1", 0))
    assert d.alert is not None and d.alert.raised_at == T0
