"""CEF text becomes a record with the header, the extension and custom fields by label, or a bad_cef error."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.formats.cef import parse_cef
from rules.errors import EventDecodeError

HEADER = "CEF:0|Acme|Gate|1.2|100|Port scan|5|"


def extensions(extension: str) -> dict[str, str]:
    result: dict[str, str] = parse_cef(HEADER + extension)["extensions"]
    return result


def refusal(text: str) -> EventDecodeError:
    with pytest.raises(EventDecodeError) as info:
        parse_cef(text)
    return info.value


def test_header_fields_are_read_in_order() -> None:
    record = parse_cef("CEF:0|Security|threatmanager|1.0|100|worm successfully stopped|10|src=10.0.0.1")
    assert record == {
        "version": 0,
        "device_vendor": "Security",
        "device_product": "threatmanager",
        "device_version": "1.0",
        "signature_id": "100",
        "name": "worm successfully stopped",
        "severity": "10",
        "severity_level": 10,
        "extensions": {"src": "10.0.0.1"},
        "labels": {},
    }


def test_escaped_pipe_in_a_header_field_does_not_split_it() -> None:
    record = parse_cef(r"CEF:0|Acme|Gate|1.0|100|detected a \| in packet|5|")
    assert record["name"] == "detected a | in packet"


def test_escaped_backslash_in_a_header_field_is_one_backslash() -> None:
    record = parse_cef(r"CEF:0|Acme|C:\\Program Files\\Gate|1.0|100|x|5|")
    assert record["device_product"] == "C:\\Program Files\\Gate"


def test_escaped_backslash_before_a_pipe_ends_the_header_field() -> None:
    record = parse_cef("CEF:0|Acme|Gate\\\\|1.0|100|x|5|")
    assert (record["device_product"], record["device_version"]) == ("Gate\\", "1.0")


def test_a_header_with_no_extension_is_valid() -> None:
    record = parse_cef("CEF:0|Acme|Gate|1.0|100|x|Low")
    assert (record["severity"], record["extensions"]) == ("Low", {})


def test_version_1_is_read_as_an_integer() -> None:
    assert parse_cef("CEF:1|Acme|Gate|1.0|100|x|5|")["version"] == 1


def test_a_space_after_the_cef_colon_is_tolerated() -> None:
    assert parse_cef("CEF: 0|Fortinet|Fortigate|v6.0.3|00013|traffic:forward close|3|")["version"] == 0


def test_extension_value_runs_until_the_next_key_so_it_may_hold_spaces() -> None:
    assert extensions("msg=Intrusion attempt from outside dst=10.0.0.2") == {
        "msg": "Intrusion attempt from outside",
        "dst": "10.0.0.2",
    }


def test_extension_value_may_hold_an_unescaped_pipe() -> None:
    assert extensions("request=/a?b=1|2 act=allow")["request"] == "/a?b=1|2"


def test_equals_not_preceded_by_a_word_and_space_stays_in_the_value() -> None:
    assert (
        extensions("request=http://x.example/?a=b&c=d src=10.0.0.1")["request"] == "http://x.example/?a=b&c=d"
    )


def test_escaped_equals_in_a_value_is_an_equals() -> None:
    assert extensions(r"originsicname=CN\=gw,O\=mgmt src=10.0.0.1")["originsicname"] == "CN=gw,O=mgmt"


def test_escaped_equals_does_not_start_a_new_key() -> None:
    assert extensions(r"msg=a b\=c") == {"msg": "a b=c"}


def test_escaped_backslash_in_a_value_is_one_backslash() -> None:
    assert extensions(r"suser=corp\\jsmith act=allow")["suser"] == "corp\\jsmith"


def test_escaped_newline_and_carriage_return_become_control_characters() -> None:
    assert extensions(r"msg=line one\nline two\rend")["msg"] == "line one\nline two\rend"


def test_an_unknown_escape_is_kept_as_written() -> None:
    assert extensions(r"fname=C:\temp\x.exe")["fname"] == r"C:\temp\x.exe"


def test_an_empty_value_is_an_empty_string() -> None:
    assert extensions("duser= app=ssl") == {"duser": "", "app": "ssl"}


def test_trailing_spaces_after_the_last_value_are_dropped() -> None:
    assert extensions("src=192.0.2.4     ") == {"src": "192.0.2.4"}


def test_dotted_vendor_keys_are_keys() -> None:
    assert extensions("ad.vd=root ad.logid=0201009238") == {"ad.vd": "root", "ad.logid": "0201009238"}


def test_text_before_the_first_key_is_dropped() -> None:
    assert extensions("no key here src=10.0.0.1") == {"src": "10.0.0.1"}


def test_the_last_of_repeated_keys_wins() -> None:
    assert extensions("act=allow act=deny") == {"act": "deny"}


def test_custom_string_fields_are_keyed_by_their_label() -> None:
    record = parse_cef(HEADER + "cs1Label=Rule cs1=allow-web cs5=12 cs5Label=Policy Id")
    assert record["labels"] == {"Rule": "allow-web", "Policy Id": "12"}


def test_custom_number_and_flex_fields_are_keyed_by_their_label() -> None:
    record = parse_cef(HEADER + "cn1Label=SessionID cn1=48213 flexString1Label=Flags flexString1=0x400000")
    assert record["labels"] == {"SessionID": "48213", "Flags": "0x400000"}


def test_a_label_whose_field_is_absent_maps_nothing() -> None:
    assert parse_cef(HEADER + "cs2Label=Rule Name src=10.0.0.1")["labels"] == {}


@pytest.mark.parametrize(("severity", "level"), [("0", 0), ("3", 3), ("7", 7), ("10", 10)])
def test_a_numeric_severity_is_its_own_level(severity: str, level: int) -> None:
    assert parse_cef(f"CEF:0|Acme|Gate|1.0|100|x|{severity}|")["severity_level"] == level


@pytest.mark.parametrize(
    ("severity", "level"),
    [("Low", 3), ("medium", 6), ("HIGH", 8), ("Very-High", 10), ("very high", 10)],
)
def test_a_named_severity_is_the_top_of_its_band(severity: str, level: int) -> None:
    assert parse_cef(f"CEF:0|Acme|Gate|1.0|100|x|{severity}|")["severity_level"] == level


@pytest.mark.parametrize("severity", ["Unknown", "11", "5.5", "", "-1", "²"])
def test_any_other_severity_has_no_level_but_is_kept_as_given(severity: str) -> None:
    record = parse_cef(f"CEF:0|Acme|Gate|1.0|100|x|{severity}|")
    assert (record["severity"], record["severity_level"]) == (severity, None)


def test_fewer_than_seven_header_fields_is_bad_cef() -> None:
    error = refusal("CEF:0|Acme|Gate|1.0|100|x")
    assert error.category == "bad_cef"
    assert "7" in error.reason


def test_a_non_integer_version_is_bad_cef() -> None:
    error = refusal("CEF:zero|Acme|Gate|1.0|100|x|5|")
    assert error.category == "bad_cef"
    assert "version" in error.reason


def test_text_that_does_not_open_with_cef_is_bad_cef() -> None:
    assert refusal("LEEF:1.0|Acme|Gate|1.0|100|x|5|").category == "bad_cef"


def test_a_lone_backslash_ending_the_text_is_bad_cef() -> None:
    assert refusal("CEF:0|Acme|Gate|1.0|100|x|5\\").category == "bad_cef"


def test_the_reason_quotes_only_the_start_of_a_long_input() -> None:
    assert len(refusal("x" * 10_000).reason) < 200


@settings(max_examples=150, deadline=None)
@given(st.text())
def test_any_text_parses_or_is_refused_as_bad_cef(text: str) -> None:
    try:
        parse_cef(text)
    except EventDecodeError as error:
        assert error.category == "bad_cef"


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(["CEF:0", "|", "\\", "=", " ", "k", "cs1", "Label", "\n", "é"]), max_size=40))
def test_text_built_from_cef_syntax_parses_or_is_refused_as_bad_cef(pieces: list[str]) -> None:
    try:
        parse_cef("".join(pieces))
    except EventDecodeError as error:
        assert error.category == "bad_cef"


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    "extension",
    [
        "a " * 500_000,  # a million spaces and key-like words, none followed by '='
        "msg=" + "abcdefgh\\=" * 100_000,  # a megabyte value full of escapes
        " ".join(f"k{i}=v" for i in range(100_000)),  # many keys
        "cs1Label=" + "x y " * 250_000,  # a long value with spaces
    ],
)
def test_a_megabyte_extension_parses_in_linear_time(extension: str) -> None:
    assert isinstance(parse_cef(HEADER + extension)["extensions"], dict)


@pytest.mark.timeout(10)
def test_a_megabyte_header_field_of_escapes_parses_in_linear_time() -> None:
    record = parse_cef("CEF:0|" + "abcdefgh\\|" * 100_000 + "|Gate|1.0|100|x|5|")
    assert record["device_vendor"] == "abcdefgh|" * 100_000


@pytest.mark.timeout(10)
def test_a_megabyte_header_missing_its_pipes_is_refused_in_linear_time() -> None:
    assert refusal("CEF:0|" + "a\\b" * 350_000).category == "bad_cef"
