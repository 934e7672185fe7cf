"""The alert contract: deterministic identity and a CloudEvents 1.0 envelope others can parse."""

from __future__ import annotations

import uuid
from datetime import UTC, timedelta
from typing import Any

import orjson
import pytest
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent as SdkCloudEvent

from rules.alerts import (
    CLOUDEVENT_SOURCE,
    Alert,
    CloudEvent,
    alert_id,
    fingerprint,
    group_key,
    to_cloudevent,
)
from rules.events import Family, Location
from rules.model import Risk, Tier
from tests.unit.conftest import T0


def make_alert(**kw: Any) -> Alert:
    data: dict[str, Any] = {
        "alert_id": alert_id(fingerprint("gas", "location.grid=G-07"), "e1"),
        "fingerprint": fingerprint("gas", "location.grid=G-07"),
        "notice_seq": 2,
        "rule_id": "gas",
        "rule_version": 3,
        "risk": Risk.public_safety,
        "tier": Tier.red,
        "tier_level": "I",
        "title": "燃气浓度超限 Gas high",
        "summary": "G-07 gas 55%LEL",
        "action": None,
        "family": Family.sensor,
        "kind": "combustible_gas",
        "group": {"location.grid": "G-07"},
        "group_key": "location.grid=G-07",
        "location": Location(city="C", district="D1", grid="G-07"),
        "grid_path": ["C", "D1", "G-07"],
        "first_seen": T0,
        "last_seen": T0 + timedelta(seconds=60),
        "count": 4,
        "evidence": ["e1", "e2", "e3", "e4"],
        "agencies": ["fire", "governance"],
        "routed_because": {"fire": "rule gas routes to it", "governance": "red I escalates"},
        "raised_at": (T0 + timedelta(seconds=61)).astimezone(UTC),
    }
    data.update(kw)
    return Alert(**data)


def wire(ce: CloudEvent) -> bytes:
    """The bytes the dispatch agent produces (streams/dispatch.py)."""
    return orjson.dumps(ce.model_dump(mode="json"))


def test_alert_id_is_deterministic() -> None:
    assert alert_id("fp", "e1") == alert_id("fp", "e1")
    assert uuid.UUID(alert_id("fp", "e1")).version == 5


def test_alert_id_differs_by_opening_event_and_by_fingerprint() -> None:
    assert alert_id("fp", "e1") != alert_id("fp", "e2")
    assert alert_id("fp", "e1") != alert_id("fp2", "e1")


def test_fingerprint_is_deterministic_and_differs_by_rule_and_group() -> None:
    assert fingerprint("gas", "g=1") == fingerprint("gas", "g=1")
    assert len({fingerprint("gas", "g=1"), fingerprint("gas", "g=2"), fingerprint("co", "g=1")}) == 3


def test_fingerprint_does_not_collide_when_rule_and_group_texts_shift() -> None:
    assert fingerprint("ab", "c") != fingerprint("a", "bc")


def test_group_key_follows_group_by_order() -> None:
    values = {"b": "2", "a": "1"}
    assert group_key(("a", "b"), values) == "a=1|b=2"
    assert group_key(("b", "a"), values) == "b=2|a=1"


def test_group_key_without_group_by_is_a_star() -> None:
    assert group_key((), {}) == "*"


def test_cloudevent_id_names_the_alert_and_its_notice() -> None:
    ce = to_cloudevent(make_alert())
    assert ce.id == f"{ce.data.alert_id}:2"
    assert to_cloudevent(make_alert(notice_seq=3)).id != ce.id


def test_cloudevent_parses_with_the_official_sdk() -> None:
    alert = make_alert()
    event = JSONFormat().read(SdkCloudEvent, wire(to_cloudevent(alert)))
    assert event.get_specversion() == "1.0"
    assert event.get_id() == f"{alert.alert_id}:{alert.notice_seq}"
    assert event.get_source() == f"{CLOUDEVENT_SOURCE}:rule:gas"
    assert event.get_type() == "city.riskstream.alert.firing"
    assert event.get_subject() == "location.grid=G-07"
    assert event.get_time() == alert.raised_at
    assert event.get_datacontenttype() == "application/json"
    assert event.get_extension("riskstreamtier") == "red"
    assert event.get_extension("riskstreamrisk") == "public_safety"


def test_cloudevent_data_round_trips_to_the_alert() -> None:
    alert = make_alert()
    event = JSONFormat().read(SdkCloudEvent, wire(to_cloudevent(alert)))
    data = event.get_data()
    assert isinstance(data, dict)
    assert Alert.model_validate(data) == alert


def test_cloudevent_has_no_null_attributes() -> None:
    # The CloudEvents JSON format has no null attributes; the official SDK refuses them.
    body = orjson.loads(wire(to_cloudevent(make_alert())))
    assert all(v is not None for v in body.values())


def test_cloudevent_keeps_a_dataschema_when_one_is_set() -> None:
    ce = to_cloudevent(make_alert()).model_copy(update={"dataschema": "urn:schema:alert"})
    event = JSONFormat().read(SdkCloudEvent, wire(ce))
    assert event.get_dataschema() == "urn:schema:alert"


def test_cloudevent_reads_back_into_our_model() -> None:
    ce = to_cloudevent(make_alert())
    assert CloudEvent.model_validate_json(wire(ce)) == ce


@pytest.mark.parametrize("field", ["count", "notice_seq"])
def test_alert_counts_start_at_one(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        make_alert(**{field: 0})
