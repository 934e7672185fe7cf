"""`riskstream connect check` and `dry-run`: what an operator sees before a connector meets traffic."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner, Result

from streams.cli import app

ROOT = Path(__file__).parents[2] / "connectors"
HIKVISION = ROOT / "configs" / "http-hikvision.yaml"
HOTLINE = ROOT / "configs" / "file-hotline-csv.yaml"
IOT = ROOT / "configs" / "mqtt-iot-sensors.yaml"


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(app, ["connect", *map(str, args)])


def broken_file(tmp_path: Path) -> Path:
    path = tmp_path / "broken.yaml"
    path.write_text(HIKVISION.read_text(encoding="utf-8").replace("  vendor_code:", "  vendor_cod:"),
                    encoding="utf-8")
    return path


def line_of(path: Path, needle: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if needle in line)


def test_check_on_a_good_file_exits_0_and_says_ok() -> None:
    result = run("check", HIKVISION)
    assert result.exit_code == 0, result.output
    assert f"ok {HIKVISION}" in result.stdout
    assert "hikvision-cameras" in result.stdout and "camera events" in result.stdout


def test_check_takes_several_files() -> None:
    result = run("check", HIKVISION, HOTLINE, IOT)
    assert result.exit_code == 0, result.output
    assert result.stdout.count("ok ") == 3


def test_check_on_a_broken_file_exits_1_with_file_and_line(tmp_path: Path) -> None:
    path = broken_file(tmp_path)
    result = run("check", path)
    assert result.exit_code == 1
    assert f"{path}:{line_of(path, 'vendor_cod:')}:" in result.stderr
    assert "did you mean 'vendor_code'" in result.stderr
    assert "1 error(s)" in result.stderr


def test_check_reports_the_broken_file_and_still_checks_the_good_one(tmp_path: Path) -> None:
    result = run("check", broken_file(tmp_path), HIKVISION)
    assert result.exit_code == 1
    assert f"ok {HIKVISION}" in result.stdout


def test_dry_run_prints_the_events_and_their_topic() -> None:
    result = run("dry-run", HIKVISION, ROOT / "samples" / "hikvision-crowd.json")
    assert result.exit_code == 0, result.output
    assert "event -> " in result.stdout and "key=44:19:b6:00:00:03/1" in result.stdout
    assert '"crowd_density"' in result.stdout
    assert "1 event(s), 0 dead letter(s)" in result.stderr


def test_dry_run_prints_dead_letters_with_their_reason() -> None:
    result = run("dry-run", HOTLINE, ROOT / "samples" / "hotline-12345.csv")
    assert result.exit_code == 0, result.output
    assert "dead letter" in result.stdout and "unmapped_value" in result.stdout and "咨询" in result.stdout
    assert "5 event(s), 1 dead letter(s)" in result.stderr


def test_dry_run_json_prints_only_json_lines_that_parse() -> None:
    result = run("dry-run", "--json", HOTLINE, ROOT / "samples" / "hotline-12345.csv")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 5
    assert all(orjson.loads(line)["family"] == "hotline" for line in lines)


def test_dry_run_of_a_missing_sample_exits_1(tmp_path: Path) -> None:
    result = run("dry-run", HIKVISION, tmp_path / "absent.json")
    assert result.exit_code == 1
    assert "cannot read" in result.stderr


def test_dry_run_of_a_broken_file_exits_1_with_file_and_line(tmp_path: Path) -> None:
    path = broken_file(tmp_path)
    result = run("dry-run", path, ROOT / "samples" / "hikvision-crowd.json")
    assert result.exit_code == 1
    assert f"{path}:{line_of(path, 'vendor_cod:')}:" in result.stderr


def test_running_a_file_with_the_wrong_source_command_names_the_right_one() -> None:
    result = run("http", IOT)
    assert result.exit_code == 2
    assert "is a mqtt connector" in result.stderr
    assert f"riskstream connect mqtt {IOT}" in result.stderr



def test_the_check_example_in_the_docs_is_what_check_prints(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "connectors.md").read_text(encoding="utf-8")
    broken = re.search(r"```yaml broken.yaml\n(.*?)```", doc, re.S)
    shown = re.search(r"```text check\n\$ riskstream connect check broken.yaml\n(.*?)```", doc, re.S)
    assert broken is not None and shown is not None
    (tmp_path / "broken.yaml").write_text(broken.group(1), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = run("check", "broken.yaml")
    assert result.exit_code == 1
    assert result.output.splitlines() == shown.group(1).splitlines()
