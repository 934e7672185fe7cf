"""Syslog bytes become one record shape whichever RFC the sender uses; a TCP stream is cut into messages."""

from __future__ import annotations

import contextlib
import itertools
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.formats.syslog import Framer, parse_syslog
from rules.errors import EventDecodeError

SAMPLES = Path(__file__).resolve().parents[2] / "connectors" / "samples" / "cef-samples.txt"
SHANGHAI = ZoneInfo("Asia/Shanghai")
RECEIVED = datetime(2026, 1, 5, 1, 10, tzinfo=UTC)
RECORD_KEYS = {
    "protocol",
    "facility",
    "severity",
    "timestamp",
    "hostname",
    "app_name",
    "procid",
    "msgid",
    "structured_data",
    "message",
    "cef",
}


def parse(line: bytes | str, received_at: datetime = RECEIVED, zone: ZoneInfo = SHANGHAI) -> dict[str, Any]:
    raw = line.encode() if isinstance(line, str) else line
    return parse_syslog(raw, received_at, zone)


def refusal(line: bytes | str) -> EventDecodeError:
    with pytest.raises(EventDecodeError) as info:
        parse(line)
    return info.value


def sample_lines() -> list[bytes]:
    return [line for line in SAMPLES.read_bytes().splitlines() if line and not line.startswith(b"#")]


# --- vendor samples ----------------------------------------------------------------------------------

VENDOR_EXPECTATIONS = [
    ("rfc3164", "Palo Alto Networks", "PAN-OS", "10.20.1.15", "203.0.113.50", "53122", "443"),
    ("rfc5424", "Palo Alto Networks", "PAN-OS", "203.0.113.77", "10.20.5.30", "41822", "80"),
    ("rfc3164", "Fortinet", "Fortigate", "10.30.2.44", "198.51.100.23", "61544", "443"),
    ("rfc3164", "Fortinet", "Fortigate", "198.51.100.45", "10.1.100.11", "38188", "80"),
    ("rfc5424", "Check Point", "VPN-1 & FireWall-1", "10.40.7.21", "203.0.113.80", "51874", "443"),
    ("rfc5424", "Trend Micro", "Deep Security Agent", "198.51.100.61", "10.50.3.12", "44218", "8080"),
    ("rfc3164", "Trend Micro", "Deep Security Agent", "192.0.2.99", "10.50.3.14", "50122", "23"),
]


def test_the_fixture_holds_one_expectation_per_sample_line() -> None:
    assert len(sample_lines()) == len(VENDOR_EXPECTATIONS)


@pytest.mark.parametrize(
    ("index", "expected"),
    list(enumerate(VENDOR_EXPECTATIONS)),
    ids=[f"{e[1]}-{e[0]}" for e in VENDOR_EXPECTATIONS],
)
def test_each_vendor_sample_yields_its_vendor_product_and_flow(index: int, expected: tuple[str, ...]) -> None:
    record = parse(sample_lines()[index])
    cef = record["cef"]
    ext = cef["extensions"]
    header = (record["protocol"], cef["device_vendor"], cef["device_product"])
    assert (*header, ext["src"], ext["dst"], ext["spt"], ext["dpt"]) == expected


def test_pan_os_sample_keeps_custom_fields_by_label() -> None:
    cef = parse(sample_lines()[0])["cef"]
    assert cef["labels"]["Rule"] == "allow-web"
    assert cef["labels"]["Elapsed time in seconds"] == "16"


def test_pan_os_sample_unescapes_the_domain_user_backslash() -> None:
    assert parse(sample_lines()[0])["cef"]["extensions"]["suser"] == "corp\\jsmith"


def test_fortinet_sample_keeps_a_value_with_a_space_whole() -> None:
    assert parse(sample_lines()[2])["cef"]["extensions"]["FTNTFGTdstcountry"] == "United States"


def test_check_point_sample_unescapes_equals_signs() -> None:
    ext = parse(sample_lines()[4])["cef"]["extensions"]
    assert ext["originsicname"] == "CN=gw-hq-01,O=mgmt-hq..7h3k2a"


def test_check_point_sample_has_no_severity_level() -> None:
    cef = parse(sample_lines()[4])["cef"]
    assert (cef["severity"], cef["severity_level"]) == ("Unknown", None)


def test_trend_micro_sample_carries_structured_data_before_the_cef_payload() -> None:
    record = parse(sample_lines()[5])
    assert record["structured_data"] == {"origin": {"ip": "10.50.3.12"}}
    assert record["cef"]["labels"]["TCP Flags"] == "0x00 ACK PSH"


# --- RFC 5424 ----------------------------------------------------------------------------------------


def test_rfc5424_example_without_structured_data() -> None:
    record = parse(
        b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - "
        b"\xef\xbb\xbf'su root' failed for lonvick on /dev/pts/8"
    )
    assert record == {
        "protocol": "rfc5424",
        "facility": 4,
        "severity": 2,
        "timestamp": datetime(2003, 10, 11, 22, 14, 15, 3000, tzinfo=UTC),
        "hostname": "mymachine.example.com",
        "app_name": "su",
        "procid": None,
        "msgid": "ID47",
        "structured_data": {},
        "message": "'su root' failed for lonvick on /dev/pts/8",
        "cef": None,
    }


def test_rfc5424_timestamp_keeps_microseconds_and_its_offset() -> None:
    record = parse("<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time")
    assert record["timestamp"] == datetime(2003, 8, 24, 12, 14, 15, 3, tzinfo=UTC)
    assert record["timestamp"].utcoffset() == timedelta(hours=-7)


def test_rfc5424_structured_data_elements_become_nested_dicts() -> None:
    record = parse(
        '<165>1 2003-10-11T22:14:15.003Z host evntslog - ID47 [exampleSDID@32473 iut="3" '
        'eventSource="Application" eventID="1011"][examplePriority@32473 class="high"] An event'
    )
    assert record["structured_data"] == {
        "exampleSDID@32473": {"iut": "3", "eventSource": "Application", "eventID": "1011"},
        "examplePriority@32473": {"class": "high"},
    }
    assert record["message"] == "An event"


def test_rfc5424_without_msg_has_an_empty_message() -> None:
    assert parse('<165>1 - host app - - [a@1 b="c"]')["message"] == ""


def test_rfc5424_param_value_escapes_are_undone() -> None:
    record = parse(r'<14>1 - h a - - [x@1 q="say \"hi\"" b="C:\\dir" r="a\]b"] m')
    assert record["structured_data"]["x@1"] == {"q": 'say "hi"', "b": "C:\\dir", "r": "a]b"}


def test_rfc5424_backslash_before_another_character_is_kept() -> None:
    assert parse(r'<14>1 - h a - - [x@1 p="a\nb"]')["structured_data"]["x@1"]["p"] == "a\\nb"


def test_rfc5424_param_value_may_be_utf8() -> None:
    record = parse('<14>1 - h a - - [x@1 city="上海"]')
    assert record["structured_data"]["x@1"]["city"] == "上海"


def test_rfc5424_nilvalues_become_none() -> None:
    record = parse("<0>1 - - - - - -")
    header = [record[key] for key in ("timestamp", "hostname", "app_name", "procid", "msgid")]
    assert header == [None] * 5
    assert (record["structured_data"], record["message"]) == ({}, "")


def test_rfc5424_message_is_read_as_utf8_with_bad_bytes_replaced() -> None:
    assert parse(b"<14>1 - h a - - - caf\xc3\xa9 \xff")["message"] == "café \ufffd"


def test_rfc5424_cef_after_a_bom_is_parsed() -> None:
    record = parse(b"<134>1 - h a - - - \xef\xbb\xbfCEF:0|Acme|Gate|1|2|x|5|src=10.0.0.1")
    assert record["cef"]["extensions"] == {"src": "10.0.0.1"}


def test_a_message_that_is_not_cef_has_no_cef() -> None:
    assert parse("<14>1 - h a - - - user logged in")["cef"] is None


def test_rfc5424_an_element_after_a_space_is_already_the_msg() -> None:
    record = parse('<14>1 - h a - - [a@1 x="1"] [b@1 y="2"]')
    assert (record["structured_data"], record["message"]) == ({"a@1": {"x": "1"}}, '[b@1 y="2"]')


@pytest.mark.parametrize(
    ("line", "names"),
    [
        ('<14>1 - h a - - [ a@1 x="1"]', "SD-ID"),
        ('<14>1 - h a - - [a@1 x="1"', "]"),
        ("<14>1 - h a - - [a@1 x=1]", "]"),
        ("<14>1 - h a - - x", "STRUCTURED-DATA"),
        ("<14>1 - h a - - -x", "MSG"),
        ("<14>1 2003-13-11T22:14:15Z h a - - -", "TIMESTAMP"),
        ("<14>1 2003-10-11T22:14:15 h a - - -", "TIMESTAMP"),
        ("<14>1 2003-10-11T22:14:15Z h", "STRUCTURED-DATA"),
        ("<14>1 -  a - - -", "empty"),
        ("<14>1 - " + "h" * 256 + " a - - -", "HOSTNAME"),
        ("<14>1 - h a - " + "m" * 33 + " -", "MSGID"),
        ("<14>1 - h a - - [" + "s" * 33 + "]", "SD-ID"),
        ("<14>1 - héllo a - - -", "US-ASCII"),
    ],
)
def test_a_malformed_rfc5424_header_is_refused_naming_the_part(line: str, names: str) -> None:
    error = refusal(line)
    assert error.category == "not_syslog"
    assert names in error.reason


def test_rfc5424_with_a_broken_cef_payload_is_bad_cef() -> None:
    assert refusal("<134>1 - h a - - - CEF:0|only|three").category == "bad_cef"


# --- RFC 3164 ----------------------------------------------------------------------------------------


def test_rfc3164_example_with_host_and_tag() -> None:
    record = parse("<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8")
    assert record == {
        "protocol": "rfc3164",
        "facility": 4,
        "severity": 2,
        "timestamp": datetime(2025, 10, 11, 22, 14, 15, tzinfo=SHANGHAI),
        "hostname": "mymachine",
        "app_name": "su",
        "procid": None,
        "msgid": None,
        "structured_data": {},
        "message": "'su root' failed for lonvick on /dev/pts/8",
        "cef": None,
    }


def test_rfc3164_tag_with_pid_and_space_padded_day() -> None:
    record = parse("<13>Jan  5 09:00:01 10.0.0.99 sshd[4721]: Accepted publickey for ops")
    assert (record["hostname"], record["app_name"], record["procid"]) == ("10.0.0.99", "sshd", "4721")
    assert record["timestamp"] == datetime(2026, 1, 5, 9, 0, 1, tzinfo=SHANGHAI)


def test_rfc3164_time_is_in_the_configured_zone() -> None:
    stamp = parse("<13>Jan  5 09:00:01 h app: x")["timestamp"]
    assert stamp.tzinfo is SHANGHAI
    assert stamp.utcoffset() == timedelta(hours=8)


def test_rfc3164_time_from_last_year_when_received_in_january() -> None:
    received = datetime(2026, 1, 1, 0, 0, 30, tzinfo=UTC)
    stamp = parse("<13>Dec 31 23:59:58 h app: x", received, ZoneInfo("UTC"))["timestamp"]
    assert stamp == datetime(2025, 12, 31, 23, 59, 58, tzinfo=UTC)


def test_rfc3164_time_from_next_year_when_the_sender_clock_runs_ahead_on_new_years_eve() -> None:
    received = datetime(2025, 12, 31, 23, 59, 50, tzinfo=UTC)
    stamp = parse("<13>Jan  1 00:00:05 h app: x", received, ZoneInfo("UTC"))["timestamp"]
    assert stamp == datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)


def test_rfc3164_year_is_chosen_in_the_configured_zone_not_utc() -> None:
    received = datetime(2025, 12, 31, 16, 30, tzinfo=UTC)  # already 00:30 on Jan 1 in Shanghai
    assert parse("<13>Jan  1 00:20:00 h app: x", received)["timestamp"].year == 2026


def test_rfc3164_naive_receipt_time_is_taken_as_in_the_zone() -> None:
    stamp = parse("<13>Jan  5 09:00:01 h app: x", datetime(2026, 1, 5, 9, 1))["timestamp"]
    assert stamp == datetime(2026, 1, 5, 9, 0, 1, tzinfo=SHANGHAI)


def test_rfc3164_without_a_tag_is_all_message() -> None:
    record = parse("<14>Jan  5 09:00:01 PA-3260 hello world")
    assert (record["hostname"], record["app_name"], record["message"]) == ("PA-3260", None, "hello world")


def test_rfc3164_without_a_hostname_reads_the_tag() -> None:
    record = parse("<13>Oct 11 22:14:15 su: failed")
    assert (record["hostname"], record["app_name"], record["message"]) == (None, "su", "failed")


def test_rfc3164_cef_right_after_the_timestamp_has_no_hostname() -> None:
    record = parse("<14>Jan  5 09:00:01 CEF:0|Acme|Gate|1|2|x|5|src=10.0.0.1")
    assert (record["hostname"], record["cef"]["device_vendor"]) == (None, "Acme")


def test_rfc3164_cef_with_a_space_after_the_colon_is_not_read_as_a_tag() -> None:
    record = parse("<14>Jan  5 09:00:01 fw CEF: 0|Acme|Gate|1|2|x|5|src=10.0.0.1")
    assert (record["app_name"], record["cef"]["version"]) == (None, 0)


def test_rfc3164_iso_timestamp_variant_keeps_its_offset() -> None:
    record = parse("<30>2026-01-05T09:00:01.250+01:00 host app[7]: started")
    assert record["timestamp"] == datetime(2026, 1, 5, 8, 0, 1, 250000, tzinfo=UTC)
    assert (record["hostname"], record["app_name"], record["procid"]) == ("host", "app", "7")


def test_rfc3164_iso_timestamp_without_offset_is_in_the_configured_zone() -> None:
    stamp = parse("<30>2026-01-05T09:00:01 host app: started")["timestamp"]
    assert stamp == datetime(2026, 1, 5, 9, 0, 1, tzinfo=SHANGHAI)


def test_rfc3164_timestamp_with_a_year_uses_that_year() -> None:
    record = parse("<166>Jan 05 2024 09:00:01 asa-01 %ASA-6-302013: Built outbound TCP connection")
    assert record["timestamp"] == datetime(2024, 1, 5, 9, 0, 1, tzinfo=SHANGHAI)
    assert record["hostname"] == "asa-01"


def test_rfc3164_without_a_timestamp_is_all_message() -> None:
    record = parse("<13>just some text")
    assert (record["timestamp"], record["hostname"], record["message"]) == (None, None, "just some text")


def test_rfc3164_timestamp_that_is_no_real_date_is_refused() -> None:
    error = refusal("<13>Feb 30 10:00:00 h app: x")
    assert error.category == "not_syslog"
    assert "Feb 30" in error.reason


def test_rfc3164_bytes_that_are_not_utf8_are_replaced() -> None:
    assert parse(b"<13>Oct 11 22:14:15 h app: caf\xe9")["message"] == "caf\ufffd"


def test_rfc3164_message_bom_is_stripped() -> None:
    assert parse(b"<13>Oct 11 22:14:15 h app: \xef\xbb\xbfhello")["message"] == "hello"


def test_rfc3164_with_a_broken_cef_payload_is_bad_cef() -> None:
    assert refusal("<13>Oct 11 22:14:15 fw CEF:x|a|b").category == "bad_cef"


# --- either format -----------------------------------------------------------------------------------


@pytest.mark.parametrize("line", [b"<13>Oct 11 22:14:15 h app: x", b"<13>1 - h app - - - x", b"<13>x"])
def test_the_record_has_exactly_the_contract_keys(line: bytes) -> None:
    assert set(parse(line)) == RECORD_KEYS


@pytest.mark.parametrize("trailer", [b"\n", b"\r\n", b"\x00", b"\r\n\x00"])
def test_trailing_line_ends_and_nul_are_tolerated(trailer: bytes) -> None:
    assert parse(b"<13>1 - h a - - - hello" + trailer)["message"] == "hello"


@pytest.mark.parametrize("line", [b"", b"\r\n", b"\x00"])
def test_an_empty_message_is_refused_as_empty(line: bytes) -> None:
    assert refusal(line).category == "empty"


def test_a_line_without_pri_is_not_syslog_and_says_what_it_found() -> None:
    error = refusal('{"event": "json, not syslog"}')
    assert error.category == "not_syslog"
    assert "<PRI>" in error.reason
    assert '{"event"' in error.reason


def test_the_reason_quotes_at_most_about_forty_characters() -> None:
    assert len(refusal(b"x" * 100_000).reason) < 150


@pytest.mark.parametrize("line", ["<192>1 - - - - - -", "<999>Oct 11 22:14:15 h x", "<>x", "<1a>x"])
def test_a_pri_outside_0_to_191_is_not_syslog(line: str) -> None:
    assert refusal(line).category == "not_syslog"


def test_pri_splits_into_facility_and_severity() -> None:
    record = parse("<191>1 - - - - - -")
    assert (record["facility"], record["severity"]) == (23, 7)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_parse_or_raise_only_event_decode_error(raw: bytes) -> None:
    with contextlib.suppress(EventDecodeError):
        parse(raw)


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from([b"<34>1 ", b"<34>Oct 11 22:14:15 ", b"<34>", b"<134>1 - h a - - ", b"<13>2026-01-0"]),
    st.lists(
        st.sampled_from([b"[", b"]", b'"', b"\\", b"=", b" ", b"-", b"a@1", b"CEF:0|", b"|", b"\xff", b":"]),
        max_size=30,
    ),
)
def test_syslog_shaped_garbage_raises_only_event_decode_error(prefix: bytes, pieces: list[bytes]) -> None:
    with contextlib.suppress(EventDecodeError):
        parse(prefix + b"".join(pieces))


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    "line",
    [
        b'<14>1 - h a - - [x@1 v="' + b"abcdefgh\\]" * 100_000 + b'"] m',  # a megabyte value full of escapes
        b'<14>1 - h a - - [x@1 v="' + b"\\" * 1_000_000,  # an unterminated value
        b"<14>1 - h a - - " + b'[x@1 v="1"]' * 90_000,  # ninety thousand elements
        b"<14>1 - h a - - - CEF:0|A|B|1|2|x|5|" + b"key=value " * 100_000,  # a hundred thousand CEF keys
        b"<13>Oct 11 22:14:15 h " + b"a " * 500_000,  # a megabyte of BSD message
        b"<13>" + b"9" * 1_000_000,  # no header at all
    ],
)
def test_a_megabyte_line_is_read_in_linear_time(line: bytes) -> None:
    try:
        assert set(parse(line)) == RECORD_KEYS
    except EventDecodeError as error:
        assert error.category == "not_syslog"


# --- TCP framing -------------------------------------------------------------------------------------


def octets(message: bytes) -> bytes:
    return str(len(message)).encode() + b" " + message


def feed_all(framer: Framer, chunks: list[bytes]) -> list[bytes | tuple[str, str]]:
    out = [item for chunk in chunks for item in framer.feed(chunk)] + framer.close()
    return [(item.category, item.reason) if isinstance(item, EventDecodeError) else item for item in out]


def test_lf_framing_splits_on_each_line_feed() -> None:
    assert Framer().feed(b"<13>one\n<13>two\n") == [b"<13>one", b"<13>two"]


def test_lf_framing_drops_the_carriage_return_of_crlf() -> None:
    assert Framer().feed(b"<13>one\r\n") == [b"<13>one"]


def test_octet_counting_takes_exactly_len_bytes_even_across_line_feeds() -> None:
    assert Framer().feed(octets(b"<13>one\ntwo") + octets(b"<13>three")) == [b"<13>one\ntwo", b"<13>three"]


def test_framing_is_chosen_per_frame() -> None:
    assert Framer().feed(b"<13>lf\n" + octets(b"<13>counted") + b"<13>lf again\n") == [
        b"<13>lf",
        b"<13>counted",
        b"<13>lf again",
    ]


def test_blank_lines_are_skipped_silently() -> None:
    assert Framer().feed(b"\n\r\n<13>x\n\n") == [b"<13>x"]


def test_an_incomplete_frame_waits_for_the_next_chunk() -> None:
    framer = Framer()
    assert framer.feed(b"<13>par") == []
    assert framer.feed(b"tial\n") == [b"<13>partial"]


def test_close_returns_a_final_unterminated_line() -> None:
    framer = Framer()
    framer.feed(b"<13>last words")
    assert framer.close() == [b"<13>last words"]


def test_close_on_a_clean_boundary_returns_nothing() -> None:
    framer = Framer()
    framer.feed(b"<13>x\n")
    assert framer.close() == []


def test_close_inside_an_octet_counted_frame_is_bad_framing() -> None:
    framer = Framer()
    framer.feed(b"20 <13>short")
    [error] = framer.close()
    assert isinstance(error, EventDecodeError)
    assert error.category == "bad_framing"


def test_a_framer_is_reusable_after_close() -> None:
    framer = Framer()
    framer.feed(b"20 <13>short")
    framer.close()
    assert framer.feed(b"<13>fresh\n") == [b"<13>fresh"]


@pytest.mark.parametrize(
    "stream", [b"12x <13>y\n<13>next\n", b"012 <13>y\n<13>next\n", b"99999999999 y\n<13>next\n"]
)
def test_a_bad_length_prefix_is_bad_framing_and_resyncs_at_the_next_line_feed(stream: bytes) -> None:
    [error, frame] = Framer().feed(stream)
    assert isinstance(error, EventDecodeError)
    assert (error.category, frame) == ("bad_framing", b"<13>next")


def test_a_frame_of_exactly_max_frame_bytes_is_accepted() -> None:
    assert Framer(max_frame=8).feed(b"<13>abcd\n" + octets(b"<13>abcd")) == [b"<13>abcd", b"<13>abcd"]


def test_an_oversize_line_is_too_large_and_skipped_to_its_line_feed() -> None:
    [error, frame] = Framer(max_frame=8).feed(b"<13>abcde\n<13>ok\n")
    assert isinstance(error, EventDecodeError)
    assert (error.category, frame) == ("too_large", b"<13>ok")


def test_an_oversize_octet_counted_frame_is_too_large_and_skipped_by_its_length() -> None:
    payload = b"<13>\n5 tricky\n" * 4  # line feeds and digits inside must not be read as frames
    [error, frame] = Framer(max_frame=16).feed(octets(payload) + octets(b"<13>ok"))
    assert isinstance(error, EventDecodeError)
    assert (error.category, frame) == ("too_large", b"<13>ok")


def test_an_oversize_line_streamed_in_small_chunks_is_reported_once() -> None:
    framer = Framer(max_frame=1024)
    out = [item for _ in range(1024) for item in framer.feed(b"<" * 1024)]
    out += framer.feed(b"\n<13>ok\n")
    assert [getattr(item, "category", item) for item in out] == ["too_large", b"<13>ok"]


def test_an_oversize_octet_counted_frame_streamed_in_chunks_is_reported_once() -> None:
    framer = Framer(max_frame=1024)
    out = framer.feed(b"1048576 ")
    out += [item for _ in range(1024) for item in framer.feed(b"7\n" * 512)]
    out += framer.feed(octets(b"<13>ok"))
    assert [getattr(item, "category", item) for item in out] == ["too_large", b"<13>ok"]


def peak_bytes_while_feeding(framer: Framer, chunks: Iterator[bytes]) -> int:
    tracemalloc.start()
    try:
        for chunk in chunks:
            framer.feed(chunk)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_an_oversize_line_is_never_held_whole() -> None:
    four_megabytes = (b"<" * 4096 for _ in range(1024))
    assert peak_bytes_while_feeding(Framer(max_frame=1024), four_megabytes) < 64 * 1024


def test_an_oversize_octet_counted_frame_is_never_held_whole() -> None:
    four_megabytes = itertools.chain([b"4194304 "], (b"7\n" * 2048 for _ in range(1024)))
    assert peak_bytes_while_feeding(Framer(max_frame=1024), four_megabytes) < 64 * 1024


MAX_FRAME = 24
LF_PAYLOAD = st.binary(min_size=1, max_size=40).filter(
    lambda b: not b[:1].isdigit() and b"\n" not in b and b"\r" not in b
)
FRAMES = st.lists(
    st.one_of(
        st.tuples(st.just("lf"), LF_PAYLOAD),
        st.tuples(st.just("octets"), st.binary(min_size=1, max_size=40)),
        st.tuples(st.just("bad length"), LF_PAYLOAD),
    ),
    max_size=12,
)


def on_the_wire(kind: str, payload: bytes) -> bytes:
    if kind == "octets":
        return octets(payload)
    return (b"12x" if kind == "bad length" else b"") + payload + b"\n"


def encode(frames: list[tuple[str, bytes]]) -> bytes:
    return b"".join(on_the_wire(kind, payload) for kind, payload in frames)


def expected(frames: list[tuple[str, bytes]]) -> list[bytes | str]:
    return [
        "bad_framing" if kind == "bad length" else "too_large" if len(payload) > MAX_FRAME else payload
        for kind, payload in frames
    ]


def categories(items: list[bytes | tuple[str, str]]) -> list[bytes | str]:
    return [item if isinstance(item, bytes) else item[0] for item in items]


@settings(max_examples=150, deadline=None)
@given(FRAMES, st.lists(st.integers(min_value=0, max_value=2_000), max_size=20))
def test_any_chunking_of_a_stream_yields_the_same_frames(
    frames: list[tuple[str, bytes]], cuts: list[int]
) -> None:
    stream = encode(frames)
    points = sorted({cut % (len(stream) + 1) for cut in cuts})
    chunks = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    whole = feed_all(Framer(max_frame=MAX_FRAME), [stream])
    assert categories(whole) == expected(frames)
    assert feed_all(Framer(max_frame=MAX_FRAME), chunks) == whole


@settings(max_examples=100, deadline=None)
@given(FRAMES)
def test_a_stream_fed_one_byte_at_a_time_yields_the_same_frames(frames: list[tuple[str, bytes]]) -> None:
    stream = encode(frames)
    whole = feed_all(Framer(max_frame=MAX_FRAME), [stream])
    assert feed_all(Framer(max_frame=MAX_FRAME), [stream[i : i + 1] for i in range(len(stream))]) == whole


@settings(max_examples=150, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=10))
def test_random_chunks_yield_only_frames_and_event_decode_errors(chunks: list[bytes]) -> None:
    framer = Framer(max_frame=32)
    out = [item for chunk in chunks for item in framer.feed(chunk)] + framer.close()
    assert all(isinstance(item, bytes | EventDecodeError) for item in out)
    assert all(len(item) <= 32 for item in out if isinstance(item, bytes))
