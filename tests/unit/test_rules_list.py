"""`riskstream rules list`: each rule with its risk, tiers, the agencies each tier reaches and references."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from rich.console import Console
from typer.testing import CliRunner

from rules.model import Tier
from streams.cli import app
from streams.rules_list_cli import _row, agencies_by_tier
from streams.tail import TIER_STYLE
from tests.unit.conftest import pack_text

if TYPE_CHECKING:
    from tests.unit.conftest import LoadRules, WriteYaml

RULES = """\
- id: gas-leak
  title: 可燃气体浓度超标
  risk: public_safety
  on: sensor
  kind: combustible_gas
  tier: {red: "value >= 50.0", yellow: "true"}
  route: [fire]
  references:
    - {title: GB/T 50493-2019 石油化工可燃气体和有毒气体检测报警设计标准, section: 5.5.2}
  falsepositives: [检修作业中的短时释放]
- id: fight
  title: 打架斗殴
  risk: public_order
  on: camera
  kind: fight
  tier: blue
"""


@pytest.fixture
def pack(write_yaml: WriteYaml) -> Path:
    return write_yaml("packs/p.yaml", pack_text(RULES))


def run(pack: Path, routing_file: Path, *args: str) -> str:
    result = CliRunner().invoke(
        app, ["rules", "list", str(pack), "--routing", str(routing_file), *args], env={"COLUMNS": "250"}
    )
    assert result.exit_code == 0, result.output
    return result.output


def test_each_rule_is_listed_with_risk_tiers_agencies_and_references(pack: Path, routing_file: Path) -> None:
    text = run(pack, routing_file)
    gas = text[text.index("gas-leak") :]
    assert "public_safety" in gas and "sensor: combustible_gas" in gas
    assert "red I" in gas and "yellow III" in gas
    assert "yellow: fire" in gas and "red: +governance" in gas
    assert "GB/T 50493-2019 石油化工可燃气体和有毒气体检测报警设计标准, 5.5.2" in gas


def test_a_rule_without_references_says_none(pack: Path, routing_file: Path) -> None:
    text = run(pack, routing_file, "--rule", "fight")
    assert "fight" in text and "none" in text and "gas-leak" not in text


def test_false_positives_are_shown_on_request(pack: Path, routing_file: Path) -> None:
    assert "检修作业中的短时释放" not in run(pack, routing_file)
    assert "检修作业中的短时释放" in run(pack, routing_file, "--falsepositives")


def test_risk_narrows_the_list(pack: Path, routing_file: Path) -> None:
    text = run(pack, routing_file, "--risk", "public_order")
    assert "fight" in text and "gas-leak" not in text


def test_an_unknown_rule_is_an_error(pack: Path, routing_file: Path) -> None:
    result = CliRunner().invoke(
        app, ["rules", "list", str(pack), "--routing", str(routing_file), "--rule", "gas"]
    )
    assert result.exit_code == 1 and "no rule gas" in result.output


def test_agencies_by_tier_are_the_routing_decision_for_each_tier_lowest_first(load_rules: LoadRules) -> None:
    gas = load_rules(RULES).by_id()["gas-leak"]
    ruleset = load_rules(RULES)
    assert agencies_by_tier(gas, ruleset.router) == {Tier.yellow: ["fire"], Tier.red: ["fire", "governance"]}


def test_tiers_are_coloured_as_alerts_are(load_rules: LoadRules) -> None:
    ruleset = load_rules(RULES)
    tiers = _row(ruleset.by_id()["gas-leak"], ruleset.router, falsepositives=False)[3]
    console = Console(force_terminal=True, color_system="truecolor", width=40)
    with console.capture() as captured:
        console.print(tiers)
    with console.capture() as expected:
        console.print(f"[{TIER_STYLE[Tier.red]}] red I [/]")
    assert expected.get().strip() in captured.get()
