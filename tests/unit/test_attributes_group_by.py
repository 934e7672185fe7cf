"""Attributes: an absent key reads as null in conditions; rules may group by ``attributes.<key>``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from rules.compiler import RuleSet
from rules.engine import NO_VALUE, Engine
from rules.errors import RuleSetError
from rules.events import EventBase
from rules.testing import run_cases

if TYPE_CHECKING:
    from tests.unit.conftest import LoadRules, MakeEvent


def rule(when: str = "true", **extra: str) -> str:
    lines = [
        "- id: smoke",
        "  title: t",
        "  risk: public_safety",
        "  on: sensor",
        "  kind: smoke",
        f"  when: {when!r}" if "'" not in when else f'  when: "{when}"',
        "  tier: blue",
        *(f"  {k}: {v}" for k, v in extra.items()),
    ]
    return "\n".join(lines) + "\n"


def smoke(make_event: MakeEvent, **attributes: Any) -> EventBase:
    return make_event("sensor", "smoke", attributes=attributes)


def evaluate(ruleset: RuleSet, event: EventBase) -> tuple[list[str], list[str]]:
    """(rules matched, evaluation errors)."""
    errors: list[str] = []
    found = Engine(ruleset.rules, on_error=lambda r, m: errors.append(m)).evaluate(event)
    return [c.rule_id for c in found], errors


@pytest.mark.parametrize(
    "when",
    [
        "attributes.site_type == 'school'",  # plain: the fast subset
        "attributes.site_type == 'school' && attributes.site_type.startsWith('sch')",  # a call: CEL
        "attributes['site_type'] == 'school'",  # an index: CEL
    ],
)
def test_a_condition_on_an_absent_attribute_is_false_without_an_evaluation_error(
    load_rules: LoadRules, make_event: MakeEvent, when: str
) -> None:
    ruleset = load_rules(rule(when))
    assert evaluate(ruleset, smoke(make_event)) == ([], [])
    assert evaluate(ruleset, smoke(make_event, site_type="office")) == ([], [])
    assert evaluate(ruleset, smoke(make_event, site_type="school")) == (["smoke"], [])


@pytest.mark.parametrize(
    "when",
    ["attributes.site_type == null", "attributes.site_type == null || size(attributes.site_type) > 99"],
)
def test_an_absent_attribute_reads_as_null_in_both_evaluators(
    load_rules: LoadRules, make_event: MakeEvent, when: str
) -> None:
    ruleset = load_rules(rule(when))
    assert evaluate(ruleset, smoke(make_event)) == (["smoke"], [])
    assert evaluate(ruleset, smoke(make_event, site_type="x")) == ([], [])


@pytest.mark.parametrize("when", ["has(attributes.site_type)", "'site_type' in attributes"])
def test_presence_of_an_attribute_can_still_be_asked(
    load_rules: LoadRules, make_event: MakeEvent, when: str
) -> None:
    ruleset = load_rules(rule(when))
    assert evaluate(ruleset, smoke(make_event)) == ([], [])
    assert evaluate(ruleset, smoke(make_event, site_type="x")) == (["smoke"], [])


def test_arithmetic_on_an_absent_attribute_is_still_an_evaluation_error(
    load_rules: LoadRules, make_event: MakeEvent
) -> None:
    # null is not a number: as with any absent field, guard it (attributes.floor != null && ...)
    ruleset = load_rules(rule("attributes.floor * 2 >= 6"))
    matched, errors = evaluate(ruleset, smoke(make_event))
    assert matched == [] and len(errors) == 1


def test_a_rule_grouped_by_an_attribute_opens_one_alert_per_value(
    load_rules: LoadRules, make_event: MakeEvent
) -> None:
    ruleset = load_rules(rule(group_by="[attributes.plant]"))
    engine = Engine(ruleset.rules)
    events = [smoke(make_event, plant="P1"), smoke(make_event, plant="P2"), smoke(make_event)]
    groups = [c.group for event in events for c in engine.evaluate(event)]
    assert groups == [{"attributes.plant": "P1"}, {"attributes.plant": "P2"}, {"attributes.plant": NO_VALUE}]


def test_a_summary_may_show_an_attribute_or_a_default(load_rules: LoadRules, make_event: MakeEvent) -> None:
    ruleset = load_rules(rule(summary='"{attributes.plant|未知厂区} 烟感报警"'))
    engine = Engine(ruleset.rules)
    (named,) = engine.evaluate(smoke(make_event, plant="二号厂区"))
    (unnamed,) = engine.evaluate(smoke(make_event))
    assert (named.summary, unnamed.summary) == ("二号厂区 烟感报警", "未知厂区 烟感报警")


@pytest.mark.parametrize("path", ["attributes.plant.unit", "attribute.plant"])
def test_group_by_a_path_that_is_neither_a_field_nor_an_attribute_key_is_a_lint_error(
    load_rules: LoadRules, path: str
) -> None:
    with pytest.raises(RuleSetError) as info:
        load_rules(rule(group_by=f"[{path}]"))
    (error,) = info.value.errors
    assert f"group_by field '{path}'" in error.message
    assert "attributes.<key>" in error.message
    assert error.location is not None and error.location.line == 11


def test_a_stateful_rule_grouped_by_an_attribute_counts_each_value_apart(load_rules: LoadRules) -> None:
    counted = rule(
        "attributes.zone != null", group_by="[attributes.zone]", count="{at_least: 3, within: 10m}"
    )

    def reading(at: str, zone: str, source: str) -> str:
        event = f"at: {at}, on: sensor, kind: smoke, source_id: {source}, attributes: {{zone: {zone}}}"
        return f"    - {{{event}}}\n"

    tests = (
        "- name: three smoke readings in one zone, from different detectors, fire; two in another do not\n"
        "  events:\n"
        + reading("0s", "Z1", "S1")
        + reading("1m", "Z2", "S2")
        + reading("2m", "Z1", "S3")
        + reading("3m", "Z2", "S4")
        + reading("4m", "Z1", "S5")
        + "    - {at: 5m, on: sensor, kind: smoke, source_id: S6}\n"
        + "  expect:\n"
        + "    - {rule: smoke, group: {attributes.zone: Z1}, at: 4m, window: {count: 3}}\n"
    )
    (result,) = run_cases(load_rules(counted, tests))
    assert result.failures == []
