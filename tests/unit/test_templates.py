"""Summary templates: field lookups only, filled from an event's fields."""

from __future__ import annotations

from rules.templates import MISSING, Template, lookup

FIELDS = {"value": 22.50, "people": 180, "location": {"grid": "G-07", "name": None}}


def test_template_lists_the_fields_it_uses() -> None:
    assert Template("{location.grid}: {value}%LEL").fields == ("location.grid", "value")


def test_template_fills_nested_fields_and_trims_floats() -> None:
    assert Template("{location.grid}: {value}%LEL, {people} people").render(FIELDS) == (
        "G-07: 22.5%LEL, 180 people"
    )


def test_absent_or_null_field_renders_as_a_marker() -> None:
    assert Template("{location.name}/{location.street}/{nope.deeper}").render(FIELDS) == (
        f"{MISSING}/{MISSING}/{MISSING}"
    )


def test_braces_that_are_not_field_paths_are_left_as_written() -> None:
    text = "{Value} {} {1} {value-x}"
    assert Template(text).fields == ()
    assert Template(text).render(FIELDS) == text


def test_template_never_reads_attributes() -> None:
    assert Template("{value.__class__}").render(FIELDS) == MISSING


def test_lookup_does_not_descend_into_non_mappings() -> None:
    assert lookup(FIELDS, "value.real") is None
    assert lookup(FIELDS, "location.grid") == "G-07"


def test_a_default_after_a_bar_replaces_an_absent_or_null_field() -> None:
    template = Template("{location.name|现场} {people|未知}人 {location.street|}")
    assert template.fields == ("location.name", "people", "location.street")
    assert template.render(FIELDS) == "现场 180人 "
