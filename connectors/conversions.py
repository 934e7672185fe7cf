"""Named unit conversions a mapping can apply to a number (``convert: degF_to_degC``).

Devices report in the units their vendor chose; rules are written in one unit per kind (docs/events.md),
so the edge converts. A conversion is a named function rather than a formula in YAML, so a mapping
cannot hide arithmetic mistakes and the list of what exists is in one place.
"""

from __future__ import annotations

from collections.abc import Callable

Conversion = Callable[[float], float]


def _linear(scale: float, offset: float = 0.0) -> Conversion:
    return lambda x: x * scale + offset


def _cef_severity_to_5(x: float) -> float:
    """CEF severity 0-10 onto the cyber contract's 1-5 (0-3 low, 4-6 medium, 7-8 high, 9-10 very high)."""
    if x <= 1:
        return 1
    if x <= 3:
        return 2
    if x <= 6:
        return 3
    if x <= 8:
        return 4
    return 5


CONVERSIONS: dict[str, Conversion] = {
    "degF_to_degC": lambda f: (f - 32.0) * 5.0 / 9.0,
    "K_to_degC": _linear(1.0, -273.15),
    "mm_to_cm": _linear(0.1),
    "m_to_cm": _linear(100.0),
    "kPa_to_MPa": _linear(0.001),
    "Pa_to_kPa": _linear(0.001),
    "bar_to_MPa": _linear(0.1),
    "psi_to_kPa": _linear(6.894757),
    "percent_vol_CH4_to_percent_LEL": _linear(20.0),
    "ratio_to_percent": _linear(100.0),
    "percent_to_ratio": _linear(0.01),
    "ms_to_s": _linear(0.001),
    "cef_severity_to_5": _cef_severity_to_5,
}
"""Methane's lower explosive limit is 5 % by volume, so 1 % vol is 20 % LEL."""
