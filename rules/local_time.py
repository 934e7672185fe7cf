"""The event's time as the city reads its clock: ``local.hour``, ``local.weekday``, ... in conditions.

Rules that apply only at night or on working days must not depend on the zone the source wrote
its timestamp in (a camera platform in UTC, a hotline system in +08:00), nor on the worker's own
zone: the event time is converted to the city's zone (setting ``city_zone``), which the caller
passes in. The fields are plain values (numbers and strings), so conditions on them stay in the
plain CEL subset and cost no more than any other field.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

LOCAL = "local"
"""The variable a condition reads them under: ``local.hour >= 22 || local.hour < 6``."""

DEFAULT_CITY_ZONE: tzinfo = ZoneInfo("Asia/Shanghai")

LOCAL_FIELDS: dict[str, str] = {
    "hour": "0-23",
    "minute": "0-59",
    "time": "'HH:MM', e.g. '22:05' (compares as text: local.time >= '22:30')",
    "weekday": "1 Monday ... 7 Sunday (ISO 8601)",
    "day": "'mon' ... 'sun', as silences write days",
    "date": "'YYYY-MM-DD', e.g. '2026-02-17'",
}
"""What ``local`` holds, and how each reads."""

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def local_fields(time: datetime, zone: tzinfo) -> dict[str, Any]:
    """The fields of ``LOCAL_FIELDS`` for an (aware) event time in ``zone``."""
    t = time.astimezone(zone)
    return {
        "hour": t.hour,
        "minute": t.minute,
        "time": f"{t.hour:02d}:{t.minute:02d}",
        "weekday": t.isoweekday(),
        "day": _DAYS[t.weekday()],
        "date": t.date().isoformat(),
    }
