"""Payload formats cut bytes into records, each with its own bytes, so a bad record costs only itself."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from connectors.config import load_connector
from connectors.edge import meta
from connectors.mapping import FieldPath
from connectors.records import FORMATS, FormatOptions, unreadable
from connectors.translate import Mapped, Outcome, Refused, Translator
from rules.errors import EventDecodeError
from rules.events import SensorEvent

RECEIVED = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)
EVENT = """\
event:
  time: {from: ts}
  source_id: "{device}"
  kind: "{metric}"
  value: {from: value, type: float}
  location:
    city: 乌海市
    district: "{district}"
"""
CSV_HEADER = "ts,device,metric,value,district\n"


def translator(tmp_path: Path, fmt: str, settings: str = "") -> Translator:
    text = (f"name: records-test\nfamily: sensor\nsource: {{type: file, path: .}}\nformat: {fmt}\n"
            f"{textwrap.dedent(settings)}{EVENT}")
    path = tmp_path / "connector.yaml"
    path.write_text(text, encoding="utf-8")
    return Translator(load_connector(path))


def translate(tmp_path: Path, fmt: str, payload: bytes, settings: str = "") -> list[Outcome]:
    return translator(tmp_path, fmt, settings).translate(payload, meta("test"))


def events(outcomes: list[Outcome]) -> list[SensorEvent]:
    out = []
    for o in outcomes:
        assert isinstance(o, Mapped), o
        assert isinstance(o.event, SensorEvent)
        out.append(o.event)
    return out


def reading(device: str = "CO-1", value: float = 12.5) -> dict[str, object]:
    return {"ts": "2026-01-05T09:00:00+08:00", "device": device, "metric": "co", "value": value}


def refused(outcome: Outcome) -> Refused:
    assert isinstance(outcome, Refused), outcome
    return outcome


# --------------------------------------------------------------------------------------- json


def test_a_json_object_is_one_record_with_the_whole_payload_as_its_bytes() -> None:
    payload = orjson.dumps(reading())
    assert FORMATS["json"].records(payload, FormatOptions(), RECEIVED) == [(reading(), payload)]


def test_a_json_array_is_one_record_per_item_each_with_its_own_bytes() -> None:
    items = [reading("CO-1"), reading("CO-2")]
    records = FORMATS["json"].records(orjson.dumps(items), FormatOptions(), RECEIVED)
    assert records == [(items[0], orjson.dumps(items[0])), (items[1], orjson.dumps(items[1]))]


def test_records_names_the_list_inside_a_json_object() -> None:
    items = [reading("CO-1"), reading("CO-2")]
    payload = orjson.dumps({"code": 0, "data": {"items": items}})
    records = FORMATS["json"].records(payload, FormatOptions(records=FieldPath.parse("data.items")), RECEIVED)
    assert [r for r, _ in records] == items


def test_a_json_object_without_the_records_path_is_refused() -> None:
    options = FormatOptions(records=FieldPath.parse("data.items"))
    with pytest.raises(EventDecodeError) as info:
        FORMATS["json"].records(b'{"data": {}}', options, RECEIVED)
    assert info.value.category == "no_records"
    assert "data.items" in info.value.reason


def test_a_json_batch_becomes_one_event_per_item_with_numbered_origins(tmp_path: Path) -> None:
    outcomes = translate(tmp_path, "json", orjson.dumps([reading("CO-1"), reading("CO-2")]))
    assert [e.source_id for e in events(outcomes)] == ["CO-1", "CO-2"]
    assert len({e.event_id for e in events(outcomes)}) == 2


def test_the_records_setting_reaches_the_format(tmp_path: Path) -> None:
    payload = orjson.dumps({"data": {"items": [reading("CO-1"), reading("CO-2"), reading("CO-3")]}})
    outcomes = translate(tmp_path, "json", payload, "records: data.items\n")
    assert len(events(outcomes)) == 3


def test_one_bad_item_in_a_json_batch_is_refused_alone(tmp_path: Path) -> None:
    bad = {**reading("CO-2"), "metric": "banana"}
    outcomes = translate(tmp_path, "json", orjson.dumps([reading("CO-1"), bad, reading("CO-3")]))
    assert [type(o) for o in outcomes] == [Mapped, Refused, Mapped]
    assert refused(outcomes[1]).raw == orjson.dumps(bad)
    assert refused(outcomes[1]).origin == "test#1"


@pytest.mark.parametrize("payload", [b"", b"  \n"])
def test_an_empty_json_payload_is_refused_as_empty(tmp_path: Path, payload: bytes) -> None:
    (outcome,) = translate(tmp_path, "json", payload)
    assert refused(outcome).error.category == "empty"


def test_a_payload_that_is_not_json_is_refused_whole(tmp_path: Path) -> None:
    (outcome,) = translate(tmp_path, "json", b"<xml/>")
    assert refused(outcome).error.category == "not_json"
    assert refused(outcome).raw == b"<xml/>"


def test_a_json_scalar_is_refused_as_not_an_object(tmp_path: Path) -> None:
    (outcome,) = translate(tmp_path, "json", b"42")
    assert refused(outcome).error.category == "not_object"


# --------------------------------------------------------------------------------------- jsonl


def test_json_lines_are_one_record_per_line_and_blank_lines_are_skipped(tmp_path: Path) -> None:
    payload = orjson.dumps(reading("CO-1")) + b"\n\n" + orjson.dumps(reading("CO-2")) + b"\n"
    assert [e.source_id for e in events(translate(tmp_path, "jsonl", payload))] == ["CO-1", "CO-2"]


def test_a_bad_json_line_is_refused_alone_as_not_json(tmp_path: Path) -> None:
    payload = b"\n".join([orjson.dumps(reading("CO-1")), b"{not json", orjson.dumps(reading("CO-3"))])
    outcomes = translate(tmp_path, "jsonl", payload)
    assert [type(o) for o in outcomes] == [Mapped, Refused, Mapped]
    bad = refused(outcomes[1])
    assert (bad.error.category, bad.raw, bad.origin) == ("not_json", b"{not json", "test#1")


def test_unreadable_says_why_a_format_refused_a_record() -> None:
    (record, _), = FORMATS["jsonl"].records(b"{not json", FormatOptions(), RECEIVED)
    error = unreadable(record)
    assert error is not None and error.category == "not_json"
    assert unreadable({"a": 1}) is None


# --------------------------------------------------------------------------------------- csv


def test_a_csv_header_names_the_columns_of_each_row(tmp_path: Path) -> None:
    payload = (CSV_HEADER + "2026-01-05T09:00:00+08:00,CO-1,co,12.5,海南区\n"
               "2026-01-05T09:00:01+08:00,CO-2,co,3,乌达区\n").encode()
    got = events(translate(tmp_path, "csv", payload))
    assert [(e.source_id, e.value, e.location.district) for e in got] == [
        ("CO-1", 12.5, "海南区"), ("CO-2", 3.0, "乌达区")]


def test_a_csv_header_with_a_byte_order_mark_still_names_the_first_column(tmp_path: Path) -> None:
    payload = ("\ufeff" + CSV_HEADER + "2026-01-05T09:00:00+08:00,CO-1,co,12.5,海南区\n").encode()
    assert len(events(translate(tmp_path, "csv", payload))) == 1


def test_a_quoted_newline_stays_inside_its_cell() -> None:
    payload = b'id,text\n1,"line one\nline two"\n2,plain\n'
    records = FORMATS["csv"].records(payload, FormatOptions(), RECEIVED)
    assert [r for r, _ in records] == [{"id": "1", "text": "line one\nline two"},
                                       {"id": "2", "text": "plain"}]


def test_crlf_line_ends_do_not_reach_the_values() -> None:
    payload = b"id,text\r\n1,a\r\n2,b\r\n"
    records = FORMATS["csv"].records(payload, FormatOptions(), RECEIVED)
    assert [r for r, _ in records] == [{"id": "1", "text": "a"}, {"id": "2", "text": "b"}]


def test_a_csv_delimiter_can_be_set(tmp_path: Path) -> None:
    payload = CSV_HEADER.replace(",", ";") + "2026-01-05T09:00:00+08:00;CO-1;co;12.5;海南区,西区\n"
    (event,) = events(translate(tmp_path, "csv", payload.encode(), 'delimiter: ";"\n'))
    assert (event.value, event.location.district) == (12.5, "海南区,西区")


def test_a_row_with_the_wrong_number_of_cells_is_refused_alone_as_bad_row(tmp_path: Path) -> None:
    payload = (CSV_HEADER + "2026-01-05T09:00:00+08:00,CO-1,co,12.5,海南区\n"
               "2026-01-05T09:00:01+08:00,CO-2,co\n"
               "2026-01-05T09:00:02+08:00,CO-3,co,1,乌达区\n").encode()
    outcomes = translate(tmp_path, "csv", payload)
    assert [type(o) for o in outcomes] == [Mapped, Refused, Mapped]
    bad = refused(outcomes[1])
    assert bad.error.category == "bad_row"
    assert "3 cells" in bad.error.reason and "5" in bad.error.reason
    assert b"CO-2" in bad.raw


def test_empty_csv_rows_are_skipped() -> None:
    records = FORMATS["csv"].records(b"id,text\n1,a\n,\n\n2,b\n", FormatOptions(), RECEIVED)
    assert len(records) == 2


def test_a_csv_with_only_a_header_has_no_records() -> None:
    assert FORMATS["csv"].records(b"id,text\n", FormatOptions(), RECEIVED) == []


def test_a_csv_that_is_not_utf8_is_refused_as_bad_encoding(tmp_path: Path) -> None:
    payload = (CSV_HEADER + "2026-01-05T09:00:00+08:00,CO-1,co,12.5,海南区\n").encode("gbk")
    (outcome,) = translate(tmp_path, "csv", payload)
    bad = refused(outcome)
    assert bad.error.category == "bad_encoding"
    assert "utf-8" in bad.error.reason and "encoding:" in bad.error.reason
    assert bad.raw == payload


def test_a_gbk_csv_maps_when_the_file_says_encoding_gbk(tmp_path: Path) -> None:
    payload = (CSV_HEADER + "2026-01-05T09:00:00+08:00,CO-1,co,12.5,海南区\n").encode("gbk")
    (event,) = events(translate(tmp_path, "csv", payload, "encoding: gbk\n"))
    assert event.location.district == "海南区"


# --------------------------------------------------------------------------------------- text


def test_text_is_the_whole_payload_under_text() -> None:
    assert FORMATS["text"].records(b" 12.5\n", FormatOptions(), RECEIVED) == [({"text": "12.5"}, b" 12.5\n")]


def test_text_that_is_not_in_its_encoding_is_refused() -> None:
    with pytest.raises(EventDecodeError) as info:
        FORMATS["text"].records(b"\xff\xfe", FormatOptions(), RECEIVED)
    assert info.value.category == "bad_encoding"
