"""Keyword-list patterns (``text.matches('跳楼|自杀|服毒')``) evaluated once compiled, not per call.

Rule authors match free text and place names against lists of keywords. The CEL engine compiles
a ``matches`` pattern again on every evaluation, 40-230 us each, which made keyword conditions
two fifths of detection on alert-heavy traffic. A pattern that is only a list of literal
alternatives (optionally case-insensitive, and ``[.]`` for a literal character) means "contains
one of these strings" in any regex dialect, so such a call is replaced at load time by a function
holding the compiled pattern. Any other pattern is left to CEL. The unit specs compare both on
generated patterns and texts.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache

Matcher = Callable[[str], bool]

_CALL = re.compile(
    r"(?<![\w.])(?P<subject>[A-Za-z_]\w*(?:\s*\.\s*[A-Za-z_]\w*)*)\s*\.\s*matches\s*\(\s*"
    r"(?P<quote>['\"])(?P<pattern>[^'\"\\\n]*)(?P=quote)\s*\)"
)
_STRING_LITERAL = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_CASELESS = "(?i)"
_META = set("\\.+*?()|[]{}^$#&-~")
_CLASS_OF_ONE = re.compile(r"\[([^\\\^\]\-\[])\]")


_ASCII_FOLD = {**{c: c + 32 for c in range(ord("A"), ord("Z") + 1)}, 0x212A: ord("k"), 0x17F: ord("s")}
"""Unicode simple case folding as far as it reaches ASCII letters: the only other members of their
classes are the Kelvin sign (k) and the long s (s). The regex engine behind CEL folds this way;
Python's ``re.IGNORECASE`` does not (it matches 'İ' to 'I'), hence no ``re`` here."""


def _caseless_safe(char: str) -> bool:
    """Characters a case-insensitive keyword may hold: ASCII, or letters without case (CJK)."""
    return char.isascii() or unicodedata.category(char) == "Lo"


@dataclass(frozen=True)
class KeywordPattern:
    """A pattern that matches exactly when the text contains one of ``words``."""

    words: tuple[str, ...]
    caseless: bool

    def matcher(self) -> Matcher:
        if not self.caseless:
            words = self.words

            def matches(text: str) -> bool:
                _must_be_text(text)
                return any(w in text for w in words)

            return matches
        folded = tuple(w.translate(_ASCII_FOLD) for w in self.words)

        def matches_caseless(text: str) -> bool:
            _must_be_text(text)
            text = text.translate(_ASCII_FOLD)
            return any(w in text for w in folded)

        return matches_caseless


def _must_be_text(value: object) -> None:
    if type(value) is not str:
        raise TypeError(f"matches() applies to strings, not {type(value).__name__}")


def keyword_pattern(pattern: str) -> KeywordPattern | None:
    """The keywords of a literal alternation, or None when ``pattern`` is any other regex."""
    caseless = pattern.startswith(_CASELESS)
    body = pattern[len(_CASELESS) :] if caseless else pattern
    words = []
    for alternative in body.split("|"):
        if any(ch in _META for ch in _CLASS_OF_ONE.sub("", alternative)):
            return None
        words.append(_CLASS_OF_ONE.sub(r"\1", alternative))
    if caseless and not all(_caseless_safe(ch) for w in words for ch in w):
        return None
    return KeywordPattern(tuple(words), caseless)


def function_name(pattern: str) -> str:
    return "__keywords_" + hashlib.blake2b(pattern.encode(), digest_size=8).hexdigest()


_MATCHERS: dict[str, Matcher] = {}


def _blank(literal: re.Match[str]) -> str:
    """A string literal with its contents blanked and its length kept."""
    text = literal.group(0)
    return text[0] + " " * (len(text) - 2) + text[-1]


def rewrite(source: str) -> tuple[str, frozenset[str]]:
    """``source`` with each ``subject.matches('keyword|list')`` call on a field path turned into a
    call of a compiled matcher, and the names of the matchers it now calls."""
    blanked = _STRING_LITERAL.sub(_blank, source)
    out, names, last = [], set(), 0
    for m in _CALL.finditer(source):
        if blanked[m.start() : m.start("quote")] != source[m.start() : m.start("quote")]:
            continue  # the call is inside a string literal
        keywords = keyword_pattern(m.group("pattern"))
        if keywords is None:
            continue
        name = function_name(m.group("pattern"))
        _MATCHERS.setdefault(name, keywords.matcher())
        names.add(name)
        out += [source[last : m.start()], f"{name}({m.group('subject')})"]
        last = m.end()
    out.append(source[last:])
    return "".join(out), frozenset(names)


@lru_cache(maxsize=1024)
def matchers(names: frozenset[str]) -> Mapping[str, Matcher]:
    """The compiled matchers a CEL context needs to evaluate conditions calling ``names``."""
    return {name: _MATCHERS[name] for name in names}
