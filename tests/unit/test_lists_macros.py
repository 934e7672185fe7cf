"""Pack lists and macros: named values and conditions shared by every rule loaded with them, linted."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from rules.compiler import RuleSet, load_ruleset
from rules.engine import Engine
from rules.errors import RuleError, RuleSetError
from rules.events import EventBase
from rules.routing import Router

if TYPE_CHECKING:
    from tests.unit.conftest import MakeEvent, WriteYaml

SHARED = """\
lists:
  gov_sites: [市人民政府, 区人民政府]
  hazard_levels: [1, 2]
macros:
  night: local.hour >= 22 || local.hour < 6
  at_gov_site: location.name != null && location.name in gov_sites
  crowded_gov_site: at_gov_site && people != null && people >= 30
"""

CROWD = """\
- id: gov-crowd
  title: crowd at a government site
  risk: political_security
  on: camera
  kind: crowd_gathering
  when: crowded_gov_site
  tier: {orange: "night", yellow: "true"}
"""


def pack(rules: str, head: str = "", name: str = "test") -> str:
    return f"version: 1\npack: {name}\n{head}rules:\n{textwrap.indent(rules, '  ')}"


def load(write_yaml: WriteYaml, router: Router, *files: tuple[str, str]) -> RuleSet:
    paths = [write_yaml(f"packs/{name}", text) for name, text in files]
    return load_ruleset([paths[0].parent], router)


def errors(write_yaml: WriteYaml, router: Router, *files: tuple[str, str]) -> list[RuleError]:
    with pytest.raises(RuleSetError) as info:
        load(write_yaml, router, *files)
    return info.value.errors


def line_of(path: Path, needle: str) -> int:
    return next(
        i for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if needle in line
    )


def gathering(make_event: MakeEvent, name: str, people: int, at: float = 0) -> EventBase:
    return make_event("camera", "crowd_gathering", at=at, people=people, location={"city": "C", "name": name})


def test_a_macro_named_in_when_acts_as_its_condition_with_its_lists_and_macros(
    write_yaml: WriteYaml, router: Router, make_event: MakeEvent
) -> None:
    engine = Engine(load(write_yaml, router, ("a.yaml", pack(CROWD, SHARED))).rules)
    assert [c.rule_id for c in engine.evaluate(gathering(make_event, "市人民政府", 40))] == ["gov-crowd"]
    assert engine.evaluate(gathering(make_event, "市人民政府", 10)) == []
    assert engine.evaluate(gathering(make_event, "市第一中学", 40)) == []


def test_a_macro_in_a_tier_condition_decides_the_tier(
    write_yaml: WriteYaml, router: Router, make_event: MakeEvent
) -> None:
    engine = Engine(load(write_yaml, router, ("a.yaml", pack(CROWD, SHARED))).rules)
    day, night = 0, 14 * 3600  # 09:00 and 23:00 in the city
    (by_day,) = engine.evaluate(gathering(make_event, "区人民政府", 40, at=day))
    (by_night,) = engine.evaluate(gathering(make_event, "区人民政府", 40, at=night))
    assert (by_day.tier.value, by_night.tier.value) == ("yellow", "orange")


def test_lists_and_macros_of_one_pack_serve_the_rules_of_another(
    write_yaml: WriteYaml, router: Router, make_event: MakeEvent
) -> None:
    ruleset = load(
        write_yaml, router, ("a.yaml", pack("[]\n", SHARED, "shared")), ("b.yaml", pack(CROWD, name="b"))
    )
    assert [c.rule_id for c in Engine(ruleset.rules).evaluate(gathering(make_event, "市人民政府", 40))] == [
        "gov-crowd"
    ]


def test_the_rule_keeps_its_condition_as_written_and_names_what_it_uses(
    write_yaml: WriteYaml, router: Router
) -> None:
    (rule,) = load(write_yaml, router, ("a.yaml", pack(CROWD, SHARED))).rules
    assert rule.spec.when == "crowded_gov_site"
    assert rule.uses == {"crowded_gov_site", "at_gov_site", "gov_sites", "night"}
    assert rule.when is not None and "['市人民政府', '区人民政府']" not in rule.when.source
    assert '["市人民政府", "区人民政府"]' in rule.when.source


def test_expanded_conditions_stay_in_the_fast_plain_subset(write_yaml: WriteYaml, router: Router) -> None:
    (rule,) = load(write_yaml, router, ("a.yaml", pack(CROWD, SHARED))).rules
    assert rule.when is not None and rule.when.fast is not None
    assert all(c is None or c.fast is not None for _, c in rule.ladder)


def test_names_in_string_literals_and_member_names_are_not_replaced(
    write_yaml: WriteYaml, router: Router, make_event: MakeEvent
) -> None:
    rules = """\
- id: literal
  title: t
  risk: public_safety
  on: safety
  when: "attributes.night == 'night' && hazard_level in hazard_levels"
  tier: blue
"""
    (rule,) = load(write_yaml, router, ("a.yaml", pack(rules, SHARED))).rules
    assert rule.when is not None
    assert rule.when.source == "attributes.night == 'night' && hazard_level in [1, 2]"
    event = make_event("safety", "tank_pressure", hazard_level=2, attributes={"night": "night"})
    assert [c.rule_id for c in Engine([rule]).evaluate(event)] == ["literal"]


def test_a_sequence_step_may_name_a_macro(write_yaml: WriteYaml, router: Router) -> None:
    rules = """\
- id: steps
  title: t
  risk: cyber_security
  on: cyber
  group_by: [src_ip]
  sequence:
    - {kind: auth_failure, when: from_outside}
    - {kind: auth_success}
  within: 10m
  tier: yellow
"""
    head = "macros:\n  from_outside: \"src_ip != null && !src_ip.startsWith('10.')\"\n"
    (rule,) = load(write_yaml, router, ("a.yaml", pack(rules, head))).rules
    assert rule.uses == {"from_outside"}


def test_a_name_close_to_a_list_suggests_it_at_the_condition_line(
    write_yaml: WriteYaml, router: Router
) -> None:
    text = pack(CROWD.replace("crowded_gov_site", "crowded_gov_sit"), SHARED)
    (error,) = errors(write_yaml, router, ("a.yaml", text))
    assert "uses 'crowded_gov_sit'" in error.message
    assert "did you mean the macro 'crowded_gov_site'" in error.message
    assert error.rule_id == "gov-crowd"
    assert error.location is not None
    assert error.location.line == line_of(write_yaml("packs/a.yaml", text), "when: crowded_gov_sit")


def test_a_macro_using_a_field_the_rule_family_lacks_names_the_macro_and_its_line(
    write_yaml: WriteYaml, router: Router
) -> None:
    rules = CROWD.replace("on: camera", "on: sensor").replace("kind: crowd_gathering", "kind: smoke")
    files = ("a.yaml", pack(rules, SHARED))
    (error,) = errors(write_yaml, router, files)
    path = write_yaml("packs/a.yaml", files[1])
    assert error.message.startswith(
        f"macro 'crowded_gov_site' (defined at {path}:{line_of(path, 'crowded_gov_site:')}"
    )
    assert "uses 'people', which sensor events do not have" in error.message


def test_an_unused_list_or_macro_is_a_warning_at_its_definition(
    write_yaml: WriteYaml, router: Router
) -> None:
    head = SHARED + "  spare: value > 1\n"
    ruleset = load(write_yaml, router, ("a.yaml", pack(CROWD, head)))
    path = Path(ruleset.files[0])
    unused = [(w.message.split(" is ")[0], w.location.line if w.location else None) for w in ruleset.warnings]
    assert unused == [
        ("list 'hazard_levels'", line_of(path, "hazard_levels:")),
        ("macro 'spare'", line_of(path, "spare:")),
    ]


def test_macros_that_use_each_other_in_a_cycle_are_one_error_and_their_rules_are_not_reported_again(
    write_yaml: WriteYaml, router: Router
) -> None:
    head = "macros:\n  a_hot: b_hot && value > 1\n  b_hot: a_hot\n"
    rules = CROWD.replace("crowded_gov_site", "a_hot").replace("on: camera", "on: sensor")
    rules = rules.replace("kind: crowd_gathering", "kind: smoke").replace('"night"', '"true"')
    (error,) = errors(write_yaml, router, ("a.yaml", pack(rules, head)))
    assert "cycle (a_hot -> b_hot -> a_hot)" in error.message
    assert error.location is not None and error.location.line == 4


@pytest.mark.parametrize(
    ("head", "says"),
    [
        ("lists:\n  value: [1]\n", "list name 'value' is an event field"),
        ("lists:\n  size: [1]\n", "list name 'size' is a CEL word or function"),
        ("macros:\n  broken: 'people >='\n", "macro 'broken' ('people >=') does not compile"),
        ("lists:\n  twice: [1]\nmacros:\n  twice: 'true'\n", "macro 'twice' is already defined, as a list"),
    ],
)
def test_a_bad_definition_is_refused_at_its_line(
    write_yaml: WriteYaml, router: Router, head: str, says: str
) -> None:
    found = errors(write_yaml, router, ("a.yaml", pack("[]\n", head)))
    assert [says in e.message for e in found] == [True], [e.message for e in found]
    assert found[0].location is not None and found[0].location.line == 2 + head.count("\n")


def test_a_name_defined_in_two_packs_is_refused_naming_the_first(
    write_yaml: WriteYaml, router: Router
) -> None:
    head = "lists:\n  sites: [a]\n"
    (error,) = errors(
        write_yaml, router, ("a.yaml", pack("[]\n", head, "a")), ("b.yaml", pack("[]\n", head, "b"))
    )
    assert error.location is not None and Path(error.location.file).name == "b.yaml"
    assert "already defined, as a list at " in error.message and "a.yaml:4" in error.message
