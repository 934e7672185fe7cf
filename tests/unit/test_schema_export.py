"""JSON Schema export: one file per event family, the alert, its CloudEvent and the rule pack."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import pytest

from rules.events import Family
from rules.schema_export import export_schemas
from rules.schema_export import schemas as build_schemas

NAMES = {f"event.{f.value}" for f in Family} | {"alert", "alert.cloudevent", "rule-pack"}


@functools.cache
def schemas() -> dict[str, dict[str, Any]]:
    """build_schemas(), built once for this module: generating them is the slow part."""
    return build_schemas()


def test_there_is_a_schema_per_family_plus_alert_cloudevent_and_rule_pack() -> None:
    assert set(schemas()) == NAMES


def test_export_writes_one_file_per_schema_into_a_new_directory(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b"
    written = export_schemas(out)
    assert {p.name for p in written} == {f"{n}.schema.json" for n in NAMES}
    assert all(p.parent == out and p.is_file() for p in written)


def test_each_file_holds_its_schema_as_json(tmp_path: Path) -> None:
    expected = schemas()
    for path in export_schemas(tmp_path):
        text = path.read_text(encoding="utf-8")
        assert text.endswith("}\n")
        assert json.loads(text) == expected[path.name.removesuffix(".schema.json")]


def test_export_keeps_non_ascii_text_readable(tmp_path: Path) -> None:
    export_schemas(tmp_path)
    assert "五类风险" in (tmp_path / "alert.schema.json").read_text(encoding="utf-8")


def test_export_is_deterministic(tmp_path: Path) -> None:
    first = {p.name: p.read_bytes() for p in export_schemas(tmp_path / "1")}
    second = {p.name: p.read_bytes() for p in export_schemas(tmp_path / "2")}
    assert first == second


@pytest.mark.parametrize("family", list(Family))
def test_event_schema_requires_the_envelope_and_forbids_unknown_fields(family: Family) -> None:
    schema = schemas()[f"event.{family.value}"]
    assert {"event_id", "kind", "time", "source_id", "location"} <= set(schema["required"])
    assert schema["additionalProperties"] is False
    assert (
        schema["properties"]["family"].get("const", schema["properties"]["family"].get("default"))
        == family.value
    )


def test_cloudevent_schema_carries_the_alert_as_data() -> None:
    schema = schemas()["alert.cloudevent"]
    assert schema["properties"]["specversion"]["const"] == "1.0"
    assert schema["properties"]["data"] == {"$ref": "#/$defs/Alert"}


def _accepts_text(prop: dict[str, Any], text: str) -> bool:
    return any(
        alt.get("type") == "string" and re.fullmatch(alt["pattern"], text)
        for alt in prop.get("anyOf", [prop])
    )


@pytest.mark.parametrize("text", ["90s", "10m", "1h30m", "2d"])
def test_rule_pack_schema_accepts_durations_as_authors_write_them(text: str) -> None:
    # An editor validating packs against this schema must not flag `cooldown: 10m`.
    defs = schemas()["rule-pack"]["$defs"]
    assert _accepts_text(defs["RuleSpec"]["properties"]["cooldown"], text)
    assert _accepts_text(defs["CaseEvent"]["properties"]["at"], text)


def test_rule_pack_schema_refuses_unreadable_duration_text() -> None:
    cooldown = schemas()["rule-pack"]["$defs"]["RuleSpec"]["properties"]["cooldown"]
    assert not _accepts_text(cooldown, "soon")


def test_committed_schemas_in_docs_are_up_to_date(tmp_path: Path) -> None:
    """docs/schemas is what producers and consumers read; regenerate it with `riskstream rules schema`."""
    committed = Path(__file__).resolve().parents[2] / "docs" / "schemas"
    for fresh in export_schemas(tmp_path):
        assert (committed / fresh.name).read_text(encoding="utf-8") == fresh.read_text(encoding="utf-8"), (
            f"{fresh.name} is stale: run `riskstream rules schema docs/schemas`"
        )
