"""The names a rule may use: CEL conditions compiled once at load and checked, and event kinds.

A condition names event fields directly (``value >= 20``); a stateful rule's tier conditions may
also read the window's figures (``window.count >= 10``). Unknown names are load errors here, so a
typo never becomes a rule that silently never fires.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

import cel

from rules.cel_subset import Fast, NotPlain, compile_plain
from rules.errors import Location, RuleError
from rules.events import KINDS, MODELS, Family
from rules.events import Location as EventLocation
from rules.keywords import matchers, rewrite

_COMPREHENSION_VAR = re.compile(r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,")
_TRUE = "true"
_STRING_LITERAL = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_CEL_ERROR = re.compile(r"<input>:\d+:(\d+): ([^|]*)")
WINDOW = "window"


@dataclass(frozen=True)
class Reads:
    """The event fields a rule reads, so that evaluation is handed only those.

    Converting a field to CEL costs more than most evaluations (the whole location alone about
    18 us), so an event's activation holds just what its candidate rules read. ``location`` None
    means the whole location; otherwise the location keys read.
    """

    variables: frozenset[str] = frozenset()
    location: frozenset[str] | None = frozenset()
    functions: frozenset[str] = frozenset()
    """Compiled keyword matchers the conditions call (``rules.keywords``)."""

    def __or__(self, other: Reads) -> Reads:
        loc = None if self.location is None or other.location is None else self.location | other.location
        return Reads(self.variables | other.variables, loc, self.functions | other.functions)


NOTHING = Reads()


class Activation:
    """An event's variables for its candidate rules' conditions. The CEL context (2-7 µs to build)
    is built only when a condition outside the plain subset (``rules.cel_subset``) needs it."""

    __slots__ = ("_cel", "reads", "variables")

    def __init__(self, variables: dict[str, Any], reads: Reads):
        self.variables, self.reads = variables, reads
        self._cel: cel.Context | None = None

    def cel_context(self) -> cel.Context:
        if self._cel is None:
            functions = self.reads.functions
            self._cel = (
                cel.Context(variables=self.variables, functions=dict(matchers(functions)))
                if functions
                else cel.Context(variables=self.variables)
            )
        return self._cel


@dataclass(frozen=True)
class Condition:
    """A compiled CEL expression with the source kept for messages, and its plain-subset twin
    (``fast``) when it has one."""

    source: str
    program: cel.Program
    reads: Reads = NOTHING
    fast: Fast | None = None

    def __call__(self, activation: Activation) -> Any:
        if self.fast is None:
            return self.program.execute(activation.cel_context())
        try:
            return self.fast(activation.variables)
        except NotPlain:  # a value beyond the subset's types: CEL's to judge
            return self.program.execute(activation.cel_context())


def _cel_syntax_detail(message: str) -> str:
    """'at column 10: mismatched input ...' from cel's multi-line parser report."""
    m = _CEL_ERROR.search(message.replace("\n", " "))
    if m is None:
        return message.replace("\n", " ")
    return f"at column {m.group(1)}: {m.group(2).strip()}"


def _check_subfields(
    source: str, code: str, name: str, allowed: Collection[str], what: str, where: Location, rule_id: str
) -> None:
    pattern = re.compile(rf"(?<![\w.]){name}\s*\.\s*([A-Za-z_]\w*)")
    bad = sorted({m.group(1) for m in pattern.finditer(code)} - set(allowed))
    if bad:
        raise RuleError(
            f"condition {source!r} uses {', '.join(repr(f'{name}.{b}') for b in bad)}, which {what} "
            f"do not have; {what} fields are: {', '.join(allowed)}",
            where,
            rule_id,
        )


def compile_condition(
    source: str,
    family: Family,
    where: Location,
    rule_id: str,
    window_keys: Collection[str] = (),
) -> Condition | None:
    """Compile and check one condition; None for the literal 'true' (nothing to evaluate).

    ``window_keys`` are the figures of a stateful rule's window; empty means ``window`` is unknown.
    """
    if source.strip() == _TRUE:
        return None
    try:
        program = cel.compile(source)
    except ValueError as exc:
        raise RuleError(
            f"condition {source!r} does not compile: {_cel_syntax_detail(str(exc))}", where, rule_id
        ) from None
    known = set(MODELS[family].model_fields) | ({WINDOW} if window_keys else set())
    bound = set(_COMPREHENSION_VAR.findall(source))
    unknown = sorted(set(program.variables()) - known - bound)
    if unknown:
        hint = (
            f"; in tier conditions, window figures are window.{', window.'.join(window_keys)}"
            if (window_keys)
            else ""
        )
        if WINDOW in unknown and not window_keys:
            hint = "; 'window' is only known in the tier conditions of a stateful rule"
        raise RuleError(
            f"condition {source!r} uses {', '.join(repr(u) for u in unknown)}, which {family.value} "
            f"events do not have; fields are: {', '.join(sorted(MODELS[family].model_fields))}{hint}",
            where,
            rule_id,
        )
    code = _STRING_LITERAL.sub("''", source)
    _check_subfields(source, code, "location", tuple(EventLocation.model_fields), "locations", where, rule_id)
    if window_keys:
        _check_subfields(source, code, WINDOW, tuple(window_keys), "windows of this rule", where, rule_id)
    reads = _reads(code, set(program.variables()) - bound - {WINDOW})
    rewritten, functions = rewrite(source)
    if functions:
        program = cel.compile(rewritten)
        reads = Reads(reads.variables, reads.location, functions)
    return Condition(source, program, reads, compile_plain(source))


_LOCATION_KEY = re.compile(r"(?<![\w.])location\s*\.\s*([A-Za-z_]\w*)")
_LOCATION_WHOLE = re.compile(r"(?<![\w.])location\b(?!\s*\.)")


def _reads(code: str, variables: set[str]) -> Reads:
    """What a condition reads; ``code`` is its source with string literals blanked."""
    location: frozenset[str] | None = frozenset()
    if "location" in variables:
        whole = _LOCATION_WHOLE.search(code) is not None
        location = None if whole else frozenset(_LOCATION_KEY.findall(code))
    return Reads(frozenset(variables), location)


def check_kinds(kinds: Iterable[str], family: Family, where: Location, rule_id: str) -> None:
    for kind in kinds:
        if kind not in KINDS[family]:
            raise RuleError(
                f"kind '{kind}' is not a {family.value} event kind; known kinds: "
                f"{', '.join(sorted(KINDS[family]))}",
                where,
                rule_id,
            )


_GUARD = re.compile(
    r"""^\s*([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*)\s*==\s*(['"])([^'"\\]*)\2\s*(?:&&|$)"""
)


def literal_guard(source: str) -> tuple[str, str, str] | None:
    """``(path, text, rest)`` when the condition is false unless field ``path`` equals ``text``,
    and is ``rest`` (empty: true) when it does.

    That holds for ``path == 'text' && rest`` with no ``||`` or ``?:`` anywhere (which could take
    the first conjunct out of the top level): ``&&`` is a chain whose answer, errors included, does
    not depend on the order of its terms. Detection then looks rules up by the event's value
    instead of evaluating each one (a city tunes one rule per street or district), and evaluates
    only the rest.
    """
    if "||" in source or "?" in source:
        return None
    m = _GUARD.match(source)
    return None if m is None else (m.group(1), m.group(3), source[m.end() :].strip())
