"""A connector file is checked whole before it runs: every problem is reported with its file:line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from connectors.config import ConnectorConfig, load_connector
from connectors.mapping import EventMapping, NativeMapping
from connectors.sources.files import FileSource
from connectors.sources.mqtt import MqttSource
from rules.errors import RuleError, RuleSetError
from rules.events import Family

SHIPPED = sorted((Path(__file__).parents[2] / "connectors" / "configs").glob("*.yaml"))

GOOD = """\
name: test-sensors
family: sensor
source:
  type: mqtt
  topics: ["iot/#"]
event:
  time: {from: ts, format: epoch_ms}
  source_id: "{device}"
  kind: "{metric}"
  value: {from: value, type: float}
  location:
    city: 乌海市
"""


def write(tmp_path: Path, text: str, name: str = "connector.yaml") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def line_of(text: str, needle: str) -> int:
    """The 1-based line of the first line holding `needle`."""
    return next(i for i, line in enumerate(textwrap.dedent(text).splitlines(), 1) if needle in line)


def errors_of(path: Path) -> list[RuleError]:
    with pytest.raises(RuleSetError) as info:
        load_connector(path)
    return info.value.errors


def only_error(path: Path) -> str:
    (error,) = errors_of(path)
    return str(error)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_connector_file_loads(path: Path) -> None:
    config = load_connector(path)
    assert isinstance(config, ConnectorConfig)
    assert isinstance(config.mapping, EventMapping | NativeMapping)


def test_the_shipped_connector_files_are_there() -> None:
    assert {p.name for p in SHIPPED} >= {"http-hikvision.yaml", "mqtt-iot-sensors.yaml",
                                          "file-hotline-csv.yaml", "file-safety-jsonl.yaml"}


def test_a_good_file_gives_its_name_family_source_and_format(tmp_path: Path) -> None:
    config = load_connector(write(tmp_path, GOOD))
    assert (config.name, config.family) == ("test-sensors", Family.sensor)
    assert isinstance(config.source, MqttSource)
    assert config.format.name == "json"


def test_the_format_defaults_to_the_sources(tmp_path: Path) -> None:
    text = GOOD.replace('type: mqtt\n  topics: ["iot/#"]', "type: file\n  path: data")
    assert load_connector(write(tmp_path, text)).format.name == "jsonl"


def test_event_native_loads_a_native_mapping(tmp_path: Path) -> None:
    text = GOOD.split("event:")[0] + "event: native\n"
    assert isinstance(load_connector(write(tmp_path, text)).mapping, NativeMapping)


def test_an_unknown_event_field_is_reported_at_its_line_with_a_suggestion(tmp_path: Path) -> None:
    text = GOOD + "  unti: \"{unit}\"\n"
    path = write(tmp_path, text)
    message = only_error(path)
    assert message.startswith(f"{path}:{line_of(text, 'unti:')}:")
    assert "'unti' is not a field of sensor events" in message
    assert "did you mean 'unit'" in message


def test_a_mapped_kind_outside_the_family_is_reported_at_its_map_entry(tmp_path: Path) -> None:
    text = GOOD.replace('kind: "{metric}"', "kind:\n    from: metric\n    map:\n      gas: combustible_gas\n"
                        "      co: carbon_monoxide\n      h2s: h2s")
    path = write(tmp_path, text)
    message = only_error(path)
    assert message.startswith(f"{path}:{line_of(text, 'co: carbon_monoxide')}:")
    assert "'carbon_monoxide' is not a sensor kind" in message


def test_an_unknown_source_type_lists_the_known_ones(tmp_path: Path) -> None:
    text = GOOD.replace("type: mqtt", "type: amqp")
    path = write(tmp_path, text)
    message = only_error(path)
    assert message.startswith(f"{path}:{line_of(text, 'type: amqp')}:")
    assert "file, http, mqtt, syslog" in message


def test_a_missing_source_type_lists_the_known_ones(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("type: mqtt\n", ""))
    assert "source.type: must be one of file, http, mqtt, syslog" in only_error(path)


def test_a_wrong_source_setting_is_reported_under_source(tmp_path: Path) -> None:
    text = GOOD.replace('topics: ["iot/#"]', 'topics: ["iot/#"]\n  prot: 1883')
    path = write(tmp_path, text)
    message = only_error(path)
    assert message.startswith(f"{path}:{line_of(text, 'prot:')}:")
    assert "unknown key 'prot'" in message


def test_an_unknown_conversion_lists_the_known_ones(tmp_path: Path) -> None:
    text = GOOD.replace("{from: value, type: float}", "{from: value, convert: degF_to_C}")
    message = only_error(write(tmp_path, text))
    assert "unknown conversion 'degF_to_C'" in message
    assert "did you mean 'degF_to_degC'" in message and "K_to_degC" in message


def test_a_bad_time_format_names_the_known_ones(tmp_path: Path) -> None:
    text = GOOD.replace("format: epoch_ms", "format: unix")
    path = write(tmp_path, text)
    message = only_error(path)
    assert message.startswith(f"{path}:{line_of(text, 'time:')}:")
    assert "'unix' is not a time format" in message and "epoch_ms" in message and "%Y" in message


def test_a_missing_time_says_how_to_use_the_time_of_receipt(tmp_path: Path) -> None:
    text = GOOD.replace("  time: {from: ts, format: epoch_ms}\n", "")
    message = only_error(write(tmp_path, text))
    assert "'time' is required" in message
    assert "{from: meta.received_at}" in message


def test_a_missing_city_is_reported(tmp_path: Path) -> None:
    text = GOOD.replace("city: 乌海市", "district: 海南区")
    assert "'city' is required" in only_error(write(tmp_path, text))


def test_a_missing_top_level_key_is_reported(tmp_path: Path) -> None:
    text = GOOD.replace("family: sensor\n", "")
    assert "missing required key 'family'" in only_error(write(tmp_path, text))


def test_an_unknown_family_is_reported_at_its_line(tmp_path: Path) -> None:
    text = GOOD.replace("family: sensor", "family: sensors")
    path = write(tmp_path, text)
    assert only_error(path).startswith(f"{path}:{line_of(text, 'family:')}:")


def test_an_unknown_payload_format_lists_the_known_ones(tmp_path: Path) -> None:
    text = GOOD.replace("event:", "format: xml\nevent:")
    message = only_error(write(tmp_path, text))
    assert "format: must be one of csv, json, jsonl, syslog, text" in message


def test_an_unknown_encoding_is_reported(tmp_path: Path) -> None:
    text = GOOD.replace("event:", "encoding: klingon\nevent:")
    assert "unknown encoding 'klingon'" in only_error(write(tmp_path, text))


def test_several_errors_in_one_file_are_all_reported(tmp_path: Path) -> None:
    text = (GOOD.replace("type: mqtt", "type: amqp")
            .replace("format: epoch_ms", "format: unix")
            .replace("{from: value, type: float}", "{from: value, convert: nope}")
            + "  unti: x\n")
    path = write(tmp_path, text)
    errors = errors_of(path)
    assert len(errors) == 4
    lines = sorted(e.location.line for e in errors if e.location is not None and e.location.line)
    assert lines == sorted(line_of(text, n) for n in ("type: amqp", "time:", "value:", "unti:"))


def test_relative_source_paths_resolve_against_the_connector_files_directory(tmp_path: Path) -> None:
    text = GOOD.replace('type: mqtt\n  topics: ["iot/#"]', "type: file\n  path: ../exports")
    path = write(tmp_path, text, name="conf/connector.yaml")
    source = load_connector(path).source
    assert isinstance(source, FileSource)
    assert source.path.resolve() == (tmp_path / "exports").resolve()


def test_absolute_source_paths_are_kept(tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    text = GOOD.replace('type: mqtt\n  topics: ["iot/#"]', f"type: file\n  path: {exports}")
    source = load_connector(write(tmp_path, text, name="conf/connector.yaml")).source
    assert isinstance(source, FileSource)
    assert source.path == exports


def test_bad_yaml_syntax_gives_its_line(tmp_path: Path) -> None:
    text = GOOD.replace('source_id: "{device}"', 'source_id: "{device}')
    path = write(tmp_path, text)
    with pytest.raises(RuleError) as info:
        load_connector(path)
    assert info.value.location is not None
    assert info.value.location.file == path
    assert info.value.location.line is not None


def test_a_file_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match="a connector file is a mapping"):
        load_connector(write(tmp_path, "- just\n- a list\n"))


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match="file not found"):
        load_connector(tmp_path / "absent.yaml")
