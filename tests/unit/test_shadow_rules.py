"""Shadow rules: ``mode: shadow`` runs a rule on live traffic with its whole lifecycle, marks its
notices ``shadow`` (audit topic only) and lets nothing of it change what live alerts do.

A rule takes its own ``mode``, else its pack's (default ``live``). ``replaces: RULE`` names the live
rule a shadow rule would replace, so reports can pair them; it belongs on shadow rules only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from rules.backtest import Backtest
from rules.engine import Engine
from rules.errors import RuleSetError
from rules.lifecycle import Forward
from rules.model import Tier
from rules.routing import Router
from rules.testing import describe, run_cases
from tests.unit.conftest import pack_text
from tests.unit.dispatch_kit import Desk, at, cand, routing

if TYPE_CHECKING:
    from rules.compiler import RuleSet
    from rules.events import EventBase
    from tests.unit.conftest import LoadRules, MakeEvent, WriteYaml

GAS = """\
- id: gas
  title: Gas
  risk: public_safety
  on: sensor
  kind: combustible_gas
  when: value != null && value >= 20
  group_by: [source_id]
  tier: {red: "value >= 50", yellow: "true"}
  route: [fire]
"""

GAS_V2 = """\
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
  route: [fire]
"""


def modes(ruleset: RuleSet) -> dict[str, str]:
    return {r.id: r.mode for r in ruleset.rules}


# --- what the author writes ---------------------------------------------------------------------------


def test_a_rule_is_live_unless_it_or_its_pack_says_shadow(load_rules: LoadRules) -> None:
    assert modes(load_rules(GAS + GAS_V2)) == {"gas": "live", "gas-v2": "shadow"}


def test_a_shadow_pack_makes_every_rule_shadow_except_one_that_says_live(
    write_yaml: WriteYaml, router: Router
) -> None:
    from rules.compiler import load_ruleset

    live_one = GAS.replace("- id: gas\n", "- id: gas\n  mode: live\n")
    other = GAS.replace("- id: gas\n", "- id: gas-b\n")
    text = pack_text(live_one + other).replace("pack: test\n", "pack: test\nmode: shadow\n")
    ruleset = load_ruleset([write_yaml("packs/shadow.yaml", text)], router)
    assert modes(ruleset) == {"gas": "live", "gas-b": "shadow"}


def test_replaces_on_a_live_rule_is_an_error_with_its_line(load_rules: LoadRules) -> None:
    with pytest.raises(RuleSetError) as caught:
        load_rules(GAS + GAS_V2.replace("  mode: shadow\n", "").replace("gas-v2", "gas-b"))
    (error,) = caught.value.errors
    assert error.rule_id == "gas-b" and error.location is not None and error.location.line == 13
    assert "'replaces: gas' is for a shadow rule: add 'mode: shadow'" in error.message


def test_a_shadow_rule_cannot_replace_itself(load_rules: LoadRules) -> None:
    with pytest.raises(RuleSetError, match="a shadow rule cannot replace itself"):
        load_rules(GAS_V2.replace("replaces: gas", "replaces: gas-v2"))


def test_replacing_a_rule_no_pack_has_is_a_warning_that_suggests_the_nearest(load_rules: LoadRules) -> None:
    ruleset = load_rules(GAS + GAS_V2.replace("replaces: gas", "replaces: gsa"))
    (warning,) = ruleset.warnings
    assert warning.rule_id == "gas-v2"
    assert "replaces 'gsa', which no loaded pack has (did you mean 'gas'?)" in warning.message


def test_a_shadow_rules_match_carries_its_mode_and_the_rule_it_replaces(
    load_rules: LoadRules, make_event: MakeEvent
) -> None:
    engine = Engine(load_rules(GAS + GAS_V2).rules)
    found = {c.rule_id: c for c in engine.evaluate(make_event(value=30.0))}
    assert (found["gas"].shadow, found["gas"].replaces) == (False, None)
    assert (found["gas-v2"].shadow, found["gas-v2"].replaces) == (True, "gas")


# --- the lifecycle ----------------------------------------------------------------------------------------

ROUTES = """\
routes:
  - name: safety
    match: {risk: [public_safety]}
    agencies: [fire]
    escalate: {after: 10m, to: [emergency]}
inhibit:
  - name: big-covers-small
    source: {tier: [orange, red]}
    target: {tier: [blue, yellow]}
"""


@pytest.fixture
def desk(write_yaml: WriteYaml) -> Desk:
    return Desk(routing(write_yaml, ROUTES))


def shadow(event_id: str, seconds: float, tier: Tier = Tier.yellow, **kw: Any) -> Any:
    kw.setdefault("rule", "gas-v2")
    return cand(event_id, seconds, tier, shadow=True, replaces="gas", **kw)


def test_a_shadow_notice_is_marked_and_says_who_would_have_heard_it(desk: Desk) -> None:
    d = desk.send(shadow("s1", 0))
    (n,) = d.notices
    assert (n.shadow, n.delivered, n.withheld_by) == (True, False, None)
    assert (n.alert.shadow, n.alert.replaces, n.alert.agencies) == (True, "gas", ["fire"])
    assert d.alert is None, "nothing reached an agency"


def test_a_shadow_alert_lives_the_whole_lifecycle_escalation_included(desk: Desk) -> None:
    c = shadow("s1", 0)
    desk.send(c, now=at(0))
    desk.send(shadow("s2", 60, Tier.red), now=at(60))
    desk.tick(c.fingerprint, at(601))
    assert [(a.change, a.tier.value, a.shadow) for a in desk.notices] == [
        ("opened", "yellow", True),
        ("tier_raised", "red", True),
        ("escalated", "red", True),
    ]
    assert desk.notices[-1].agencies == ["fire", "emergency"]


def test_a_shadow_alert_holds_back_no_live_alert(desk: Desk) -> None:
    desk.send(shadow("s1", 0, Tier.red, grid=None))
    d = desk.send(cand("g1", 60))
    (n,) = d.notices
    assert n.delivered and n.withheld_by is None


def test_a_live_alert_holds_back_a_shadow_one_as_it_would_once_live_without_listing_it(desk: Desk) -> None:
    desk.send(cand("q1", 0, Tier.red, rule="quake", grid=None))
    d = desk.send(shadow("s1", 60))
    (n,) = d.notices
    assert n.shadow and n.withheld_by is not None and n.withheld_by.startswith("inhibited by red I alert")
    assert not [e for e in d.effects if isinstance(e, Forward)]
    quake = desk.state(cand("q1", 0, rule="quake", grid=None))
    assert (quake.inhibited, quake.inhibited_count) == ((), 0)


def test_a_shadow_alert_holds_back_a_lower_shadow_alert_and_lists_it(desk: Desk) -> None:
    source = shadow("s1", 0, Tier.red, rule="quake-v2", grid=None)
    desk.send(source)
    target = shadow("s2", 60)
    (n,) = desk.send(target).notices
    assert n.withheld_by is not None and "(quake-v2)" in n.withheld_by
    assert desk.state(source).inhibited == (desk.state(target).alert_id,)


def test_a_rule_promoted_to_live_ends_its_shadow_alert_and_opens_one_agencies_hear_of(desk: Desk) -> None:
    desk.send(shadow("s1", 0, rule="gas"))
    d = desk.send(cand("g2", 60))
    assert [(n.alert.change, n.shadow) for n in d.notices] == [("resolved", True), ("opened", False)]
    assert d.alert is not None and d.alert.agencies == ["fire"]


# --- rule tests and backtests -------------------------------------------------------------------------------

CASE = """\
- name: a 30 %LEL reading opens the live alert and the shadow one
  events:
    - {at: 0s, on: sensor, kind: combustible_gas, source_id: G1, value: 30}
  expect:
    - {rule: gas, withheld: false}
    - {rule: gas-v2, withheld: WITHHELD}
"""


@pytest.mark.parametrize("withheld", ["shadow", "true"])
def test_a_rule_test_expects_a_shadow_notice_as_withheld(load_rules: LoadRules, withheld: str) -> None:
    (result,) = run_cases(load_rules(GAS + GAS_V2, CASE.replace("WITHHELD", withheld)))
    assert result.failures == []


def test_a_rule_test_expecting_a_shadow_notice_delivered_fails_saying_why(load_rules: LoadRules) -> None:
    (result,) = run_cases(load_rules(GAS + GAS_V2, CASE.replace("WITHHELD", "false")))
    assert result.failures == [
        "alert 2: withheld: expected a delivered notice, it was held back (shadow rule)"
    ]
    assert "withheld=(shadow rule)" in describe(result.notices[1].alert)


def test_a_backtest_sends_no_agency_a_shadow_notice(load_rules: LoadRules, make_event: MakeEvent) -> None:
    test = Backtest(load_rules(GAS + GAS_V2))
    events: list[EventBase] = [make_event(value=30.0, at=0)]
    for event in events:
        test.feed_event(event)
    test.finish(3600)
    tallies = {t.rule_id: t for t in test.tallies()}
    assert tallies["gas-v2"].shadow and not tallies["gas"].shadow
    assert tallies["gas-v2"].notices == 2 and not tallies["gas-v2"].agencies
    assert tallies["gas"].agencies["fire"] == 2
