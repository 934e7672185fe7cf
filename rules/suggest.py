""""Did you mean ...?": the nearest known key, field, kind, agency or rule for a name mistyped.

A typo in a rule file is refused with its line; naming what was probably meant turns the fix
from a look through the docs into a one-word edit.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Iterable, Sequence
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

CUTOFF = 0.6
"""How alike (difflib's ratio) a known name must be to be offered: 'whne' -> 'when' is 0.75."""


def nearest(word: str, known: Iterable[str]) -> str | None:
    """The known name most like ``word``, if any is alike enough (never ``word`` itself)."""
    names = sorted({k for k in known if k != word})
    found = difflib.get_close_matches(word, names, n=1, cutoff=CUTOFF)
    if not found:
        by_case = {k.lower(): k for k in names}
        found = [by_case[w] for w in difflib.get_close_matches(word.lower(), list(by_case), 1, CUTOFF)]
    return found[0] if found else None


def did_you_mean(words: str | Iterable[str], known: Iterable[str], prefix: str = "") -> str:
    """``" (did you mean 'when'?)"`` to append to a message (one name offered per word, in turn),
    or ``""`` when nothing is alike; ``prefix`` goes before each name offered (``location.``)."""
    names = list(known)
    found = [near for w in ([words] if isinstance(words, str) else words) if (near := nearest(w, names))]
    if not found:
        return ""
    offered = ", ".join(f"'{prefix}{near}'" for near in found)
    return f" (did you mean {offered}?)"


def unknown_key(key: str, known: Iterable[str]) -> str:
    """The message for a key the schema does not have, offering the nearest one it does."""
    near = nearest(key, known)
    if near is None:
        return f"unknown key '{key}' (check the spelling; see docs/rules.md for the keys)"
    return f"unknown key '{key}'; did you mean '{near}'? (see docs/rules.md for the keys)"


def model_keys(model: type[BaseModel]) -> list[str]:
    """The keys an author writes for ``model``: a field's alias where it has one (``for``)."""
    return [info.alias or name for name, info in model.model_fields.items()]


def keys_at(root: type[BaseModel], path: Sequence[str | int]) -> list[str]:
    """The keys the mapping at ``path`` inside a ``root`` document may have ([] if unknown).

    ``path`` is a pydantic error location without union tags, e.g. ``["rules", 0, "count"]``.
    """
    at: list[Any] = [root]
    for step in path:
        at = [t for a in at for t in _step(a, step)]
    return sorted({k for a in at if _is_model(a) for k in model_keys(a)})


def _members(annotation: Any) -> list[Any]:
    """An annotation without Annotated, Optional and unions: the types a value may have."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _members(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return [m for arg in get_args(annotation) for m in _members(arg)]
    return [annotation]


def _is_model(t: Any) -> bool:
    return isinstance(t, type) and issubclass(t, BaseModel)


def _step(annotation: Any, step: str | int) -> list[Any]:
    out: list[Any] = []
    for t in _members(annotation):
        origin, args = get_origin(t), get_args(t)
        if _is_model(t) and isinstance(step, str):
            for name, info in t.model_fields.items():
                if step in (name, info.alias):
                    out += _members(info.annotation)
        elif origin in (list, tuple) and isinstance(step, int) and args:
            out += _members(args[0])
        elif origin is dict and isinstance(step, str) and len(args) == 2:
            out += _members(args[1])
    return out
