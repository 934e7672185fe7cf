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
from ruamel.yaml.nodes import MappingNode, SequenceNode
from ruamel.yaml.reader import ReaderError
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
        raw = path.read_bytes()
    except FileNotFoundError:
        raise RuleError("file not found", Location(path)) from None
    except OSError as exc:  # a directory named *.yaml, no permission
        raise RuleError(f"cannot read the file: {exc.strerror or exc}", Location(path)) from None
    try:
        text = raw.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")  # as read_text reads it
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise RuleError(f"file is not UTF-8 (byte {exc.start})", Location(path, line)) from None
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
    except ReaderError as exc:  # a control character: ruamel says where, as a character position
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        character = f"#x{exc.character:04x}" if isinstance(exc.character, int) else repr(exc.character)
        raise RuleError(
            f"character {character} is not allowed in YAML ({exc.reason})", Location(path, line, column)
        ) from None
    except YAMLError as exc:
        raise RuleError(f"invalid YAML: {exc}", Location(path)) from None
    except TypeError:  # ruamel builds a mapping or list used as a key (`? {a: 1}`), then hashes it
        raise RuleError(
            "a key must be a plain value, not a mapping or a list", _complex_key(text, path)
        ) from None


def _complex_key(text: str, path: Path | str) -> Location:
    """Where the first mapping or list used as a mapping key starts (the file, if none is found)."""
    try:
        root = _yaml().compose(text)
    except YAMLError:
        return Location(path)
    todo = [root] if root is not None else []
    while todo:
        node = todo.pop()
        if isinstance(node, MappingNode):
            for key, value in node.value:
                if isinstance(key, MappingNode | SequenceNode):
                    return Location(path, key.start_mark.line + 1, key.start_mark.column + 1)
                todo += [value, key]
        elif isinstance(node, SequenceNode):
            todo += node.value
    return Location(path)


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
