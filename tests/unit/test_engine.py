"""Detection: which rules an event meets, at which tier, about which group."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rules.alerts import AlertCandidate, fingerprint
from rules.engine import NO_VALUE, Engine
from rules.events import Family
from rules.model import Risk, Tier

if TYPE_CHECKING:
    from tests.unit.conftest import LoadRules, MakeEvent

GAS = """\
- id: gas
  title: Gas
  risk: public_safety
  on: sensor
  kind: combustible_gas
  when: value >= 20.0
  tier: red
"""
ANY_SENSOR_ALARM = """\
- id: any-alarm
  title: Any sensor alarm
  risk: public_safety
  on: sensor
  when: status == 'alarm'
  tier: blue
"""
WATER = """\
- id: water
  title: Water
  risk: public_safety
  on: sensor
  kind: [water_level, waterlogging]
  tier: yellow
"""
CAMERA_ANY = """\
- id: camera-any
  title: Camera
  risk: public_order
  on: camera
  tier: blue
"""


def engine_with(load_rules: LoadRules, rules: str, errors: list[tuple[str, str]] | None = None) -> Engine:
    sink = errors if errors is not None else []
    return Engine(load_rules(rules).rules, on_error=lambda rule, msg: sink.append((rule, msg)))


def ids(cands: list[AlertCandidate]) -> list[str]:
    return [c.rule_id for c in cands]


def test_index_holds_only_rules_for_the_family_and_kind_plus_kindless_rules(
    load_rules: LoadRules,
) -> None:
    engine = engine_with(load_rules, GAS + ANY_SENSOR_ALARM + WATER + CAMERA_ANY)
    assert [r.id for r in engine.candidates_for(Family.sensor, "combustible_gas")] == ["gas", "any-alarm"]
    assert [r.id for r in engine.candidates_for(Family.sensor, "waterlogging")] == ["water", "any-alarm"]
    assert [r.id for r in engine.candidates_for(Family.sensor, "smoke")] == ["any-alarm"]
    assert [r.id for r in engine.candidates_for(Family.camera, "fight")] == ["camera-any"]
    assert engine.candidates_for(Family.cyber, "port_scan") == ()


def test_kind_outside_the_vocabulary_still_meets_kindless_rules(load_rules: LoadRules) -> None:
    engine = engine_with(load_rules, GAS + ANY_SENSOR_ALARM)
    assert [r.id for r in engine.candidates_for(Family.sensor, "brand_new_kind")] == ["any-alarm"]


def test_event_meets_only_rules_whose_condition_is_true(load_rules: LoadRules, make_event: MakeEvent) -> None:
    engine = engine_with(load_rules, GAS + ANY_SENSOR_ALARM + WATER)
    assert ids(engine.evaluate(make_event(value=25.0))) == ["gas"]
    assert ids(engine.evaluate(make_event(value=25.0, status="alarm"))) == ["gas", "any-alarm"]
    assert ids(engine.evaluate(make_event(value=5.0))) == []


def test_rule_for_another_family_does_not_see_the_event(load_rules: LoadRules, make_event: MakeEvent) -> None:
    engine = engine_with(load_rules, CAMERA_ANY)
    assert engine.evaluate(make_event(value=99.0)) == []


LADDER_YAML_ORDER_LOW_FIRST = """\
- id: ladder
  title: Ladder
  risk: public_safety
  on: sensor
  kind: combustible_gas
  tier:
    blue: value >= 5.0
    yellow: value >= 10.0
    red: value >= 50.0
    orange: value >= 25.0
"""


def test_tier_ladder_highest_true_tier_wins_regardless_of_yaml_order(
    load_rules: LoadRules, make_event: MakeEvent
) -> None:
    engine = engine_with(load_rules, LADDER_YAML_ORDER_LOW_FIRST)
    tiers = {v: engine.evaluate(make_event(value=v))[0].tier for v in (6.0, 12.0, 30.0, 80.0)}
    assert tiers == {6.0: Tier.blue, 12.0: Tier.yellow, 30.0: Tier.orange, 80.0: Tier.red}


def test_no_ladder_tier_true_means_no_candidate(load_rules: LoadRules, make_event: MakeEvent) -> None:
    engine = engine_with(load_rules, LADDER_YAML_ORDER_LOW_FIRST)
    assert engine.evaluate(make_event(value=1.0)) == []


def test_when_gates_the_whole_ladder(load_rules: LoadRules, make_event: MakeEvent) -> None:
    rules = LADDER_YAML_ORDER_LOW_FIRST.replace("  tier:\n", "  when: status == 'alarm'\n  tier:\n")
    engine = engine_with(load_rules, rules)
    assert engine.evaluate(make_event(value=80.0)) == []
    assert engine.evaluate(make_event(value=80.0, status="alarm"))[0].tier == Tier.red


def test_evaluation_error_on_a_null_field_is_no_match_and_reported(
    load_rules: LoadRules, make_event: MakeEvent
) -> None:
    errors: list[tuple[str, str]] = []
    engine = engine_with(load_rules, GAS, errors)
    assert engine.evaluate(make_event(value=None)) == []
    assert len(errors) == 1
    rule_id, message = errors[0]
    assert rule_id == "gas"
    assert message and "\n" not in message


def test_evaluation_error_in_one_rule_does_not_stop_the_others(
    load_rules: LoadRules, make_event: MakeEvent
) -> None:
    errors: list[tuple[str, str]] = []
    engine = engine_with(load_rules, GAS + ANY_SENSOR_ALARM, errors)
    assert ids(engine.evaluate(make_event(value=None, status="alarm"))) == ["any-alarm"]
    assert [r for r, _ in errors] == ["gas"]


def test_non_boolean_condition_result_is_an_error(load_rules: LoadRules, make_event: MakeEvent) -> None:
    errors: list[tuple[str, str]] = []
    engine = engine_with(load_rules, GAS.replace("value >= 20.0", "value"), errors)
    assert engine.evaluate(make_event(value=30.0)) == []
    assert errors == [("gas", "condition 'value' must be true or false, got float")]


def test_unevaluable_tier_condition_skips_only_that_tier(
    load_rules: LoadRules, make_event: MakeEvent
) -> None:
    errors: list[tuple[str, str]] = []
    rules = GAS.replace(
        "  when: value >= 20.0\n  tier: red\n",
        "  tier:\n    red: value >= 50.0\n    yellow: status == 'alarm'\n",
    )
    engine = engine_with(load_rules, rules, errors)
    (cand,) = engine.evaluate(make_event(value=None, status="alarm"))
    assert cand.tier == Tier.yellow
    assert [r for r, _ in errors] == ["gas"]


def test_errors_are_ignored_without_a_hook(load_rules: LoadRules, make_event: MakeEvent) -> None:
    engine = Engine(load_rules(GAS).rules)
    assert engine.evaluate(make_event(value=None)) == []


GROUPED = """\
- id: grouped
  title: Grouped
  risk: public_safety
  on: sensor
  kind: combustible_gas
  group_by: [location.grid, source_id, location.street]
  summary: '{location.grid}: gas {value}%LEL at {location.name}'
  route: [fire]
  cooldown: 10m
  action: Evacuate
  tier: red
"""


def test_group_values_come_from_nested_paths_and_absent_ones_are_marked(
    load_rules: LoadRules, make_event: MakeEvent
) -> None:
    engine = engine_with(load_rules, GROUPED)
    (cand,) = engine.evaluate(make_event(value=25.0))
    assert cand.group == {"location.grid": "G-07", "source_id": "dev-1", "location.street": NO_VALUE}
    assert cand.group_key == f"location.grid=G-07|source_id=dev-1|location.street={NO_VALUE}"


def test_candidate_carries_rule_and_event_facts(load_rules: LoadRules, make_event: MakeEvent) -> None:
    engine = engine_with(load_rules, GROUPED)
    event = make_event(value=25.0, at=30)
    (cand,) = engine.evaluate(event, ingested_at=123.5)
    assert (cand.rule_id, cand.rule_version, cand.risk, cand.tier) == (
        "grouped",
        1,
        Risk.public_safety,
        Tier.red,
    )
    assert cand.summary == "G-07: gas 25%LEL at ?"
    assert (cand.route, cand.cooldown, cand.action) == (("fire",), 600.0, "Evacuate")
    assert (cand.event_id, cand.event_time, cand.location) == (event.event_id, event.time, event.location)
    assert (cand.family, cand.kind, cand.ingested_at) == (Family.sensor, "combustible_gas", 123.5)


def test_fingerprint_is_stable_and_differs_per_group(load_rules: LoadRules, make_event: MakeEvent) -> None:
    engine = engine_with(load_rules, GROUPED)
    a1 = engine.evaluate(make_event(value=25.0))[0]
    a2 = engine.evaluate(make_event(value=90.0, at=60))[0]
    other = make_event(value=25.0, location={"city": "C", "grid": "G-08"})
    b = engine.evaluate(other)[0]
    assert a1.fingerprint == a2.fingerprint == fingerprint("grouped", a1.group_key)
    assert b.fingerprint != a1.fingerprint


def test_rule_without_group_by_has_one_group(load_rules: LoadRules, make_event: MakeEvent) -> None:
    engine = engine_with(load_rules, GAS)
    a = engine.evaluate(make_event(value=25.0))[0]
    b = engine.evaluate(make_event(value=25.0, location={"city": "X", "grid": "G-99"}))[0]
    assert a.group == {} and a.group_key == "*"
    assert a.fingerprint == b.fingerprint


def test_disabled_rules_are_ignored(load_rules: LoadRules, make_event: MakeEvent) -> None:
    engine = engine_with(
        load_rules, GAS.replace("  tier: red\n", "  tier: red\n  enabled: false\n") + ANY_SENSOR_ALARM
    )
    assert [r.id for r in engine.rules] == ["any-alarm"]
    assert [r.id for r in engine.candidates_for(Family.sensor, "combustible_gas")] == ["any-alarm"]
    assert engine.evaluate(make_event(value=99.0)) == []


def test_condition_sees_attributes_and_nested_location(load_rules: LoadRules, make_event: MakeEvent) -> None:
    rules = GAS.replace(
        "value >= 20.0",
        "location.grid == 'G-07' && attributes.exists(k, k == 'shift') && attributes.shift == 'night'",
    )
    engine = engine_with(load_rules, rules)
    assert ids(engine.evaluate(make_event(attributes={"shift": "night"}))) == ["gas"]
    assert engine.evaluate(make_event(attributes={"shift": "day"})) == []


def street_rule(rule_id: str, when: str) -> str:
    return f"""\
- id: {rule_id}
  title: {rule_id}
  risk: public_safety
  on: sensor
  kind: combustible_gas
  when: "{when}"
  tier: blue
"""


def test_rules_guarded_by_a_street_are_met_only_on_that_street_and_in_the_order_written(
    load_rules: LoadRules, make_event: MakeEvent
) -> None:
    rules = (
        street_rule("a-street-1", "location.street == 'S1' && value >= 1.0")
        + street_rule("b-any", "value >= 1.0")
        + street_rule("c-street-2", "location.street == 'S2' && value >= 1.0")
        + street_rule("d-street-1", "location.street == 'S1'")
    )
    engine = engine_with(load_rules, rules)
    on_s1 = make_event(value=5.0, location={"city": "C", "street": "S1"})
    on_s2 = make_event(value=5.0, location={"city": "C", "street": "S2"})
    nowhere = make_event(value=5.0, location={"city": "C"})
    assert ids(engine.evaluate(on_s1)) == ["a-street-1", "b-any", "d-street-1"]
    assert ids(engine.evaluate(on_s2)) == ["b-any", "c-street-2"]
    assert ids(engine.evaluate(nowhere)) == ["b-any"]


def test_a_condition_with_an_or_is_evaluated_whatever_the_street(
    load_rules: LoadRules, make_event: MakeEvent
) -> None:
    engine = engine_with(load_rules, street_rule("either", "location.street == 'S1' || value >= 1.0"))
    assert ids(engine.evaluate(make_event(value=5.0, location={"city": "C", "street": "S9"}))) == ["either"]
