"""Bytes from an input topic become a validated event, or an EventDecodeError for the dead-letter topic."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from rules.decoding import DEFAULT_MAX_BYTES, decode_event
from rules.errors import EventDecodeError
from rules.events import (
    CameraEvent,
    CyberEvent,
    EventBase,
    Family,
    HotlineEvent,
    SafetyEvent,
    SensorEvent,
)

ENVELOPE: dict[str, Any] = {
    "event_id": "e-1",
    "kind": "combustible_gas",
    "time": "2026-01-05T09:00:00+08:00",
    "source_id": "dev-1",
    "location": {"city": "C", "district": "D1", "grid": "G-07"},
}

VALID: dict[Family, tuple[dict[str, Any], type[EventBase]]] = {
    Family.sensor: ({"kind": "combustible_gas", "value": 22.5, "unit": "%LEL"}, SensorEvent),
    Family.camera: ({"kind": "crowd_density", "people": 180, "density": 3.2}, CameraEvent),
    Family.safety: ({"kind": "tank_pressure", "site_id": "s-1", "value": 1.9}, SafetyEvent),
    Family.cyber: ({"kind": "port_scan", "src_ip": "10.0.0.9", "severity": 3}, CyberEvent),
    Family.hotline: ({"kind": "gas_smell", "ticket_id": "T-1", "channel": "110"}, HotlineEvent),
}


def payload(**fields: Any) -> bytes:
    return orjson.dumps({**ENVELOPE, "family": "sensor", **fields})


def refusal(raw: bytes | None, family: Family | None = Family.sensor, **kw: Any) -> EventDecodeError:
    with pytest.raises(EventDecodeError) as info:
        decode_event(raw, family, **kw)
    return info.value


@pytest.mark.parametrize("family", list(Family))
def test_a_valid_event_of_each_family_decodes_to_its_model(family: Family) -> None:
    fields, model = VALID[family]
    raw = orjson.dumps({**ENVELOPE, "family": family.value, **fields})
    event = decode_event(raw, family)
    assert type(event) is model
    assert event.family == family
    assert event.event_id == "e-1"
    assert event.time.utcoffset() is not None


def test_family_is_filled_from_the_topic_when_absent() -> None:
    raw = orjson.dumps({**ENVELOPE, "value": 3.0})
    event = decode_event(raw, Family.sensor)
    assert isinstance(event, SensorEvent)
    assert event.value == 3.0


def test_family_that_differs_from_the_topic_is_refused() -> None:
    err = refusal(payload(family="cyber", kind="port_scan"), Family.sensor)
    assert err.category == "wrong_family"
    assert "'cyber'" in err.reason and "sensor topic" in err.reason


def test_without_a_topic_family_the_event_must_name_its_family() -> None:
    assert isinstance(decode_event(payload(), None), SensorEvent)
    raw = orjson.dumps(ENVELOPE)
    assert refusal(raw, None).category == "invalid"


def test_empty_payload_is_refused() -> None:
    assert refusal(b"").category == "empty"


def test_tombstone_is_refused() -> None:
    assert refusal(None).category == "empty"


def test_truncated_json_is_refused() -> None:
    raw = payload()
    err = refusal(raw[: len(raw) // 2])
    assert err.category == "not_json"


def test_json_array_instead_of_object_is_refused() -> None:
    err = refusal(orjson.dumps([{**ENVELOPE, "family": "sensor"}]))
    assert err.category == "not_object"
    assert "list" in err.reason


@pytest.mark.parametrize("raw", [b"42", b'"text"', b"null", b"true"])
def test_json_scalar_instead_of_object_is_refused(raw: bytes) -> None:
    assert refusal(raw).category == "not_object"


def test_non_utf8_bytes_are_refused_with_the_offset() -> None:
    latin1 = b"\xe9"
    raw = payload(source_id="dev-\u00e9").replace("\u00e9".encode(), latin1)
    err = refusal(raw)
    assert err.category == "not_utf8"
    assert f"offset {raw.index(latin1)}" in err.reason


def test_payload_over_the_limit_is_refused_before_parsing() -> None:
    raw = payload(attributes={"pad": "x" * DEFAULT_MAX_BYTES})
    err = refusal(raw)
    assert err.category == "too_large"
    assert str(len(raw)) in err.reason


def test_payload_exactly_at_the_limit_is_accepted() -> None:
    raw = payload()
    assert isinstance(decode_event(raw, Family.sensor, max_bytes=len(raw)), SensorEvent)
    assert refusal(raw, max_bytes=len(raw) - 1).category == "too_large"


@pytest.mark.parametrize("missing", ["event_id", "kind", "time", "source_id", "location"])
def test_missing_envelope_field_is_refused_naming_it(missing: str) -> None:
    data = {**ENVELOPE, "family": "sensor"}
    del data[missing]
    err = refusal(orjson.dumps(data))
    assert err.category == "invalid"
    assert missing in err.reason and "Field required" in err.reason


def test_missing_family_specific_field_is_refused_naming_it() -> None:
    data = {**ENVELOPE, "family": "hotline", "kind": "noise"}
    err = refusal(orjson.dumps(data), Family.hotline)
    assert err.category == "invalid"
    assert "ticket_id" in err.reason


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("value", "high"),
        ("time", "yesterday"),
        ("location", "G-07"),
        ("status", "burning"),
        ("battery", 150),
        ("event_id", ""),
        ("kind", "Gas Leak"),
    ],
)
def test_wrong_type_or_value_is_refused_naming_the_field(field: str, value: Any) -> None:
    err = refusal(payload(**{field: value}))
    assert err.category == "invalid"
    assert field in err.reason


def test_time_without_a_zone_is_refused() -> None:
    err = refusal(payload(time="2026-01-05T09:00:00"))
    assert err.category == "invalid"
    assert "time" in err.reason and "timezone" in err.reason


def test_unknown_field_is_refused() -> None:
    err = refusal(payload(colour="red"))
    assert err.category == "invalid"
    assert "colour" in err.reason


def test_many_problems_are_summarised_not_listed_in_full() -> None:
    data = {"family": "sensor", "value": "x", "status": "x", "battery": -1, "unit": 5}
    err = refusal(orjson.dumps(data))
    assert err.reason.count(";") == 5
    assert "more" in err.reason.rsplit(";", 1)[1]


def test_refusal_message_starts_with_its_category() -> None:
    assert str(refusal(b"")).startswith("empty: ")
