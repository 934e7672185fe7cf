"""A rule chosen by its literal guard (``location.street == 'JD05' && rest``) is judged on the
rest alone, with the whole condition's answer, errors included."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from hypothesis import assume, given, settings

from rules.conditions import Activation, compile_condition, literal_guard
from rules.errors import Location
from rules.events import Family
from tests.unit.test_cel_subset import conditions, values

HERE = Location(Path("test.yaml"), 1)
SENSOR_NAMES = {"a": "value", "b": "status", "l": "attributes"}


def _on_sensor_fields(source: str) -> str:
    """The generated condition on a sensor event's fields (a, b and l.k are value, status, attributes.k)."""
    return re.sub(r"(?<![\w.'\"])([abl])(?![\w'\"])", lambda m: SENSOR_NAMES[m.group(1)], source)


def _outcome(source: str, variables: dict[str, Any]) -> object:
    """True, False or "error" (a value that is not a bool is an error to detection)."""
    condition = compile_condition(source, Family.sensor, HERE, "r")
    assert condition is not None
    try:
        value = condition(Activation(variables, condition.reads))
    except Exception:  # whichever, it is "an error"
        return "error"
    return value if isinstance(value, bool) else "error"


def test_the_guard_and_the_rest_are_split_at_the_first_conjunct() -> None:
    split = literal_guard("location.street == 'JD05' && value >= 20")
    assert split == ("location.street", "JD05", "value >= 20")
    assert literal_guard("location.street == 'JD05'") == ("location.street", "JD05", "")
    assert literal_guard("location.street == 'JD05' || value >= 20") is None


@settings(max_examples=500, deadline=None)
@given(rest=conditions, a=values, b=values)
def test_when_the_guard_holds_the_rest_answers_as_the_whole_condition(rest: str, a: Any, b: Any) -> None:
    assume("||" not in rest and "?" not in rest)  # otherwise there is no guard
    rest = _on_sensor_fields(rest)
    whole = f"location.street == 'JD05' && {rest}"
    found = literal_guard(whole)
    assert found is not None and found[2] == rest
    variables = {"location": {"street": "JD05"}, "value": a, "status": b, "attributes": {"k": b}}
    assert _outcome(found[2], variables) == _outcome(whole, variables)
