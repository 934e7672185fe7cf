"""A condition's top-level parts (``a && b && c``, or ``a || b``), so explain can say which one failed.

Only the outermost chain is taken apart: each part is then compiled and evaluated like any condition,
so a reader sees the part that decided, with the fields it read. A condition whose top level is
something else (a ternary, a negation, a function call) is one part.
"""

from __future__ import annotations

_OPEN = {"(": ")", "[": "]", "{": "}"}
_CLOSE = frozenset(_OPEN.values())


def _top_level(source: str) -> tuple[list[tuple[int, str]], bool]:
    """The positions of ``&&`` and ``||`` outside brackets and strings, and whether a ``?`` (a
    ternary) is there too."""
    found: list[tuple[int, str]] = []
    ternary = False
    depth, quote, i = 0, "", 0
    while i < len(source):
        ch = source[i]
        if quote:
            if ch == "\\":
                i += 1
            elif source.startswith(quote, i):
                i += len(quote) - 1
                quote = ""
        elif ch in "'\"":
            quote = ch * 3 if source.startswith(ch * 3, i) else ch
            i += len(quote) - 1
        elif ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth -= 1
        elif depth == 0 and source.startswith(("&&", "||"), i):
            found.append((i, source[i : i + 2]))
            i += 1
        elif depth == 0 and ch == "?":
            ternary = True
        i += 1
    return found, ternary


def _unwrapped(source: str) -> str | None:
    """The text inside brackets that enclose the whole condition, if they do."""
    text = source.strip()
    if not (text.startswith("(") and text.endswith(")")):
        return None
    depth = 0
    for i, ch in enumerate(text):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0 and i < len(text) - 1:
            return None
    return text[1:-1]


def top_level_parts(source: str) -> tuple[str, list[str]]:
    """``("&&", parts)`` or ``("||", parts)`` for a chain of one operator at the top level (``||``
    binds loosest, so it is the top when both appear); ``("", [source])`` when there is no chain."""
    text = source
    while True:
        found, ternary = _top_level(text)
        if ternary:
            return "", [source.strip()]
        for op in ("||", "&&"):
            cuts = [i for i, o in found if o == op]
            if cuts:
                bounds = [0, *(c + 2 for c in cuts)]
                ends = [*cuts, len(text)]
                return op, [text[a:b].strip() for a, b in zip(bounds, ends, strict=True)]
        inner = _unwrapped(text)
        if inner is None:
            return "", [source.strip()]
        text = inner
