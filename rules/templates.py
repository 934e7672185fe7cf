"""Summary templates: '{location.name} gas at {value}%LEL' filled from an event's fields.

'{people_involved|未知}' names the text to show when the field is absent or null.

Only field lookups, no expressions or attribute access, so a template can never run code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_FIELD = re.compile(r"\{([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*)(?:\|([^{}]*))?\}")
MISSING = "?"


def lookup(fields: Mapping[str, Any], path: str) -> Any:
    """A dotted path in nested mappings, or None when any step is absent."""
    node: Any = fields
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _text(value: Any, default: str | None) -> str:
    if value is None:
        return MISSING if default is None else default
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


@dataclass(frozen=True)
class Template:
    source: str

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(m.group(1) for m in _FIELD.finditer(self.source))

    def render(self, fields: Mapping[str, Any]) -> str:
        return _FIELD.sub(lambda m: _text(lookup(fields, m.group(1)), m.group(2)), self.source)
