"""Strict YAML: duplicate keys and syntax errors are refused with a line; positions are kept."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from rules.errors import Location, RuleError
from rules.yaml_source import load_yaml, load_yaml_text, locate, to_plain

if TYPE_CHECKING:
    from tests.unit.conftest import WriteYaml


def test_duplicate_key_is_refused_with_its_line(write_yaml: WriteYaml) -> None:
    path = write_yaml("dup.yaml", "id: a\ntitle: x\nid: b\n")
    with pytest.raises(RuleError) as info:
        load_yaml(path)
    err = info.value
    assert err.location is not None
    assert (err.location.file, err.location.line) == (path, 3)
    assert 'duplicate key "id"' in err.message
    assert "each key may appear once" in err.message


def test_duplicate_key_in_a_nested_mapping_is_refused(write_yaml: WriteYaml) -> None:
    path = write_yaml("dup.yaml", "rules:\n  - id: a\n    when: 'true'\n    when: 'false'\n")
    with pytest.raises(RuleError) as info:
        load_yaml(path)
    assert info.value.location is not None
    assert info.value.location.line == 4


def test_syntax_error_names_file_line_and_column(write_yaml: WriteYaml) -> None:
    path = write_yaml("bad.yaml", "a: 1\nb: [1, 2\nc: 3\n")
    with pytest.raises(RuleError) as info:
        load_yaml(path)
    loc = info.value.location
    assert loc is not None
    assert loc.file == path
    assert loc.line is not None and loc.column is not None
    assert str(info.value).startswith(f"{path}:{loc.line}:{loc.column}: ")


def test_missing_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(RuleError, match="file not found") as info:
        load_yaml(path)
    assert info.value.location == Location(path)


def test_non_utf8_file_is_refused_with_the_byte_offset(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"title: caf\xe9\n")
    with pytest.raises(RuleError, match=r"not UTF-8 \(byte 10\)"):
        load_yaml(path)


def test_empty_file_loads_as_none(write_yaml: WriteYaml) -> None:
    assert load_yaml(write_yaml("empty.yaml", "")) is None


def test_yaml_1_2_keeps_on_yes_and_no_as_strings() -> None:
    # YAML 1.1 would read `on:` as the boolean True and break every rule's `on: sensor`.
    data = to_plain(load_yaml_text("on: sensor\nanswer: yes\nother: no\n", "f.yaml"))
    assert data == {"on": "sensor", "answer": "yes", "other": "no"}


def test_zoned_timestamp_keeps_its_offset() -> None:
    data = to_plain(load_yaml_text("start: 2026-01-05T09:00:00+08:00\n", "f.yaml"))
    assert data["start"].utcoffset() == timedelta(hours=8)


def test_to_plain_gives_builtin_containers_and_scalars() -> None:
    node = load_yaml_text("m: {a: 1, b: [2.5, true, text, null]}\nn: 1_000\nh: 0x10\nf: 1.0e+3\n", "f.yaml")
    data = to_plain(node)
    assert data == {"m": {"a": 1, "b": [2.5, True, "text", None]}, "n": 1000, "h": 16, "f": 1000.0}
    assert type(data) is dict and type(data["m"]["b"]) is list
    assert [type(v) for v in data["m"]["b"][:3]] == [float, bool, str]
    assert type(data["n"]) is int and type(data["h"]) is int and type(data["f"]) is float


TREE = """\
pack: p
rules:
  - id: a
    title: first
  - id: b
    tier:
      red: value > 1
"""


def test_locate_gives_the_line_of_a_nested_key() -> None:
    node = load_yaml_text(TREE, "p.yaml")
    assert locate(node, ["rules", 1, "tier", "red"], "p.yaml") == Location("p.yaml", 7, 7)


def test_locate_gives_the_line_of_a_list_item() -> None:
    node = load_yaml_text(TREE, "p.yaml")
    assert locate(node, ["rules", 1], "p.yaml").line == 5


def test_locate_stops_at_the_deepest_node_that_exists() -> None:
    node = load_yaml_text(TREE, "p.yaml")
    assert locate(node, ["rules", 0, "when", "x"], "p.yaml").line == 3
    assert locate(node, ["rules", 9], "p.yaml").line == 2


def test_locate_without_position_data_names_only_the_file() -> None:
    assert locate({"a": 1}, ["a"], "p.yaml") == Location("p.yaml")


def test_location_prints_like_an_editor_link() -> None:
    assert str(Location("p.yaml", 3, 5)) == "p.yaml:3:5"
    assert str(Location("p.yaml", 3)) == "p.yaml:3"
    assert str(Location("p.yaml")) == "p.yaml"
