"""A connector's `event:` mapping turns one source record into one valid event, or says which field failed."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from connectors.mapping import (
    EventMapping,
    MappingSpecError,
    NativeMapping,
    compile_mapping,
    compile_value,
)
from rules.errors import EventDecodeError
from rules.events import EventBase, Family, SensorEvent

SHANGHAI = ZoneInfo("Asia/Shanghai")
RECEIVED = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)
META: dict[str, Any] = {"received_at": RECEIVED, "origin": "test:1", "topic": "iot/海南区/co/CO-1"}
RAW = b'{"raw": true}'

SPEC: dict[str, Any] = {
    "time": {"from": "ts"},
    "source_id": "{device}",
    "kind": "{metric}",
    "value": {"from": "value", "type": "float"},
    "location": {"city": "乌海市", "district": "{site.district}", "lon": "{site.lon}"},
    "attributes": {"mqtt_topic": "{meta.topic}", "firmware": "{fw}"},
}
RECORD: dict[str, Any] = {
    "ts": "2026-01-05T09:00:00+08:00",
    "device": "CO-1",
    "metric": "co",
    "value": 12.5,
    "site": {"district": "海南区", "lon": 106.88},
}


def value(node: Any, record: Mapping[str, Any] | None = None, meta: Mapping[str, Any] = META) -> Any:
    """One value compiled as the field `x` and read from `record`."""
    return compile_value(node, ("event", "x")).evaluate(record or {}, meta)


def value_refusal(node: Any, record: Mapping[str, Any]) -> EventDecodeError:
    with pytest.raises(EventDecodeError) as info:
        value(node, record)
    return info.value


def sensor_mapping(zone: str = "Asia/Shanghai", **overrides: Any) -> EventMapping:
    """The sensor mapping above, with event fields replaced (None drops one)."""
    spec = {k: v for k, v in {**SPEC, **overrides}.items() if v is not None}
    mapping = compile_mapping("iot", Family.sensor, spec, zone)
    assert isinstance(mapping, EventMapping)
    return mapping


def apply(record: Mapping[str, Any], mapping: EventMapping | None = None, raw: bytes = RAW,
          meta: Mapping[str, Any] = META) -> EventBase:
    return (mapping or sensor_mapping()).apply(record, raw, meta)


def apply_refusal(record: Any, mapping: EventMapping | NativeMapping | None = None) -> EventDecodeError:
    with pytest.raises(EventDecodeError) as info:
        (mapping or sensor_mapping()).apply(record, RAW, META)
    return info.value


def event_time(time_spec: Any, raw_time: Any, zone: str = "Asia/Shanghai") -> datetime:
    return apply({**RECORD, "ts": raw_time}, sensor_mapping(zone, time=time_spec)).time


def compile_errors(spec: Any, family: Family = Family.sensor) -> list[MappingSpecError]:
    with pytest.raises(ExceptionGroup) as info:
        compile_mapping("iot", family, spec)
    errors = [e for e in info.value.exceptions if isinstance(e, MappingSpecError)]
    assert len(errors) == len(info.value.exceptions)
    return errors


# --------------------------------------------------------------------------------------- values


def test_a_template_joins_its_fields_with_the_text_between_them() -> None:
    assert value("{ip}/{channel}", {"ip": "192.0.2.41", "channel": 3}) == "192.0.2.41/3"


def test_a_template_writes_a_whole_float_as_an_integer() -> None:
    assert value("ch-{n}", {"n": 2.0}) == "ch-2"


def test_a_template_with_a_missing_field_is_missing_as_a_whole() -> None:
    assert value("{ip}/{channel}", {"ip": "192.0.2.41"}) is None


def test_a_template_that_is_exactly_one_placeholder_keeps_the_values_type() -> None:
    assert value("{n}", {"n": 46}) == 46
    assert value("{lon}", {"lon": 106.88}) == 106.88
    assert value("{ok}", {"ok": True}) is True


def test_a_string_without_braces_is_a_constant() -> None:
    assert value("乌海市", {"乌海市": "not read"}) == "乌海市"


def test_a_number_is_a_constant() -> None:
    assert value(3, {}) == 3


def test_const_is_a_constant_even_with_braces() -> None:
    assert value({"const": "{literal}"}, {"literal": "read"}) == "{literal}"


def test_from_takes_a_bare_path() -> None:
    assert value({"from": "a.b"}, {"a": {"b": 7}}) == 7


def test_a_dotted_path_with_indexes_reads_nested_lists() -> None:
    record = {"result": {"Target": [{"info": {"cnt": 1}}, {"info": {"cnt": 46}}]}}
    assert value("{result.Target[1].info.cnt}", record) == 46


def test_a_path_through_a_missing_step_or_index_reads_as_missing() -> None:
    record = {"result": {"Target": [{"info": {"cnt": 1}}]}}
    assert value("{result.Target[5].info.cnt}", record) is None
    assert value("{result.Other.cnt}", record) is None
    assert value("{result.Target.cnt}", record) is None


def test_meta_paths_read_what_the_source_knows() -> None:
    assert value("{meta.topic}", {"meta": {"topic": "from the record"}}) == "iot/海南区/co/CO-1"


def test_map_translates_a_source_code() -> None:
    assert value({"from": "code", "map": {"fielddetection": "intrusion"}}, {"code": "fielddetection"}) \
        == "intrusion"


def test_map_keys_match_numbers_read_from_the_record() -> None:
    assert value({"from": "level", "map": {1: "low", 2: "high"}}, {"level": 2}) == "high"


def test_an_unmapped_value_without_default_is_refused_naming_the_value() -> None:
    err = value_refusal({"from": "code", "map": {"fielddetection": "intrusion"}}, {"code": "faceSnap"})
    assert err.category == "unmapped_value"
    assert "'faceSnap'" in err.reason
    assert "x:" in err.reason and "fielddetection" in err.reason


def test_default_is_used_when_the_field_is_missing() -> None:
    assert value({"from": "status", "default": "normal"}, {}) == "normal"


def test_default_is_used_when_the_field_is_an_empty_string() -> None:
    assert value({"from": "status", "default": "normal"}, {"status": ""}) == "normal"


def test_default_is_used_when_the_value_is_unmapped() -> None:
    node = {"from": "state", "map": {"active": "pulse"}, "default": "stop"}
    assert value(node, {"state": "weird"}) == "stop"


def test_a_missing_value_without_default_is_none() -> None:
    assert value({"from": "status"}, {}) is None


def test_convert_applies_a_named_conversion() -> None:
    assert value({"from": "t", "convert": "degF_to_degC"}, {"t": 212}) == pytest.approx(100.0)


def test_convert_reads_a_number_written_as_text() -> None:
    assert value({"from": "t", "convert": "degF_to_degC"}, {"t": "32"}) == pytest.approx(0.0)


def test_scale_and_offset_apply_after_the_conversion() -> None:
    assert value({"from": "t", "convert": "mm_to_cm", "scale": 2, "offset": -1}, {"t": 50}) \
        == pytest.approx(9.0)


def test_scale_alone_multiplies() -> None:
    assert value({"from": "v", "scale": 0.1}, {"v": 125}) == pytest.approx(12.5)


def test_type_int_turns_text_into_a_number() -> None:
    assert value({"from": "n", "type": "int"}, {"n": "12"}) == 12


def test_a_value_that_is_not_its_type_is_wrong_type() -> None:
    err = value_refusal({"from": "n", "type": "int"}, {"n": "twelve"})
    assert err.category == "wrong_type"
    assert "'twelve'" in err.reason


def test_a_non_number_with_convert_is_wrong_type() -> None:
    err = value_refusal({"from": "t", "convert": "degF_to_degC"}, {"t": "hot"})
    assert err.category == "wrong_type"
    assert "'hot'" in err.reason and "not a number" in err.reason


def test_a_boolean_is_not_a_number_to_convert() -> None:
    assert value_refusal({"from": "v", "scale": 2}, {"v": True}).category == "wrong_type"


# --------------------------------------------------------------------------------------- time


def test_an_iso_time_keeps_its_offset() -> None:
    at = event_time({"from": "ts"}, "2026-01-05T09:00:00+03:00")
    assert at.utcoffset() == timedelta(hours=3)
    assert at == datetime(2026, 1, 5, 6, 0, tzinfo=UTC)


def test_an_iso_time_in_z_is_utc() -> None:
    assert event_time({"from": "ts"}, "2026-01-05T01:00:00Z") == datetime(2026, 1, 5, 1, 0, tzinfo=UTC)


def test_a_naive_iso_time_takes_the_files_zone_shanghai_by_default() -> None:
    at = event_time({"from": "ts"}, "2026-01-05T09:00:00")
    assert at.tzinfo == SHANGHAI
    assert at == datetime(2026, 1, 5, 1, 0, tzinfo=UTC)


def test_a_naive_time_takes_the_zone_the_file_names() -> None:
    assert event_time({"from": "ts"}, "2026-01-05T09:00:00", zone="UTC") \
        == datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def test_a_naive_time_takes_the_zone_its_own_time_spec_names() -> None:
    assert event_time({"from": "ts", "zone": "UTC"}, "2026-01-05T09:00:00") \
        == datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def test_epoch_milliseconds_are_read_as_utc() -> None:
    assert event_time({"from": "ts", "format": "epoch_ms"}, 1764383400123) \
        == datetime(2025, 11, 29, 2, 30, 0, 123000, tzinfo=UTC)


def test_epoch_seconds_are_read_as_utc() -> None:
    assert event_time({"from": "ts", "format": "epoch_s"}, "1764383400") \
        == datetime(2025, 11, 29, 2, 30, tzinfo=UTC)


def test_a_strptime_pattern_reads_local_time_in_the_files_zone() -> None:
    at = event_time({"from": "ts", "format": "%Y-%m-%d %H:%M:%S"}, "2026-11-28 08:12:40")
    assert at == datetime(2026, 11, 28, 8, 12, 40, tzinfo=SHANGHAI)


def test_a_strptime_pattern_with_an_offset_keeps_it() -> None:
    at = event_time({"from": "ts", "format": "%Y/%m/%d %H:%M %z"}, "2026/11/28 08:12 +0000")
    assert at == datetime(2026, 11, 28, 8, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("fmt", "raw"),
    [
        ("iso8601", "yesterday"),
        ("%Y-%m-%d %H:%M:%S", "28/11/2026 08:12"),
        ("epoch_ms", 1e30),
        ("epoch_s", "yesterday"),
    ],
)
def test_a_time_that_is_not_in_the_format_is_bad_time(fmt: str, raw: Any) -> None:
    err = apply_refusal({**RECORD, "ts": raw}, sensor_mapping(time={"from": "ts", "format": fmt}))
    assert err.category == "bad_time"
    assert "time:" in err.reason and fmt in err.reason


def test_a_datetime_value_passes_through() -> None:
    at = datetime(2026, 1, 5, 9, 0, tzinfo=timezone(timedelta(hours=8)))
    assert event_time({"from": "ts"}, at) == at


def test_the_time_of_receipt_is_read_from_meta() -> None:
    event = apply({**RECORD, "ts": None}, sensor_mapping(time={"from": "meta.received_at"}))
    assert event.time == RECEIVED


# --------------------------------------------------------------------------------------- apply


def test_a_record_becomes_an_event_of_the_mappings_family() -> None:
    event = apply(RECORD)
    assert isinstance(event, SensorEvent)
    assert (event.source_id, event.kind, event.value) == ("CO-1", "co", 12.5)
    assert event.time == datetime(2026, 1, 5, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize(("target", "field"), [("source_id", "device"), ("time", "ts"), ("kind", "metric")])
def test_a_missing_envelope_field_is_refused_naming_the_target(target: str, field: str) -> None:
    record = {k: v for k, v in RECORD.items() if k != field}
    err = apply_refusal(record)
    assert err.category == "missing_field"
    assert err.reason.startswith(f"{target}:")


def test_a_missing_city_is_refused_naming_location_city() -> None:
    mapping = sensor_mapping(location={"city": "{site.city}"})
    err = apply_refusal(RECORD, mapping)
    assert err.category == "missing_field"
    assert "location.city" in err.reason


def test_a_kind_outside_the_familys_vocabulary_is_unknown_kind() -> None:
    err = apply_refusal({**RECORD, "metric": "banana"})
    assert err.category == "unknown_kind"
    assert "'banana'" in err.reason and "sensor" in err.reason


def test_a_value_the_event_model_refuses_is_invalid() -> None:
    err = apply_refusal(RECORD, sensor_mapping(battery={"from": "value", "scale": 100}))
    assert err.category == "invalid"
    assert "battery" in err.reason


def test_a_record_that_is_not_an_object_is_refused() -> None:
    assert apply_refusal([RECORD]).category == "not_object"


def test_a_numeric_source_id_becomes_text() -> None:
    assert apply({**RECORD, "device": 17}).source_id == "17"


def test_the_default_event_id_is_stable_for_the_same_bytes_and_origin() -> None:
    first = apply(RECORD, raw=b"payload", meta={**META, "origin": "a"})
    again = apply(RECORD, raw=b"payload", meta={**META, "origin": "a", "received_at": datetime.now(UTC)})
    assert first.event_id == again.event_id
    assert first.event_id.startswith("iot-")


def test_the_default_event_id_differs_for_another_origin() -> None:
    first = apply(RECORD, raw=b"payload", meta={**META, "origin": "a"})
    other = apply(RECORD, raw=b"payload", meta={**META, "origin": "b"})
    assert first.event_id != other.event_id


def test_the_default_event_id_differs_for_other_bytes() -> None:
    assert apply(RECORD, raw=b"one").event_id != apply(RECORD, raw=b"two").event_id


def test_the_event_id_is_read_from_the_record_when_mapped() -> None:
    mapping = sensor_mapping(event_id="{msg_id}")
    assert apply({**RECORD, "msg_id": "m-42"}, mapping).event_id == "m-42"
    assert apply({**RECORD, "msg_id": 42}, mapping).event_id == "42"


def test_a_mapped_event_id_that_is_missing_falls_back_to_the_digest() -> None:
    event = apply(RECORD, sensor_mapping(event_id="{msg_id}"))
    assert event.event_id.startswith("iot-")


def test_attributes_and_location_are_filled_and_absent_values_left_out() -> None:
    event = apply(RECORD)
    assert event.attributes == {"mqtt_topic": "iot/海南区/co/CO-1"}
    assert event.location.model_dump(exclude_none=True) == {"city": "乌海市", "district": "海南区",
                                                           "lon": 106.88}
    assert apply({**RECORD, "fw": "1.2"}).attributes["firmware"] == "1.2"


def test_location_text_fields_read_from_numbers_become_text() -> None:
    event = apply({**RECORD, "site": {"district": 150303}})
    assert event.location.district == "150303"


def test_an_attribute_that_is_a_nested_object_is_kept_as_text() -> None:
    event = apply({**RECORD, "fw": {"v": 1}})
    assert isinstance(event.attributes["firmware"], str)


# --------------------------------------------------------------------------------------- native


def test_native_passes_a_valid_event() -> None:
    record = {"event_id": "e-1", "family": "sensor", "kind": "co", "time": "2026-01-05T09:00:00+08:00",
              "source_id": "CO-1", "location": {"city": "乌海市"}, "value": 30.0}
    event = NativeMapping("native", Family.sensor).apply(record, RAW, META)
    assert isinstance(event, SensorEvent)
    assert (event.event_id, event.value) == ("e-1", 30.0)


def test_native_fills_a_missing_family() -> None:
    record = {"event_id": "e-1", "kind": "co", "time": "2026-01-05T09:00:00+08:00", "source_id": "CO-1",
              "location": {"city": "乌海市"}}
    assert NativeMapping("native", Family.sensor).apply(record, RAW, META).family == Family.sensor


def test_native_refuses_an_event_of_another_family() -> None:
    record = {"event_id": "e-1", "family": "cyber", "kind": "port_scan",
              "time": "2026-01-05T09:00:00+08:00", "source_id": "fw", "location": {"city": "乌海市"}}
    err = apply_refusal(record, NativeMapping("native", Family.sensor))
    assert err.category == "wrong_family"
    assert "'cyber'" in err.reason


def test_native_refuses_an_invalid_event() -> None:
    record = {"event_id": "e-1", "kind": "co", "source_id": "CO-1", "location": {"city": "乌海市"}}
    err = apply_refusal(record, NativeMapping("native", Family.sensor))
    assert err.category == "invalid"
    assert "time" in err.reason


def test_native_refuses_a_kind_outside_the_vocabulary() -> None:
    record = {"event_id": "e-1", "kind": "banana", "time": "2026-01-05T09:00:00+08:00",
              "source_id": "CO-1", "location": {"city": "乌海市"}}
    assert apply_refusal(record, NativeMapping("native", Family.sensor)).category == "unknown_kind"


def test_event_native_compiles_to_a_native_mapping() -> None:
    assert isinstance(compile_mapping("n", Family.camera, "native"), NativeMapping)


# --------------------------------------------------------------------------------------- compile


def test_every_problem_in_a_mapping_is_collected() -> None:
    spec = {**SPEC, "valeu": "{v}", "unit": {"from": "u", "convert": "inch_to_cm"},
            "time": {"from": "ts", "format": "dd/mm/yyyy"}}
    errors = compile_errors(spec)
    assert {e.path for e in errors} == {("event", "valeu"), ("event", "unit", "convert"),
                                        ("event", "time", "format")}


def test_an_unknown_event_field_suggests_the_close_one() -> None:
    (error,) = compile_errors({**SPEC, "valeu": "{v}"})
    assert "'valeu' is not a field of sensor events" in str(error)
    assert "did you mean 'value'" in str(error)


def test_a_mapped_kind_outside_the_family_is_reported_at_its_map_entry() -> None:
    (error,) = compile_errors({**SPEC, "kind": {"from": "m", "map": {"co": "co", "gas": "gass"}}})
    assert error.path == ("event", "kind", "map", "gas")
    assert "'gass'" in str(error)


def test_a_constant_kind_outside_the_family_is_reported() -> None:
    (error,) = compile_errors({**SPEC, "kind": "intrusion"})
    assert error.path == ("event", "kind")


def test_an_unknown_modifier_suggests_the_close_one() -> None:
    (error,) = compile_errors({**SPEC, "value": {"from": "v", "scael": 2}})
    assert error.path == ("event", "value", "scael")
    assert "did you mean 'scale'" in str(error)


def test_format_is_only_for_the_time() -> None:
    (error,) = compile_errors({**SPEC, "value": {"from": "v", "format": "epoch_s"}})
    assert "only applies to the event time" in str(error)


def test_from_and_const_together_are_refused() -> None:
    (error,) = compile_errors({**SPEC, "value": {"from": "v", "const": 1}})
    assert "exactly one of 'from'" in str(error)


def test_an_unbalanced_brace_after_a_placeholder_is_refused() -> None:
    (error,) = compile_errors({**SPEC, "source_id": "{device}/{channel"})
    assert "unbalanced brace" in str(error)


def test_a_lone_unclosed_placeholder_is_refused_not_taken_as_a_constant() -> None:
    (error,) = compile_errors({**SPEC, "source_id": "{device"})
    assert "unbalanced brace" in str(error)


def test_an_unknown_zone_is_refused() -> None:
    with pytest.raises(ExceptionGroup) as info:
        compile_mapping("iot", Family.sensor, SPEC, "Mars/Olympus")
    assert "unknown time zone 'Mars/Olympus'" in str(info.value.exceptions[0])
