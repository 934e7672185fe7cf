"""Generated events in rule tests: one line (`every`, `for`, `values`) stands for a series of events,
numbered deterministically, arriving when the clock reaches them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from pydantic import ValidationError

from rules.errors import RuleSetError
from rules.schema import RuleCaseSpec
from rules.testing import run_cases
from tests.unit.conftest import pack_text

if TYPE_CHECKING:
    from tests.unit.conftest import LoadRules

SENSOR = {"on": "sensor", "kind": "water_level", "source_id": "W1"}


def events_of(*lines: dict[str, Any]) -> list[dict[str, Any]]:
    """The case's events in arrival order, as (at, fields written) without the series keys."""
    spec = RuleCaseSpec.model_validate({"name": "c", "events": list(lines)})
    return [{"at": ev.at, **(ev.model_extra or {})} for ev in spec.events]


def test_a_series_runs_from_at_to_at_plus_for_inclusive_every_interval() -> None:
    events = events_of({"at": "1m", "every": "60s", "for": "30m", **SENSOR})
    assert len(events) == 31
    assert [e["at"] for e in events[:3]] == [60.0, 120.0, 180.0]
    assert events[-1]["at"] == 60.0 + 1800.0


def test_a_list_of_values_is_used_in_turn_and_starts_over() -> None:
    events = events_of({"at": 0, "every": "1m", "for": "4m", "values": {"value": [1.5, 2.5]}, **SENSOR})
    assert [e["value"] for e in events] == [1.5, 2.5, 1.5, 2.5, 1.5]


def test_without_for_a_series_has_one_event_per_value() -> None:
    events = events_of({"at": 0, "every": "10s", "values": {"source_id": ["A", "B", "C"]}, "on": "sensor",
                        "kind": "heartbeat"})
    assert [(e["at"], e["source_id"]) for e in events] == [(0.0, "A"), (10.0, "B"), (20.0, "C")]


def test_a_range_with_a_step_steps_then_holds_at_its_last_value() -> None:
    line = {"at": 0, "every": "1m", "for": "6m", "values": {"value": {"from": 10, "to": 40, "step": 10}}}
    assert [e["value"] for e in events_of({**line, **SENSOR})] == [10, 20, 30, 40, 40, 40, 40]


def test_a_range_without_a_step_is_spread_evenly_from_first_to_last_event() -> None:
    line = {"at": 0, "every": "1m", "for": "4m", "values": {"value": {"from": 0, "to": 2}}}
    assert [e["value"] for e in events_of({**line, **SENSOR})] == [0, 0.5, 1, 1.5, 2]


def test_a_falling_range_steps_down() -> None:
    line = {"at": 0, "every": "1m", "values": {"value": {"from": 30, "to": 10, "step": -10}}}
    assert [e["value"] for e in events_of({**line, **SENSOR})] == [30, 20, 10]


def test_a_nested_field_can_vary_and_keeps_the_rest_of_its_mapping() -> None:
    line = {"at": 0, "every": "1m", "for": "1m", "location": {"city": "C", "grid": "G1"},
            "values": {"location.name": ["east", "west"]}, **SENSOR}
    assert [e["location"] for e in events_of(line)] == [
        {"city": "C", "grid": "G1", "name": "east"},
        {"city": "C", "grid": "G1", "name": "west"},
    ]


def test_generated_event_ids_are_unique_numbered_by_line_and_the_same_every_time() -> None:
    lines = [{"at": 0, **SENSOR}, {"at": 0, "every": "1m", "for": "2m", **SENSOR}]
    first = [e["event_id"] for e in events_of(*lines) if "event_id" in e]
    assert first == ["case-event-2-1", "case-event-2-2", "case-event-2-3"]
    assert first == [e["event_id"] for e in events_of(*lines) if "event_id" in e]


def test_an_explicit_event_id_on_a_series_is_numbered() -> None:
    events = events_of({"at": 0, "every": "1m", "for": "1m", "event_id": "hb", **SENSOR})
    assert [e["event_id"] for e in events] == ["hb-1", "hb-2"]


def test_two_series_of_different_devices_interleave_by_time() -> None:
    a = {"at": 0, "every": "1m", "for": "2m", "on": "sensor", "kind": "heartbeat", "source_id": "A"}
    b = {**a, "at": "30s", "source_id": "B"}
    assert [(e["at"], e["source_id"]) for e in events_of(a, b)] == [
        (0.0, "A"), (30.0, "B"), (60.0, "A"), (90.0, "B"), (120.0, "A"), (150.0, "B")
    ]


def test_a_line_written_after_a_series_arrives_at_its_own_time_not_late() -> None:
    series = {"at": 0, "every": "1m", "for": "3m", **SENSOR}
    events = events_of(series, {"at": "90s", "value": 9.0, **SENSOR})
    assert [e["at"] for e in events] == [0.0, 60.0, 90.0, 120.0, 180.0]


def test_a_series_event_at_the_time_of_a_line_written_after_it_comes_first() -> None:
    series = {"at": 0, "every": "1m", "for": "2m", "value": 1.0, **SENSOR}
    events = events_of(series, {"at": "1m", "value": 2.0, **SENSOR})
    assert [(e["at"], e["value"]) for e in events] == [(0.0, 1.0), (60.0, 1.0), (60.0, 2.0), (120.0, 1.0)]


def test_written_lines_keep_their_order_so_a_late_line_stays_late() -> None:
    series: dict[str, Any] = {"at": 0, "every": "2m", "for": "6m", **SENSOR}
    events = events_of({"at": "5m", **SENSOR}, {"at": "1m", **SENSOR}, series)
    assert [e["at"] for e in events] == [0.0, 120.0, 240.0, 300.0, 60.0, 360.0]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ({"for": "5m"}, "needs 'every'"),
        ({"values": {"value": [1]}}, "needs 'every'"),
        ({"every": "1m"}, "needs 'for'"),
        ({"every": "1m", "for": "5m", "values": {"at": [1, 2]}}, "'at' cannot vary"),
        ({"every": "1m", "for": "5m", "values": {"event_id": ["a"]}}, "'event_id' cannot vary"),
        ({"every": "1m", "for": "5m", "value": 3, "values": {"value": [1]}}, "as a field and in 'values'"),
        ({"every": "1m", "values": {"value": {"from": 1, "to": 5}}}, "has no step"),
        ({"every": "1m", "values": {"value": {"from": 1, "to": 5, "step": -1}}}, "use step: 1"),
        ({"every": "1m", "values": {"value": []}}, "at least 1 item"),
        ({"every": "1s", "for": "30d"}, "a series has at most 10,000"),
    ],
)
def test_a_series_that_cannot_mean_anything_is_refused_saying_why(line: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        events_of({"at": 0, **SENSOR, **line})


GAS = """\
- id: gas
  title: Gas
  risk: public_safety
  on: sensor
  kind: combustible_gas
  group_by: [source_id]
  route: [fire]
  tier:
    red: value >= 50.0
    yellow: value >= 20.0
"""


def test_a_generated_ramp_raises_what_the_same_events_written_out_raise(load_rules: LoadRules) -> None:
    series = "    - {at: 0s, every: 1m, for: 4m, on: sensor, kind: combustible_gas, source_id: G1,\n" \
             "       values: {value: {from: 10, to: 60, step: 10}}}\n"
    expect = "    - {rule: gas, tier: yellow, at: 1m}\n    - {rule: gas, tier: red, at: 4m, count: 4}\n"
    (result,) = run_cases(load_rules(GAS, f"- name: ramp\n  events:\n{series}  expect:\n{expect}"))
    assert result.failures == []


def test_an_invalid_generated_event_is_named_by_its_line_and_place_in_the_series(
    load_rules: LoadRules,
) -> None:
    series = "    - {at: 0s, every: 1m, for: 2m, on: sensor, kind: co, values: {value: [1, x]}}\n"
    (result,) = run_cases(load_rules(GAS, f"- name: bad\n  events:\n{series}"))
    assert result.failures[0].startswith(
        "event 1 (the 2nd of its series, at 60s) is not a valid event: sensor.value"
    )


def test_a_series_shape_error_names_the_line_it_is_written_on(load_rules: LoadRules) -> None:
    events = "    - {at: 0s, on: sensor, kind: combustible_gas}\n    - {at: 0s, on: sensor, for: 5m}\n"
    tests = f"- name: bad\n  events:\n{events}"
    with pytest.raises(RuleSetError) as info:
        load_rules(GAS, tests)
    (err,) = info.value.errors
    written = next(i for i, line in enumerate(pack_text(GAS, tests).splitlines(), 1) if "for: 5m" in line)
    assert err.location is not None and err.location.line == written
    assert "needs 'every'" in err.message
