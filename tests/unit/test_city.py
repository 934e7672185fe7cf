"""The city model without a broker: seeded, valid, located background traffic no shipped rule alerts on."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.city import CityModel, Event
from rules.compiler import RuleSet, load_ruleset
from rules.engine import Engine
from rules.events import EVENT_ADAPTER, Family
from rules.routing import load_routing

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)


def fixed_clock() -> datetime:
    return T0


def traffic(n: int, seed: int = 7, rate: float = 50, run_id: str = "r1") -> list[Event]:
    events = CityModel(seed).background_events(rate, run_id, fixed_clock)
    return list(itertools.islice(events, n))


@pytest.fixture(scope="module")
def shipped_rules() -> RuleSet:
    router = load_routing(ROOT / "rules" / "routing.yaml")
    return load_ruleset([ROOT / "rules" / "packs"], router)


# ------------------------------------------------------------------------------ background


def test_the_same_seed_gives_the_same_traffic() -> None:
    assert traffic(2000, seed=11) == traffic(2000, seed=11)


def test_a_different_seed_gives_a_different_city() -> None:
    assert traffic(200, seed=1) != traffic(200, seed=2)


def test_every_device_has_its_own_source_id() -> None:
    ids = [d.source_id for d in CityModel(7).devices()]
    assert len(set(ids)) == len(ids)


def test_background_covers_all_five_families() -> None:
    assert {ev["family"] for ev in traffic(2000)} == {f.value for f in Family}


def test_background_mix_is_sensors_then_cameras_cyber_safety_hotline() -> None:
    counts = Counter(ev["family"] for ev in traffic(20_000))
    ranked = [family for family, _ in counts.most_common()]
    assert ranked == ["sensor", "camera", "cyber", "safety", "hotline"]


def test_every_background_event_meets_the_event_contract() -> None:
    for ev in traffic(5000):
        EVENT_ADAPTER.validate_python(ev)


def test_background_events_are_located_in_wuhai_grids() -> None:
    for ev in traffic(2000):
        loc = ev["location"]
        assert loc["city"] == "乌海市"
        assert loc["district"] in {"海勃湾区", "乌达区", "海南区"}
        assert 106.5 < loc["lon"] < 107.1 and 39.3 < loc["lat"] < 39.9


def test_background_event_ids_are_unique_and_name_the_run() -> None:
    ids = [ev["event_id"] for ev in traffic(5000, run_id="abc")]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith("bg-abc-") for i in ids)


def test_no_background_identifier_carries_the_run_id() -> None:
    for ev in traffic(5000, run_id="m3k9x1a2f"):
        shown = [str(v) for k, v in ev.items() if k != "event_id"] + [str(v) for v in ev["location"].values()]
        assert not [s for s in shown if "m3k9x1a2f" in s], ev


def test_background_tickets_are_numbered_on_the_day_in_wuhai() -> None:
    tickets = [ev["ticket_id"] for ev in traffic(2000) if ev["family"] == "hotline"]
    assert tickets and all(re.fullmatch(r"(12345|SSP)-20260105-\d{6}", t) for t in tickets)


def test_the_city_names_the_ids_of_all_its_devices_and_sites() -> None:
    city = CityModel(7)
    ids = city.identifiers()
    assert {d.source_id for d in city.devices()} <= ids
    assert {d.fixed["site_id"] for d in city.sites} <= ids


def test_background_event_time_comes_from_the_injected_clock() -> None:
    assert {ev["time"] for ev in traffic(100)} == {T0.isoformat()}


def test_background_includes_sensor_heartbeats() -> None:
    kinds = Counter(ev["kind"] for ev in traffic(5000) if ev["family"] == "sensor")
    assert kinds["heartbeat"] > 0


def test_heartbeat_share_falls_as_the_rate_rises() -> None:
    def beats(rate: float) -> int:
        return sum(ev["kind"] == "heartbeat" for ev in traffic(10_000, rate=rate))

    assert beats(20) > beats(200) > beats(2000)


def test_no_shipped_rule_fires_on_background_traffic(shipped_rules: RuleSet) -> None:
    errors: list[str] = []
    engine = Engine(shipped_rules.rules, on_error=lambda rule, msg: errors.append(f"{rule}: {msg}"))
    fired = Counter[str]()
    for ev in traffic(20_000):
        for cand in engine.evaluate(EVENT_ADAPTER.validate_python(ev)):
            fired[f"{cand.rule_id} on {ev['kind']}"] += 1
    assert not fired, f"background traffic raised alerts: {dict(fired)}"
    assert not errors
