"""`riskstream rules shadow-report`: what promoting a shadow rule would change for duty desks.

The notices of a shadow rule and of the live rule it would replace come from one of three places:
a backtest of recorded events (both rules run through the worker's own stages, offline), a
recorded file of notices (the audit topic's CloudEvents, or `rules backtest --notices`), or the
audit topic itself over a time range. ``rules.shadow`` pairs their alerts the same way for all three.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Annotated

import orjson
import typer
from aiokafka.errors import KafkaError
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from rules.alerts import Alert
from rules.backtest import Backtest
from rules.compiler import RuleSet
from rules.durations import format_duration, parse_duration
from rules.errors import DurationError, RiskstreamError
from rules.model import TIERS_HIGH_FIRST
from rules.shadow import (
    DEFAULT_SLACK,
    AlertSpan,
    Comparison,
    Pairing,
    Spread,
    compare_all,
    pairings,
    pairings_in,
)
from streams import backtest_cli
from streams.kafka_io import Window, read_since
from streams.rule_loading import load_or_exit
from streams.settings import get_settings
from streams.tail import TIER_STYLE

out = Console(highlight=False, emoji=False)
err = Console(stderr=True, highlight=False, emoji=False)
MAX_UNREADABLE_SHOWN = 5
DEFAULT_MATCH_WITHIN = format_duration(DEFAULT_SLACK)

AuditFiles = Annotated[
    list[Path] | None,
    typer.Option(
        "--audit",
        metavar="PATH",
        help="Instead of events: recorded notices, as the audit topic carries them (CloudEvents, one a line) "
        "or as `rules backtest --notices` writes them (repeatable)",
    ),
]
Since = Annotated[
    str | None,
    typer.Option(
        "--since",
        metavar="DURATION",
        help="Instead of events: the audit topic on Kafka from this long ago (e.g. 7d)",
    ),
]
Until = Annotated[
    str | None,
    typer.Option("--until", metavar="DURATION", help="With --since: up to this long ago (default: now)"),
]
ShadowOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--rule", metavar="ID", help="Report on this shadow rule only (repeatable; default: every one)"
    ),
]
MatchWithin = Annotated[
    str,
    typer.Option(
        "--match-within",
        metavar="DURATION",
        help="Alerts of one group this far apart (event time) still count as the same occurrence",
    ),
]
ShowOpt = Annotated[
    int, typer.Option("--show", min=0, metavar="N", help="List up to N added and N dropped alerts per rule")
]
RulesOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--rules",
        metavar="PATH",
        help="Pack file or directory (repeatable; default: the configured path). With --audit or --since "
        "only needed for a shadow rule that raised nothing",
    ),
]
RoutingOpt = Annotated[
    Path | None, typer.Option("--routing", metavar="PATH", help="Routing file (default: configured)")
]


def shadow_report(
    events: backtest_cli.EventFiles = None,
    audit: AuditFiles = None,
    since: Since = None,
    until: Until = None,
    rules: RulesOpt = None,
    routing: RoutingOpt = None,
    rule: ShadowOpt = None,
    run_on: backtest_cli.RunOn = "1h",
    match_within: MatchWithin = DEFAULT_MATCH_WITHIN,
    show: ShowOpt = 10,
) -> None:
    """Compare each shadow rule with the live rule it replaces over the same traffic: the alerts it
    adds and drops, how much earlier or later it fires, and at which tiers.

    Give recorded events (both rules replayed through the worker's stages), --audit files of
    recorded notices, or --since to read the audit topic.
    """
    if sum((bool(events), bool(audit), since is not None)) != 1:
        err.print("[red]error[/red] give one of: event files, --audit files of notices, --since DURATION")
        raise typer.Exit(2)
    if until is not None and since is None:
        err.print("[red]error[/red] --until goes with --since")
        raise typer.Exit(2)
    backtest_cli.check_files([*(events or []), *(audit or [])])
    try:
        slack = parse_duration(match_within)
        run_for = parse_duration(run_on)
        back = None if since is None else parse_duration(since)
        up_to = 0.0 if until is None else parse_duration(until)
    except DurationError as exc:
        err.print(f"[red]error[/red] {exc}", soft_wrap=True)
        raise typer.Exit(2) from None
    ruleset = _rules(rules, routing) if events or rules else None
    try:
        if events:
            assert ruleset is not None
            chosen = _chosen(pairings(ruleset.rules), rule, "the packs")
            notices = _backtest(ruleset, events, chosen, run_for)
        else:
            reader = Notices()
            if audit:
                reader.read_files(audit)
                names = ", ".join(str(f) for f in audit)
                out.print(f"shadow report: {len(reader.alerts):,} notices from {names}", soft_wrap=True)
            else:
                assert back is not None
                now = datetime.now(UTC)
                asyncio.run(reader.read_topic(now - timedelta(seconds=back), now - timedelta(seconds=up_to)))
            reader.report_unreadable()
            notices = reader.alerts
            found = pairings_in(notices)
            if ruleset is not None:
                found = _merged(pairings(ruleset.rules), found)
            chosen = _chosen(found, rule, "these notices")
    except (RiskstreamError, KafkaError) as exc:
        err.print(f"[red]error[/red] {exc or type(exc).__name__}", soft_wrap=True)
        raise typer.Exit(1) from None
    zone = get_settings().city_tz
    for comparison in compare_all(chosen, notices, slack):
        print_comparison(comparison, zone, show)


def _rules(paths: list[Path] | None, routing: Path | None) -> RuleSet:

    return load_or_exit(paths, routing)


def _chosen(found: list[Pairing], wanted: list[str] | None, where: str) -> list[Pairing]:
    """The pairings asked for (all when none are named); exit 1 saying what exists otherwise."""
    if not found:
        err.print(
            f"[red]error[/red] no shadow rule in {where}: mark a rule (or a pack) `mode: shadow`, with "
            "`replaces: LIVE-RULE-ID` naming the rule it would replace",
            soft_wrap=True,
        )
        raise typer.Exit(1)
    if not wanted:
        return found
    by_id = {p.shadow: p for p in found}
    unknown = [w for w in wanted if w not in by_id]
    if unknown:
        err.print(
            f"[red]error[/red] {', '.join(unknown)}: not a shadow rule in {where} "
            f"(shadow rules: {', '.join(by_id)})",
            soft_wrap=True,
        )
        raise typer.Exit(1)
    return [by_id[w] for w in dict.fromkeys(wanted)]


def _merged(from_rules: list[Pairing], from_notices: list[Pairing]) -> list[Pairing]:
    """The packs' pairings, and those notices name for shadow rules the packs no longer hold."""
    known = {p.shadow for p in from_rules}
    return [*from_rules, *(p for p in from_notices if p.shadow not in known)]


def _backtest(ruleset: RuleSet, files: list[Path], chosen: list[Pairing], run_for: float) -> list[Alert]:
    """Every notice of the chosen rules when the recorded events replay through all the packs."""
    about = {r for p in chosen for r in (p.shadow, p.live) if r is not None}
    test = Backtest(ruleset, only=frozenset(about & {r.id for r in ruleset.rules}))
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[events]:,} events"))
    with Progress(*columns, TimeRemainingColumn(), console=err, transient=True) as progress:
        backtest_cli.feed_files(test, files, progress)
        notices = test.finish(run_for)
    for r in test.rejects:
        err.print(f"[yellow]rejected[/yellow] {r.source}:{r.line}: {r.reason}", soft_wrap=True)
    span = ""
    if test.first is not None and test.last is not None:
        first, last = test.first.astimezone(UTC), test.last.astimezone(UTC)
        span = f" from {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC"
    out.print(f"shadow report: backtest of {test.events:,} events{span}", soft_wrap=True)
    return [n.alert for n in notices]


# -- notices from a file or the audit topic ---------------------------------------------------------


def notice_of(raw: bytes) -> Alert:
    """The alert a recorded notice holds: a CloudEvent (audit topic), a `backtest --notices` row
    ({at, decided, alert}) or a bare alert. Raises ValueError saying what it is not."""
    data = orjson.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    if "specversion" in data:
        data = data.get("data")
    elif "alert" in data:
        data = data["alert"]
    return Alert.model_validate(data)


@dataclass
class Notices:
    """Notices read from recordings or the audit topic; lines that are not notices are counted."""

    alerts: list[Alert] = field(default_factory=list)
    unreadable: int = 0
    shown: list[str] = field(default_factory=list)

    def add(self, raw: bytes | None, where: str) -> None:
        try:
            self.alerts.append(notice_of(raw or b"null"))
        except (ValueError, ValidationError) as exc:
            self.unreadable += 1
            if len(self.shown) < MAX_UNREADABLE_SHOWN:
                why = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
                self.shown.append(f"{where}: {why}")

    def read_files(self, files: Iterable[Path]) -> None:
        for path in files:
            for number, raw in _lines(path):
                self.add(raw, f"{path}:{number}")

    async def read_topic(self, since: datetime, until: datetime) -> None:
        settings = get_settings()
        topic = settings.topic(settings.topic_audit)
        cutoff = until.timestamp() * 1000
        async for item in read_since(settings, [topic], since):
            if isinstance(item, Window):
                what = f"{item.records:,} notices on {topic} since {since:%Y-%m-%d %H:%M} UTC"
                out.print(f"shadow report: {what}", soft_wrap=True)
            elif item.timestamp <= cutoff:
                self.add(item.value, f"{item.topic}[{item.partition}]@{item.offset}")

    def report_unreadable(self) -> None:
        for line in self.shown:
            err.print(f"[yellow]not a notice[/yellow] {line}", soft_wrap=True)
        if self.unreadable > len(self.shown):
            err.print(f"... and {self.unreadable - len(self.shown):,} more that are not notices")


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with path.open("rb") as fh:
        for number, line in enumerate(fh, start=1):
            if line.strip():
                yield number, line.strip()


# -- the report -------------------------------------------------------------------------------------------


def print_comparison(c: Comparison, zone: tzinfo, show: int) -> None:
    p = c.pairing
    if p.live is None:
        out.print(f"\n[bold]{p.shadow}[/bold] (shadow, a new rule: it replaces none)", soft_wrap=True)
    else:
        out.print(
            f"\n[bold]{p.shadow}[/bold] (shadow) in place of [bold]{p.live}[/bold] (live)", soft_wrap=True
        )
    if not c.shadow_alerts and not c.live_alerts:
        out.print("  neither raised an alert")
        return
    out.print(_counts(c))
    if p.live is not None:
        out.print(
            f"  paired {len(c.pairs):,} · [green]added {len(c.added):,}[/green] · "
            f"[red]dropped {len(c.dropped):,}[/red]",
            soft_wrap=True,
        )
        if c.pairs:
            out.print(f"  fires {_timing(c)}", soft_wrap=True)
            moves = c.tier_moves
            out.print(
                f"  top tier: {moves['higher']:,} higher · {moves['lower']:,} lower · "
                f"{moves['same']:,} the same",
                soft_wrap=True,
            )
    _list("added: the shadow rule raises them, the live one does not", c.added, zone, show)
    if p.live is not None:
        _list("dropped: the live rule raises them, the shadow one does not", c.dropped, zone, show)


def _counts(c: Comparison) -> Table:
    table = Table(box=None, padding=(0, 2), show_header=True)
    table.add_column("")
    has_live = c.pairing.live is not None
    if has_live:
        table.add_column("live", justify="right")
    table.add_column("shadow", justify="right")

    def row(name: str, live: str, shadow: str) -> None:
        table.add_row(name, *((live,) if has_live else ()), shadow)

    row("alerts", f"{len(c.live_alerts):,}", f"{len(c.shadow_alerts):,}")
    row("notices to agencies", f"{c.notices(c.live_alerts):,}", f"{c.notices(c.shadow_alerts):,} (would be)")
    live_tiers, shadow_tiers = c.top_tiers(c.live_alerts), c.top_tiers(c.shadow_alerts)
    for tier in TIERS_HIGH_FIRST:
        if live_tiers[tier] or shadow_tiers[tier]:
            name = f"top tier [{TIER_STYLE[tier]}] {tier.label} [/]"
            row(name, f"{live_tiers[tier]:,}", f"{shadow_tiers[tier]:,}")
    return table


def _timing(c: Comparison) -> str:
    def spread(word: str, s: Spread | None) -> str:
        if s is None:
            return f"{word} in none"
        return f"{word} in {s.count:,} (median {seconds(s.median)}, at most {seconds(s.largest)})"

    same = f"at the same time in {c.same_time:,}"
    return f"{spread('earlier', c.earlier)} · {spread('later', c.later)} · {same}"


def seconds(value: float) -> str:
    """A duration as people say it: 45s, 2m 30s, 1h 5m."""
    total = round(value)
    if total < 60:
        return f"{value:.3g}s" if value < 10 and value != total else f"{total}s"
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else ""]
    if secs and not hours:
        parts.append(f"{secs}s")
    return " ".join(p for p in parts if p)


def _list(title: str, alerts: list[AlertSpan], zone: tzinfo, show: int) -> None:
    if not alerts or show == 0:
        return
    out.print(f"  {title}:")
    for a in alerts[:show]:
        when = a.fired.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")
        tier = f"[{TIER_STYLE[a.top_tier]}] {a.top_tier.label} [/]"
        out.print(f"    {when} {tier} {a.group_key}  [dim]alert {a.alert_id}[/dim]", soft_wrap=True)
    if len(alerts) > show:
        out.print(f"    ... and {len(alerts) - show:,} more (--show N lists more)")
