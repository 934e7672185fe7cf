"""The plain part of CEL (fields, literals, comparisons, ``in``, ``&&``, ``||``, ``!``) as Python.

Most rule conditions are comparisons of an event's fields with literals (``value != null && value
>= 20``, ``kind in ['fight', 'fence_climb']``). Evaluating one in CEL first converts the event's
fields into a CEL context, 2-7 µs an event, more than the comparisons cost. A condition written
only in this subset is also compiled to a Python function with CEL's semantics (errors for
comparisons across types and with null, numbers compared across int and double, errors absorbed by
``false &&`` and ``true ||``), keyword lists included (``rules.keywords``); an event whose
values are anything but null, bool, number or string is handed to CEL after all. Anything else
in a condition (other function calls, arithmetic, macros) leaves it to CEL entirely. The unit
specs compare both on generated conditions and values.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any

from rules.keywords import keyword_pattern

Variables = Mapping[str, Any]
Fast = Callable[[Variables], Any]


class CelError(Exception):
    """The expression has no value for these variables, as CEL would say."""


class NotPlain(Exception):
    """A value outside the subset's types: CEL must evaluate this one."""


_TOKEN = re.compile(
    r"""\s*(?:
    (?P<num>\d+\.\d*(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+|\.\d+(?:[eE][+-]?\d+)?|\d+)(?![\w.])
    |(?P<str>'[^'\\\n]*'|"[^"\\\n]*")
    |(?P<op>==|!=|<=|>=|&&|\|\||[<>!()\[\],.-])
    |(?P<name>[A-Za-z_]\w*)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"true": True, "false": False, "null": None}
_RESERVED = {"in", "as", "break", "const", "continue", "else", "for", "function", "if", "import", "let"}
_RESERVED |= {"loop", "package", "namespace", "return", "var", "void", "while"}
_RELATIONS = {"==", "!=", "<", "<=", ">", ">=", "in"}
_PLAIN = frozenset({type(None), bool, int, float, str})
"""Exactly these types: a subclass (a str enum) would compare unlike CEL's value of it."""


def _tokens(source: str) -> list[tuple[str, str]] | None:
    out, pos = [], 0
    while pos < len(source):
        if source[pos:].strip() == "":
            break
        m = _TOKEN.match(source, pos)
        if m is None:
            return None
        kind = m.lastgroup
        assert kind is not None
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class _Parser:
    """Recursive descent over CEL's grammar, refusing (None) whatever is outside the subset."""

    def __init__(self, tokens: list[tuple[str, str]]):
        self.tokens, self.i = tokens, 0

    def peek(self) -> str | None:
        return self.tokens[self.i][1] if self.i < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def expect(self, text: str) -> None:
        if self.peek() != text:
            raise _Refused
        self.i += 1

    def parse(self) -> Fast:
        fast = self.disjunction()
        if self.i != len(self.tokens):
            raise _Refused
        return fast

    def disjunction(self) -> Fast:
        return self.chain("||", self.conjunction, absorbing=True)

    def conjunction(self) -> Fast:
        return self.chain("&&", self.relation, absorbing=False)

    def chain(self, op: str, term: Callable[[], Fast], absorbing: bool) -> Fast:
        terms = [term()]
        while self.peek() == op:
            self.take()
            terms.append(term())
        return terms[0] if len(terms) == 1 else _logical(terms, absorbing)

    def relation(self) -> Fast:
        left = self.unary()
        while self.peek() in _RELATIONS:
            op = self.take()[1]
            right = self.list_literal() if op == "in" else self.unary()
            left = _relation(op, left, right)
        return left

    def unary(self) -> Fast:
        if self.peek() == "!":
            self.take()
            operand = self.unary()
            return lambda v: _not(operand(v))
        if self.peek() == "-":
            self.take()
            kind, text = self.take()
            if kind != "num":
                raise _Refused
            value = _number("-" + text)
            return lambda v: value
        return self.primary()

    def primary(self) -> Fast:
        kind, text = self.take()
        if text == "(":
            inner = self.disjunction()
            self.expect(")")
            return inner
        if kind == "num":
            value = _number(text)
            return lambda v: value
        if kind == "str":
            literal = text[1:-1]
            return lambda v: literal
        if kind != "name" or text in _RESERVED:
            raise _Refused
        if text in _KEYWORDS:
            constant = _KEYWORDS[text]
            return lambda v: constant
        path = [text]
        while self.peek() == ".":
            self.take()
            kind, name = self.take()
            if kind != "name" or name in _KEYWORDS or name in _RESERVED:
                raise _Refused
            path.append(name)
        if len(path) > 1 and path[-1] == "matches" and self.peek() == "(":
            return self.keyword_call(_field(tuple(path[:-1])))
        if self.peek() in ("(", "["):
            raise _Refused  # a call, a macro or an index: CEL's
        return _field(tuple(path))

    def keyword_call(self, subject: Fast) -> Fast:
        """``field.matches('keyword|list')``, with the list compiled (``rules.keywords``)."""
        self.expect("(")
        kind, text = self.take()
        keywords = keyword_pattern(text[1:-1]) if kind == "str" else None
        if keywords is None:
            raise _Refused
        self.expect(")")
        matches = keywords.matcher()

        def call(v: Variables) -> bool:
            value = subject(v)
            if type(value) is not str:
                raise CelError(f"no such overload: matches on {type(value).__name__}")
            return matches(value)

        return call

    def list_literal(self) -> Fast:
        self.expect("[")
        items: list[Any] = []
        while self.peek() != "]":
            item = self.unary()
            try:
                items.append(item({}))  # literals only
            except (NotPlain, CelError):
                raise _Refused from None
            if self.peek() == ",":
                self.take()
            elif self.peek() != "]":
                raise _Refused
        self.expect("]")
        constant = tuple(items)
        return lambda v: constant


class _Refused(Exception):
    """The source is outside the subset (raised while parsing, never while evaluating)."""


def _number(text: str) -> int | float:
    if any(c in text for c in ".eE"):
        return float(text)
    value = int(text)
    if not -(2**63) <= value < 2**63:
        raise _Refused
    return value


ABSENT_IS_NULL = "attributes"
"""The map whose absent keys read as null (``rules.conditions.absent_attributes_null``)."""


def _field(path: tuple[str, ...]) -> Fast:
    head, rest = path[0], path[1:]
    absent_is_null = head == ABSENT_IS_NULL and len(rest) == 1

    def get(v: Variables) -> Any:
        try:
            value = v[head]
        except KeyError:
            raise NotPlain from None  # CEL says why the variable is unknown
        for name in rest:
            if not isinstance(value, Mapping):
                raise NotPlain
            try:
                value = value[name]
            except KeyError:
                if absent_is_null:
                    return None
                raise CelError(f"no such key: {name!r}") from None
        if type(value) in _PLAIN:
            return value
        if isinstance(value, Enum) and type(value.value) in _PLAIN:
            return value.value  # an event's family: CEL sees the enum's value
        raise NotPlain

    return get


def _logical(terms: list[Fast], absorbing: bool) -> Fast:
    """``||`` (absorbing true) or ``&&`` (absorbing false): an absorbing value anywhere decides,
    whatever error another term has; otherwise any error is the result."""

    def run(v: Variables) -> Any:
        error: Exception | None = None
        for term in terms:
            try:
                value = term(v)
            except CelError as exc:
                error = error or exc
                continue
            if value is absorbing:
                return absorbing
            if value is not (not absorbing):
                error = error or CelError("no such overload: logical operator on a non-bool")
        if error is not None:
            raise error
        return not absorbing

    return run


def _not(value: Any) -> bool:
    if type(value) is not bool:
        raise CelError("no such overload: ! on a non-bool")
    return not value


def _is_number(x: Any) -> bool:
    return type(x) in (int, float)


def _equal(a: Any, b: Any) -> bool:
    if _is_number(a) and _is_number(b):
        if type(a) is not type(b):
            return float(a) == float(b)
        return bool(a == b)
    if type(a) is not type(b):
        return False
    return bool(a == b)


_ORDERS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _order(op: str, compare: Callable[[Any, Any], bool], a: Any, b: Any) -> bool:
    if _is_number(a) and _is_number(b):
        if (type(a) is float and math.isnan(a)) or (type(b) is float and math.isnan(b)):
            raise CelError("no such overload: ordering with NaN")
        if type(a) is not type(b):
            a, b = float(a), float(b)
    elif not (type(a) is type(b) and type(a) in (str, bool)):
        raise CelError(f"no such overload: {type(a).__name__} {op} {type(b).__name__}")
    return compare(a, b)


def _relation(op: str, left: Fast, right: Fast) -> Fast:
    if op == "==":
        return lambda v: _equal(left(v), right(v))
    if op == "!=":
        return lambda v: not _equal(left(v), right(v))
    if op == "in":

        def member(v: Variables) -> bool:
            x, items = left(v), right(v)
            return any(_equal(x, item) for item in items)

        return member
    compare = _ORDERS[op]
    return lambda v: _order(op, compare, left(v), right(v))


def compile_plain(source: str) -> Fast | None:
    """A Python function with the condition's CEL semantics, or None when it is not plain."""
    tokens = _tokens(source)
    if not tokens:
        return None
    try:
        return _Parser(tokens).parse()
    except (_Refused, IndexError):
        return None
