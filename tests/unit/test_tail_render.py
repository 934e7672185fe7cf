"""What a duty officer reads in `riskstream tail`: tier or resolution first, then the window's figures,
who took the alert on and who closed it, and times in the city's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from rules.alerts import Alert, to_cloudevent
from rules.events import Family, Location
from rules.model import Risk, Tier
from streams.tail import render

NOW = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def alert(**over: object) -> Alert:
    base: dict[str, object] = {
        "alert_id": "0f8e7c1a-0000-5000-8000-000000000000",
        "fingerprint": "f" * 24,
        "rule_id": "crowd",
        "rule_version": 1,
        "risk": Risk.public_order,
        "tier": Tier.orange,
        "tier_level": "II",
        "title": "人群聚集",
        "summary": "G-07 crowded",
        "family": Family.camera,
        "kind": "crowd_density",
        "group": {"location.grid": "G-07"},
        "group_key": "location.grid=G-07",
        "location": Location(city="C", grid="G-07"),
        "grid_path": ["C", "G-07"],
        "first_seen": NOW,
        "last_seen": NOW,
        "count": 1,
        "evidence": ["e1"],
        "agencies": ["police"],
        "routed_because": {"police": "route police-matters"},
        "raised_at": NOW,
    }
    base.update(over)
    return Alert.model_validate(base)


def test_a_firing_alert_leads_with_its_tier_and_level() -> None:
    text = render(to_cloudevent(alert()), {"police"}).plain
    assert text.startswith(" ORANGE II  人群聚集")


def test_a_resolved_notice_says_resolved_instead_of_a_tier() -> None:
    text = render(to_cloudevent(alert(status="resolved", notice_seq=2)), {"police"}).plain
    assert text.startswith(" RESOLVED orange  人群聚集")
    assert "(update #2)" in text


def test_a_stateful_alert_shows_its_window_figures() -> None:
    text = render(to_cloudevent(alert(window={"count": 5, "span": 540.0})), {"police"}).plain
    assert "[count 5, span 540]" in text


def lines(a: Alert, zone: ZoneInfo = SHANGHAI) -> list[str]:
    return render(to_cloudevent(a), {"police"}, zone).plain.splitlines()


def test_a_resolve_after_an_ack_shows_who_did_each_when_and_why() -> None:
    a = alert(
        status="resolved",
        change="resolved",
        acknowledged_by="li",
        acknowledged_at=NOW + timedelta(minutes=1),
        ack_note="on my way",
        resolved_by="zhao",
        resolved_at=NOW + timedelta(minutes=5),
        resolve_note="valve closed",
    )
    who = "    acknowledged by li at 09:01:00: on my way · resolved by zhao at 09:05:00 CST: valve closed"
    assert who in lines(a)


def test_an_ack_alone_shows_who_when_and_why() -> None:
    a = alert(status="acknowledged", change="acknowledged", acknowledged_by="li", acknowledged_at=NOW)
    assert "    acknowledged by li at 09:00:00 CST" in lines(a)


def test_first_and_last_seen_are_in_the_city_zone_with_its_abbreviation_once() -> None:
    a = alert(last_seen=NOW + timedelta(minutes=20))
    (detail,) = [line for line in lines(a) if "since" in line]
    assert "since 09:00:00, last 09:20:00 CST, 1x" in detail
    assert detail.count("CST") == 1


def test_a_zone_without_an_abbreviation_is_shown_by_its_offset() -> None:
    dubai = lines(alert(), ZoneInfo("Asia/Dubai"))
    assert any("since 05:00:00, last 05:00:00 +04," in line for line in dubai)


def test_a_time_on_another_day_than_the_notice_shows_its_date() -> None:
    a = alert(first_seen=NOW - timedelta(days=1), raised_at=NOW + timedelta(minutes=1))
    assert any("since 01-04 09:00:00, last 09:00:00 CST," in line for line in lines(a))
