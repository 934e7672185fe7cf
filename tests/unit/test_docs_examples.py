"""The examples in docs/events.md are real, valid events of the family they are labelled with."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest

from rules.decoding import decode_event
from rules.events import Family

DOC = Path(__file__).resolve().parents[2] / "docs" / "events.md"
BLOCKS = re.findall(r"```json (\w+)\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def test_the_doc_has_an_example_for_every_family() -> None:
    assert {name for name, _ in BLOCKS} == {f.value for f in Family}


@pytest.mark.parametrize(("family", "text"), BLOCKS, ids=[name for name, _ in BLOCKS])
def test_each_example_is_a_valid_event_of_its_family(family: str, text: str) -> None:
    event = decode_event(orjson.dumps(orjson.loads(text)), Family(family))
    assert event.family == Family(family)


def test_the_alert_example_in_the_docs_is_a_valid_cloudevent() -> None:
    from rules.alerts import CloudEvent

    text = (DOC.parent / "alerts.md").read_text(encoding="utf-8")
    example = re.search(r"```json\n(.*?)```", text, re.S)
    assert example is not None
    event = CloudEvent.model_validate_json(example.group(1))
    assert event.id == f"{event.data.alert_id}:{event.data.notice_seq}"
