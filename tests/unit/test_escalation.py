"""Escalation: an alert nobody acknowledges is re-sent to the next level, on the clock from opening.

A route's ``escalate: {after, to, raise_tier, limit, renotify}`` applies to the alerts it matches.
Step k is due at opening + k * after (clock time); each step adds the next agency of ``to`` (with
the reason), optionally raises the tier by one, and stops at ``limit`` (default: one step per
agency). A step that reaches no agency that has not heard of the alert, at an unchanged tier, sends
nothing unless the policy says ``renotify: true``, and then the notice says why. An acknowledgement
stops it and is itself a notice; a duty officer may also resolve by hand.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from rules.errors import RuleSetError
from rules.lifecycle import Publish
from rules.model import Risk, Tier
from rules.routing import Router
from rules.world import Ack, World
from tests.unit.dispatch_kit import Desk, at, cand, routing

if TYPE_CHECKING:
    from tests.unit.conftest import WriteYaml

ROUTES = """\
routes:
  - name: safety
    match: {risk: [public_safety]}
    agencies: [fire]
    escalate: {after: 10m, to: [emergency, governance]}
  - name: order
    match: {risk: [public_order]}
    agencies: [police]
escalation:
  red: [mayor]
"""

MIN = 60.0


@pytest.fixture
def router(write_yaml: WriteYaml) -> Router:
    return routing(write_yaml, ROUTES)


def opened(router: Router, now: float = 0.0, tier: Tier = Tier.yellow) -> Desk:
    desk = Desk(router)
    desk.send(cand("e1", 0, tier), now=at(now))
    return desk


FP = cand("e1", 0).fingerprint


def test_the_first_step_is_due_after_the_period_on_the_clock_from_opening(router: Router) -> None:
    desk = opened(router, now=5.0)  # the worker saw the event 5 s after it happened
    assert desk.state(FP).opened_clock == at(5)
    assert desk.dispatcher.next_due(desk.state(FP)) == at(5 + 10 * MIN)
    d = desk.tick(FP, at(5 + 10 * MIN - 1))
    assert d.reason == "waiting" and d.notices == []


def test_each_step_adds_the_next_agency_with_its_reason(router: Router) -> None:
    desk = opened(router)
    first = desk.tick(FP, at(10 * MIN))
    assert first.reason == "escalated"
    (n,) = first.notices
    a = n.alert
    assert (a.status, a.change, a.notice_seq, a.escalation, a.tier) == (
        "escalated",
        "escalated",
        2,
        1,
        Tier.yellow,
    )
    assert a.routed_because == {
        "fire": "route 'safety' matched",
        "emergency": "not acknowledged within 10m (route 'safety' escalation 1 of 2)",
    }
    assert desk.dispatcher.next_due(desk.state(FP)) == at(20 * MIN)
    second = desk.tick(FP, at(20 * MIN))
    (n,) = second.notices
    assert (n.alert.escalation, n.alert.notice_seq) == (2, 3)
    assert n.alert.routed_because == {
        "fire": "route 'safety' matched",
        "emergency": "not acknowledged within 10m (route 'safety' escalation 1 of 2)",
        "governance": "not acknowledged within 20m (route 'safety' escalation 2 of 2)",
    }


def test_escalation_stops_at_the_default_limit_of_one_step_per_agency(router: Router) -> None:
    desk = opened(router)
    desk.tick(FP, at(10 * MIN))
    desk.tick(FP, at(20 * MIN))
    # Only the quiet time (an hour after the match) is due now.
    assert desk.dispatcher.next_due(desk.state(FP)) == at(60 * MIN)
    d = desk.tick(FP, at(30 * MIN))
    assert d.reason == "waiting" and d.notices == []


def test_escalated_agencies_keep_hearing_later_notices(router: Router) -> None:
    desk = opened(router)
    desk.tick(FP, at(10 * MIN))
    raised = desk.send(cand("e2", 11 * MIN, Tier.red), now=at(11 * MIN))
    assert raised.reason == "tier_raised"
    assert raised.notices[0].alert.agencies == ["fire", "mayor", "emergency"]
    assert raised.notices[0].alert.status == "escalated"


def test_a_late_tick_takes_one_step_and_the_next_is_due_at_once(router: Router) -> None:
    desk = opened(router)
    d = desk.tick(FP, at(25 * MIN))
    assert d.reason == "escalated" and desk.state(FP).escalation == 1
    assert desk.dispatcher.next_due(desk.state(FP)) == at(20 * MIN)
    assert desk.tick(FP, at(25 * MIN)).reason == "escalated"
    assert desk.state(FP).escalation == 2


def test_an_escalation_step_is_published_to_the_index(router: Router) -> None:
    desk = opened(router)
    d = desk.tick(FP, at(10 * MIN))
    assert [e.fingerprint for e in d.effects if isinstance(e, Publish) and e.alert is not None] == [FP]


def test_raise_tier_raises_one_tier_a_step_up_to_red(write_yaml: WriteYaml) -> None:
    r = routing(
        write_yaml,
        ROUTES.replace("to: [emergency, governance]}", "to: [emergency], limit: 3, raise_tier: true}"),
    )
    desk = opened(r)
    sent = [n.alert for k in (1, 2, 3) for n in desk.tick(FP, at(k * 10 * MIN)).notices]
    # Red reaches the agencies red alerts escalate to; the third step, at red already, tells no one new.
    assert [(a.tier, a.agencies) for a in sent] == [
        (Tier.orange, ["fire", "emergency"]),
        (Tier.red, ["fire", "mayor", "emergency"]),
    ]
    assert desk.state(FP).escalation == 3
    assert desk.tick(FP, at(40 * MIN)).reason == "waiting"


def test_a_step_that_raises_the_tier_is_a_notice_though_it_adds_no_agency(write_yaml: WriteYaml) -> None:
    r = routing(
        write_yaml,
        ROUTES.replace("agencies: [fire]", "agencies: [fire, emergency]").replace(
            "to: [emergency, governance]}", "to: [emergency], raise_tier: true}"
        ),
    )
    desk = opened(r)
    (n,) = desk.tick(FP, at(10 * MIN)).notices
    a = n.alert
    assert (a.change, a.tier, a.agencies) == ("escalated", Tier.orange, ["fire", "emergency"])


def test_a_step_to_an_agency_that_already_heard_sends_nothing_and_the_next_step_is_on_time(
    write_yaml: WriteYaml,
) -> None:
    r = routing(write_yaml, ROUTES.replace("agencies: [fire]", "agencies: [fire, emergency]"))
    desk = opened(r)
    quiet = desk.tick(FP, at(10 * MIN))
    assert (quiet.reason, quiet.notices, quiet.effects) == ("escalated_no_one_new", [], [])
    assert desk.state(FP).escalation == 1
    assert desk.dispatcher.next_due(desk.state(FP)) == at(20 * MIN)
    (n,) = desk.tick(FP, at(20 * MIN)).notices
    assert (n.alert.change, n.alert.escalation, n.alert.notice_seq) == ("escalated", 2, 2)
    assert n.alert.routed_because["governance"] == (
        "not acknowledged within 20m (route 'safety' escalation 2 of 2)"
    )


def test_steps_after_the_last_agency_of_to_send_nothing_without_renotify(write_yaml: WriteYaml) -> None:
    policy = "to: [emergency], limit: 3, raise_tier: true}"
    r = routing(write_yaml, ROUTES.replace("to: [emergency, governance]}", policy))
    desk = opened(r, tier=Tier.red)
    steps = [desk.tick(FP, at(k * 10 * MIN)) for k in (1, 2, 3)]
    assert [len(d.notices) for d in steps] == [1, 0, 0]
    assert desk.state(FP).escalation == 3
    assert desk.dispatcher.next_due(desk.state(FP)) == at(60 * MIN)


def test_renotify_resends_a_step_that_adds_no_agency_and_says_why(write_yaml: WriteYaml) -> None:
    policy = "to: [emergency], limit: 3, renotify: true}"
    r = routing(write_yaml, ROUTES.replace("to: [emergency, governance]}", policy))
    desk = opened(r)
    steps = [desk.tick(FP, at(k * 10 * MIN)).notices[0].alert for k in (1, 2, 3)]
    assert [(a.change, a.escalation, a.agencies) for a in steps] == [
        ("escalated", k, ["fire", "emergency"]) for k in (1, 2, 3)
    ]
    assert steps[0].routed_because["emergency"] == (
        "not acknowledged within 10m (route 'safety' escalation 1 of 3)"
    )
    assert steps[1].routed_because == {
        "fire": "route 'safety' matched",
        "emergency": "escalated: not acknowledged within 20m; re-notified as the policy says "
        "(route 'safety' escalation 2 of 3, renotify)",
    }
    assert desk.dispatcher.next_due(desk.state(FP)) == at(60 * MIN)


def test_renotify_resends_a_step_to_an_agency_that_heard_through_routing(write_yaml: WriteYaml) -> None:
    r = routing(
        write_yaml,
        ROUTES.replace("agencies: [fire]", "agencies: [fire, emergency]").replace(
            "to: [emergency, governance]}", "to: [emergency, governance], renotify: true}"
        ),
    )
    desk = opened(r)
    (n,) = desk.tick(FP, at(10 * MIN)).notices
    assert n.alert.routed_because["emergency"] == (
        "escalated: not acknowledged within 10m; re-notified as the policy says "
        "(route 'safety' escalation 1 of 2, renotify)"
    )


def test_a_limit_beyond_the_agencies_of_to_needs_renotify_or_raise_tier(write_yaml: WriteYaml) -> None:
    with pytest.raises(RuleSetError, match="limit 3 is more steps than the agencies in 'to' \\(1\\)"):
        routing(write_yaml, ROUTES.replace("to: [emergency, governance]}", "to: [emergency], limit: 3}"))


def test_a_tier_raised_by_escalation_is_not_lowered_by_later_matches_at_the_old_tier(
    write_yaml: WriteYaml,
) -> None:
    r = routing(
        write_yaml, ROUTES.replace("to: [emergency, governance]}", "to: [emergency], raise_tier: true}")
    )
    desk = opened(r)
    desk.tick(FP, at(10 * MIN))
    assert desk.state(FP).tier == Tier.orange
    for i in range(1, 20):
        d = desk.send(cand(f"y{i}", 10 * MIN + i * MIN), now=at(10 * MIN + i * MIN))
        assert d.notices == [], d.reason
    assert desk.state(FP).tier == Tier.orange
    # A higher match still raises it.
    assert desk.send(cand("r1", 30 * MIN, Tier.red)).reason == "tier_raised"


def test_no_policy_no_escalation(router: Router) -> None:
    desk = Desk(router)
    c = cand("p1", 0, risk=Risk.public_order)
    desk.send(c)
    assert desk.dispatcher.next_due(desk.state(c)) == at(60 * MIN)
    assert desk.tick(c.fingerprint, at(59 * MIN)).reason == "waiting"


def test_the_deepest_matching_policy_applies(write_yaml: WriteYaml) -> None:
    body = """\
    routes:
      - name: safety
        match: {risk: [public_safety]}
        agencies: [fire]
        escalate: {after: 10m, to: [emergency]}
        routes:
          - name: gas-in-d1
            match: {district: [D1]}
            agencies: [district_office]
            escalate: {after: 5m, to: [mayor]}
    """
    desk = opened(routing(write_yaml, body))
    (n,) = desk.tick(FP, at(5 * MIN)).notices
    assert (
        n.alert.routed_because["mayor"] == "not acknowledged within 5m (route 'gas-in-d1' escalation 1 of 1)"
    )


# --- acknowledgement ------------------------------------------------------------------------------


def test_an_ack_is_a_notice_and_stops_escalation(router: Router) -> None:
    desk = opened(router)
    d = desk.act(FP, at(4 * MIN), note="crew on the way")
    assert d.reason == "acknowledged"
    (n,) = d.notices
    a = n.alert
    assert (a.status, a.change, a.notice_seq) == ("acknowledged", "acknowledged", 2)
    assert (a.acknowledged_by, a.acknowledged_at, a.ack_note) == ("officer-1", at(4 * MIN), "crew on the way")
    assert a.agencies == ["fire"]
    assert desk.dispatcher.next_due(desk.state(FP)) == at(60 * MIN)
    assert desk.tick(FP, at(10 * MIN)).reason == "waiting"


def test_an_ack_after_escalation_reaches_the_escalated_agencies(router: Router) -> None:
    desk = opened(router)
    desk.tick(FP, at(10 * MIN))
    (n,) = desk.act(FP, at(12 * MIN)).notices
    assert (n.alert.status, n.alert.escalation) == ("acknowledged", 1)
    assert n.alert.agencies == ["fire", "emergency"]
    assert desk.tick(FP, at(20 * MIN)).reason == "waiting"


def test_later_notices_carry_the_ack(router: Router) -> None:
    desk = opened(router)
    desk.act(FP, at(1 * MIN), by="li")
    (n,) = desk.send(cand("r1", 2 * MIN, Tier.red)).notices
    assert (n.alert.change, n.alert.status, n.alert.acknowledged_by) == ("tier_raised", "acknowledged", "li")


def test_a_second_ack_changes_nothing(router: Router) -> None:
    desk = opened(router)
    desk.act(FP, at(1 * MIN), by="li")
    d = desk.act(FP, at(2 * MIN), by="wang")
    assert d.reason == "waiting" and d.notices == []
    assert desk.state(FP).acked_by == "li"


def test_the_world_keeps_the_first_ack_and_the_first_resolve_each_on_its_own() -> None:
    world = World()
    world.ack(Ack(alert_id="a", by="li", at=at(0)))
    world.ack(Ack(alert_id="a", by="wang", at=at(1)))
    world.ack(Ack(alert_id="a", action="resolve", by="zhao", at=at(2)))
    world.ack(Ack(alert_id="a", action="resolve", by="qian", at=at(3)))
    assert (world.acks["a"].by, world.resolves["a"].by) == ("li", "zhao")


# --- resolve by hand ------------------------------------------------------------------------------


def test_resolve_by_hand_sends_the_resolved_notice_and_clears_the_index(router: Router) -> None:
    desk = opened(router)
    desk.tick(FP, at(10 * MIN))
    d = desk.act(FP, at(15 * MIN), action="resolve", by="zhao", note="valve closed")
    assert d.reason == "resolved"
    (n,) = d.notices
    a = n.alert
    assert (a.status, a.change, a.notice_seq) == ("resolved", "resolved", 3)
    assert (a.resolved_by, a.resolve_note, a.resolved_at) == ("zhao", "valve closed", at(15 * MIN))
    assert a.agencies == ["fire", "emergency"]
    assert d.effects == [Publish(FP, None)]
    assert FP not in {x.fingerprint for x in desk.world.active}


def test_a_resolve_by_hand_is_not_an_acknowledgement(router: Router) -> None:
    desk = opened(router)
    (n,) = desk.act(FP, at(5 * MIN), action="resolve", by="zhao", note="valve closed").notices
    assert (n.alert.acknowledged_by, n.alert.acknowledged_at, n.alert.ack_note) == (None, None, None)


def test_a_resolve_after_an_ack_shows_both_each_with_its_own_who_why_and_when(router: Router) -> None:
    desk = opened(router)
    desk.act(FP, at(1 * MIN), by="li", note="crew on the way")
    (n,) = desk.act(FP, at(5 * MIN), action="resolve", by="zhao", note="valve closed").notices
    a = n.alert
    assert (a.acknowledged_by, a.ack_note, a.acknowledged_at) == ("li", "crew on the way", at(1 * MIN))
    assert (a.resolved_by, a.resolve_note, a.resolved_at) == ("zhao", "valve closed", at(5 * MIN))


def test_an_ack_not_yet_applied_when_the_resolve_comes_is_told_with_it(router: Router) -> None:
    desk = opened(router)
    aid = desk.state(FP).alert_id
    desk.world.ack(Ack(alert_id=aid, by="li", note="crew on the way", at=at(1 * MIN)))
    (n,) = desk.act(FP, at(2 * MIN), action="resolve", by="zhao").notices
    assert (n.alert.change, n.alert.acknowledged_by, n.alert.resolved_by) == ("resolved", "li", "zhao")


def test_a_resolve_by_the_clock_has_a_time_and_no_one_who_resolved_it(router: Router) -> None:
    desk = opened(router)
    desk.act(FP, at(1 * MIN), by="li")
    (n,) = desk.tick(FP, at(60 * MIN)).notices
    a = n.alert
    assert (a.status, a.resolved_by, a.resolve_note, a.resolved_at) == ("resolved", None, None, at(60 * MIN))
    assert a.acknowledged_by == "li"


def test_a_match_after_resolve_by_hand_opens_a_new_alert(router: Router) -> None:
    desk = opened(router)
    old = desk.state(FP).alert_id
    desk.act(FP, at(5 * MIN), action="resolve")
    d = desk.send(cand("e2", 6 * MIN))
    assert d.reason == "opened"
    assert d.notices[0].alert.alert_id != old and d.notices[0].alert.escalation == 0
