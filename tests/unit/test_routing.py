"""Routing: which agencies hear an alert and why; every agency named must be declared."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

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


def test_default_agency_is_not_added_when_something_routes(router: Router) -> None:
    assert list(router.resolve(alert(rule_route=("fire",)))) == ["fire"]


def test_escalation_depends_on_tier(router: Router) -> None:
    assert "governance" not in router.resolve(alert(tier=Tier.yellow, rule_route=("fire",)))
    assert "governance" in router.resolve(alert(tier=Tier.orange, rule_route=("fire",)))


@pytest.mark.parametrize("routing", ["fixture", "shipped"])
def test_police_matters_go_to_110_and_citizen_requests_to_12345(routing: str, routing_file: Path) -> None:
    r = load_routing(routing_file if routing == "fixture" else SHIPPED_ROUTING)
    hotline = Family.hotline
    # A 110 call about public order is a police matter, not a 12345 ticket.
    assert list(r.resolve(alert(Risk.public_order, family=hotline, kind="fight_report"))) == ["police"]
    # A 12345 wage-arrears or dispute call is a citizen request, not a police matter.
    for risk in (Risk.social_conflict, Risk.public_safety):
        assert list(r.resolve(alert(risk, family=hotline, kind="wage_arrears"))) == ["hotline"]
    # A sensor's public-safety alert is not a citizen request.
    assert "hotline" not in r.resolve(alert(Risk.public_safety, family=Family.sensor))
    assert list(r.resolve(alert(Risk.cyber_security, family=Family.cyber))) == ["cyber_center"]


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
    assert "routes.0: Value error, a route needs 'agencies', child 'routes' or an 'escalate' policy" in err.message


def test_unknown_risk_in_a_match_is_refused(write_yaml: WriteYaml) -> None:
    text = ROUTING_YAML.replace("[public_order, political_security]", "[public_disorder]")
    err = undeclared(write_yaml, text)
    assert "routes.0.match.risk.0" in err.message
