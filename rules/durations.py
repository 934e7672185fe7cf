"""Durations as rule authors write them ('90s', '10m', '1h30m', '24h') in seconds."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

from rules.errors import DurationError

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}

MAX_SECONDS = 3650 * 86400.0
"""Ten years: no window, cooldown or test time is longer, and a longer one (a typo, or digits
pasted twice) would overflow the clock's arithmetic instead of being refused with its line."""


def parse_duration(text: str | int | float) -> float:
    """Seconds in a duration; a bare number is seconds."""
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        shown = repr(text) if isinstance(text, bool) or text is None else f"a {type(text).__name__}"
        raise DurationError(f"expected a duration such as '90s' or '10m', got {shown}")
    if isinstance(text, int | float):
        if not math.isfinite(text):
            raise DurationError(f"a duration must be a finite number of seconds, got {text}")
        if text < 0:
            raise DurationError(f"a duration cannot be negative, got {text}")
        return _bounded(float(text), text)
    s = text.strip()
    pos, total = 0, 0.0
    for m in _PART.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT[m.group(2)]
        pos = m.end()
    if pos != len(s) or not s:
        raise DurationError(
            f"cannot read duration {text!r}: "
            "write a number with a unit, e.g. '30s', '10m', '1h30m', '2d'"
        )
    return _bounded(total, text)


def _bounded(seconds: float, text: str | int | float) -> float:
    if not seconds <= MAX_SECONDS:  # also refuses inf and nan
        raise DurationError(f"duration {str(text)[:40]!r} is longer than {MAX_SECONDS / 86400:g} days")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest readable form, used in messages and summaries."""
    if seconds and seconds % 86400 == 0:
        return f"{int(seconds // 86400)}d"
    if seconds and seconds % 3600 == 0:
        return f"{int(seconds // 3600)}h"
    if seconds and seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    return f"{seconds:g}s"


def _coerce(value: Any) -> float:
    try:
        return parse_duration(value)
    except DurationError as exc:
        raise ValueError(str(exc)) from None


_INPUT_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "pattern": r"^\s*(\d+(\.\d+)?(ms|s|m|h|d))+\s*$", "examples": ["90s", "10m"]},
        {"type": "number", "minimum": 0},
    ]
}

Duration = Annotated[
    float, BeforeValidator(_coerce), WithJsonSchema(_INPUT_SCHEMA, mode="validation")
]
"""A pydantic field type: accepts '10m' or seconds, stores seconds (the JSON Schema says both)."""
