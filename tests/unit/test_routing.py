"""Routing: which agencies hear an alert and why; every agency named must be declared."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from rules.errors import RuleError, RuleSetError
from rules.events import Family
from rules.model import Risk, Tier
from rules.routing import RouteInput, Router, load_routing
from tests.unit.conftest import ROUTING_YAML

if TYPE_CHECKING:
    from tests.unit.conftest import WriteYaml

SHIPPED_ROUTING = Path(__file__).resolve().parents[2] / "rules" / "routing.yaml"


def alert(
    risk: Risk = Risk.public_safety,
    tier: Tier = Tier.blue,
    family: Family = Family.sensor,
    kind: str = "smoke",
    rule_route: tuple[str, ...] = (),
    rule_id: str = "r1",
    district: str | None = "D1",
    grid: str | None = "G-07",
) -> RouteInput:
    return RouteInput(rule_id, rule_route, risk, tier, family, kind, district, grid)


def test_rule_route_matching_routes_and_escalation_all_add_with_reasons(router: Router) -> None:
    routed = router.resolve(alert(risk=Risk.public_order, tier=Tier.red, rule_route=("fire",)))
    assert routed == {
        "fire": "rule r1 routes to it",
        "police": "route 'police-matters' matched",
        "governance": "red I alerts escalate to it",
    }
    assert list(routed) == ["fire", "police", "governance"]


def test_an_agency_is_listed_once_with_its_first_reason(router: Router) -> None:
    routed = router.resolve(alert(risk=Risk.public_order, tier=Tier.orange, rule_route=("police",)))
    assert routed == {
        "police": "rule r1 routes to it",
        "governance": "orange II alerts escalate to it",
    }


def test_default_agency_hears_an_alert_nothing_else_routes(router: Router) -> None:
    assert router.resolve(alert()) == {"governance": "default agency: no rule route or route matched"}


def test_a_remembered_routing_is_each_callers_own_copy(router: Router) -> None:
    first = router.resolve(alert(rule_route=("fire",)))
    first["police"] = "added by the caller"
    assert router.resolve(alert(rule_route=("fire",))) == {"fire": "rule r1 routes to it"}


def test_default_agency_is_not_added_when_something_routes(router: Router) -> None:
    assert list(router.resolve(alert(rule_route=("fire",)))) == ["fire"]


def test_escalation_depends_on_tier(router: Router) -> None:
    assert "governance" not in router.resolve(alert(tier=Tier.yellow, rule_route=("fire",)))
    assert "governance" in router.resolve(alert(tier=Tier.orange, rule_route=("fire",)))


@pytest.mark.parametrize("routing", ["fixture", "shipped"])
def test_police_matters_go_to_110_and_citizen_requests_to_12345(routing: str, routing_file: Path) -> None:
    r = load_routing(routing_file if routing == "fixture" else SHIPPED_ROUTING)
    hotline = Family.hotline

    def agencies(a: RouteInput) -> list[str]:
        """Who hears it besides the place's own offices (the grid hierarchy adds those everywhere)."""
        return [x for x in r.resolve(a) if x not in r.hierarchy(a)]

    # A 110 call about public order is a police matter, not a 12345 ticket.
    assert agencies(alert(Risk.public_order, family=hotline, kind="fight_report")) == ["police"]
    # A 12345 wage-arrears or dispute call is a citizen request, not a police matter.
    for risk in (Risk.social_conflict, Risk.public_safety):
        assert agencies(alert(risk, family=hotline, kind="wage_arrears")) == ["hotline"]
    # A sensor's public-safety alert is not a citizen request.
    assert "hotline" not in r.resolve(alert(Risk.public_safety, family=Family.sensor))
    assert agencies(alert(Risk.cyber_security, family=Family.cyber)) == ["cyber_center"]


@pytest.mark.parametrize(
    ("match", "hit", "miss"),
    [
        ("{kind: [smoke]}", {"kind": "smoke"}, {"kind": "co"}),
        ("{rule: [r1]}", {"rule_id": "r1"}, {"rule_id": "r2"}),
        ("{district: [D1]}", {"district": "D1"}, {"district": None}),
        ("{grid: [G-07, G-08]}", {"grid": "G-08"}, {"grid": "G-09"}),
        ("{tier: [red]}", {"tier": Tier.red}, {"tier": Tier.orange}),
        ("{family: [camera]}", {"family": Family.camera}, {"family": Family.sensor}),
    ],
)
def test_each_match_key_is_checked(
    write_yaml: WriteYaml, match: str, hit: dict[str, object], miss: dict[str, object]
) -> None:
    text = ROUTING_YAML.replace(
        "routes:\n", f"routes:\n  - name: probe\n    match: {match}\n    agencies: [emergency]\n"
    )
    r = load_routing(write_yaml("r.yaml", text))
    assert "emergency" in r.resolve(alert(**hit))  # type: ignore[arg-type]
    assert "emergency" not in r.resolve(alert(**miss))  # type: ignore[arg-type]


def test_all_match_keys_must_hold(write_yaml: WriteYaml) -> None:
    text = ROUTING_YAML.replace(
        "routes:\n",
        "routes:\n  - name: probe\n    match: {kind: [smoke], grid: [G-01]}\n    agencies: [fire]\n",
    )
    r = load_routing(write_yaml("r.yaml", text))
    assert "fire" not in r.resolve(alert(kind="smoke", grid="G-07"))
    assert "fire" in r.resolve(alert(kind="smoke", grid="G-01"))


def test_route_without_match_keys_matches_every_alert(write_yaml: WriteYaml) -> None:
    text = ROUTING_YAML.replace("routes:\n", "routes:\n  - name: all\n    agencies: [emergency]\n")
    r = load_routing(write_yaml("r.yaml", text))
    assert list(r.resolve(alert())) == ["emergency"]


def test_agencies_and_topics_are_exposed(router: Router) -> None:
    assert "police" in router.agencies
    assert router.topic_of("police") == "alerts.police"


def undeclared(write_yaml: WriteYaml, text: str) -> RuleError:
    path = write_yaml("r.yaml", text)
    with pytest.raises(RuleSetError) as info:
        load_routing(path)
    (err,) = info.value.errors
    assert err.location is not None and err.location.file == path
    return err


def line_no(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_undeclared_agency_in_a_route_is_refused_at_its_line(write_yaml: WriteYaml) -> None:
    text = ROUTING_YAML.replace("    agencies: [police]\n", "    agencies:\n      - police\n      - polis\n")
    err = undeclared(write_yaml, text)
    assert "agency 'polis' is not declared" in err.message and "police" in err.message
    assert err.location is not None and err.location.line == line_no(text, "- polis")


def test_undeclared_escalation_agency_is_refused_at_its_line(write_yaml: WriteYaml) -> None:
    text = ROUTING_YAML.replace("  red: [governance]\n", "  red:\n    - governance\n    - mayor\n")
    err = undeclared(write_yaml, text)
    assert "agency 'mayor'" in err.message
    assert err.location is not None and err.location.line == line_no(text, "- mayor")


def test_undeclared_default_agency_is_refused_at_its_line(write_yaml: WriteYaml) -> None:
    text = ROUTING_YAML.replace("default_agency: governance", "default_agency: nobody")
    err = undeclared(write_yaml, text)
    assert "agency 'nobody'" in err.message
    assert err.location is not None and err.location.line == 2


def test_unknown_key_in_routing_file_is_refused_at_its_line(write_yaml: WriteYaml) -> None:
    text = ROUTING_YAML.replace("escalation:\n", "escalations:\n")
    err = undeclared(write_yaml, text)
    assert "escalations" in err.message
    assert err.location is not None and err.location.line == line_no(text, "escalations:")


def test_route_that_does_nothing_is_refused(write_yaml: WriteYaml) -> None:
    text = ROUTING_YAML.replace("    agencies: [police]\n", "    agencies: []\n")
    err = undeclared(write_yaml, text)
    assert (
        "routes.0: Value error, a route needs 'agencies', child 'routes' or an 'escalate' policy"
        in err.message
    )


def test_unknown_risk_in_a_match_is_refused(write_yaml: WriteYaml) -> None:
    text = ROUTING_YAML.replace("[public_order, political_security]", "[public_disorder]")
    err = undeclared(write_yaml, text)
    assert "routes.0.match.risk.0" in err.message


# --- the route tree -------------------------------------------------------------------------------

TREE_AGENCIES = """\
version: 1
default_agency: governance
agencies:
  police:          {topic: alerts.police,     name: police 110}
  fire:            {topic: alerts.fire,       name: fire and rescue 119}
  emergency:       {topic: alerts.emergency,  name: emergency management bureau}
  governance:      {topic: alerts.governance, name: city governance centre}
  grid_office:     {topic: alerts.grid,       name: grid office}
  street_office:   {topic: alerts.street,     name: street office}
  district_office: {topic: alerts.district,   name: district office}
"""


def tree(write_yaml: WriteYaml, body: str) -> Router:
    return load_routing(write_yaml("tree.yaml", TREE_AGENCIES + textwrap.dedent(body)))


def at_place(
    tier: Tier = Tier.blue,
    risk: Risk = Risk.public_safety,
    city: str | None = "C",
    district: str | None = "D1",
    street: str | None = "S1",
    community: str | None = "CM1",
    grid: str | None = "G-07",
    rule_route: tuple[str, ...] = (),
) -> RouteInput:
    """An alert of rule r1 at a fully known place: city C / district D1 / street S1 / CM1 / G-07."""
    return RouteInput(
        "r1", rule_route, risk, tier, Family.sensor, "smoke", district, grid, city, street, community
    )


def test_the_first_matching_route_wins(write_yaml: WriteYaml) -> None:
    r = tree(
        write_yaml,
        """\
        routes:
          - {name: safety, match: {risk: [public_safety]}, agencies: [fire]}
          - {name: everything, agencies: [emergency]}
        """,
    )
    assert r.resolve(at_place()) == {"fire": "route 'safety' matched"}
    assert r.resolve(at_place(risk=Risk.public_order)) == {"emergency": "route 'everything' matched"}


def test_continue_tries_the_routes_after_it(write_yaml: WriteYaml) -> None:
    r = tree(
        write_yaml,
        """\
        routes:
          - {name: safety, match: {risk: [public_safety]}, agencies: [fire], continue: true}
          - {name: d1, match: {district: [D1]}, agencies: [district_office]}
          - {name: never, agencies: [police]}
        """,
    )
    assert r.resolve(at_place()) == {
        "fire": "route 'safety' matched",
        "district_office": "route 'd1' matched",
    }


def test_child_routes_are_tried_only_under_a_matching_route(write_yaml: WriteYaml) -> None:
    r = tree(
        write_yaml,
        """\
        routes:
          - name: safety
            match: {risk: [public_safety]}
            agencies: [fire]
            routes:
              - {name: safety-d1, match: {district: [D1]}, agencies: [district_office]}
              - {name: safety-rest, agencies: [emergency]}
          - name: the-rest
            routes:
              - {name: in-d1, match: {district: [D1]}, agencies: [police]}
        """,
    )
    # The parent's agencies and the first matching child's both hear it; siblings are not tried.
    assert r.resolve(at_place()) == {
        "fire": "route 'safety' matched",
        "district_office": "route 'safety-d1' matched",
    }
    assert list(r.resolve(at_place(district="D2"))) == ["fire", "emergency"]
    assert r.resolve(at_place(risk=Risk.public_order)) == {"police": "route 'in-d1' matched"}
    # A route with only children, none matching: nothing routes, so the default agency hears it.
    assert list(r.resolve(at_place(risk=Risk.public_order, district="D2"))) == ["governance"]


def test_a_child_route_may_continue_to_its_siblings(write_yaml: WriteYaml) -> None:
    r = tree(
        write_yaml,
        """\
        routes:
          - name: safety
            match: {risk: [public_safety]}
            routes:
              - {name: a, agencies: [fire], continue: true}
              - {name: b, agencies: [emergency]}
              - {name: c, agencies: [police]}
          - {name: after, agencies: [district_office]}
        """,
    )
    assert list(r.resolve(at_place())) == ["fire", "emergency"]


@pytest.mark.parametrize(
    ("match", "hit", "miss"),
    [
        ("{city: [C]}", {"city": "C"}, {"city": "X"}),
        ("{street: [S1]}", {"street": "S1"}, {"street": None}),
        ("{community: [CM1, CM2]}", {"community": "CM2"}, {"community": "CM3"}),
        ("{grid: [G-07]}", {"grid": "G-07"}, {"grid": None}),
    ],
)
def test_each_location_level_is_a_match_key(
    write_yaml: WriteYaml, match: str, hit: dict[str, Any], miss: dict[str, Any]
) -> None:
    r = tree(write_yaml, f"routes:\n  - {{name: probe, match: {match}, agencies: [emergency]}}\n")
    assert "emergency" in r.resolve(at_place(**hit))
    assert "emergency" not in r.resolve(at_place(**miss))


HIERARCHY = """\
hierarchy:
  blue:   {level: [grid, community], agency: grid_office}
  yellow: {level: street, agency: street_office}
  orange: {level: district, agency: district_office}
  red:    {level: city, agency: governance}
"""


def test_the_grid_hierarchy_adds_offices_cumulatively_by_tier(write_yaml: WriteYaml) -> None:
    r = tree(write_yaml, HIERARCHY)
    assert r.resolve(at_place(Tier.blue)) == {"grid_office": "blue IV alerts reach the grid (G-07)"}
    assert r.resolve(at_place(Tier.yellow)) == {
        "grid_office": "blue IV and above alerts reach the grid (G-07)",
        "street_office": "yellow III alerts reach the street (S1)",
    }
    assert r.resolve(at_place(Tier.red)) == {
        "grid_office": "blue IV and above alerts reach the grid (G-07)",
        "street_office": "yellow III and above alerts reach the street (S1)",
        "district_office": "orange II and above alerts reach the district (D1)",
        "governance": "red I alerts reach the city (C)",
    }


def test_a_hierarchy_level_list_falls_back_to_the_next_level_the_place_has(write_yaml: WriteYaml) -> None:
    r = tree(write_yaml, HIERARCHY)
    assert r.hierarchy(at_place(grid=None)) == {"grid_office": "blue IV alerts reach the community (CM1)"}
    # Neither level known: that office is skipped; with nothing else, the default agency hears it.
    assert r.hierarchy(at_place(Tier.yellow, grid=None, community=None)) == {
        "street_office": "yellow III alerts reach the street (S1)"
    }
    assert r.resolve(at_place(grid=None, community=None)) == {
        "governance": "default agency: no rule route or route matched"
    }


def test_hierarchy_comes_after_the_rule_and_routes_and_before_escalation(write_yaml: WriteYaml) -> None:
    r = tree(
        write_yaml,
        HIERARCHY
        + "routes:\n  - {name: safety, agencies: [fire]}\nescalation:\n  orange: [emergency, governance]\n",
    )
    routed = r.resolve(at_place(Tier.orange, rule_route=("police",)))
    assert list(routed) == [
        "police",
        "fire",
        "grid_office",
        "street_office",
        "district_office",
        "emergency",
        "governance",
    ]
    assert routed["governance"] == "orange II alerts escalate to it"


def test_escalation_step_adds_agencies_and_raises_the_tier(write_yaml: WriteYaml) -> None:
    r = tree(
        write_yaml,
        """\
        routes:
          - name: safety
            agencies: [fire]
            escalate: {after: 15m, to: [district_office, governance], raise_tier: true, limit: 4}
        """,
    )
    assert r.escalation_step(at_place(), 0) == ({}, Tier.blue)
    added, tier = r.escalation_step(at_place(), 1)
    assert added == {"district_office": "not acknowledged within 15m (route 'safety' escalation 1 of 4)"}
    assert tier == Tier.yellow
    added, tier = r.escalation_step(at_place(), 9)
    assert list(added) == ["district_office", "governance"]
    assert added["governance"] == "not acknowledged within 30m (route 'safety' escalation 2 of 4)"
    assert tier == Tier.red
    policy = r.escalation_policy(at_place())
    assert policy is not None and policy[0] == "safety" and policy[1].steps == 4


def test_escalation_policy_of_a_child_route_overrides_its_parent(write_yaml: WriteYaml) -> None:
    r = tree(
        write_yaml,
        """\
        routes:
          - name: safety
            agencies: [fire]
            escalate: {after: 15m, to: [governance]}
            routes:
              - {name: d1, match: {district: [D1]}, escalate: {after: 5m, to: [district_office]}}
        """,
    )
    found = r.escalation_policy(at_place())
    assert found is not None and found[0] == "d1"
    found = r.escalation_policy(at_place(district="D2"))
    assert found is not None and found[0] == "safety"


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (
            """\
            routes:
              - name: safety
                agencies: [fire]
                routes:
                  - name: child
                    agencies:
                      - fire
                      - mayor
            """,
            "- mayor",
        ),
        (
            """\
            routes:
              - name: safety
                agencies: [fire]
                escalate:
                  after: 10m
                  to:
                    - governance
                    - mayor
            """,
            "- mayor",
        ),
        (
            """\
            hierarchy:
              blue: {level: grid, agency: grid_office}
              red:
                level: city
                agency: mayor
            """,
            "agency: mayor",
        ),
    ],
    ids=["nested-route", "escalate-to", "hierarchy"],
)
def test_undeclared_agency_anywhere_is_refused_at_its_line(
    write_yaml: WriteYaml, body: str, needle: str
) -> None:
    text = TREE_AGENCIES + textwrap.dedent(body)
    err = undeclared(write_yaml, text)
    assert "agency 'mayor' is not declared under 'agencies'" in err.message
    assert err.location is not None and err.location.line == line_no(text, needle)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("hierarchy:\n  blue: {level: block, agency: grid_office}\n", "hierarchy.blue.level"),
        ("hierarchy:\n  purple: {level: grid, agency: grid_office}\n", "hierarchy.purple"),
        ("routes:\n  - {name: x, agencies: [fire], escalate: {after: 0s, to: [fire]}}\n", "escalate.after"),
        ("routes:\n  - {name: x, agencies: [fire], escalate: {after: 5m, to: []}}\n", "escalate.to"),
        ("routes:\n  - {name: x, agencies: [fire], escalate: {after: 5m, to: [fire], limit: 0}}\n", "limit"),
        ("routes:\n  - {name: x, agencies: [fire], match: {street: S1}}\n", "match.street"),
        ("inhibit:\n  - {name: i, source: {}, target: {}, area: same_city}\n", "inhibit.0.area"),
        ("inhibit:\n  - {name: i, source: {}, target: {}, equal: [grid]}\n", "inhibit.0.equal.0"),
        ("storm: {more_than: 0, within: 10m}\n", "storm.more_than"),
        ("storm: {more_than: 5, within: 10m, top: 101}\n", "storm.top"),
    ],
)
def test_bad_tree_hierarchy_inhibit_and_storm_settings_are_refused(
    write_yaml: WriteYaml, body: str, message: str
) -> None:
    path = write_yaml("bad.yaml", TREE_AGENCIES + body)
    with pytest.raises(RuleSetError) as info:
        load_routing(path)
    assert any(message in e.message for e in info.value.errors), [e.message for e in info.value.errors]


def test_a_full_tree_with_hierarchy_inhibit_and_storm_loads(write_yaml: WriteYaml) -> None:
    r = tree(
        write_yaml,
        HIERARCHY
        + textwrap.dedent(
            """\
        routes:
          - name: safety
            match: {risk: [public_safety]}
            agencies: [fire]
            escalate: {after: 10m, to: [emergency]}
        inhibit:
          - name: red-covers-lower
            source: {tier: [red]}
            target: {tier: [blue, yellow]}
            equal: [risk, kind]
            area: same_grid
        storm: {more_than: 20, within: 5m}
        """
        ),
    )
    storm = r.spec.storm
    assert storm is not None and (storm.more_than, storm.within, storm.top) == (20, 300.0, 10)
    (rule,) = r.spec.inhibit
    assert (rule.equal, rule.area) == (["risk", "kind"], "same_grid")
