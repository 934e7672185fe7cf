"""Judging a rule test case: the notices its events raised against what its author says.

An author names the notices that must occur (every one, in order, or with ``match: subset`` only
those that matter), the changes that do not matter (``ignore``), what must never happen
(``never``) and which notices are one alert (``alert`` labels). The verdict gives each failure as
a line and marks every notice with how it compares, for the failure listing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from rules.alerts import Alert
from rules.durations import format_duration
from rules.schema import ExpectedAlert, NeverNotice, RuleCaseSpec
from rules.suggest import did_you_mean

if TYPE_CHECKING:
    from rules.testing import Notice

Mark = Literal["ok", "differs", "unexpected", "unnamed", "ignored"]
"""How a notice compares: as expected; paired with an expectation it does not meet; not expected
(exact match); not named (subset match); left out by ``ignore``."""
ProblemsOf = Callable[[int, int], list[str]]
"""How notice q (second) differs from expectation k (first)."""
SEARCH_BUDGET = 100_000
"""Steps the search for a subset assignment that keeps ``alert`` labels may take."""
_EPS = 1e-9


@dataclass(frozen=True)
class NoticeMark:
    """One notice's place in the verdict."""

    mark: Mark
    expectation: int | None = None
    """The expectation (from 0) it was paired with."""
    problems: tuple[str, ...] = ()
    """How it differs from that expectation."""
    never: tuple[int, ...] = ()
    """The ``never`` entries (from 0) it breaks."""


@dataclass
class Verdict:
    failures: list[str] = field(default_factory=list)
    marks: list[NoticeMark] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)
    """Expectations (from 0) that no notice met."""


def _withheld_kind(why: str | None) -> str | None:
    if why is None:
        return None
    for kind, prefix in (("silence", "silence "), ("inhibited", "inhibited "), ("storm", "storm ")):
        if why.startswith(prefix):
            return kind
    return "other"


def withheld_reasons(alert: Alert) -> list[str]:
    """Why a notice was held back from agencies, as ``expect: withheld`` names it (none: delivered):
    a silence, inhibition or storm control, and a shadow rule's notice reaches no agency either."""
    return [r for r in (_withheld_kind(alert.withheld_by), "shadow" if alert.shadow else None) if r]


def describe(alert: Alert | None, exp: ExpectedAlert | None = None) -> str:
    """A one-line view of an alert, limited to the keys an expectation names when one is given."""
    if alert is None:
        return "(nothing)"
    parts = [f"rule={alert.rule_id}", f"tier={alert.tier.value}"]
    if alert.status != "firing":
        parts.append(f"status={alert.status}")
    if alert.change != "opened":
        parts.append(f"change={alert.change}")
    if alert.withheld_by:
        parts.append(f"withheld=({alert.withheld_by})")
    if alert.shadow:
        parts.append("withheld=(shadow rule)")
    if exp is None or exp.group is not None:
        parts.append(f"group={alert.group}")
    if exp is None or exp.agencies is not None:
        parts.append(f"agencies={alert.agencies}")
    return " ".join(parts)


def describe_expected(exp: ExpectedAlert) -> str:
    """An expectation as written, e.g. ``rule=gas tier=red at=120s count=3``."""
    parts = []
    for key, value in exp.model_dump(exclude_none=True).items():
        if key in ("at", "decided"):
            value = f"{value:g}s"
        elif key == "tier":
            value = exp.tier.value if exp.tier is not None else value
        parts.append(f"{key}={value}")
    return " ".join(parts)


def describe_never(never: NeverNotice) -> str:
    parts = [f"{k}={v.value if hasattr(v, 'value') else v}" for k in ("rule", "agency", "tier", "change")
             if (v := getattr(never, k)) is not None]
    if never.from_ > 0 or never.to is not None:
        to = "the end" if never.to is None else format_duration(never.to)
        parts.append(f"from {format_duration(never.from_)} to {to}")
    return " ".join(parts)


def mismatches(exp: ExpectedAlert, n: Notice, final_count: int) -> list[str]:
    """How notice ``n`` differs from ``exp`` (nothing: it meets it); ``final_count`` is its alert's
    count at the end of the case."""
    a = n.alert
    out = []
    if a.rule_id != exp.rule:
        out.append(f"rule: expected {exp.rule}, got {a.rule_id}")
    if exp.tier is not None and a.tier != exp.tier:
        out.append(f"tier: expected {exp.tier.value}, got {a.tier.value}")
    if exp.group is not None:
        want = {k: str(v) for k, v in exp.group.items()}
        if a.group != want:
            out.append(f"group: expected {want}, got {a.group}")
    if exp.agencies is not None and sorted(a.agencies) != sorted(exp.agencies):
        out.append(f"agencies: expected {sorted(exp.agencies)}, got {sorted(a.agencies)}")
    if exp.count is not None and final_count != exp.count:
        out.append(f"count: expected {exp.count}, got {final_count}")
    if exp.notice_count is not None and a.count != exp.notice_count:
        out.append(f"notice_count: expected {exp.notice_count}, the notice carries {a.count}")
    if exp.inhibited_count is not None and a.inhibited_count != exp.inhibited_count:
        out.append(f"inhibited_count: expected {exp.inhibited_count}, got {a.inhibited_count}")
    if exp.at is not None and abs(n.at - exp.at) > _EPS:
        out.append(f"at: expected {exp.at:g}s, raised {n.when()}")
    if exp.decided is not None and n.decided is not None and abs(n.decided - exp.decided) > _EPS:
        out.append(f"decided: expected at {exp.decided:g}s, decided at {n.decided:g}s")
    if exp.status is not None and a.status != exp.status:
        out.append(f"status: expected {exp.status}, got {a.status}")
    if exp.change is not None and a.change != exp.change:
        out.append(f"change: expected {exp.change}, got {a.change}")
    if exp.withheld is not None:
        reasons = withheld_reasons(a)
        if exp.withheld is False and reasons:
            why = "; ".join(w for w in (a.withheld_by, "shadow rule" if a.shadow else None) if w)
            out.append(f"withheld: expected a delivered notice, it was held back ({why})")
        elif exp.withheld is True and not reasons:
            out.append("withheld: expected it held back, it was delivered")
        elif isinstance(exp.withheld, str) and exp.withheld not in reasons:
            out.append(f"withheld: expected {exp.withheld}, got {' and '.join(reasons) or 'delivered'}")
    if exp.window is not None:
        figures = a.window or {}
        for key, figure in exp.window.items():
            have = figures.get(key)
            if have is None or not math.isclose(float(have), float(figure), abs_tol=1e-6):
                shown = "(none)" if have is None else f"{have:g}"
                out.append(f"window.{key}: expected {figure:g}, got {shown}")
    return out


def judge(case: RuleCaseSpec, notices: Sequence[Notice], final_counts: Mapping[str, int]) -> Verdict:
    """The verdict on ``notices`` (in the order decided) for ``case``."""
    verdict = Verdict(marks=[NoticeMark("unexpected") for _ in notices])
    ignore = set(case.ignore)
    kept = [q for q, n in enumerate(notices) if n.alert.change not in ignore]
    for q, n in enumerate(notices):
        if n.alert.change in ignore:
            verdict.marks[q] = NoticeMark("ignored")

    def problems(k: int, q: int) -> list[str]:
        n = notices[q]
        return mismatches(case.expect[k], n, final_counts.get(n.alert.alert_id, 0))

    if case.match == "exact":
        pairs = _exact(case, notices, kept, problems, verdict)
    else:
        pairs = _subset(case, notices, kept, problems, verdict)
    if len(pairs) == len(case.expect):
        verdict.failures += _identity(case.expect, notices, pairs)
    for m, never in enumerate(case.never):
        for q, n in enumerate(notices):
            if _breaks(never, n):
                old = verdict.marks[q]
                verdict.marks[q] = NoticeMark(old.mark, old.expectation, old.problems, (*old.never, m))
                verdict.failures.append(
                    f"never {m + 1} ({describe_never(never)}): notice {q + 1} {n.when()} {describe(n.alert)}"
                )
    return verdict


def _exact(
    case: RuleCaseSpec, notices: Sequence[Notice], kept: list[int], problems: ProblemsOf, verdict: Verdict
) -> dict[int, int]:
    """Every kept notice against the expectation in its place."""
    pairs: dict[int, int] = {}
    for j in range(max(len(case.expect), len(kept))):
        exp = case.expect[j] if j < len(case.expect) else None
        q = kept[j] if j < len(kept) else None
        if exp is None and q is not None:
            n = notices[q]
            got = f"{describe(n.alert)} {n.when()}"
            verdict.failures.append(f"alert {j + 1}: expected nothing more, got {got}")
        elif exp is not None and q is None:
            verdict.missing.append(j)
            verdict.failures.append(f"alert {j + 1}: expected {describe_expected(exp)}, got (nothing)")
        elif exp is not None and q is not None:
            bad = problems(j, q)
            verdict.marks[q] = NoticeMark("differs" if bad else "ok", j, tuple(bad))
            verdict.failures += [f"alert {j + 1}: {m}" for m in bad]
            pairs[j] = q
    return pairs


def _subset(
    case: RuleCaseSpec, notices: Sequence[Notice], kept: list[int], problems: ProblemsOf, verdict: Verdict
) -> dict[int, int]:
    """The expectations met by kept notices in their order, each by its own notice, keeping labels."""
    for q in kept:
        verdict.marks[q] = NoticeMark("unnamed")
    meets = [[q for q in kept if not problems(k, q)] for k in range(len(case.expect))]
    found = _assign(case.expect, notices, meets)
    if found is not None:
        for k, q in found.items():
            verdict.marks[q] = NoticeMark("ok", k)
        return found
    pairs: dict[int, int] = {}
    after = -1
    for k, exp in enumerate(case.expect):
        met = next((q for q in meets[k] if q > after), None)
        if met is not None:
            pairs[k] = after = met
            verdict.marks[met] = NoticeMark("ok", k)
            continue
        verdict.missing.append(k)
        line = f"alert {k + 1}: expected {describe_expected(exp)}, not raised"
        earlier = [q for q in meets[k] if q <= after]
        if earlier:
            line += f" after notice {after + 1} (notice {earlier[0] + 1} meets it, but comes before)"
        else:
            near = _closest(k, [q for q in kept if q > after], problems, exp.rule, notices)
            if near is not None:
                q, bad = near
                line += f"; closest is notice {q + 1} {notices[q].when()}: {'; '.join(bad)}"
                if verdict.marks[q].mark == "unnamed":
                    verdict.marks[q] = NoticeMark("differs", k, tuple(bad))
        verdict.failures.append(line)
    return pairs


def _closest(
    k: int, candidates: list[int], problems: ProblemsOf, rule: str, notices: Sequence[Notice]
) -> tuple[int, list[str]] | None:
    """The notice of the same rule that misses expectation ``k`` by the fewest keys."""
    same = [(len(problems(k, q)), q) for q in candidates if notices[q].alert.rule_id == rule]
    if not same:
        return None
    _, q = min(same)
    return q, problems(k, q)


def _assign(
    expect: Sequence[ExpectedAlert], notices: Sequence[Notice], meets: list[list[int]]
) -> dict[int, int] | None:
    """Expectation -> notice, in order, each notice once, same label same alert and different
    labels different alerts; None if there is none (or the search ran out of steps)."""
    budget = [SEARCH_BUDGET]

    def search(k: int, after: int, labels: dict[str, str]) -> dict[int, int] | None:
        if k == len(expect):
            return {}
        label = expect[k].alert
        for q in meets[k]:
            if q <= after:
                continue
            budget[0] -= 1
            if budget[0] < 0:
                return None
            alert_id = notices[q].alert.alert_id
            bound = dict(labels)
            if label is not None:
                if labels.get(label, alert_id) != alert_id:
                    continue
                if any(other != label and aid == alert_id for other, aid in labels.items()):
                    continue
                bound[label] = alert_id
            rest = search(k + 1, q, bound)
            if rest is not None:
                return {k: q, **rest}
        return None

    return search(0, -1, {})


def _identity(
    expect: Sequence[ExpectedAlert], notices: Sequence[Notice], pairs: Mapping[int, int]
) -> Iterator[str]:
    """Failures of ``alert`` labels: one label over several alerts, or one alert under several labels."""
    by_label: dict[str, list[int]] = {}
    for k, q in sorted(pairs.items()):
        label = expect[k].alert
        if label is not None:
            by_label.setdefault(label, []).append(q)
    for label, qs in by_label.items():
        ids = {notices[q].alert.alert_id for q in qs}
        if len(ids) > 1:
            yield (
                f"alert '{label}': expected one alert, notices {_and(q + 1 for q in qs)} are "
                f"{len(ids)} different alerts"
            )
    by_id: dict[str, list[str]] = {}
    for label, qs in by_label.items():
        for aid in dict.fromkeys(notices[q].alert.alert_id for q in qs):
            by_id.setdefault(aid, []).append(label)
    for aid, labels in by_id.items():
        if len(labels) > 1:
            shown = _and(f"'{label}'" for label in labels)
            yield f"alerts {shown}: expected different alerts, they are one (alert {aid})"


def unknown_names(case: RuleCaseSpec, rules: Collection[str], agencies: Collection[str]) -> list[str]:
    """Rules and agencies a case names that the loaded packs and routing file do not have, each
    with the nearest known name: a typo there would otherwise read as "not raised"."""
    out = []

    def check(what: str, name: str | None, known: Collection[str], where: str) -> None:
        if name is not None and name not in known:
            why = "no pack loaded defines" if what == "rule" else "the routing file does not declare"
            out.append(f"{where} names {what} '{name}', which {why}{did_you_mean(name, known)}")

    for k, exp in enumerate(case.expect):
        check("rule", exp.rule, rules, f"expect {k + 1}")
        for agency in exp.agencies or []:
            check("agency", agency, agencies, f"expect {k + 1}")
    for m, never in enumerate(case.never):
        check("rule", never.rule, rules, f"never {m + 1}")
        check("agency", never.agency, agencies, f"never {m + 1}")
    for a, action in enumerate(case.actions):
        ref = action.ack if action.ack is not None else action.resolve
        check("rule", (ref or {}).get("rule"), rules, f"action {a + 1}")
    return out


def _breaks(never: NeverNotice, n: Notice) -> bool:
    a = n.alert
    if n.at < never.from_ - _EPS or (never.to is not None and n.at > never.to + _EPS):
        return False
    if never.rule is not None and a.rule_id != never.rule:
        return False
    if never.tier is not None and a.tier != never.tier:
        return False
    if never.change is not None and a.change != never.change:
        return False
    return never.agency is None or (not withheld_reasons(a) and never.agency in a.agencies)


def _and(items: Iterable[object]) -> str:
    words = [str(i) for i in items]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"
