"""Silences and maintenance windows: time-bounded matchers that withhold notices, never alerts.

A silence matches an alert's labels (rule, risk, tier, family, kind, the place levels and the
rule's group fields). While one is active, notices are withheld from agencies but still made
(``withheld_by`` set: audited and counted). It expires by itself; the next match after it ends
releases the alert. A weekly window (``every`` + ``from``/``to``) is in local time, Asia/Shanghai
by default, and may run past midnight.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pytest
from pydantic import ValidationError

from rules.lifecycle import Publish
from rules.model import Tier
from rules.routing import Router
from rules.silences import Recurrence, Silence, SilenceBook
from tests.unit.conftest import T0
from tests.unit.dispatch_kit import Desk, at, cand, routing

if TYPE_CHECKING:
    from tests.unit.conftest import WriteYaml

CST = timezone(timedelta(hours=8))
SUNDAY = datetime(2026, 1, 11, tzinfo=CST)
"""Midnight at the start of a Sunday, Shanghai time (T0 is the Monday before, 09:00)."""
HOUR = 3600.0
HALF = HOUR / 2
"""Silences in dispatch end before the quiet time (an hour) and the repeat interval (an hour)."""


def silence(matchers: dict[str, Any], start: float = 0.0, end: float = 2 * HOUR, **kw: Any) -> Silence:
    data: dict[str, Any] = {
        "id": "s1",
        "matchers": matchers,
        "starts_at": at(start),
        "ends_at": at(end),
        "author": "wang",
        "reason": "valve replacement",
    }
    data.update(kw)
    return Silence.model_validate(data)


LABELS = {
    "rule": "gas",
    "risk": "public_safety",
    "tier": "yellow",
    "family": "sensor",
    "kind": "combustible_gas",
    "city": "C",
    "district": "D1",
    "street": "S1",
    "community": "CM1",
    "grid": "G-07",
    "source_id": "dev-1",
}


# --- matching -------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", sorted(LABELS))
def test_a_matcher_on_each_label_matches_only_that_value(key: str) -> None:
    assert silence({key: LABELS[key]}).matches(LABELS)
    assert not silence({key: "other"}).matches(LABELS)


def test_all_matchers_must_hold_and_a_list_means_any() -> None:
    assert silence({"rule": "gas", "grid": ["G-01", "G-07"]}).matches(LABELS)
    assert not silence({"rule": "gas", "grid": ["G-01", "G-02"]}).matches(LABELS)
    assert not silence({"rule": "gas", "grid": "G-01"}).matches(LABELS)


def test_a_matcher_on_a_label_the_alert_lacks_does_not_match() -> None:
    assert not silence({"street": "S1"}).matches({"rule": "gas"})


def test_a_silence_needs_matchers_an_author_a_reason_and_an_end_after_its_start() -> None:
    with pytest.raises(ValidationError, match="at least 1 item"):
        silence({})
    with pytest.raises(ValidationError, match="author"):
        silence({"rule": "gas"}, author="")
    with pytest.raises(ValidationError, match="reason"):
        silence({"rule": "gas"}, reason="")
    with pytest.raises(ValidationError, match="a silence must end after it starts"):
        silence({"rule": "gas"}, start=60, end=60)


def test_describe_names_the_silence_its_author_and_reason() -> None:
    assert silence({"rule": "gas"}).describe() == "silence s1 by wang: valve replacement"


# --- one-off windows ------------------------------------------------------------------------------


def test_a_one_off_silence_is_active_from_its_start_until_just_before_its_end() -> None:
    s = silence({"rule": "gas"}, start=60, end=HOUR)
    assert not s.active(at(59.999))
    assert s.active(at(60))
    assert s.active(at(HOUR - 0.001))
    assert not s.active(at(HOUR))


def test_activity_does_not_depend_on_the_zone_the_time_is_written_in() -> None:
    s = silence({"rule": "gas"}, start=60, end=HOUR)
    assert s.active(at(60).astimezone(UTC))
    assert not s.active(at(HOUR).astimezone(UTC))


# --- weekly maintenance windows -------------------------------------------------------------------


def weekly(every: list[str], start: str, end: str, **kw: Any) -> Recurrence:
    return Recurrence.model_validate({"every": every, "from": start, "to": end, **kw})


def sunday(hours: float, days: int = 0) -> datetime:
    return SUNDAY + timedelta(days=days, hours=hours)


def test_weekly_window_covers_its_hours_on_its_days_in_shanghai_time() -> None:
    r = weekly(["sun"], "02:00", "04:00")
    assert r.tz == "Asia/Shanghai"
    assert not r.covers(sunday(2) - timedelta(microseconds=1))
    assert r.covers(sunday(2))
    assert r.covers(sunday(3.99))
    assert not r.covers(sunday(4))
    assert not r.covers(sunday(3, days=-1))  # Saturday
    assert not r.covers(sunday(3, days=1))  # Monday
    assert r.covers(sunday(3, days=7))  # the next Sunday


def test_weekly_window_reads_a_utc_time_as_shanghai_local_time() -> None:
    r = weekly(["sun"], "02:00", "04:00")
    # Sunday 02:30 in Shanghai is Saturday 18:30 UTC.
    assert r.covers(datetime(2026, 1, 10, 18, 30, tzinfo=UTC))
    assert not r.covers(datetime(2026, 1, 11, 2, 30, tzinfo=UTC))


def test_weekly_window_in_another_zone() -> None:
    r = weekly(["sun"], "02:00", "04:00", tz="UTC")
    assert r.covers(datetime(2026, 1, 11, 2, 30, tzinfo=UTC))
    assert not r.covers(sunday(2.5))


def test_weekly_window_across_midnight_belongs_to_the_day_it_starts() -> None:
    r = weekly(["sat"], "22:00", "02:00")
    assert not r.covers(sunday(21.99, days=-1))  # Saturday 21:59
    assert r.covers(sunday(22, days=-1))  # Saturday 22:00
    assert r.covers(sunday(23.5, days=-1))
    assert r.covers(sunday(0))  # Sunday 00:00
    assert r.covers(sunday(1.99))
    assert not r.covers(sunday(2))  # Sunday 02:00: over
    assert not r.covers(sunday(23))  # Sunday night is not a Saturday night
    assert not r.covers(sunday(1, days=-1))  # Saturday 01:00 follows a Friday


def test_a_window_ending_at_midnight_runs_to_the_end_of_the_day() -> None:
    r = weekly(["sun"], "22:00", "00:00")
    assert r.covers(sunday(23.99))
    assert not r.covers(sunday(0, days=1))


def test_weekly_window_every_day_by_default() -> None:
    r = Recurrence.model_validate({"from": "02:00", "to": "04:00"})
    assert all(r.covers(sunday(3, days=d)) for d in range(7))


def test_weekly_window_needs_a_known_zone_and_distinct_times() -> None:
    with pytest.raises(ValidationError, match="unknown time zone 'Mars/Olympus'"):
        weekly(["sun"], "02:00", "04:00", tz="Mars/Olympus")
    with pytest.raises(ValidationError, match="'from' and 'to' to differ"):
        weekly(["sun"], "02:00", "02:00")
    with pytest.raises(ValidationError):
        weekly(["sunday"], "02:00", "04:00")


def test_a_recurring_silence_is_active_only_inside_its_span_and_its_window() -> None:
    s = Silence(
        matchers={"source_id": "dev-1"},
        starts_at=T0,
        ends_at=T0 + timedelta(days=14),
        recurring=weekly(["sun"], "02:00", "04:00"),
        author="ops",
        reason="planned maintenance",
    )
    assert s.active(sunday(3))
    assert not s.active(sunday(5))
    assert s.active(sunday(3, days=7))
    assert not s.active(sunday(3, days=14))  # the span is over: expired by itself


# --- the book -------------------------------------------------------------------------------------


def test_the_book_finds_an_active_matching_silence() -> None:
    book = SilenceBook([silence({"grid": "G-07"}, id="a", start=HOUR, end=2 * HOUR)])
    book.put(silence({"grid": "G-08"}, id="b"))
    assert book.matching(LABELS, at(0)) is None
    found = book.matching(LABELS, at(HOUR))
    assert found is not None and found.id == "a"
    assert [s.id for s in book.all()] == ["b", "a"]
    book.drop("a")
    assert book.get("a") is None and book.matching(LABELS, at(HOUR)) is None


def test_the_book_forgets_silences_that_ended() -> None:
    book = SilenceBook([silence({"grid": "G-07"}, id="a", end=HOUR), silence({"grid": "G-08"}, id="b")])
    book.forget_ended(at(HOUR + 1))
    assert [s.id for s in book.all()] == ["b"]


# --- silences in dispatch -------------------------------------------------------------------------

ROUTES = """\
routes:
  - name: safety
    match: {risk: [public_safety]}
    agencies: [fire]
"""


@pytest.fixture
def router(write_yaml: WriteYaml) -> Router:
    return routing(write_yaml, ROUTES)


def desk_with(router: Router, *silences: Silence) -> Desk:
    desk = Desk(router)
    for s in silences:
        desk.world.silences.put(s)
    return desk


FP = cand("e1", 0).fingerprint


def test_a_silenced_opening_is_still_a_notice_withheld_from_agencies(router: Router) -> None:
    desk = desk_with(router, silence({"rule": "gas", "grid": "G-07"}))
    d = desk.send(cand("e1", 0))
    assert d.reason == "opened"
    assert d.alert is None  # nothing delivered
    (n,) = d.notices
    assert n.withheld_by == n.alert.withheld_by == "silence s1 by wang: valve replacement"
    assert (n.alert.change, n.alert.notice_seq, n.alert.agencies) == ("opened", 1, ["fire"])
    state = desk.state(FP)
    assert state.withheld == n.withheld_by and not state.delivered
    (effect,) = d.effects
    assert isinstance(effect, Publish) and effect.alert is not None and effect.alert.withheld


@pytest.mark.parametrize(
    ("matchers", "silenced"),
    [
        ({"rule": "gas"}, True),
        ({"rule": "other"}, False),
        ({"risk": "public_safety"}, True),
        ({"risk": "public_order"}, False),
        ({"tier": "yellow"}, True),
        ({"tier": ["orange", "red"]}, False),
        ({"family": "sensor"}, True),
        ({"kind": "combustible_gas"}, True),
        ({"kind": "smoke"}, False),
        ({"city": "C"}, True),
        ({"district": "D1"}, True),
        ({"district": "D2"}, False),
        ({"street": "S1"}, True),
        ({"community": "CM1"}, True),
        ({"grid": "G-07"}, True),
        ({"grid": "G-08"}, False),
        ({"location.grid": "G-07"}, True),
        ({"source_id": "dev-1"}, False),  # not a group field of this rule
    ],
)
def test_dispatch_matches_silences_on_the_alert_labels(
    router: Router, matchers: dict[str, Any], silenced: bool
) -> None:
    desk = desk_with(router, silence(matchers))
    (n,) = desk.send(cand("e1", 0, street="S1", community="CM1")).notices
    assert (n.withheld_by is not None) == silenced


def test_a_silence_on_a_tier_lets_a_higher_tier_through(router: Router) -> None:
    desk = desk_with(router, silence({"rule": "gas", "tier": ["blue", "yellow"]}))
    desk.send(cand("e1", 0))
    (n,) = desk.send(cand("e2", 60, Tier.red)).notices
    assert n.alert.change == "tier_raised" and n.withheld_by is None


def test_silenced_matches_are_counted_without_notices(router: Router) -> None:
    desk = desk_with(router, silence({"rule": "gas"}))
    decisions = [desk.send(cand(f"e{i}", i * 60)) for i in range(5)]
    assert [len(d.notices) for d in decisions] == [1, 0, 0, 0, 0]
    assert desk.state(FP).count == 5


def test_every_notice_while_silenced_is_withheld_but_audited(router: Router) -> None:
    desk = desk_with(router, silence({"rule": "gas"}))
    desk.send(cand("e1", 0))
    desk.send(cand("e2", 60, Tier.red))
    assert [(n.change, n.notice_seq, n.withheld_by is not None) for n in desk.notices] == [
        ("opened", 1, True),
        ("tier_raised", 2, True),
    ]


def test_the_next_match_after_the_silence_ends_releases_the_alert(router: Router) -> None:
    desk = desk_with(router, silence({"rule": "gas"}, end=HALF))
    desk.send(cand("e1", 0))
    assert desk.send(cand("e2", HALF - 1)).notices == []
    d = desk.send(cand("e3", HALF + 60))
    assert d.reason == "released"
    (n,) = d.notices
    assert (n.alert.change, n.alert.status, n.alert.notice_seq, n.alert.count) == ("released", "firing", 2, 3)
    assert n.withheld_by is None and d.alert == n.alert
    assert desk.state(FP).withheld is None and desk.state(FP).delivered
    # The index learns it is no longer withheld.
    (effect,) = d.effects
    assert isinstance(effect, Publish) and effect.alert is not None and not effect.alert.withheld
    # Released once: later matches are quiet again.
    assert desk.send(cand("e4", HALF + 120)).notices == []


def test_a_tick_after_the_silence_ends_releases_the_alert(router: Router) -> None:
    desk = desk_with(router, silence({"rule": "gas"}, end=HALF))
    desk.send(cand("e1", 0))
    assert desk.tick(FP, at(HALF - 1)).reason == "waiting"
    d = desk.tick(FP, at(HALF))
    assert d.reason == "released" and d.notices[0].withheld_by is None


def test_a_silence_that_starts_later_withholds_the_next_notice(router: Router) -> None:
    desk = desk_with(router, silence({"rule": "gas"}, start=30 * 60, end=HOUR))
    (opened,) = desk.send(cand("e1", 0)).notices
    assert opened.withheld_by is None
    (raised,) = desk.send(cand("e2", 40 * 60, Tier.red)).notices
    assert raised.withheld_by is not None


def test_resolution_of_an_alert_nobody_heard_is_withheld_too(router: Router) -> None:
    desk = desk_with(router, silence({"rule": "gas"}))
    desk.send(cand("e1", 0))
    (n,) = desk.tick(FP, at(HOUR)).notices
    assert n.alert.change == "resolved" and n.withheld_by == "silence s1 by wang: valve replacement"


def test_resolution_reaches_whoever_heard_it_fire_even_while_silenced(router: Router) -> None:
    desk = desk_with(router, silence({"rule": "gas"}, start=60, end=3 * HOUR))
    desk.send(cand("e1", 0))
    (n,) = desk.tick(FP, at(HOUR)).notices
    assert n.alert.change == "resolved" and n.withheld_by is None
    assert n.alert.agencies == ["fire"]


def test_a_weekly_maintenance_window_withholds_only_inside_it(router: Router) -> None:
    desk = desk_with(
        router,
        Silence(
            id="m1",
            matchers={"location.grid": "G-07"},
            starts_at=T0,
            ends_at=T0 + timedelta(days=30),
            recurring=weekly(["sun"], "02:00", "04:00"),
            author="ops",
            reason="device under planned maintenance",
        ),
    )
    inside = (sunday(3) - T0).total_seconds()
    (n,) = desk.send(cand("e1", inside), now=sunday(3)).notices
    assert n.withheld_by == "silence m1 by ops: device under planned maintenance"
    # Monday 03:00, a day later: the alert resolved meanwhile; the new one is delivered.
    (_, opened) = desk.send(cand("e2", inside + 86400), now=sunday(3, days=1)).notices
    assert opened.alert.change == "opened" and opened.withheld_by is None


def test_an_expired_silence_withholds_nothing(router: Router) -> None:
    desk = desk_with(router, silence({"rule": "gas"}, start=-2 * HOUR, end=-HOUR))
    (n,) = desk.send(cand("e1", 0)).notices
    assert n.withheld_by is None
