"""`--help` of every riskstream command reads like a conventional CLI at 80 columns.

Options show a metavar (NAME, DURATION, PATH, N, ...) rather than a Python type, flags show
nothing after them, and no line is wider than the terminal.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import typer.main
from typer.testing import CliRunner

from streams.cli import app

PYTHON_TYPE = re.compile(r"<(bool|int|str|float|path|datetime|list\[|tuple\[|\w+ range)[^>]*>", re.IGNORECASE)


def command_paths() -> Iterator[tuple[str, ...]]:
    """Every command and subcommand, as the words that name it ('()' is the top-level command)."""

    def walk(command: object, path: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
        yield path
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            yield from walk(sub, (*path, name))

    yield from walk(typer.main.get_command(app), ())


PATHS = list(command_paths())


def help_of(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "80"}, prog_name="riskstream")
    assert result.exit_code == 0, result.output
    return result.output


def test_every_command_and_subcommand_is_covered() -> None:
    assert {("tail",), ("ack",), ("resolve",), ("rules", "backtest"), ("silence", "add")} <= set(PATHS)


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "riskstream")
def test_help_shows_no_python_types_as_metavars(path: tuple[str, ...]) -> None:
    assert PYTHON_TYPE.findall(help_of(path)) == []


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "riskstream")
def test_help_fits_in_80_columns(path: tuple[str, ...]) -> None:
    wide = [line for line in help_of(path).splitlines() if len(line) > 80]
    assert wide == []


def test_a_flag_shows_no_value_and_an_option_its_metavar() -> None:
    text = help_of(("tail",))
    assert re.search(r"--from-beginning +First the alerts", text)
    assert re.search(r"--agency +-a +NAME ", text)
    assert re.search(r"--limit +N ", text)


def test_an_argument_is_named_in_capitals() -> None:
    text = help_of(("resolve",))
    assert "Usage: riskstream resolve [OPTIONS] {ALERT_ID}" in text


def test_resolve_says_who_closes_the_alert_not_who_takes_it_on() -> None:
    assert "Who closes it" in help_of(("resolve",))
    assert "Who takes it on" in help_of(("ack",))


def test_a_later_docstring_paragraph_flows_to_the_width_instead_of_keeping_source_line_breaks() -> None:
    lines = [line.strip() for line in help_of(("soak",)).splitlines()]
    start = next(i for i, line in enumerate(lines) if line.startswith("Verdict:"))
    end = lines.index("", start)
    paragraph = lines[start:end]
    assert len(paragraph) >= 3
    assert all(len(line) > 60 for line in paragraph[:-1]), paragraph
