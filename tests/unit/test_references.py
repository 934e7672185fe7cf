"""A rule's sources (``references``) and known false positives (``falsepositives``): data lint can require."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from rules.compiler import load_ruleset
from rules.errors import RuleSetError
from rules.routing import load_routing
from rules.schema import Reference
from rules.yaml_source import load_yaml, to_plain

if TYPE_CHECKING:
    from rules.routing import Router
    from tests.unit.conftest import LoadRules, WriteYaml

ROOT = Path(__file__).resolve().parents[2]
PACKS = sorted((ROOT / "rules" / "packs").glob("*.yaml"))

RULE = """\
- id: gas
  title: t
  risk: public_safety
  on: sensor
  kind: combustible_gas
  tier: yellow
"""

SOURCED = (
    RULE
    + """\
  references:
    - GB/T 50493-2019 石油化工可燃气体和有毒气体检测报警设计标准
    - {title: 城镇燃气管理条例, section: 燃气安全事故预防与处理, url: "https://example.org/g", note: 处置}
  falsepositives:
    - 检修作业中的短时释放
"""
)


def test_references_and_false_positives_are_kept_as_written(load_rules: LoadRules) -> None:
    (rule,) = load_rules(SOURCED).rules
    assert rule.spec.references == [
        "GB/T 50493-2019 石油化工可燃气体和有毒气体检测报警设计标准",
        Reference(
            title="城镇燃气管理条例",
            section="燃气安全事故预防与处理",
            url="https://example.org/g",
            note="处置",
        ),
    ]
    assert rule.spec.falsepositives == ["检修作业中的短时释放"]


def test_a_rule_without_references_loads_when_its_pack_does_not_require_them(load_rules: LoadRules) -> None:
    assert load_rules(RULE).rules[0].spec.references == []


def test_a_pack_that_requires_references_refuses_a_rule_without_them_at_its_line(
    write_yaml: WriteYaml, router: Router
) -> None:
    text = "version: 1\npack: p\nrequire_references: true\nrules:\n" + "".join(
        "  " + line + "\n" for line in (SOURCED + RULE.replace("id: gas", "id: unsourced")).splitlines()
    )
    path = write_yaml("packs/p.yaml", text)
    with pytest.raises(RuleSetError) as info:
        load_ruleset([path], router)
    (error,) = info.value.errors
    assert error.rule_id == "unsourced"
    assert "require_references: true" in error.message and "'references'" in error.message
    assert (
        error.location is not None and error.location.line == text.splitlines().index("  - id: unsourced") + 1
    )


@pytest.mark.parametrize(
    "reference",
    ["{section: 5.5.2}", "{title: GB 1, clause: 3}", "''"],
    ids=["no title", "unknown key", "empty"],
)
def test_a_malformed_reference_is_refused(load_rules: LoadRules, reference: str) -> None:
    with pytest.raises(RuleSetError) as info:
        load_rules(RULE + f"  references: [{reference}]\n")
    assert all("references" in e.message for e in info.value.errors)


@pytest.mark.parametrize("pack", PACKS, ids=lambda p: p.name)
def test_every_shipped_pack_requires_references(pack: Path) -> None:
    assert to_plain(load_yaml(pack)).get("require_references") is True


def test_every_shipped_rule_names_its_sources_and_its_known_false_positives() -> None:
    ruleset = load_ruleset([ROOT / "rules" / "packs"], load_routing(ROOT / "rules" / "routing.yaml"))
    missing = [r.id for r in ruleset.rules if not r.spec.references or not r.spec.falsepositives]
    assert missing == []
