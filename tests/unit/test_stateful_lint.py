"""Lint of stateful rules: a mistake that would make a window quietly wrong is refused at load,
with the file, the line of the offending key and a message saying what to write instead."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from rules.errors import RuleError, RuleSetError
from rules.forms import CountForm, SequenceForm
from tests.unit.conftest import pack_text

if TYPE_CHECKING:
    from tests.unit.conftest import LoadRules

HEAD = """\
- id: crowd
  title: Crowd
  risk: public_order
  on: camera
  kind: crowd_density
  group_by: [location.grid]
"""


def only_error(load_rules: LoadRules, rules: str) -> RuleError:
    with pytest.raises(RuleSetError) as info:
        load_rules(rules)
    errors = info.value.errors
    assert len(errors) == 1, [str(e) for e in errors]
    return errors[0]


def line_of(rules: str, needle: str) -> int:
    """1-based line of the first line containing needle in the pack written for these rules."""
    for i, line in enumerate(pack_text(rules).splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(f"{needle!r} not in pack")


def refused_at(load_rules: LoadRules, rules: str, needle: str, *fragments: str) -> RuleError:
    """The one error for these rules: on the line of needle, naming the rule, saying each fragment."""
    err = only_error(load_rules, rules)
    assert err.location is not None
    assert Path(err.location.file).name == "test.yaml"
    assert err.location.line == line_of(rules, needle), (str(err), needle)
    assert err.rule_id is not None and f"rule '{err.rule_id}'" in str(err)
    for fragment in fragments:
        assert fragment in err.message, (fragment, err.message)
    return err


# --- good stateful rules compile ---------------------------------------------------------------


def test_a_count_rule_compiles_to_its_form(load_rules: LoadRules) -> None:
    (rule,) = load_rules(HEAD + "  count: {at_least: 3, within: 10m}\n  tier: orange\n").rules
    assert rule.form == CountForm(at_least=3, within=600.0)
    assert rule.stateful and rule.kinds == ("crowd_density",)


@pytest.mark.parametrize(
    ("form", "keys"),
    [
        ("count: {at_least: 3, within: 10m}", ["count", "span"]),
        ("distinct: {field: source_id, at_least: 3, within: 10m}", ["distinct", "count"]),
        ("aggregate: {fn: avg, field: people, at_least: 100, within: 10m}", ["value", "count"]),
        (
            "aggregate: {fn: max, field: people, rise_pct: 50, within: 10m}",
            ["value", "count", "previous", "change", "change_pct"],
        ),
        ("holds_for: {duration: 5m, max_gap: 2m}", ["held", "count"]),
        ("absent_for: 30m", ["absent"]),
    ],
)
def test_every_window_figure_of_a_form_may_be_read_by_tiers_and_summary(
    load_rules: LoadRules, form: str, keys: list[str]
) -> None:
    ladder = ", ".join(
        f"{t}: 'window.{k} >= 0'" for t, k in zip(["red", "orange", "yellow", "blue"], keys, strict=False)
    )
    summary = " ".join(f"{{window.{k}}}" for k in keys)
    load_rules(HEAD + f"  {form}\n  tier: {{{ladder}}}\n  summary: '{summary}'\n")


def test_a_sequence_compiles_with_its_steps_and_within(load_rules: LoadRules) -> None:
    rules = """\
- id: brute
  title: Brute force
  risk: cyber_security
  on: cyber
  sequence:
    - {kind: auth_failure, count: {at_least: 5, within: 2m}}
    - kind: auth_success
      when: user != null
  within: 10m
  tier: {red: "window.count >= 20", orange: "true"}
"""
    (rule,) = load_rules(rules).rules
    assert isinstance(rule.form, SequenceForm)
    assert rule.form.within == 600
    assert [(s.kinds, s.at_least, s.within) for s in rule.form.steps] == [
        (("auth_failure",), 5, 120.0),
        (("auth_success",), 1, 0.0),
    ]
    assert rule.form.steps[1].when is not None and rule.form.steps[1].when.source == "user != null"


# --- forms ------------------------------------------------------------------------------------


def test_two_forms_in_one_rule_are_refused_at_the_second(load_rules: LoadRules) -> None:
    rules = HEAD + (
        "  count: {at_least: 3, within: 10m}\n"
        "  distinct: {field: source_id, at_least: 2, within: 10m}\n"
        "  tier: orange\n"
    )
    refused_at(load_rules, rules, "distinct:", "at most one stateful form", "count and distinct", "split it")


def test_absent_for_with_a_window_is_two_forms(load_rules: LoadRules) -> None:
    rules = HEAD + "  holds_for: 5m\n  absent_for: 10m\n  tier: blue\n"
    refused_at(load_rules, rules, "absent_for:", "holds_for and absent_for")


def test_a_sequence_without_within_is_refused(load_rules: LoadRules) -> None:
    rules = """\
- id: brute
  title: Brute force
  risk: cyber_security
  on: cyber
  sequence:
    - {kind: auth_failure}
    - {kind: auth_success}
  tier: orange
"""
    refused_at(load_rules, rules, "sequence:", "a sequence needs 'within'", "within: 15m")


def test_within_without_a_sequence_is_refused(load_rules: LoadRules) -> None:
    rules = HEAD + "  within: 10m\n  tier: orange\n"
    refused_at(
        load_rules, rules, "within:", "'within' bounds a sequence", "count: {at_least: 3, within: 10m}"
    )


def test_within_beside_a_count_is_refused_pointing_at_the_count_form(load_rules: LoadRules) -> None:
    rules = HEAD + "  count: {at_least: 3, within: 10m}\n  within: 10m\n  tier: orange\n"
    refused_at(load_rules, rules, "  within: 10m", "'within' bounds a sequence")


def test_a_sequence_of_one_step_is_refused(load_rules: LoadRules) -> None:
    rules = HEAD + "  sequence: [{kind: crowd_density}]\n  within: 10m\n  tier: orange\n"
    err = only_error(load_rules, rules)
    assert "rules.0.sequence" in err.message and "at least 2" in err.message


def test_an_aggregate_needs_exactly_one_comparison(load_rules: LoadRules) -> None:
    rules = (
        HEAD + "  aggregate: {fn: avg, field: people, at_least: 1, at_most: 9, within: 10m}\n  tier: blue\n"
    )
    err = only_error(load_rules, rules)
    assert "exactly one of at_least, at_most, rise_by, rise_pct" in err.message
    assert "got at_least, at_most" in err.message


def test_a_count_of_zero_is_refused_as_a_shape_error(load_rules: LoadRules) -> None:
    rules = HEAD + "  count: {at_least: 0, within: 10m}\n  tier: blue\n"
    err = only_error(load_rules, rules)
    assert err.rule_id == "crowd"
    assert "rules.0.count.at_least" in err.message and "greater than or equal to 1" in err.message
    assert err.location is not None and err.location.line == line_of(rules, "count:")


# --- windows and lateness ---------------------------------------------------------------------


def test_a_window_shorter_than_the_default_lateness_is_refused(load_rules: LoadRules) -> None:
    rules = HEAD + "  count: {at_least: 3, within: 30s}\n  tier: orange\n"
    refused_at(
        load_rules,
        rules,
        "count:",
        "the window (30s) is shorter than the allowed lateness (1m)",
        "Widen the window or set a smaller 'lateness'",
    )


def test_a_window_shorter_than_a_declared_lateness_is_refused(load_rules: LoadRules) -> None:
    rules = HEAD + (
        "  aggregate:\n    fn: avg\n    field: people\n    at_least: 100\n    within: 5m\n"
        "  lateness: 10m\n  tier: orange\n"
    )
    refused_at(load_rules, rules, "within: 5m", "the window (5m) is shorter than the allowed lateness (10m)")


def test_a_window_as_long_as_the_lateness_is_accepted(load_rules: LoadRules) -> None:
    load_rules(
        HEAD + "  distinct: {field: source_id, at_least: 2, within: 2m}\n  lateness: 2m\n  tier: blue\n"
    )


def test_a_smaller_lateness_makes_a_short_window_acceptable(load_rules: LoadRules) -> None:
    load_rules(HEAD + "  count: {at_least: 3, within: 30s}\n  lateness: 10s\n  tier: blue\n")


def test_a_sequence_within_shorter_than_the_lateness_is_refused(load_rules: LoadRules) -> None:
    rules = """\
- id: brute
  title: Brute force
  risk: cyber_security
  on: cyber
  sequence: [{kind: auth_failure}, {kind: auth_success}]
  within: 30s
  tier: orange
"""
    refused_at(load_rules, rules, "within: 30s", "shorter than the allowed lateness (1m)")


def test_a_step_counting_longer_than_the_sequence_within_is_refused(load_rules: LoadRules) -> None:
    rules = """\
- id: brute
  title: Brute force
  risk: cyber_security
  on: cyber
  sequence:
    - {kind: auth_failure, count: {at_least: 3, within: 20m}}
    - {kind: auth_success}
  within: 15m
  tier: orange
"""
    refused_at(
        load_rules, rules, "within: 20m", "step 1 counts within 20m, longer than the sequence's within (15m)"
    )


# --- fields -----------------------------------------------------------------------------------


def test_a_distinct_field_the_family_does_not_have_is_refused(load_rules: LoadRules) -> None:
    rules = """\
- id: wage
  title: Wage arrears
  risk: social_conflict
  on: hotline
  kind: wage_arrears
  distinct:
    field: caller
    at_least: 3
    within: 24h
  tier: orange
"""
    err = refused_at(
        load_rules, rules, "field: caller", "distinct field 'caller' is not a hotline event field"
    )
    assert "caller_hash" in err.message.split("fields are:")[1]


def test_a_nested_distinct_field_is_accepted(load_rules: LoadRules) -> None:
    load_rules(HEAD + "  distinct: {field: location.grid, at_least: 3, within: 1h}\n  tier: blue\n")


def test_an_aggregate_field_that_is_not_numeric_is_refused(load_rules: LoadRules) -> None:
    rules = """\
- id: gas
  title: Gas
  risk: public_safety
  on: sensor
  aggregate:
    fn: avg
    field: unit
    at_least: 20
    within: 10m
  tier: red
"""
    err = refused_at(
        load_rules, rules, "field: unit", "aggregate field 'unit' is not a numeric sensor event field"
    )
    assert err.message.endswith("numeric fields are: battery, value")


def test_an_aggregate_field_the_family_does_not_have_is_refused(load_rules: LoadRules) -> None:
    rules = HEAD + "  aggregate: {fn: sum, field: value, at_least: 20, within: 10m}\n  tier: red\n"
    err = refused_at(
        load_rules, rules, "aggregate:", "aggregate field 'value' is not a numeric camera event field"
    )
    assert "people" in err.message.split("numeric fields are:")[1]


# --- window figures ---------------------------------------------------------------------------


def test_an_unknown_window_figure_in_a_tier_is_refused_listing_the_forms_figures(
    load_rules: LoadRules,
) -> None:
    rules = (
        HEAD
        + "  count: {at_least: 3, within: 10m}\n  tier:\n    red: window.distinct >= 3\n    orange: 'true'\n"
    )
    refused_at(load_rules, rules, "red:", "'window.distinct'", "windows of this rule", "count, span")


def test_a_figure_of_another_form_is_unknown(load_rules: LoadRules) -> None:
    rules = HEAD + "  holds_for: 5m\n  tier: {red: 'window.span > 600', yellow: 'true'}\n"
    refused_at(load_rules, rules, "tier:", "'window.span'", "held, count")


def test_window_in_when_is_refused(load_rules: LoadRules) -> None:
    rules = HEAD + "  when: window.count >= 3\n  count: {at_least: 3, within: 10m}\n  tier: orange\n"
    refused_at(
        load_rules,
        rules,
        "when:",
        "'window'",
        "'window' is only known in the tier conditions of a stateful rule",
    )


def test_window_in_a_stateless_rule_is_refused(load_rules: LoadRules) -> None:
    rules = HEAD + "  tier: {red: 'window.count >= 3', blue: 'true'}\n"
    refused_at(load_rules, rules, "tier:", "'window' is only known in the tier conditions of a stateful rule")


def test_window_in_a_step_condition_is_refused(load_rules: LoadRules) -> None:
    rules = """\
- id: brute
  title: Brute force
  risk: cyber_security
  on: cyber
  sequence:
    - {kind: auth_failure}
    - {kind: auth_success, when: window.count > 3}
  within: 15m
  tier: orange
"""
    refused_at(load_rules, rules, "window.count > 3", "'window' is only known in the tier conditions")


def test_a_summary_using_an_unknown_window_figure_is_refused(load_rules: LoadRules) -> None:
    rules = HEAD + "  count: {at_least: 3, within: 10m}\n  tier: orange\n  summary: '{window.held}s'\n"
    refused_at(load_rules, rules, "summary:", "summary uses '{window.held}'", "(window figures: count, span)")


def test_a_summary_of_a_stateless_rule_cannot_use_window_figures(load_rules: LoadRules) -> None:
    rules = HEAD + "  tier: orange\n  summary: '{window.count} crowds'\n"
    refused_at(load_rules, rules, "summary:", "summary uses '{window.count}'")


# --- sequence kinds ---------------------------------------------------------------------------


def test_a_step_kind_not_in_the_family_vocabulary_is_refused_at_its_step(load_rules: LoadRules) -> None:
    rules = """\
- id: brute
  title: Brute force
  risk: cyber_security
  on: cyber
  sequence:
    - {kind: auth_failure, count: {at_least: 3, within: 5m}}
    - {kind: auth_sucess}
  within: 15m
  tier: orange
"""
    err = refused_at(load_rules, rules, "auth_sucess", "kind 'auth_sucess' is not a cyber event kind")
    assert "auth_success" in err.message


def test_a_step_kind_the_rules_kind_leaves_out_is_refused(load_rules: LoadRules) -> None:
    rules = """\
- id: brute
  title: Brute force
  risk: cyber_security
  on: cyber
  kind: [auth_failure]
  sequence:
    - {kind: auth_failure}
    - {kind: auth_success}
  within: 15m
  tier: orange
"""
    refused_at(
        load_rules, rules, "{kind: auth_success}", "step 2 reads kinds ['auth_success']", "'kind' leaves out"
    )


def test_a_step_condition_naming_an_unknown_field_is_refused_at_its_step(load_rules: LoadRules) -> None:
    rules = """\
- id: brute
  title: Brute force
  risk: cyber_security
  on: cyber
  sequence:
    - {kind: auth_failure}
    - {kind: auth_success, when: "usr == 'root'"}
  within: 15m
  tier: orange
"""
    refused_at(load_rules, rules, "usr ==", "'usr'", "cyber events do not have")
