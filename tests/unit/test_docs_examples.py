"""The examples in the docs are real: valid events of their family, alerts, rules that compile."""

from __future__ import annotations

import io
import re
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import orjson
import pytest

from rules.decoding import decode_event
from rules.events import Family

if TYPE_CHECKING:
    from tests.unit.conftest import LoadRules

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


def _rules_doc_blocks() -> list[str]:
    text = (DOC.parent / "rules.md").read_text(encoding="utf-8")
    return re.findall(r"```yaml\n(.*?)```", text, re.S)


def test_the_stateful_rule_examples_in_the_rules_doc_compile_and_their_absence_case_passes(
    load_rules: LoadRules,
) -> None:
    from ruamel.yaml import YAML

    from rules.testing import run_cases

    (examples,) = [b for b in _rules_doc_blocks() if "absent_for: 15m" in b and "- id: crowd-gathering" in b]
    (case,) = [b for b in _rules_doc_blocks() if "until: 1h" in b]
    rules = YAML(typ="safe").load(examples)
    for rule in rules:
        rule.setdefault("title", rule["id"])
        rule.setdefault("risk", "public_safety")
        rule.setdefault("tier", "blue")
    buf = io.StringIO()
    YAML().dump(rules, buf)
    ruleset = load_rules(buf.getvalue(), textwrap.dedent(case))
    assert len(ruleset.rules) == 6
    (result,) = run_cases(ruleset)
    assert result.failures == []
