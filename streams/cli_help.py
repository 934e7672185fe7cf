"""Conventional metavars in `--help` (NAME, N, PATH; nothing after a flag) for every command.

typer 0.29 shows each parameter's Python type in angle brackets in the help (`<bool>` after every
flag, --help included, `<list[str]>`, `<int range>`): its rich help and its plain help both print
``display_type_rich``, which a metavar replaces only for options, and no setting turns it off. So
this module replaces that one method of typer's option and argument classes;
tests/unit/test_cli_help.py renders every command's help and fails if a typer upgrade undoes it.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any, get_args, get_origin

from typer import rich_utils
from typer.core import TyperArgument, TyperOption

CONVENTIONAL_METAVARS: tuple[tuple[type, str], ...] = (
    (int, "N"),
    (float, "NUMBER"),
    (datetime, "TIME"),
    (Path, "PATH"),
    (str, "TEXT"),
)


def conventional_metavar(param: TyperOption | TyperArgument) -> str:
    """What help shows for a value without a metavar of its own: N, NUMBER, TIME, PATH, TEXT."""
    annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
    if get_origin(annotation) in (list, tuple):
        annotation = (get_args(annotation) or (str,))[0]
    if isinstance(annotation, type):
        if issubclass(annotation, Enum):
            return "|".join(str(m.value) for m in annotation)
        for kind, name in CONVENTIONAL_METAVARS:
            if issubclass(annotation, kind):
                return name
    return "VALUE"


def _option_value(self: TyperOption, ctx: Any) -> str | None:
    """A flag takes no value, so shows none; an option shows its metavar, or a conventional one."""
    if self.is_flag or self.count:
        return None
    if self.metavar is not None:
        return self.metavar
    return conventional_metavar(self) + ("..." if self.nargs != 1 else "")


def _argument_value(self: TyperArgument, ctx: Any) -> str | None:
    """An argument's name column (its metavar, else its name in capitals) says it all."""
    return None


def _argument_name(self: TyperArgument) -> str:
    return self.metavar if self.metavar is not None else (self.name or "").upper()


def _paragraphs(paragraphs: list[str], markup_mode: Any) -> str:
    """A docstring's later paragraphs flowed to the terminal's width, as its first one is.

    typer 0.29 keeps their single line breaks, so a paragraph wrapped at 100 columns in the source
    comes out ragged on a narrower terminal. A paragraph starting with ``\\b`` keeps its lines (click's
    convention for verbatim blocks)."""
    if markup_mode == "markdown":
        return "\n\n".join(paragraphs)
    return "\n\n".join(p if p.startswith("\b") else p.replace("\n", " ") for p in paragraphs)


def use_conventional_help() -> None:
    """Help with conventional metavars for every command at once.

    typer 0.29 shows each parameter's Python type in angle brackets in the help (`<bool>` after
    every flag, --help included, `<list[str]>`, `<int range>`): its rich help and its plain help
    both print ``display_type_rich``, which a metavar replaces only for options, and no setting
    turns it off. So flags show nothing, options their metavar (or N, NUMBER, PATH, ...) and
    arguments their metavar or their name in capitals, as click does.
    """
    TyperOption.display_type_rich = _option_value  # type: ignore[method-assign]
    TyperArgument.display_type_rich = _argument_value  # type: ignore[assignment,method-assign]
    TyperArgument.display_name_raw = property(_argument_name)  # type: ignore[assignment,method-assign]
    rich_utils._fix_linebreaks = _paragraphs
