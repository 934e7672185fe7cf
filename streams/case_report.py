"""How `riskstream rules test` shows a case: PASS or FAIL and, for a failure, what differed, then
every notice raised with its change, status and withheld reason beside what was expected of it.

A failing case is read by someone who must decide whether the rule or the test is wrong, so each
notice is shown whole (not only the keys the test named) and marked: as expected, differing (with
the expectation under it), not expected, not named (``match: subset``) or ignored.
"""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from rules.case_verdict import NoticeMark, describe_expected, withheld_reasons
from rules.testing import CaseResult, Notice
from streams.tail import TIER_STYLE

MARKS = {
    "ok": ("✓", "green"),
    "differs": ("✗", "red"),
    "unexpected": ("+", "red"),
    "unnamed": ("·", "dim"),
    "ignored": ("-", "dim"),
}
LEGEND = "✓ as expected, ✗ differs, + not expected, · not named, - ignored"
INDENT = "       "


def print_result(console: Console, result: CaseResult) -> None:
    head = Text.assemble(
        ("PASS", "green") if result.passed else ("FAIL", "red"), f" {result.location}  {result.name}"
    )
    console.print(head, soft_wrap=True)
    for failure in result.failures:
        console.print(Text.assemble(INDENT, ("-", "red"), f" {failure}"), soft_wrap=True)
    if result.passed:
        return
    if result.notices:
        legend = Text.assemble(f"{INDENT}alerts raised, in the order decided ", (f"({LEGEND}):", "dim"))
        console.print(legend, soft_wrap=True)
        for i, notice in enumerate(result.notices):
            mark = result.marks[i] if i < len(result.marks) else NoticeMark("unexpected")
            console.print(notice_line(i, notice, mark), soft_wrap=True)
            if mark.mark == "differs" and mark.expectation is not None:
                expected = describe_expected(result.expected[mark.expectation])
                console.print(Text(f"{INDENT}     expected: {expected}", style="dim"), soft_wrap=True)
    if result.missing:
        console.print(f"{INDENT}expected, not raised:")
        for k in result.missing:
            expected = describe_expected(result.expected[k])
            line = Text.assemble(f"{INDENT}  ", ("✗", "red"), f" alert {k + 1}: {expected}")
            console.print(line, soft_wrap=True)


def notice_line(i: int, notice: Notice, mark: NoticeMark) -> Text:
    """``3. at 120s rule=gas tier=red change=tier_raised status=firing delivered ... ✓ alert 3``."""
    a = notice.alert
    symbol, style = MARKS[mark.mark]
    reasons = withheld_reasons(a)
    why = "; ".join(w for w in (a.withheld_by, "shadow rule" if a.shadow else None) if w)
    line = Text.assemble(
        f"{INDENT}  {i + 1}. {notice.when()} rule={a.rule_id} tier=",
        (a.tier.value, TIER_STYLE[a.tier]),
        " change=",
        (a.change, "bold"),
        f" status={a.status} ",
        (f"withheld=({why})", "magenta") if reasons else ("delivered", "green"),
        f" group={a.group} agencies={a.agencies} count={a.count}",
    )
    if a.inhibited_count:
        line.append(f" inhibited_count={a.inhibited_count}")
    line.append("  ")
    line.append(symbol, style)
    if mark.expectation is not None:
        line.append(f" alert {mark.expectation + 1}", style)
    if mark.mark == "ignored":
        line.append(" ignored", style)
    if mark.never:
        line.append(f" never {', '.join(str(m + 1) for m in mark.never)}", "red")
    return line
