"""Rule lint: every mistake an author can make is refused with its file, line and rule id."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from rules.compiler import load_ruleset
from rules.errors import RuleError, RuleSetError
from rules.model import Tier
from rules.routing import Router
from tests.unit.conftest import pack_text

if TYPE_CHECKING:
    from tests.unit.conftest import LoadRules, WriteYaml

GOOD = """\
- id: gas-high
  title: Combustible gas high
  risk: public_safety
  on: sensor
  kind: combustible_gas
  when: value >= 20.0
  tier: red
"""


def errors_of(load_rules: LoadRules, rules: str) -> list[RuleError]:
    with pytest.raises(RuleSetError) as info:
        load_rules(rules)
    return info.value.errors


def only_error(load_rules: LoadRules, rules: str) -> RuleError:
    errors = errors_of(load_rules, rules)
    assert len(errors) == 1, [str(e) for e in errors]
    return errors[0]


def rule(**overrides: str) -> str:
    """GOOD with some keys replaced (value '' drops the key)."""
    lines = []
    for line in GOOD.splitlines():
        key = line.lstrip("- ").split(":", 1)[0]
        if key in overrides:
            if overrides[key]:
                lines.append(f"{line[: line.index(key)]}{key}: {overrides.pop(key)}")
            else:
                overrides.pop(key)
                if line.startswith("- "):
                    raise ValueError("cannot drop the first key")
            continue
        lines.append(line)
    lines.extend(f"  {k}: {v}" for k, v in overrides.items())
    return "\n".join(lines) + "\n"


def line_of(text: str, needle: str) -> int:
    """1-based line of needle in the pack file written for these rules."""
    for i, line in enumerate(pack_text(text).splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(f"{needle!r} not in pack")


def test_a_good_rule_compiles(load_rules: LoadRules) -> None:
    ruleset = load_rules(GOOD)
    (compiled,) = ruleset.rules
    assert compiled.id == "gas-high"
    assert compiled.when is not None and compiled.when.source == "value >= 20.0"
    assert compiled.ladder == ((Tier.red, None),)
    assert compiled.location.line == 4


def test_cel_syntax_error_names_file_line_and_rule(load_rules: LoadRules) -> None:
    text = rule(when="'value >= '")
    err = only_error(load_rules, text)
    assert err.rule_id == "gas-high"
    assert err.location is not None
    assert Path(err.location.file).name == "test.yaml"
    assert err.location.line == line_of(text, "when:")
    assert "does not compile" in err.message
    assert f"test.yaml:{err.location.line}:" in str(err) and "rule 'gas-high'" in str(err)


def test_unknown_field_in_condition_is_refused_listing_known_fields(load_rules: LoadRules) -> None:
    text = rule(when="vlaue >= 20.0")
    err = only_error(load_rules, text)
    assert err.rule_id == "gas-high"
    assert err.location is not None and err.location.line == line_of(text, "when:")
    assert "'vlaue'" in err.message and "sensor events do not have" in err.message
    assert "value" in err.message.split("fields are:")[1]


def test_unknown_field_in_a_tier_ladder_condition_names_the_tier_line(
    load_rules: LoadRules,
) -> None:
    text = rule(tier="\n    red: density > 4\n    yellow: value > 100")
    err = only_error(load_rules, text)
    assert "'density'" in err.message
    assert err.location is not None and err.location.line == line_of(text, "red:")


def test_field_of_another_family_is_unknown(load_rules: LoadRules) -> None:
    err = only_error(load_rules, rule(when="severity >= 4"))
    assert "'severity'" in err.message


def test_comprehension_variables_are_not_flagged(load_rules: LoadRules) -> None:
    ruleset = load_rules(rule(when="attributes.exists(k, k == 'shift') && [1, 2].all(x, x > 0)"))
    assert ruleset.rules[0].when is not None


def test_unknown_kind_is_refused_listing_known_kinds(load_rules: LoadRules) -> None:
    text = rule(kind="combustable_gas")
    err = only_error(load_rules, text)
    assert err.rule_id == "gas-high"
    assert err.location is not None and err.location.line == line_of(text, "kind:")
    assert "kind 'combustable_gas' is not a sensor event kind" in err.message
    assert "combustible_gas" in err.message


def test_kind_of_another_family_is_refused(load_rules: LoadRules) -> None:
    err = only_error(load_rules, rule(kind="[combustible_gas, port_scan]"))
    assert "'port_scan'" in err.message


def test_unknown_group_by_field_is_refused_at_its_item(load_rules: LoadRules) -> None:
    text = rule(group_by="\n    - location.grid\n    - location.gird")
    err = only_error(load_rules, text)
    assert "group_by field 'location.gird'" in err.message
    assert err.location is not None and err.location.line == line_of(text, "- location.gird")


def test_nested_group_by_field_is_accepted(load_rules: LoadRules) -> None:
    ruleset = load_rules(rule(group_by="[location.district, source_id]"))
    assert ruleset.rules[0].group_by == ("location.district", "source_id")


def test_unknown_summary_field_is_refused(load_rules: LoadRules) -> None:
    text = rule(summary="'{location.name} gas at {valeu}%LEL'")
    err = only_error(load_rules, text)
    assert "summary uses '{valeu}'" in err.message
    assert err.location is not None and err.location.line == line_of(text, "summary:")


def test_unknown_agency_in_route_is_refused_listing_declared_ones(load_rules: LoadRules) -> None:
    text = rule(route="[fire, firemen]")
    err = only_error(load_rules, text)
    assert "agency 'firemen'" in err.message and "declared: " in err.message
    assert "fire" in err.message.split("declared:")[1]
    assert err.location is not None and err.location.line == line_of(text, "route:")


def test_unknown_key_is_refused_with_its_line(load_rules: LoadRules) -> None:
    text = rule(colour="red")
    err = only_error(load_rules, text)
    assert err.rule_id == "gas-high"
    assert "unknown key 'colour'" in err.message
    assert err.location is not None and err.location.line == line_of(text, "colour:")


@pytest.mark.parametrize("key", ["strategy", "street", "dictionary"])
def test_unknown_key_is_named_even_if_it_starts_like_a_type_name(load_rules: LoadRules, key: str) -> None:
    text = rule(**{key: "x"})
    err = only_error(load_rules, text)
    assert f"unknown key '{key}'" in err.message
    assert err.location is not None and err.location.line == line_of(text, f"{key}:")


def test_missing_key_is_refused_naming_it(load_rules: LoadRules) -> None:
    err = only_error(load_rules, rule(title=""))
    assert err.rule_id == "gas-high"
    assert "missing required key 'title'" in err.message
    assert err.location is not None and err.location.line == 4


def test_missing_rule_id_does_not_invent_a_rule_id(load_rules: LoadRules) -> None:
    text = "- title: No id\n  risk: public_safety\n  on: sensor\n  tier: red\n"
    err = only_error(load_rules, text)
    assert "missing required key 'id'" in err.message
    assert err.rule_id is None
    assert "None" not in str(err)


def test_invalid_tier_name_is_refused(load_rules: LoadRules) -> None:
    errors = errors_of(load_rules, rule(tier="purple"))
    assert any("rules.0.tier" in e.message and "'red'" in e.message for e in errors)
    assert all(e.rule_id == "gas-high" for e in errors)


def test_empty_tier_ladder_is_refused(load_rules: LoadRules) -> None:
    errors = errors_of(load_rules, rule(tier="{}"))
    assert any("at least one tier" in e.message for e in errors)


def test_bad_cooldown_is_refused_with_the_reason(load_rules: LoadRules) -> None:
    errors = errors_of(load_rules, rule(cooldown="soon"))
    assert any("cannot read duration 'soon'" in e.message for e in errors)


def test_duplicate_rule_id_across_two_files_names_both_locations(
    write_yaml: WriteYaml, router: Router
) -> None:
    first = write_yaml("packs/a.yaml", pack_text(GOOD, pack="a"))
    second = write_yaml(
        "packs/b.yaml",
        pack_text(
            "- id: other\n  title: t\n  risk: public_safety\n  on: sensor\n  tier: blue\n" + GOOD, pack="b"
        ),
    )
    with pytest.raises(RuleSetError) as info:
        load_ruleset([first.parent], router)
    (err,) = info.value.errors
    assert err.rule_id == "gas-high"
    assert "duplicate rule id" in err.message
    assert err.location is not None
    assert (err.location.file, err.location.line) == (second, 9)
    assert f"first defined at {first}:4" in err.message


def test_all_errors_in_all_files_are_collected_in_one_error(write_yaml: WriteYaml, router: Router) -> None:
    a = write_yaml(
        "packs/a.yaml",
        pack_text(rule(kind="nope") + rule(when="1 +").replace("gas-high", "gas-two"), pack="a"),
    )
    write_yaml("packs/b.yaml", pack_text(rule(colour="x"), pack="b"))
    write_yaml("packs/c.yaml", "version: 1\npack: c\nrules: [\n")
    with pytest.raises(RuleSetError) as info:
        load_ruleset([a.parent], router)
    errors = info.value.errors
    assert len(errors) == 4
    assert [Path(e.location.file).name for e in errors if e.location] == [
        "a.yaml",
        "a.yaml",
        "b.yaml",
        "c.yaml",
    ]
    assert str(info.value).startswith("4 error(s) in rules:\n")
    for e in errors:
        assert str(e) in str(info.value)


def test_empty_pack_file_is_refused(write_yaml: WriteYaml, router: Router) -> None:
    path = write_yaml("packs/empty.yaml", "")
    with pytest.raises(RuleSetError, match="file is empty"):
        load_ruleset([path], router)


def test_no_rule_files_is_an_error(tmp_path: Path, router: Router) -> None:
    (tmp_path / "packs").mkdir()
    with pytest.raises(RuleSetError, match="no rule files found"):
        load_ruleset([tmp_path / "packs"], router)


def test_directories_are_searched_for_yaml_and_yml_files(write_yaml: WriteYaml, router: Router) -> None:
    write_yaml("packs/a.yaml", pack_text(GOOD, pack="a"))
    write_yaml("packs/sub/b.yml", pack_text(rule().replace("gas-high", "gas-b"), pack="b"))
    write_yaml("packs/notes.txt", "not yaml")
    ruleset = load_ruleset([write_yaml("x.yaml", "").parent / "packs"], router)
    assert sorted(r.id for r in ruleset.rules) == ["gas-b", "gas-high"]
    assert [p.name for p in ruleset.files] == ["a.yaml", "b.yml"]


def test_pack_test_cases_are_kept_with_their_line(load_rules: LoadRules) -> None:
    tests = "- name: fires\n  events:\n    - {at: 0s, on: sensor, kind: combustible_gas, value: 30}\n"
    ruleset = load_rules(GOOD, tests)
    (case,) = ruleset.cases
    assert case.spec.name == "fires"
    assert case.location.line == pack_text(GOOD, tests).splitlines().index("tests:") + 2


def test_constant_true_condition_is_not_compiled(load_rules: LoadRules) -> None:
    ruleset = load_rules(rule(when="'true'", tier="{red: 'true'}"))
    assert ruleset.rules[0].when is None
    assert ruleset.rules[0].ladder == ((Tier.red, None),)


def test_a_misspelt_location_field_in_a_condition_is_refused(load_rules: LoadRules) -> None:
    error = only_error(load_rules, rule(when="\"location.gird == 'G-07'\""))
    assert "'location.gird'" in error.message
    assert error.rule_id == "gas-high"


def test_location_words_inside_string_literals_are_not_checked(load_rules: LoadRules) -> None:
    load_rules(rule(when="\"source_id != 'location.gird'\""))
