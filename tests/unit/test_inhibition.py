"""Inhibition: while a higher-tier alert fires, matching lower alerts in its area are withheld.

An ``inhibit`` rule names a ``source`` and a ``target`` match, labels that must be ``equal``
(risk by default) and an ``area``: ``same_or_ancestor`` (the source's place contains the target's)
or ``same_grid``. A withheld target is not lost: its notices are audited, and the inhibiting alert
is told once (InhibitedNote) so it lists and counts what it holds back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from rules.alerts import AlertCandidate, InhibitedNote
from rules.lifecycle import Dispatcher, Forward
from rules.model import Risk, Tier
from rules.routing import Router
from rules.silences import Silence
from tests.unit.dispatch_kit import Desk, at, cand, routing

if TYPE_CHECKING:
    from tests.unit.conftest import WriteYaml

RULES = """\
routes:
  - name: all
    agencies: [fire]
inhibit:
  - name: big-covers-small
    source: {tier: [orange, red]}
    target: {tier: [blue, yellow]}
"""


@pytest.fixture
def router(write_yaml: WriteYaml) -> Router:
    return routing(write_yaml, RULES)


def quake(event_id: str = "q1", seconds: float = 0, tier: Tier = Tier.red, **kw: Any) -> AlertCandidate:
    """A district-wide alert (no grid) of another rule, same risk."""
    kw.setdefault("grid", None)
    return cand(event_id, seconds, tier, rule="quake", **kw)


def gas(event_id: str = "g1", seconds: float = 60, tier: Tier = Tier.yellow, **kw: Any) -> AlertCandidate:
    return cand(event_id, seconds, tier, **kw)


def under_quake(router: Router, **kw: Any) -> Desk:
    desk = Desk(router)
    desk.send(quake(**kw))
    return desk


def test_a_lower_alert_inside_a_firing_higher_alert_area_is_withheld(router: Router) -> None:
    desk = under_quake(router)
    src = desk.state(quake())
    d = desk.send(gas())
    assert d.reason == "opened" and d.alert is None
    (n,) = d.notices
    assert n.withheld_by == f"inhibited by red I alert {src.alert_id} (quake) under 'big-covers-small'"
    assert n.alert.agencies == ["fire"]  # who would have heard it: kept for the audit


def test_the_inhibiting_alert_is_told_once_and_lists_and_counts_it(router: Router) -> None:
    desk = under_quake(router)
    target = gas()
    d = desk.send(target)
    notes = [e.message for e in d.effects if isinstance(e, Forward)]
    tid = desk.state(target).alert_id
    assert notes == [
        InhibitedNote(
            fingerprint=quake().fingerprint, alert_id=tid, rule_id="gas", group_key="location.grid=G-07"
        )
    ]
    src = desk.state(quake())
    assert (src.inhibited, src.inhibited_count) == ((tid,), 1)
    # Raised above the source's tier, the target is delivered: it is no longer lower.
    d = desk.send(gas("g2", 120, Tier.red))
    assert d.reason == "tier_raised" and d.notices[0].withheld_by is None


def test_repeated_withheld_notices_do_not_tell_the_source_again(router: Router) -> None:
    desk = under_quake(router)
    desk.send(gas("g1", 60, repeat_interval=60.0))
    d = desk.send(gas("g2", 120, repeat_interval=60.0))
    assert d.reason == "repeat" and d.notices[0].withheld_by is not None
    assert [e for e in d.effects if isinstance(e, Forward)] == []
    assert desk.state(quake()).inhibited_count == 1


def test_the_source_next_notice_carries_what_it_holds_back(router: Router) -> None:
    desk = under_quake(router, tier=Tier.orange)
    desk.send(gas())
    desk.send(gas("g2", 70, grid="G-08"))
    (n,) = desk.send(quake("q2", 120, Tier.red)).notices
    assert n.alert.change == "tier_raised"
    assert n.alert.inhibited == [desk.state(gas()).alert_id, desk.state(gas(grid="G-08")).alert_id]
    assert n.alert.inhibited_count == 2
    (resolved,) = desk.tick(quake().fingerprint, at(3600 + 120)).notices
    assert resolved.alert.change == "resolved" and resolved.alert.inhibited_count == 2


def test_when_the_source_resolves_the_next_match_releases_the_target(router: Router) -> None:
    desk = under_quake(router, cooldown=600.0)
    desk.send(gas())
    desk.tick(quake().fingerprint, at(600))
    assert quake().fingerprint not in {a.fingerprint for a in desk.world.active}
    d = desk.send(gas("g2", 700))
    assert d.reason == "released"
    assert d.notices[0].withheld_by is None and d.notices[0].alert.notice_seq == 2


def test_an_alert_in_another_district_is_not_inhibited(router: Router) -> None:
    desk = under_quake(router)
    (n,) = desk.send(gas(district="D2")).notices
    assert n.withheld_by is None


def test_a_source_in_a_smaller_area_does_not_inhibit_the_larger(router: Router) -> None:
    desk = Desk(router)
    desk.send(quake(grid="G-07"))
    (n,) = desk.send(gas(grid=None)).notices
    assert n.withheld_by is None


def test_only_a_higher_tier_inhibits(write_yaml: WriteYaml) -> None:
    r = routing(write_yaml, RULES.replace("target: {tier: [blue, yellow]}", "target: {}"))
    desk = under_quake(r, tier=Tier.orange)
    (n,) = desk.send(gas(tier=Tier.orange)).notices
    assert n.withheld_by is None


def test_source_and_target_must_match_their_matchers(router: Router) -> None:
    desk = under_quake(router, tier=Tier.yellow)  # not a source
    (n,) = desk.send(gas(tier=Tier.blue)).notices
    assert n.withheld_by is None
    desk = under_quake(router)
    (n,) = desk.send(gas(tier=Tier.orange)).notices  # not a target
    assert n.withheld_by is None


def test_equal_labels_must_be_equal(router: Router, write_yaml: WriteYaml) -> None:
    desk = under_quake(router, risk=Risk.public_order)
    (n,) = desk.send(gas()).notices
    assert n.withheld_by is None  # risk differs
    by_rule = routing(write_yaml, RULES + "    equal: [risk, rule]\n", "by-rule.yaml")
    desk = under_quake(by_rule)
    (n,) = desk.send(gas()).notices
    assert n.withheld_by is None  # quake is not gas
    desk.send(gas("g0", 0, Tier.red, grid=None))
    (n,) = desk.send(gas("g1", 60, grid="G-09")).notices
    assert n.withheld_by is not None and "(gas)" in n.withheld_by


def test_same_grid_needs_the_same_place(write_yaml: WriteYaml) -> None:
    r = routing(write_yaml, RULES + "    area: same_grid\n")
    desk = under_quake(r)
    (n,) = desk.send(gas()).notices
    assert n.withheld_by is None  # the district-wide quake is not in the same grid
    desk.send(quake("q2", 0, grid="G-08"))
    (n,) = desk.send(gas("g2", 60, grid="G-08")).notices
    assert n.withheld_by is not None


def test_the_highest_firing_source_is_named(router: Router) -> None:
    desk = Desk(router)
    desk.send(quake(tier=Tier.orange, grid="G-07"))
    desk.send(cand("f1", 0, Tier.red, rule="flood", grid=None))
    (n,) = desk.send(gas()).notices
    assert n.withheld_by is not None and n.withheld_by.startswith("inhibited by red I alert")
    assert desk.state(cand("f1", 0, rule="flood", grid=None)).inhibited_count == 1
    assert desk.state(quake(grid="G-07")).inhibited_count == 0


def test_a_withheld_alert_inhibits_nothing_until_it_is_released(router: Router) -> None:
    desk = Desk(router)
    desk.world.silences.put(
        Silence(matchers={"rule": "quake"}, starts_at=at(0), ends_at=at(600), author="ops", reason="drill")
    )
    desk.send(quake())
    (n,) = desk.send(gas()).notices
    assert n.withheld_by is None  # a silenced quake must not hide the gas alert as well
    d = desk.send(quake("q2", 700))
    assert d.reason == "released"
    (n,) = desk.send(gas("g2", 710, grid="G-08")).notices
    assert n.withheld_by is not None and n.withheld_by.startswith("inhibited by")


def test_note_inhibited_lists_each_alert_once(router: Router) -> None:
    dispatcher = Dispatcher(router)
    state = dispatcher.handle(None, quake()).state
    note = InhibitedNote(fingerprint=quake().fingerprint, alert_id="t1", rule_id="gas", group_key="k")
    d = dispatcher.note_inhibited(state, note)
    assert d.reason == "inhibited_listed" and d.notices == [] and d.effects == []
    assert d.state is not None and (d.state.inhibited, d.state.inhibited_count) == (("t1",), 1)
    again = dispatcher.note_inhibited(d.state, note)
    assert again.reason == "ignored" and again.state is d.state
    other = dispatcher.note_inhibited(d.state, note.model_copy(update={"alert_id": "t2"}))
    assert other.state is not None and (other.state.inhibited, other.state.inhibited_count) == (
        ("t1", "t2"),
        2,
    )


def test_note_inhibited_for_a_gone_or_resolved_alert_is_ignored(router: Router) -> None:
    dispatcher = Dispatcher(router)
    note = InhibitedNote(fingerprint=quake().fingerprint, alert_id="t1", rule_id="gas", group_key="k")
    assert dispatcher.note_inhibited(None, note).reason == "ignored"
    opened = dispatcher.handle(None, quake()).state
    assert opened is not None
    resolved = dispatcher.tick(opened, at(3600)).state
    assert resolved is not None and not resolved.open
    assert dispatcher.note_inhibited(resolved, note).reason == "ignored"
