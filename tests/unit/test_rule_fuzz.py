"""Rule files get the same care as events: a fuzzed or truncated pack is refused with file:line.

The corpus is the shipped packs: each rule cut out with the pack's test case for it (a small pack
that parses in milliseconds), and the whole packs truncated at Hypothesis-chosen points. Each is
damaged (truncated, characters flipped, deleted or inserted, a line repeated or re-indented) and
loaded as `riskstream rules lint` and a worker's reload load it: it loads, or it is refused with a
RuleSetError whose every error names the file and a line. A pack that still loads has its test
cases run as `riskstream rules test` runs them, which must not raise either.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from rules.compiler import load_ruleset
from rules.errors import RuleSetError
from rules.routing import Router, load_routing
from rules.testing import run_cases
from streams.cli import app
from streams.live_rules import LiveRules
from streams.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
PACKS = sorted((ROOT / "rules" / "packs").glob("*.yaml"))
ROUTING = ROOT / "rules" / "routing.yaml"


def _items(text: str, section: str) -> list[str]:
    """The top-level list items of a section (``rules:`` or ``tests:``), as written."""
    out: list[list[str]] = []
    inside = False
    for line in text.splitlines(keepends=True):
        if not line.startswith((" ", "\n", "#")):
            inside = line.startswith(f"{section}:")
            continue
        if inside and line.startswith("  - "):
            out.append([line])
        elif inside and out and (line.startswith("    ") or not line.strip()):
            out[-1].append(line)
    return ["".join(item) for item in out]


def _small_packs() -> list[str]:
    """One shipped rule per pack file, with the first test case that names it."""
    out = []
    for path in PACKS:
        text = path.read_text(encoding="utf-8")
        tests = _items(text, "tests")
        for rule in _items(text, "rules"):
            rule_id = re.search(r"id: (\S+)", rule)
            assert rule_id is not None
            case = next((t for t in tests if f"rule: {rule_id[1]}" in t), None)
            out.append(f"version: 1\npack: fuzzed\nrules:\n{rule}" + (f"tests:\n{case}" if case else ""))
    return out


SMALL = _small_packs()
WHOLE = [p.read_text(encoding="utf-8") for p in PACKS]
YAML_BITS = [*"{}[]:-'\"#&*!|>%@`?,=<()_. \t\n\\", "- ", ": ", "? ", "{{", "x:", "0x", "~", "\u00a0", "é"]


@pytest.fixture(scope="module")
def router() -> Router:
    return load_routing(ROUTING)


@st.composite
def damage(draw: st.DrawFn, text: str) -> str:
    """The text with one to three kinds of damage at Hypothesis-chosen places."""
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        how = draw(st.sampled_from(["cut", "delete", "flip", "insert", "repeat", "indent"]))
        if how == "cut":
            text = text[:at]
        elif how == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 12)):]
        elif how in ("flip", "insert"):
            bit = draw(st.sampled_from(YAML_BITS) | st.characters())
            text = text[:at] + bit + text[at + (how == "flip"):]
        else:
            lines = text.splitlines(keepends=True) or [""]
            i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
            if how == "repeat":
                lines.insert(i, lines[j])
            else:
                lines[i] = " " * draw(st.integers(0, 7)) + lines[i].lstrip(" ")
            text = "".join(lines)
    return text


def check_loads_or_refuses_with_lines(path: Path, router: Router) -> None:
    try:
        ruleset = load_ruleset([path], router)
    except RuleSetError as exc:
        assert exc.errors
        for error in exc.errors:
            assert error.location is not None, error
            assert Path(error.location.file) == path, error
            assert error.location.line is not None and error.location.line >= 1, error
        return
    run_cases(ruleset)  # as `rules test` runs them: a damaged case fails, it does not raise


@settings(
    max_examples=250, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=st.sampled_from(SMALL).flatmap(damage))
def test_a_damaged_rule_is_refused_with_its_file_and_line(text: str, tmp_path: Path, router: Router) -> None:
    path = tmp_path / "damaged.yaml"
    path.write_text(text, encoding="utf-8")
    check_loads_or_refuses_with_lines(path, router)


@settings(
    max_examples=10, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(pack=st.sampled_from(WHOLE), fraction=st.floats(0, 1, exclude_max=True))
def test_a_shipped_pack_cut_anywhere_is_refused_with_its_file_and_line(
    pack: str, fraction: float, tmp_path: Path, router: Router
) -> None:
    path = tmp_path / "truncated.yaml"
    path.write_bytes(pack.encode("utf-8")[: int(len(pack.encode("utf-8")) * fraction)])
    check_loads_or_refuses_with_lines(path, router)  # a cut inside a character: not UTF-8, at its line


@pytest.mark.parametrize(
    ("text", "where", "what"),
    [
        (
            "version: 1\npack: p\nrules:\n  - id: a\n    cooldown: 99999999999999999999d\n",
            ":5:",
            "longer than 3650 days",
        ),
        ("version: 1\npack: p\nrules:\n  ? {id: [a]}\n  : x\n", ":4:", "a key must be a plain value"),
        ("- a\n- b\n", ":1:1", "not a list"),
        ("just words\n", ":1", "not a single value"),
        ("version: 1\npack: p\nrules:\n  - id: a\n    cooldown:\n", ":5:", "duration"),
        ("", ":1", "file is empty"),
    ],
)
def test_what_the_fuzzing_found_is_refused_with_file_and_line(
    text: str, where: str, what: str, tmp_path: Path, router: Router
) -> None:
    path = tmp_path / "found.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RuleSetError) as info:
        load_ruleset([path], router)
    assert any(f"{path}{where}" in str(e) and what in str(e) for e in info.value.errors), info.value


def test_a_pack_that_is_not_utf8_is_refused_naming_the_file(tmp_path: Path, router: Router) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"version: 1\npack: caf\xe9\n")
    with pytest.raises(RuleSetError, match=r"latin1.yaml:2: file is not UTF-8 \(byte 20\)"):
        load_ruleset([path], router)


@pytest.mark.parametrize("command", ["lint", "test"])
def test_the_cli_reports_a_damaged_pack_with_file_and_line_and_exits_1(command: str, tmp_path: Path) -> None:
    path = tmp_path / "cut.yaml"
    path.write_text(WHOLE[0][: len(WHOLE[0]) // 3] + "\n  - id: [\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["rules", command, str(path), "--routing", str(ROUTING)])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert f"{path}:" in result.output


# ------------------------------------------------------------------------------ a running worker


GOOD = """\
version: 1
pack: live
rules:
  - id: live-gas
    title: gas
    risk: public_safety
    on: sensor
    kind: combustible_gas
    when: value >= 20.0
    tier: red
    route: [fire]
"""


def _live(tmp_path: Path) -> tuple[LiveRules, Path]:
    pack = tmp_path / "packs" / "live.yaml"
    pack.parent.mkdir()
    pack.write_text(GOOD, encoding="utf-8")
    return LiveRules.load(Settings(rules_path=[pack.parent], routing_path=ROUTING)), pack


def _touch(path: Path, text: str, tick: float) -> None:
    import os

    path.write_text(text, encoding="utf-8")
    os.utime(path, (tick, tick))


@settings(
    max_examples=40, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(broken=st.just(GOOD).flatmap(damage))
def test_a_running_worker_refuses_a_damaged_pack_and_keeps_its_rules(
    broken: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    live, pack = _live(tmp_path_factory.mktemp("live"))
    engine, generation = live.engine, live.generation
    _touch(pack, broken, 1_000_000)
    swapped = live.maybe_reload()
    if not swapped:  # refused: the old rules run on, unchanged
        assert live.engine is engine and live.generation == generation
        assert [r.id for r in live.engine.rules] == ["live-gas"]
    else:  # the damage left a valid pack (a comment, a space): it runs
        assert live.generation == generation + 1


def test_a_broken_reload_is_logged_with_file_and_line_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from streams import metrics

    live, pack = _live(tmp_path)
    refused = metrics.RULE_RELOADS.labels("refused")._value.get()
    _touch(pack, GOOD.replace("tier: red", "tier: [red"), 1_000_000)
    with caplog.at_level(logging.ERROR, "streams.live_rules"):
        assert live.maybe_reload() is False
    assert f"{pack}:" in caplog.text and "still running the previous 1 rules" in caplog.text
    assert metrics.RULE_RELOADS.labels("refused")._value.get() == refused + 1
    _touch(pack, GOOD.replace("live-gas", "live-gas-2"), 2_000_000)
    assert live.maybe_reload() is True
    assert [r.id for r in live.engine.rules] == ["live-gas-2"]


def test_an_unexpected_error_while_reloading_keeps_the_old_rules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug in the loader costs the change, not the worker (the reload runs on a worker timer)."""
    import streams.live_rules as live_rules

    live, pack = _live(tmp_path)

    def broken(settings: Settings) -> None:
        raise AttributeError("'NoneType' object has no attribute 'strip'")

    monkeypatch.setattr(live_rules, "_load", broken)
    _touch(pack, GOOD, 1_000_000)
    with caplog.at_level(logging.ERROR, "streams.live_rules"):
        assert live.maybe_reload() is False
    assert "please report it" in caplog.text and "AttributeError" in caplog.text
    assert [r.id for r in live.engine.rules] == ["live-gas"]
