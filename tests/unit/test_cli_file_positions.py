"""File positions in the CLI's messages print as written: rich would turn ``:100:`` into an emoji."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from streams.cli import app

ROUTING = Path(__file__).resolve().parents[2] / "rules" / "routing.yaml"


def test_a_lint_error_on_line_100_reads_file_100_not_an_emoji(tmp_path: Path) -> None:
    pack = tmp_path / "pack.yaml"
    padding = "".join(f"# line {n}\n" for n in range(1, 96))
    pack.write_text(
        padding
        + "version: 1\npack: p\nrules:\n  - id: r1\n    title: t\n    risk: public_safety\n"
        + "    on: sensor\n    tier: blue\n    when: 'value >'\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        app, ["rules", "lint", str(pack), "--routing", str(ROUTING)], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 1
    assert "pack.yaml:104" in result.output, result.output
    assert "💯" not in result.output
