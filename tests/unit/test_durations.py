"""Durations as rule authors write them: '90s', '10m', '1h30m', or a bare number of seconds."""

from __future__ import annotations

import math

import pytest
from pydantic import BaseModel, ValidationError

from rules.durations import Duration, format_duration, parse_duration
from rules.errors import DurationError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("250ms", 0.25), ("45s", 45.0), ("10m", 600.0), ("2h", 7200.0), ("3d", 259200.0)],
)
def test_each_unit_converts_to_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_compound_duration_adds_its_parts() -> None:
    assert parse_duration("1h30m") == 5400.0
    assert parse_duration("1d2h3m4s") == 86400 + 7200 + 180 + 4


def test_fractional_amount_is_allowed() -> None:
    assert parse_duration("1.5h") == 5400.0


def test_bare_number_is_seconds() -> None:
    assert parse_duration(90) == 90.0
    assert parse_duration(2.5) == 2.5


def test_zero_is_a_valid_duration() -> None:
    assert parse_duration("0s") == 0.0
    assert parse_duration(0) == 0.0


def test_surrounding_whitespace_is_ignored() -> None:
    assert parse_duration("  10m ") == 600.0


@pytest.mark.parametrize("text", ["10", "10w", "m", "ten minutes", "10 m", "10m5", "10mx", "1h-5m"])
def test_text_that_is_not_number_unit_pairs_is_refused(text: str) -> None:
    with pytest.raises(DurationError, match="cannot read duration"):
        parse_duration(text)


def test_empty_text_is_refused() -> None:
    with pytest.raises(DurationError):
        parse_duration("")
    with pytest.raises(DurationError):
        parse_duration("   ")


def test_negative_text_is_refused() -> None:
    with pytest.raises(DurationError):
        parse_duration("-5m")


def test_negative_number_is_refused() -> None:
    with pytest.raises(DurationError, match="negative"):
        parse_duration(-1)


def test_boolean_is_refused_although_it_is_an_int() -> None:
    with pytest.raises(DurationError):
        parse_duration(True)


@pytest.mark.parametrize("value", [math.inf, math.nan])
def test_non_finite_number_is_refused(value: float) -> None:
    # YAML `.inf` / `.nan` would otherwise reach timedelta() in dispatch and crash the worker.
    with pytest.raises(DurationError):
        parse_duration(value)


def test_refusal_shows_how_to_write_a_duration() -> None:
    with pytest.raises(DurationError) as info:
        parse_duration("soon")
    assert "'soon'" in str(info.value)
    assert "'10m'" in str(info.value)


def test_duration_error_is_a_value_error() -> None:
    assert issubclass(DurationError, ValueError)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (86400.0, "1d"),
        (172800.0, "2d"),
        (7200.0, "2h"),
        (600.0, "10m"),
        (90.0, "90s"),
        (5400.0, "90m"),
        (0.0, "0s"),
        (0.5, "0.5s"),
    ],
)
def test_format_uses_the_largest_whole_unit(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize("seconds", [0.0, 0.5, 45.0, 90.0, 600.0, 5400.0, 7200.0, 86400.0])
def test_format_then_parse_round_trips(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


class _WithDuration(BaseModel):
    cooldown: Duration


def test_duration_field_accepts_text_and_stores_seconds() -> None:
    assert _WithDuration(cooldown="10m").cooldown == 600.0
    assert _WithDuration(cooldown=30).cooldown == 30.0


def test_duration_field_refusal_is_a_validation_error_with_the_reason() -> None:
    with pytest.raises(ValidationError, match="cannot read duration 'soon'"):
        _WithDuration(cooldown="soon")
