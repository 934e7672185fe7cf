"""Local time in conditions: ``local.hour``, ``local.weekday``, ... of the event time in the city's zone."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest

from rules.compiler import RuleSet, load_ruleset
from rules.engine import Engine
from rules.errors import RuleSetError
from rules.events import EventBase
from rules.local_time import DEFAULT_CITY_ZONE, local_fields
from rules.routing import Router
from rules.stateful import WindowJudge
from rules.testing import run_cases
from tests.unit.conftest import pack_text

if TYPE_CHECKING:
    from tests.unit.conftest import LoadRules, MakeEvent, WriteYaml

SHANGHAI = ZoneInfo("Asia/Shanghai")


def rule(when: str, **extra: str) -> str:
    lines = [
        "- id: at-night",
        "  title: t",
        "  risk: public_order",
        "  on: camera",
        "  kind: loitering",
        f'  when: "{when}"',
        "  tier: blue",
        *(f"  {k}: {v}" for k, v in extra.items()),
    ]
    return "\n".join(lines) + "\n"


def loitering(make_event: MakeEvent, time: str) -> EventBase:
    return make_event("camera", "loitering", time=datetime.fromisoformat(time))


def fires(ruleset: RuleSet, event: EventBase) -> bool:
    errors: list[str] = []
    found = Engine(ruleset.rules, on_error=lambda r, m: errors.append(m)).evaluate(event)
    assert errors == []
    return bool(found)


def test_the_city_zone_defaults_to_shanghai() -> None:
    assert DEFAULT_CITY_ZONE == SHANGHAI


def test_local_fields_are_the_event_time_read_on_the_city_clock() -> None:
    friday_evening_utc = datetime.fromisoformat("2026-01-09T16:30:00+00:00")
    assert local_fields(friday_evening_utc, SHANGHAI) == {
        "hour": 0,
        "minute": 30,
        "time": "00:30",
        "weekday": 6,
        "day": "sat",
        "date": "2026-01-10",
    }


@pytest.mark.parametrize(
    ("utc", "city", "night"),
    [
        ("2026-01-09T13:59:00Z", "21:59", False),
        ("2026-01-09T14:00:00Z", "22:00", True),
        ("2026-01-09T15:59:00Z", "23:59", True),
        ("2026-01-09T16:00:00Z", "00:00 next day, same UTC date", True),
        ("2026-01-09T21:59:00Z", "05:59", True),
        ("2026-01-09T22:00:00Z", "06:00", False),
    ],
)
def test_a_night_rule_holds_from_22_to_6_city_time_across_midnight(
    load_rules: LoadRules, make_event: MakeEvent, utc: str, city: str, night: bool
) -> None:
    ruleset = load_rules(rule("local.hour >= 22 || local.hour < 6"))
    assert fires(ruleset, loitering(make_event, utc)) is night, city


@pytest.mark.parametrize(
    ("time", "working_day"),
    [
        ("2026-01-09T23:59:00+08:00", True),  # Friday, city time
        ("2026-01-09T16:00:00+00:00", False),  # Saturday 00:00 in the city, still Friday in UTC
        ("2026-01-11T16:00:00+00:00", True),  # Monday 00:00 in the city, still Sunday in UTC
        ("2026-01-11T15:59:00+00:00", False),  # Sunday 23:59 in the city
    ],
)
def test_a_working_day_rule_follows_the_city_date_not_the_utc_date(
    load_rules: LoadRules, make_event: MakeEvent, time: str, working_day: bool
) -> None:
    ruleset = load_rules(rule("local.weekday <= 5"))
    assert fires(ruleset, loitering(make_event, time)) is working_day


def test_local_time_reads_the_zone_given_to_the_compiler(
    write_yaml: WriteYaml, router: Router, make_event: MakeEvent
) -> None:
    path = write_yaml("packs/a.yaml", pack_text(rule("local.time == '00:30'")))
    event = loitering(make_event, "2026-01-09T16:30:00Z")
    assert fires(load_ruleset([path], router), event)
    assert not fires(load_ruleset([path], router, zone=ZoneInfo("Asia/Urumqi")), event)


def test_local_conditions_stay_in_the_fast_plain_subset(load_rules: LoadRules) -> None:
    (compiled,) = load_rules(rule("local.hour >= 22 && local.day in ['fri', 'sat']")).rules
    assert compiled.when is not None and compiled.when.fast is not None


def test_an_unknown_local_field_is_a_lint_error_naming_the_fields(load_rules: LoadRules) -> None:
    with pytest.raises(RuleSetError) as info:
        load_rules(rule("local.hours >= 22"))
    (error,) = info.value.errors
    assert "'local.hours'" in error.message
    assert "hour, minute, time, weekday, day, date" in error.message
    assert error.location is not None and error.location.line == 9


def test_a_summary_may_show_the_local_time(load_rules: LoadRules, make_event: MakeEvent) -> None:
    ruleset = load_rules(rule("true", summary='"{local.date} {local.time} 徘徊"'))
    (candidate,) = Engine(ruleset.rules).evaluate(loitering(make_event, "2026-01-09T16:30:00Z"))
    assert candidate.summary == "2026-01-10 00:30 徘徊"


def test_a_stateful_rule_tier_reads_the_local_time_of_the_firing_event(
    load_rules: LoadRules, make_event: MakeEvent
) -> None:
    counted = """\
- id: loiter-twice
  title: t
  risk: public_order
  on: camera
  kind: loitering
  group_by: [source_id]
  count: {at_least: 2, within: 10m}
  tier: {orange: "local.hour < 6", blue: "true"}
"""
    ruleset = load_rules(counted)
    engine, judge = Engine(ruleset.rules), WindowJudge(ruleset.rules)

    def tier_after(source: str, *times: str) -> str | None:
        state, candidate = None, None
        for time in times:
            event = make_event("camera", "loitering", time=datetime.fromisoformat(time), source_id=source)
            (hit,) = engine.detect(event).hits
            result = judge.on_hit(state, hit, event.time)
            state, candidate = result.state, result.candidate
        return candidate.tier.value if candidate is not None else None

    assert tier_after("A", "2026-01-10T05:50:00+08:00", "2026-01-10T05:55:00+08:00") == "orange"
    assert tier_after("B", "2026-01-09T21:55:00Z", "2026-01-09T22:01:00Z") == "blue"  # 06:01 in the city


def test_a_rule_test_case_runs_across_midnight_on_the_city_clock(load_rules: LoadRules) -> None:
    tests = """\
- name: loitering counts only after midnight
  start: "2026-01-09T23:50:00+08:00"
  events:
    - {at: 0s, on: camera, kind: loitering, source_id: C1}
    - {at: 9m, on: camera, kind: loitering, source_id: C1}
    - {at: 11m, on: camera, kind: loitering, source_id: C2}
  expect:
    - {rule: at-night, group: {source_id: C2}, at: 11m}
"""
    ruleset = load_rules(rule("local.date == '2026-01-10'", group_by="[source_id]"), tests)
    (result,) = run_cases(ruleset)
    assert result.failures == []
