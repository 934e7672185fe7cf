"""Strict YAML reading that remembers where every value came from.

Duplicate keys are errors (ruamel's default), and a validation error deep inside a rule can be
traced back to the line an author must edit.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.scalarbool import ScalarBoolean

from rules.errors import Location, RuleError


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.allow_duplicate_keys = False
    return y


def load_yaml(path: Path) -> Any:
    """Parse one file; a syntax error or duplicate key becomes a RuleError with its line.

    The round-trip parser (the one that knows line numbers) takes ~0.3 s for a large pack, so an
    unchanged file's tree is reused; callers only read it.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RuleError("file not found", Location(path)) from None
    except UnicodeDecodeError as exc:
        raise RuleError(f"file is not UTF-8 (byte {exc.start})", Location(path)) from None
    return _parsed(text, str(path))


@lru_cache(maxsize=64)
def _parsed(text: str, path: str) -> Any:
    return load_yaml_text(text, Path(path))


def load_yaml_text(text: str, path: Path | str) -> Any:
    try:
        return _yaml().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        if "duplicate key" in problem:
            problem += " (each key may appear once in a mapping)"
        loc = Location(path, mark.line + 1, mark.column + 1) if mark else Location(path)
        raise RuleError(problem, loc) from None
    except YAMLError as exc:
        raise RuleError(f"invalid YAML: {exc}", Location(path)) from None


def locate(node: Any, path: Sequence[str | int], file: Path | str) -> Location:
    """The line of the deepest node along ``path`` that the YAML tree still has position data for."""
    line: int | None = None
    col: int | None = None
    if isinstance(node, CommentedMap | CommentedSeq):
        line, col = node.lc.line, node.lc.col
    for step in path:
        if isinstance(node, CommentedMap) and step in node:
            line, col = node.lc.key(step)
            node = node[step]
        elif isinstance(node, CommentedSeq) and isinstance(step, int) and 0 <= step < len(node):
            line, col = node.lc.item(step)
            node = node[step]
        else:
            break
    if line is None:
        return Location(file)
    return Location(file, line + 1, (col or 0) + 1)


def to_plain(node: Any) -> Any:
    """ruamel's commented containers as plain dicts and lists, for pydantic."""
    if isinstance(node, dict):
        return {k: to_plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [to_plain(v) for v in node]
    if isinstance(node, ScalarBoolean):
        return bool(node)
    if isinstance(node, bool):
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node
