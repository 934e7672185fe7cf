"""Lists and macros: names a pack gives to values and conditions, for every rule loaded with it.

Several rules test the same things (is this a government site, is it night in the market
district), and copies of one condition drift apart. As in Falco, a pack may name a list of
values (``lists: {gov_sites: [...]}``, read as ``location.name in gov_sites``) and a condition
(``macros: {night: 'local.hour >= 22 || local.hour < 6'}``, read as ``night && people > 50``).
Names are shared by all the packs loaded together, like rule ids, so one pack can hold what the
others use. A name is replaced by its value before the condition is compiled (a list by its
literal, a macro by its condition in parentheses), so a condition costs the same written either
way and the plain CEL subset still applies; the compiler then checks the result as it checks any
condition, and errors name the macro and where it is defined.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import cel

from rules.conditions import cel_syntax_detail, known_names
from rules.errors import Location, RuleError, RuleWarning
from rules.events import MODELS, Family
from rules.local_time import LOCAL
from rules.schema import PackSpec, RuleSpec

Kind = Literal["list", "macro"]

_STRING_LITERAL = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")
_COMPREHENSION_VAR = re.compile(r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,")
_CEL_WORDS = frozenset(
    {
        "true",
        "false",
        "null",
        "in",
        "as",
        "break",
        "const",
        "continue",
        "else",
        "for",
        "function",
        "if",
        "import",
        "let",
        "loop",
        "package",
        "namespace",
        "return",
        "var",
        "void",
        "while",
        "has",
        "size",
        "matches",
        "contains",
        "exists",
        "exists_one",
        "all",
        "map",
        "filter",
        "int",
        "uint",
        "double",
        "string",
        "bytes",
        "bool",
        "type",
        "dyn",
        "list",
        "duration",
        "timestamp",
        "max",
        "min",
        "null_type",
    }
)
_FIELDS = frozenset(name for model in MODELS.values() for name in model.model_fields)
_RESERVED = _CEL_WORDS | _FIELDS | {LOCAL, "window"}


def names_in(source: str) -> Iterator[re.Match[str]]:
    """The identifiers of a condition that could name a list or macro: outside string literals,
    not a member (``x.name``), not a call (``name(...)``), not a comprehension's variable."""
    literals = [m.span() for m in _STRING_LITERAL.finditer(source)]
    bound = set(_COMPREHENSION_VAR.findall(_STRING_LITERAL.sub("''", source)))
    for m in _IDENTIFIER.finditer(source):
        start, end = m.span()
        if any(a <= start < b for a, b in literals) or m.group() in bound:
            continue
        if start > 0 and (source[start - 1].isalnum() or source[start - 1] == "_"):
            continue  # the exponent of a number literal (1e5)
        if source[:start].rstrip().endswith(".") or source[end:].lstrip().startswith("("):
            continue
        yield m


def _literal(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return repr(value)


@dataclass(frozen=True)
class Definition:
    """One list or macro as written: the CEL it stands for, and where."""

    name: str
    kind: Kind
    text: str
    location: Location


@dataclass
class Vocabulary:
    """The lists and macros of the packs loaded together, and which of them the rules used."""

    definitions: dict[str, Definition] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)
    broken: set[str] = field(default_factory=set)
    """Macros refused (they do not compile, or are part of a cycle): the error is reported where
    they are defined, so rules naming them are not compiled, rather than reported again."""
    _expanded: dict[str, tuple[str, frozenset[str]]] = field(default_factory=dict, repr=False)

    def expand(self, source: str) -> tuple[str, frozenset[str]]:
        """``source`` with every list and macro replaced by what it stands for (macros within
        macros too), and the names that took; records them as used."""
        if not self.definitions:
            return source, frozenset()
        out, used, pos = [], set(), 0
        for m in names_in(source):
            name = m.group()
            if name not in self.definitions:
                continue
            text, inner = self._expansion(name)
            out += [source[pos : m.start()], text]
            used |= {name, *inner}
            pos = m.end()
        self.used |= used
        return "".join(out) + source[pos:], frozenset(used)

    def _expansion(self, name: str) -> tuple[str, frozenset[str]]:
        if name not in self._expanded:
            d = self.definitions[name]
            if d.kind == "list":
                self._expanded[name] = (d.text, frozenset())
            else:
                self._expanded[name] = (name, frozenset())  # a cycle (refused by the build) stops here
                body, inner = self.expand(d.text)
                self._expanded[name] = (f"({body})", inner)
        return self._expanded[name]

    def names(self, kind: Kind) -> list[str]:
        return sorted(n for n, d in self.definitions.items() if d.kind == kind)

    def unknown_name(
        self,
        written: str,
        expanded: str,
        family: Family,
        where: Location,
        rule_id: str,
        window_keys: Collection[str] = (),
    ) -> RuleError | None:
        """An error for a name the condition cannot resolve, when lists and macros explain it
        better than the field check would: a name close to a list or macro ('did you mean'), or a
        field a macro uses that this rule's family does not have. None: nothing to add."""
        if not self.definitions:
            return None
        try:
            variables = set(cel.compile(expanded).variables())
        except ValueError:
            return None  # the compiler reports the syntax
        bound = set(_COMPREHENSION_VAR.findall(_STRING_LITERAL.sub("''", expanded)))
        unknown = sorted(variables - known_names(family, window_keys) - bound)
        written_names = {m.group() for m in names_in(written)}
        for name in unknown:
            if name not in written_names:
                macro = self._macro_using(name, written_names)
                if macro is not None:
                    return RuleError(
                        f"macro '{macro.name}' (defined at {macro.location}) uses '{name}', which "
                        f"{family.value} events do not have; a macro may only use fields of the "
                        f"families of the rules that name it ({family.value} fields: "
                        f"{', '.join(sorted(MODELS[family].model_fields))})",
                        where,
                        rule_id,
                    )
            close = difflib.get_close_matches(name, list(self.definitions), n=1, cutoff=0.75)
            if close and close[0] not in written_names:
                d = self.definitions[close[0]]
                return RuleError(
                    f"condition {written!r} uses '{name}', which is neither a {family.value} event "
                    f"field nor a list or macro; did you mean the {d.kind} '{d.name}' "
                    f"(defined at {d.location})?",
                    where,
                    rule_id,
                )
        return None

    def _macro_using(self, name: str, written_names: Iterable[str]) -> Definition | None:
        """The innermost macro, among those a condition names, whose own text names ``name``."""
        todo = [n for n in written_names if n in self.definitions]
        seen: set[str] = set()
        while todo:
            d = self.definitions[todo.pop()]
            if d.name in seen or d.kind != "macro":
                continue
            seen.add(d.name)
            own = {m.group() for m in names_in(d.text)}
            if name in own:
                return d
            todo += [n for n in own if n in self.definitions]
        return None

    def expand_rule(self, spec: RuleSpec) -> tuple[RuleSpec, frozenset[str]]:
        """The rule with the lists and macros of every condition (``when``, tiers, sequence steps)
        expanded, and the names it uses; the compiler compiles this and keeps the rule as written."""
        if not self.definitions:
            return spec, frozenset()
        uses: set[str] = set()

        def expand(text: str) -> str:
            out, names = self.expand(text)
            uses.update(names)
            return out

        update: dict[str, Any] = {"when": expand(spec.when)}
        if isinstance(spec.tier, dict):
            update["tier"] = {t: expand(c) for t, c in spec.tier.items()}
        if spec.sequence is not None:
            update["sequence"] = [s.model_copy(update={"when": expand(s.when)}) for s in spec.sequence]
        return spec.model_copy(update=update), frozenset(uses)

    def unused(self) -> list[RuleWarning]:
        """A warning, at its definition, for each list or macro no rule names (directly or through
        a macro): a name that is never used is usually a rule that lost it by mistake."""
        return [
            RuleWarning(
                f"{d.kind} '{d.name}' is not used by any rule; use it in a condition "
                f"({'field in ' + d.name if d.kind == 'list' else d.name + ' && ...'}) or remove it",
                d.location,
            )
            for d in sorted(self.definitions.values(), key=_place)
            if d.name not in self.used
        ]


def _place(d: Definition) -> tuple[str, int]:
    return str(d.location.file), d.location.line or 0


Locate = Callable[[list[str | int]], Location]


def build_vocabulary(packs: Iterable[tuple[PackSpec, Locate]]) -> tuple[Vocabulary, list[RuleError]]:
    """The lists and macros of all ``packs`` (each with a function locating a key path in its
    file), and every problem: a name defined twice or taken by an event field or CEL, a macro that
    does not compile, macros that use each other in a cycle."""
    vocab = Vocabulary()
    errors: list[RuleError] = []
    for pack, at in packs:
        entries: list[tuple[str, Kind, str]] = [
            (name, "list", "[" + ", ".join(_literal(v) for v in values) + "]")
            for name, values in pack.lists.items()
        ]
        entries += [(name, "macro", text) for name, text in pack.macros.items()]
        for name, kind, text in entries:
            where = at([f"{kind}s", name])
            problem = _name_problem(name, kind, vocab)
            if problem is not None:
                errors.append(RuleError(problem, where))
                continue
            vocab.definitions[name] = Definition(name, kind, text, where)
            problem = _macro_problem(name, text) if kind == "macro" else None
            if problem is not None:
                errors.append(RuleError(problem, where))
                vocab.broken.add(name)
    errors += _cycles(vocab)
    return vocab, errors


def _name_problem(name: str, kind: Kind, vocab: Vocabulary) -> str | None:
    if name in vocab.definitions:
        first = vocab.definitions[name]
        return (
            f"{kind} '{name}' is already defined, as a {first.kind} at {first.location}; "
            "names are shared by all packs"
        )
    if name in _FIELDS or name in (LOCAL, "window"):
        return f"{kind} name '{name}' is an event field, which conditions could not tell apart; rename it"
    if name in _CEL_WORDS:
        return f"{kind} name '{name}' is a CEL word or function; choose another name"
    return None


def _macro_problem(name: str, text: str) -> str | None:
    try:
        cel.compile(text)
    except ValueError as exc:
        return f"macro '{name}' ({text!r}) does not compile as a CEL condition: {cel_syntax_detail(str(exc))}"
    return None


def _cycles(vocab: Vocabulary) -> list[RuleError]:
    """One error per cycle among macros, at the first macro of the cycle (in file order)."""
    uses = {
        n: [m.group() for m in names_in(d.text) if m.group() in vocab.definitions]
        for n, d in vocab.definitions.items()
        if d.kind == "macro"
    }
    errors: list[RuleError] = []
    done: set[str] = set()
    for start in sorted(uses, key=lambda n: _place(vocab.definitions[n])):
        cycle = _cycle_from(start, uses, [], done)
        if cycle is None:
            continue
        done.update(cycle)
        vocab.broken.update(cycle)
        errors.append(
            RuleError(
                f"macros use each other in a cycle ({' -> '.join(cycle)}), which could never be "
                "expanded; make one of them stand on its own",
                vocab.definitions[cycle[0]].location,
            )
        )
    return errors


def _cycle_from(name: str, uses: dict[str, list[str]], path: list[str], done: set[str]) -> list[str] | None:
    """The first cycle reached from ``name`` (depth first), as the names around it."""
    if name in path:
        return [*path[path.index(name) :], name]
    if name in done or name not in uses:
        return None
    path.append(name)
    for used in uses[name]:
        cycle = _cycle_from(used, uses, path, done)
        if cycle is not None:
            return cycle
    path.pop()
    done.add(name)
    return None


__all__ = ["Definition", "Vocabulary", "build_vocabulary", "names_in"]
