"""Plain conditions compiled to Python give CEL's answers, errors included, on generated input."""

from __future__ import annotations

from typing import Any

import cel
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.cel_subset import CelError, NotPlain, compile_plain
from rules.events import Family
from rules.model import Tier

ERROR = "error"

literals = st.one_of(
    st.integers(-(2**62), 2**62).map(str),
    st.sampled_from(["0", "1", "20", "-1", "9007199254740993", "0.5", "20.0", "-0.0", "1e3", ".5"]),
    st.sampled_from(["'x'", "'y'", "''", '"x"', "'政府'", "true", "false", "null", "'sensor'", "'red'"]),
)
fields = st.sampled_from(["a", "b", "l.k", "l.missing"])
atoms = st.one_of(literals, fields)
relations = st.one_of(
    st.tuples(fields, st.sampled_from(["x|y", "(?i)x|政府", "gov[.]cn|X"])).map(
        lambda t: f"{t[0]}.matches('{t[1]}')"
    ),
    st.tuples(atoms, st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), atoms).map(" ".join),
    st.tuples(atoms, st.lists(literals, max_size=3)).map(lambda t: f"{t[0]} in [{', '.join(t[1])}]"),
)
conditions = st.recursive(
    st.one_of(relations, fields),
    lambda inner: st.one_of(
        inner.map(lambda e: f"!({e})"),
        st.tuples(inner, st.sampled_from(["&&", "||"]), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
    ),
    max_leaves=6,
)
values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([9007199254740992, 9007199254740993, 20, 0, -1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([20.0, 0.5, -0.0, 9007199254740992.0]),
    st.sampled_from(["x", "y", "", "政府", "X"]),
    st.sampled_from([Family.sensor, Tier.red]),  # events hold enums (family): CEL sees their values
)


def _cel(source: str, variables: dict[str, Any]) -> Any:
    try:
        return cel.evaluate(source, variables)
    except Exception:  # whichever CEL raises, the answer compared is "an error"
        return ERROR


@settings(max_examples=1000, deadline=None)
@given(source=conditions, a=values, b=values, k=values)
def test_a_plain_condition_answers_as_cel_does(source: str, a: Any, b: Any, k: Any) -> None:
    fast = compile_plain(source)
    assert fast is not None, source
    variables = {"a": a, "b": b, "l": {"k": k}}
    try:
        got = fast(variables)
    except CelError:
        got = ERROR
    except NotPlain:  # pragma: no cover - every generated value is plain
        pytest.fail("plain values were handed back to CEL")
    expected = _cel(source, variables)
    assert type(got) is type(expected), (source, variables)
    assert got == expected or (got != got and expected != expected), (source, variables)  # NaN


@pytest.mark.parametrize(
    "source",
    [
        "text.matches('^a')",
        "size(text) > 3",
        "value * 2 > 10",
        "a in b",
        "a[0] == 1",
        "x.exists(i, i > 1)",
        "a == 1u",
        "a == 0x10",
        "a == 'it\\'s'",
        "has(a.b)",
        "a ? b : c",
        "-a > 1",
    ],
)
def test_anything_beyond_the_plain_subset_is_left_to_cel(source: str) -> None:
    assert compile_plain(source) is None


def test_a_value_that_is_not_plain_is_handed_back_to_cel() -> None:
    fast = compile_plain("location == null")
    assert fast is not None
    with pytest.raises(NotPlain):
        fast({"location": {"street": "JD05"}})


def test_a_field_holding_an_enum_compares_as_its_value() -> None:
    fast = compile_plain("family == 'sensor'")
    assert fast is not None and fast({"family": Family.sensor}) is True
