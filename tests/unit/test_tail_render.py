"""What a duty officer reads in `riskstream tail`: tier or resolution first, then the window's figures."""

from __future__ import annotations

from datetime import UTC, datetime

from rules.alerts import Alert, to_cloudevent
from rules.events import Family, Location
from rules.model import Risk, Tier
from streams.tail import render

NOW = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)


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
