"""Keyword-list ``matches`` calls run as compiled matchers, with exactly CEL's answers."""

from __future__ import annotations

import re
from pathlib import Path

import cel
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.conditions import Activation, compile_condition
from rules.errors import Location
from rules.events import Family
from rules.keywords import keyword_pattern, rewrite

PACKS = Path(__file__).resolve().parents[2] / "rules" / "packs"
HERE = Location(Path("test.yaml"), 1)

# Letters whose case folding differs between engines if any does: long s, Kelvin and Angstrom
# signs, dotted and dotless i, sharp s, the three sigmas, micro sign; CJK; ASCII.
ALPHABET = "aAbBkKsSiIzZ01 .-ſKÅåİıßẞΣσςµμ上访政府水厂"
word = st.text(alphabet=ALPHABET.replace(".", "").replace("-", ""), min_size=1, max_size=4)


def _cel_matches(pattern: str, text: str) -> bool:
    result = cel.evaluate(f"t.matches('{pattern}')", {"t": text})
    assert isinstance(result, bool)
    return result


@settings(max_examples=400, deadline=None)
@given(
    words=st.lists(word, min_size=1, max_size=4),
    caseless=st.booleans(),
    text=st.text(alphabet=ALPHABET, max_size=12),
)
def test_a_keyword_list_matches_exactly_when_cel_does(words: list[str], caseless: bool, text: str) -> None:
    pattern = ("(?i)" if caseless else "") + "|".join(words)
    keywords = keyword_pattern(pattern)
    if keywords is None:  # a case-insensitive list with cased letters beyond ASCII: CEL's to do
        assert caseless and any(not ch.isascii() and ch.lower() != ch.upper() for ch in pattern)
        return
    assert keywords.matcher()(text) == _cel_matches(pattern, text)


@settings(max_examples=100, deadline=None)
@given(text=st.text(alphabet=ALPHABET, max_size=12))
def test_a_bracketed_character_is_that_character_alone(text: str) -> None:
    keywords = keyword_pattern("gov[.]cn|上访")
    assert keywords is not None and keywords.words == ("gov.cn", "上访")
    assert keywords.matcher()(text) == _cel_matches("gov[.]cn|上访", text)
    assert keywords.matcher()("govxcn") is False


@pytest.mark.parametrize(
    "pattern", ["^10[.]", "a.*b", "x+", "(?i:ab)", "[ab]", "a{2}", "a$", r"a\b", "(a|b)", "a?"]
)
def test_any_other_regex_is_left_to_cel(pattern: str) -> None:
    assert keyword_pattern(pattern) is None


def test_a_caseless_list_with_cased_letters_beyond_ascii_is_left_to_cel() -> None:
    assert keyword_pattern("(?i)straße|上访") is None
    assert keyword_pattern("straße|上访") is not None


def test_a_call_on_a_field_path_is_rewritten_and_one_inside_a_string_is_not() -> None:
    fast, names = rewrite("location.name != null && location.name.matches('学校|幼儿园')")
    assert len(names) == 1
    assert fast == f"location.name != null && {next(iter(names))}(location.name)"
    untouched = "text == \"a.matches('b')\""
    assert rewrite(untouched) == (untouched, frozenset())


def test_every_keyword_list_in_the_shipped_packs_runs_compiled() -> None:
    calls = re.findall(r"\.matches\('([^']*)'\)", "".join(p.read_text() for p in PACKS.glob("*.yaml")))
    assert calls, "the shipped packs match keywords"
    lists = [p for p in calls if keyword_pattern(p) is not None]
    assert len(lists) >= len(calls) - 1  # the private-address prefix is a real regex, left to CEL


def _both(source: str, family: Family, variables: dict[str, object]) -> tuple[object, object]:
    compiled = compile_condition(source, family, HERE, "r")
    assert compiled is not None and compiled.reads.functions
    plain = cel.compile(source)
    try:
        expected: object = plain.execute(variables)
    except Exception:  # the outcome compared is "an error", whichever
        expected = "error"
    try:
        got: object = compiled(Activation(variables, compiled.reads))
    except Exception:  # the outcome compared is "an error", whichever
        got = "error"
    return expected, got


@pytest.mark.parametrize(
    "text", ["有人扬言要跳楼", "小区噪音", None], ids=["keyword", "no keyword", "missing text"]
)
def test_a_compiled_condition_agrees_with_cel_including_errors(text: str | None) -> None:
    source = "!(text.matches('跳楼|自杀')) || people_involved > 3"
    expected, got = _both(source, Family.hotline, {"text": text, "people_involved": 1})
    assert expected == got


def test_a_rewritten_condition_keeps_its_source_for_messages() -> None:
    compiled = compile_condition("text.matches('跳楼|自杀')", Family.hotline, HERE, "r")
    assert compiled is not None and compiled.source == "text.matches('跳楼|自杀')"
