"""The names a rule may use: CEL conditions compiled once at load and checked, and event kinds.

A condition names event fields directly (``value >= 20``); a stateful rule's tier conditions may
also read the window's figures (``window.count >= 10``). Unknown names are load errors here, so a
typo never becomes a rule that silently never fires.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

import cel

from rules.cel_subset import Fast, NotPlain, compile_plain
from rules.errors import Location, RuleError
from rules.events import KINDS, MODELS, EventBase, Family, plain_fields
from rules.events import Location as EventLocation
from rules.keywords import matchers, rewrite
from rules.local_time import LOCAL, LOCAL_FIELDS
from rules.suggest import did_you_mean

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
    zone: tzinfo | None = None
    """The city's zone, set on a rule that reads ``local`` (the compiler knows it)."""

    def __or__(self, other: Reads) -> Reads:
        loc = None if self.location is None or other.location is None else self.location | other.location
        return Reads(
            self.variables | other.variables,
            loc,
            self.functions | other.functions,
            self.zone or other.zone,
        )

    def fields(self, event: EventBase) -> dict[str, Any]:
        """The event's values of what is read, as conditions and summaries see them."""
        return plain_fields(event, self.variables, self.location, self.zone)


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


def cel_syntax_detail(message: str) -> str:
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
            f"do not have{did_you_mean(bad, allowed, f'{name}.')}; "
            f"{what} fields are: {', '.join(allowed)}",
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
            f"condition {source!r} does not compile: {cel_syntax_detail(str(exc))}", where, rule_id
        ) from None
    known = known_names(family, window_keys)
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
            f"events do not have{did_you_mean(unknown, known)}; "
            f"fields are: {', '.join(sorted(MODELS[family].model_fields))}{hint}",
            where,
            rule_id,
        )
    code = _STRING_LITERAL.sub("''", source)
    _check_subfields(source, code, "location", tuple(EventLocation.model_fields), "locations", where, rule_id)
    _check_subfields(source, code, LOCAL, tuple(LOCAL_FIELDS), "local times", where, rule_id)
    if window_keys:
        _check_subfields(source, code, WINDOW, tuple(window_keys), "windows of this rule", where, rule_id)
    reads = _reads(code, set(program.variables()) - bound - {WINDOW})
    rewritten, functions = rewrite(source)
    rewritten = absent_attributes_null(rewritten)
    if rewritten != source:
        program = cel.compile(rewritten)
        reads = Reads(reads.variables, reads.location, functions)
    return Condition(source, program, reads, compile_plain(source))


def known_names(family: Family, window_keys: Collection[str] = ()) -> set[str]:
    """The variables a condition on ``family`` may name: its fields, ``local`` and, in the tier
    conditions of a stateful rule, ``window``."""
    return set(MODELS[family].model_fields) | {LOCAL} | ({WINDOW} if window_keys else set())


_LOCATION_KEY = re.compile(r"(?<![\w.])location\s*\.\s*([A-Za-z_]\w*)")
_LOCATION_WHOLE = re.compile(r"(?<![\w.])location\b(?!\s*\.)")
_HAS_ATTRIBUTE = re.compile(r"(?<![\w.])has\s*\(\s*attributes\s*\.\s*([A-Za-z_]\w*)\s*\)")
_ATTRIBUTE_KEY = re.compile(
    r"""(?<![\w.])attributes\s*(?:\.\s*(?P<name>[A-Za-z_]\w*)\b(?!\s*\()|\[\s*(?P<key>'[^'\\\n]*'|"[^"\\\n]*")\s*\])"""
)


def absent_attributes_null(source: str) -> str:
    """``source`` for CEL with ``attributes.key`` (and ``attributes['key']``) read as null when the
    event has no such key, as every absent field reads, instead of failing to evaluate.

    Attributes are free-form, so a condition on one must work on events that lack it
    (``attributes.site_type == 'school'`` is false there, not an error). The plain subset reads
    them so by itself (``rules.cel_subset``); CEL is given ``('key' in attributes ?
    attributes['key'] : null)``. ``has(attributes.key)`` still says whether the event has it.
    """
    if "attributes" not in source:
        return source
    literals = [m.span() for m in _STRING_LITERAL.finditer(source)]

    def outside(m: re.Match[str]) -> bool:
        return not any(start <= m.start() < end for start, end in literals)

    def present(m: re.Match[str]) -> str:
        return f'("{m.group(1)}" in attributes)' if outside(m) else m.group(0)

    def or_null(m: re.Match[str]) -> str:
        if not outside(m):
            return m.group(0)
        key = m.group("key") or f'"{m.group("name")}"'
        return f"({key} in attributes ? attributes[{key}] : null)"

    source = _HAS_ATTRIBUTE.sub(present, source)
    literals = [m.span() for m in _STRING_LITERAL.finditer(source)]
    return _ATTRIBUTE_KEY.sub(or_null, source)


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
                f"kind '{kind}' is not a {family.value} event kind{did_you_mean(kind, KINDS[family])}; "
                f"known kinds: {', '.join(sorted(KINDS[family]))}",
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
    if m is None or m.group(1).split(".", 1)[0] == LOCAL:  # not a field of the event itself
        return None
    return m.group(1), m.group(3), source[m.end() :].strip()
