"""`riskstream rules explain`: why a rule did or did not fire on an event, and an alert's history.

An event is explained after the events recorded before it (files, or the input topics with
``--since``), replayed as a backtest replays them, so windows and open alerts stand as they stood.
An alert's history comes from the audit topic (or recorded notices with ``--from-file``). Times are
shown in the city's zone (setting ``city_zone``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Annotated, Any

import typer
from aiokafka.errors import KafkaError
from rich.console import Console
from rich.text import Text

from rules.alert_history import AlertHistory, history_of, read_notices
from rules.alerts import Alert
from rules.backtest import by_event_time
from rules.compiler import RuleSet
from rules.decoding import decode_event
from rules.durations import format_duration, parse_duration
from rules.errors import DurationError, EventDecodeError, RiskstreamError
from rules.events import EventBase
from rules.explain import ConditionTrace, DecisionTrace, EventExplanation, Explainer, Part, RuleTrace
from rules.model import Tier
from streams.audit_history import alert_notices
from streams.kafka_io import Window, read_since
from streams.rule_loading import load_or_exit
from streams.settings import get_settings
from streams.tail import TIER_STYLE, clock

out = Console(highlight=False, emoji=False)
err = Console(stderr=True, highlight=False, emoji=False)

STANDARD_FIELDS = frozenset({"event_id", "family", "kind", "time", "source_id", "location", "attributes"})
REASON_TEXT = {
    "opened": "opened a new alert",
    "resolved_and_opened": "the group's alert had been quiet for its cooldown: resolved, and a new one",
    "in_cooldown": "merged into the open alert, no notice",
    "duplicate": "already part of the alert (a redelivered event): nothing changes",
    "nothing_to_resolve": "ends an alert that is not open: nothing to do",
}


def _fail(message: str, code: int) -> typer.Exit:
    err.print(Text.assemble(("error ", "red"), message), soft_wrap=True)
    return typer.Exit(code)


def _when(t: datetime, zone: tzinfo, day_of: datetime | None = None) -> str:
    return clock([t], zone, day_of)[0]


def _badge(tier: Tier) -> Text:
    return Text(f" {tier.value.upper()} {tier.level} ", style=TIER_STYLE[tier])


def _value(value: Any) -> str:
    return "null" if value is None else repr(value) if isinstance(value, str) else str(value)


def _read(part: Part) -> str:
    return ", ".join(f"{name} = {_value(v)}" for name, v in part.read.items())


def _mark(result: bool | None) -> Text:
    if result is None:
        return Text("!", style="bold yellow")
    return Text("✓", style="green") if result else Text("✗", style="red")


def _answer(part: Part) -> Text:
    if part.result is None:
        return Text(f"cannot be evaluated: {part.error} (taken as false)", style="yellow")
    return Text("true", style="green") if part.result else Text("false", style="red")


def _condition(trace: ConditionTrace, written: str, indent: str = "  ") -> list[Text]:
    """A condition's answer and its parts'; ``written``: as the rule says it, lists and macros unexpanded."""
    whole = trace.whole
    lines = [Text.assemble(indent, (f"{trace.label:<6}", "bold"), " ", whole.source, "  → ", _answer(whole))]
    if " ".join(written.split()) != " ".join(whole.source.split()):
        lines.append(Text(f"{indent}      (written: {written})", style="dim"))
    if trace.parts:
        for part in trace.parts:
            line = Text.assemble(indent, "    ", _mark(part.result), " ", part.source)
            if part.read:
                line.append(f"   {_read(part)}", style="dim")
            if part.error:
                line.append(f"   ({part.error})", style="yellow")
            lines.append(line)
        how = "all parts must hold" if trace.joiner == "&&" else "one part must hold"
        lines.append(Text(f"{indent}      ({how})", style="dim"))
    elif whole.read:
        lines.append(Text(f"{indent}      {_read(whole)}", style="dim"))
    return lines


def _tier_lines(rule: RuleTrace) -> list[Text]:
    tier = rule.tier
    if tier is None:
        return []
    if tier.chosen is None:
        head = Text.assemble("  ", ("tier  ", "bold"), ("none holds: no alert", "red"))
    elif len(tier.rungs) == 1 and tier.rungs[0].condition is None:
        head = Text.assemble("  ", ("tier  ", "bold"), _badge(tier.chosen), " (the rule's fixed tier)")
    else:
        head = Text.assemble(
            "  ", ("tier  ", "bold"), _badge(tier.chosen), " the highest rung that holds, tried from red down"
        )
    lines = [head]
    if len(tier.rungs) == 1 and tier.rungs[0].condition is None:
        return lines
    for rung in tier.rungs:
        if rung.condition is None:
            lines.append(Text.assemble("      ", _mark(True), f" {rung.tier.value:<6} true"))
            continue
        c = rung.condition
        line = Text.assemble("      ", _mark(c.whole.result), f" {rung.tier.value:<6} ", c.whole.source)
        if c.whole.read:
            line.append(f"   {_read(c.whole)}", style="dim")
        if c.whole.error:
            line.append(f"   ({c.whole.error})", style="yellow")
        lines.append(line)
    return lines


def _window_lines(rule: RuleTrace, zone: tzinfo) -> list[Text]:
    lines: list[Text] = []
    for step in rule.steps:
        what = "|".join(step.kinds) or "any kind"
        kind = Text.assemble(_mark(step.kind_ok), f" kind {what}")
        line = Text.assemble("  ", (f"step {step.index + 1}", "bold"), "  ", kind)
        if step.when is not None:
            line.append("   when ")
            line.append(step.when.whole.source)
            line.append(" → ")
            line.append(_answer(step.when.whole))
            if step.when.whole.read:
                line.append(f"   {_read(step.when.whole)}", style="dim")
        line.append("   → this event takes the step" if step.taken else "   → not this step", style="bold")
        lines.append(line)
    window = rule.window
    if window is None:
        return lines
    outcome = {
        "counted": "counted",
        "duplicate": "not counted again (duplicate id)",
        "late": "not counted (late)",
        "not_read": "not counted",
    }.get(window.outcome, window.outcome)
    met = Text(" met", style="bold green") if window.fired else Text("")
    if window.ends:
        met = Text(" (this ends what it fired for)", style="bold green")
    lines.append(
        Text.assemble(
            "  ", ("window", "bold"), f" {rule.rule.spec.forms[0]}: {outcome} · ", window.progress.text, met
        )
    )
    moments = window.progress.moments
    if moments:
        times = clock([t for _, t in moments], zone)
        said = " · ".join(f"{name} {t}" for (name, _), t in zip(moments, times, strict=True))
        lines.append(Text(f"          {said}", style="dim"))
    return lines


def _notice_line(a: Alert, indent: str, zone: tzinfo) -> list[Text]:
    head = Text.assemble(
        indent,
        _when(a.raised_at, zone),
        " ",
        (a.change, "bold"),
        " ",
        _badge(a.tier),
        f" {a.status} · alert {a.alert_id}",
    )
    head.append(f" · notice #{a.notice_seq} · count {a.count}", style="dim")
    lines = [head]
    return lines + _recipients(a, indent + "  ")


def _recipients(a: Alert, indent: str) -> list[Text]:
    """Who a notice went to and why; or, held back or a shadow rule's, why nobody was told."""
    if a.withheld_by is None and not a.shadow:
        return [
            Text.assemble(indent, "→ ", (agency, "bold"), f": {why}")
            for agency, why in a.routed_because.items()
        ]
    if a.withheld_by is not None:
        said = Text.assemble(indent, ("withheld: ", "yellow"), a.withheld_by)
    else:
        said = Text.assemble(indent, ("shadow rule", "magenta"), ": its notices go to the audit topic only")
    would = Text(f"{indent}(audited only; it would have reached {', '.join(a.agencies)})", style="dim")
    return [said, would]


def _decision_lines(d: DecisionTrace, zone: tzinfo, indent: str = "    ") -> list[Text]:
    reason = REASON_TEXT.get(d.reason, d.reason.replace("_", " "))
    lines = [Text(f"{indent}{reason}")]
    for a in d.notices:
        lines += _notice_line(a, indent + "  ", zone)
    s = d.state
    if s is not None and not d.notices:
        lines.append(
            Text(
                f"{indent}  alert {s.alert_id} {s.tier.value} {s.status}, count {s.count}, last notice at "
                f"{_when(s.notified_at, zone)}",
                style="dim",
            )
        )
        if d.reason == "in_cooldown":
            c = s.candidate
            if s.withheld is not None:
                lines.append(Text(f"{indent}  still withheld: {s.withheld}", style="yellow"))
            elif c.tier.rank < s.tier.rank:
                lines.append(
                    Text(
                        f"{indent}  a lower tier ({c.tier.value}) comes down only after holding for "
                        f"{format_duration(c.tier_down_after)}",
                        style="dim",
                    )
                )
            else:
                again = s.notified_at + timedelta(seconds=c.repeat_interval)
                lines.append(
                    Text(
                        f"{indent}  same tier; it repeats on a match from {_when(again, zone)} "
                        f"(repeat_interval {format_duration(c.repeat_interval)})",
                        style="dim",
                    )
                )
    if d.next_due is not None and s is not None:
        c = s.candidate
        due = _when(d.next_due, zone)
        quiet = s.last_seen + timedelta(seconds=c.cooldown)
        if not c.until_resolved and d.next_due == quiet:
            said = f"it resolves at {due} unless it matches again (cooldown {format_duration(c.cooldown)})"
        else:
            said = f"the clock acts on it next at {due} (escalation or reminder)"
        lines.append(Text(f"{indent}  {said}", style="dim"))
    return lines


def _rule_block(rule: RuleTrace, zone: tzinfo) -> list[Text]:
    spec = rule.rule.spec
    kind = " · ".join(spec.forms) if spec.forms else "stateless"
    if rule.rule.mode == "shadow":
        kind += ", shadow: audit only"
    group = ", ".join(f"{k}={v}" for k, v in rule.group.items()) or "one group (no group_by)"
    lines = [
        Text.assemble(
            (spec.id, "bold cyan"),
            f"  {spec.title}",
            (f"  ({kind}, {spec.risk.value}; group {group})", "dim"),
        )
    ]
    if rule.when is not None:
        lines += _condition(rule.when, rule.rule.spec.when)
    else:
        lines.append(Text.assemble("  ", ("when  ", "bold"), "true (no condition)"))
    lines += _window_lines(rule, zone)
    lines += _tier_lines(rule)
    if rule.clock_before:
        lines.append(Text.assemble("  ", ("before this event, the clock:", "bold")))
        for d in rule.clock_before:
            lines += _decision_lines(d, zone)
    if rule.decisions:
        lines.append(Text.assemble("  ", ("lifecycle", "bold")))
        for d in rule.decisions:
            lines += _decision_lines(d, zone)
    elif rule.alert is not None and rule.alert.open:
        s = rule.alert
        lines.append(
            Text(
                f"  the group's alert {s.alert_id} ({s.tier.value}, {s.status}, count {s.count}) is open; "
                "this event does not touch it",
                style="dim",
            )
        )
    lines.append(Text.assemble("  ⇒ ", (rule.verdict, "bold")))
    return lines


def render_event(x: EventExplanation, zone: tzinfo, sources: str) -> list[Text]:
    """The explanation as a duty desk's rule author reads it, times in ``zone``."""
    e = x.event
    place = " / ".join(e.location.path())
    lines = [
        Text.assemble(
            ("event ", "bold"),
            (e.event_id, "bold"),
            f"  {e.family.value}/{e.kind} at {_when(e.time, zone)} · source {e.source_id} · {place}",
        )
    ]
    history = (
        f"after {x.replayed:,} earlier event(s) replayed from {sources}" if sources else "with no history"
    )
    line = Text(f"  {history}; clock at {_when(x.clock, zone)}", style="dim")
    if x.late:
        line.append(
            f"  (a late event: {format_duration((x.clock - e.time).total_seconds())} behind the newest)",
            style="yellow",
        )
    lines.append(line)
    if not x.rules:
        lines.append(Text(f"  no enabled rule reads {e.family.value}/{e.kind} events", style="yellow"))
    for rule in x.rules:
        lines.append(Text(""))
        lines += _rule_block(rule, zone)
    if x.disabled:
        lines.append(Text(f"\ndisabled, so not run: {', '.join(x.disabled)}", style="dim"))
    return lines


def render_history(h: AlertHistory, zone: tzinfo, events: dict[str, EventBase]) -> list[Text]:
    """Every notice of an alert, who heard each and why, and its evidence."""
    a = h.last
    group = ", ".join(f"{k}={v}" for k, v in a.group.items()) or "one group"
    lines = [
        Text.assemble(("alert ", "bold"), (a.alert_id, "bold"), f"  {a.title}"),
        Text(
            f"  rule {a.rule_id} v{a.rule_version} · {a.risk.value} · group {group} · "
            f"{' / '.join(a.grid_path)}",
            style="dim",
        ),
        Text(
            f"  {len(h.notices)} notice(s)"
            + (f" ({h.copies} read more than once)" if h.copies else "")
            + f", first seen {_when(h.first.first_seen, zone)}, last seen {_when(a.last_seen, zone)}",
            style="dim",
        ),
    ]
    expected = list(range(1, a.notice_seq + 1))
    missing = sorted(set(expected) - {n.notice_seq for n in h.notices})
    if missing:
        lines.append(Text(f"  notice(s) #{', #'.join(map(str, missing))} not found", style="yellow"))
    for n, added in h.added_evidence():
        lines.append(Text(""))
        head = Text.assemble(
            f"#{n.notice_seq} ",
            (_when(n.raised_at, zone), "bold"),
            "  ",
            (n.change, "bold"),
            " ",
            _badge(n.tier),
        )
        head.append(f" {n.status} · count {n.count}")
        if n.window:
            head.append(" [" + ", ".join(f"{k} {v:g}" for k, v in n.window.items()) + "]", style="bold")
        lines.append(head)
        lines.append(Text(f"   {n.summary}"))
        if n.acknowledged_by and n.acknowledged_at:
            lines.append(
                Text(
                    f"   acknowledged by {n.acknowledged_by} at {_when(n.acknowledged_at, zone)}",
                    style="green",
                )
            )
        if n.resolved_by and n.resolved_at:
            lines.append(
                Text(f"   resolved by {n.resolved_by} at {_when(n.resolved_at, zone)}", style="green")
            )
        lines += _recipients(n, "   ")
        if added:
            lines.append(Text(f"   evidence: {', '.join(added)}", style="dim"))
        if n.inhibited_count:
            lines.append(
                Text(
                    f"   held back {n.inhibited_count} lower alert(s): {', '.join(n.inhibited)}", style="dim"
                )
            )
    lines.append(Text(""))
    lines.append(
        Text.assemble(("evidence", "bold"), f" ({len(h.evidence)} event(s), as the notices named them)")
    )
    for event_id in h.evidence:
        e = events.get(event_id)
        if e is None:
            lines.append(Text(f"  {event_id}"))
            continue
        extra = {k: v for k, v in e.model_dump(exclude=set(STANDARD_FIELDS)).items() if v is not None}
        said = " ".join(f"{k}={_value(v)}" for k, v in extra.items())
        lines.append(
            Text(
                f"  {event_id}  {_when(e.time, zone)} {e.family.value}/{e.kind} source {e.source_id}  {said}"
            )
        )
    if h.evidence and not events:
        lines.append(Text("  (give the recorded event files to see each event)", style="dim"))
    return lines


def _lines(path: Path, stack: ExitStack) -> Iterator[tuple[int, bytes]]:
    with_stream = stack.enter_context(path.open("rb"))
    for number, line in enumerate(with_stream, start=1):
        line = line.strip()
        if line:
            yield number, line


def _event_file(path: Path) -> EventBase:
    """The one event a file holds: a JSON object (pretty-printed or not) or one JSON line."""
    raw = path.read_bytes()
    try:
        return decode_event(raw, None)
    except EventDecodeError as exc:
        lines = [line for line in raw.splitlines() if line.strip()]
        if len(lines) > 1:
            raise _fail(
                f"{path} holds {len(lines)} lines, not one event: to explain an event of a recording, name "
                f"it: riskstream rules explain --event-id ID {path}",
                2,
            ) from None
        raise _fail(f"{path} is not an event: {exc}", 2) from None


def _check_files(paths: list[Path]) -> None:
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise _fail(f"no such file: {', '.join(missing)}", 2)


def _from_files(explainer: Explainer, files: list[Path]) -> None:
    test = explainer.backtest

    def events(path: Path, stack: ExitStack) -> Iterator[EventBase]:
        for number, raw in _lines(path, stack):
            event = test.decode(raw, str(path), number)
            if event is not None:
                yield event

    with ExitStack() as stack:
        for event in by_event_time(events(path, stack) for path in files):
            if explainer.offer(event):
                return


async def _from_topics(explainer: Explainer, since: datetime) -> None:
    settings = get_settings()
    family_of = {t: f for f, t in settings.input_topics().items()}
    test = explainer.backtest
    # Stopping early leaves the reader to asyncio.run, which closes it (and its consumer) on the way out.
    async for item in read_since(settings, list(family_of), since):
        if isinstance(item, Window):
            continue
        source = f"{item.topic}[{item.partition}]"
        event = test.decode(item.value, source, item.offset, family_of[item.topic])
        if event is not None and explainer.offer(event):
            return


def _explain_event(
    ruleset: RuleSet, paths: list[Path], event_id: str | None, since: str | None, rule: list[str] | None
) -> None:
    back = None
    if since is not None:
        try:
            back = parse_duration(since)
        except DurationError as exc:
            raise _fail(str(exc), 2) from None
    history = paths if event_id is not None else paths[1:]
    target: str | EventBase = event_id if event_id is not None else _event_file(paths[0])
    try:
        explainer = Explainer(ruleset, target, rule or ())
    except ValueError as exc:
        raise _fail(str(exc), 2) from None
    try:
        if back is not None:
            asyncio.run(_from_topics(explainer, datetime.now(UTC) - timedelta(seconds=back)))
        else:
            _from_files(explainer, history)
        explanation = explainer.finish()
    except (RiskstreamError, KafkaError) as exc:
        raise _fail(str(exc) or type(exc).__name__, 1) from None
    except LookupError as exc:
        where = f"the input topics since {since} ago" if back is not None else ", ".join(map(str, history))
        raise _fail(f"{exc.args[0]} in {where}; check the id", 1) from None
    for r in explainer.backtest.rejects:
        err.print(Text.assemble(("skipped ", "yellow"), f"{r.source}:{r.line}: {r.reason}"), soft_wrap=True)
    sources = f"the input topics (since {since} ago)" if back is not None else ", ".join(map(str, history))
    for line in render_event(explanation, get_settings().city_tz, sources):
        out.print(line, soft_wrap=True)


def _explain_alert(alert: str, from_file: list[Path], paths: list[Path]) -> None:
    settings = get_settings()
    where = ", ".join(map(str, from_file))
    if from_file:
        notices: list[Alert] = []
        for path in from_file:
            found, problems = read_notices(path.read_bytes().splitlines(), str(path))
            notices += found
            for p in problems:
                err.print(Text.assemble(("skipped ", "yellow"), p), soft_wrap=True)
    else:
        try:
            read = asyncio.run(alert_notices(settings, alert))
        except (RiskstreamError, KafkaError) as exc:
            raise _fail(str(exc) or type(exc).__name__, 1) from None
        notices = read.notices
        where = f"{read.topic} (partition {read.partition}, {read.records:,} records read)"
        for p in read.unreadable:
            err.print(Text.assemble(("unreadable ", "yellow"), p), soft_wrap=True)
    try:
        history = history_of(alert, notices)
    except LookupError:
        raise _fail(
            f"no notice of alert {alert} in {where}: check the id (`riskstream tail` shows it as 'id ...')",
            1,
        ) from None
    wanted = set(history.evidence)
    events: dict[str, EventBase] = {}
    with ExitStack() as stack:
        for path in paths:
            for number, raw in _lines(path, stack):
                if not any(w.encode() in raw for w in wanted):
                    continue
                try:
                    e = decode_event(raw, None)
                except EventDecodeError:
                    err.print(Text.assemble(("skipped ", "yellow"), f"{path}:{number}: not an event"))
                    continue
                if e.event_id in wanted:
                    events.setdefault(e.event_id, e)
    for line in render_history(history, settings.city_tz, events):
        out.print(line, soft_wrap=True)


def explain(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="PATH",
            help="The event to explain (a JSON file of one event) and the recordings it came from, replayed "
            "before it; with --event-id, only recordings; with --alert, recordings holding its evidence",
            show_default=False,
        ),
    ] = None,
    event_id: Annotated[
        str | None,
        typer.Option("--event-id", metavar="ID", help="Explain this event of the recordings (or of --since)"),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="DURATION",
            help="The history from the input topics on Kafka, from this long ago (e.g. 2h), instead of files",
        ),
    ] = None,
    alert: Annotated[
        str | None,
        typer.Option(
            "--alert",
            metavar="ALERT_ID",
            help="An alert's history from the audit topic: every notice, who heard it and why, its evidence",
        ),
    ] = None,
    from_file: Annotated[
        list[Path] | None,
        typer.Option(
            "--from-file",
            metavar="PATH",
            help="With --alert: recorded notices instead of the audit topic (`rules backtest --notices`, or "
            "audit records as JSON Lines); repeatable",
        ),
    ] = None,
    rules: Annotated[
        list[Path] | None,
        typer.Option(
            "--rules", metavar="PATH", help="Pack file or directory (repeatable; default: configured)"
        ),
    ] = None,
    routing: Annotated[
        Path | None, typer.Option("--routing", metavar="PATH", help="Routing file (default: configured)")
    ] = None,
    rule: Annotated[
        list[str] | None,
        typer.Option("--rule", metavar="ID", help="Explain only this rule (repeatable); all rules still run"),
    ] = None,
) -> None:
    """Why rules did or did not fire on an event (each condition with the values it read, the tier,
    the window, the lifecycle), or what became of an alert (--alert). Times in the city's zone."""
    files = paths or []
    _check_files([*files, *(from_file or [])])
    if alert is not None:
        if event_id is not None or since is not None or rule:
            raise _fail("--alert explains an alert; --event-id, --since and --rule explain an event", 2)
        _explain_alert(alert, from_file or [], files)
        return
    if from_file:
        raise _fail("--from-file gives the notices of --alert ALERT_ID", 2)
    if event_id is not None and bool(files) == (since is not None):
        raise _fail(
            "with --event-id, give the recorded event files, or --since DURATION to read the input topics", 2
        )
    if event_id is None and not files:
        raise _fail(
            "give an event (a JSON file), --event-id ID with the recordings it is in, or --alert ALERT_ID", 2
        )
    if event_id is None and since is not None and len(files) > 1:
        raise _fail("the history comes from the recordings or from --since, not both", 2)

    ruleset = load_or_exit(rules, routing)
    _explain_event(ruleset, files, event_id, since, rule)
