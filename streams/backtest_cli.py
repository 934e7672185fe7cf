"""`riskstream rules backtest`: what the packs would have raised over recorded events.

Input is JSON Lines, one event per line exactly as the input topics carry it (with its ``family``),
e.g. a file kept from an incident or written by ``riskstream simulate --record``; several files are
merged by event time. Or (``--since``) the input topics themselves, read from a time on without a
consumer group. Messages that are not events are reported with where they came from
(the worker would dead-letter them) and do not stop the run.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Annotated

import orjson
import typer
from aiokafka.errors import KafkaError
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from rules.alerts import to_cloudevent
from rules.backtest import Backtest, RuleTally, by_event_time
from rules.compiler import RuleSet
from rules.durations import parse_duration
from rules.errors import DurationError, RiskstreamError
from rules.events import EventBase
from rules.testing import Notice
from streams.kafka_io import Window, read_since
from streams.settings import get_settings
from streams.tail import TIER_STYLE, render

out = Console(highlight=False, emoji=False)
err = Console(stderr=True, highlight=False, emoji=False)

EventFiles = Annotated[
    list[Path] | None,
    typer.Argument(
        metavar="PATH...",
        help="JSON Lines files of recorded events, e.g. from `riskstream simulate --record PATH` ('-' reads "
        "standard input); several are merged by event time",
        show_default=False,
    ),
]
Since = Annotated[
    str | None,
    typer.Option(
        "--since",
        metavar="DURATION",
        help="Instead of files: the input topics on Kafka from this long ago (e.g. 24h) up to now",
    ),
]
RuleOpt = Annotated[
    list[str] | None,
    typer.Option("--rule", metavar="ID", help="Report only this rule id (repeatable); all rules still run"),
]
RunOn = Annotated[
    str,
    typer.Option(
        "--run-on",
        metavar="DURATION",
        help="Clock time after the newest event, for quiet-time resolution and escalation",
    ),
]
Show = Annotated[
    int,
    typer.Option("--show", min=0, metavar="N", help="Print the first N notices as duty officers see them"),
]
NoticesOut = Annotated[
    Path | None, typer.Option("--notices", metavar="PATH", help="Write every notice to this JSON Lines file")
]


def _lines(path: Path, stack: ExitStack) -> Iterator[tuple[int, bytes]]:
    stream: IO[bytes] = sys.stdin.buffer if str(path) == "-" else stack.enter_context(path.open("rb"))
    for number, line in enumerate(stream, start=1):
        line = line.strip()
        if line:
            yield number, line


def check_files(files: list[Path]) -> None:
    """Before the packs load: a mistyped path is the likelier mistake, and cheaper to report."""
    missing = [str(f) for f in files if str(f) != "-" and not f.is_file()]
    if missing:
        err.print(f"[red]error[/red] no such file: {', '.join(missing)}", soft_wrap=True)
        raise typer.Exit(2)


def run(
    ruleset: RuleSet,
    files: list[Path],
    since: str | None,
    rule: list[str] | None,
    run_on: str,
    show: int,
    notices_out: Path | None,
) -> None:
    """Backtest ``files``, or (``since`` given) the input topics from that long ago to now."""
    check_files(files)
    try:
        seconds = parse_duration(run_on)
        back = parse_duration(since) if since is not None else None
        test = Backtest(ruleset, only=frozenset(rule or ()))
    except (DurationError, ValueError) as exc:
        err.print(f"[red]error[/red] {exc}", soft_wrap=True)
        raise typer.Exit(2) from None
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[events]:,} events"))
    with Progress(*columns, TimeRemainingColumn(), console=err, transient=True) as progress:
        try:
            if back is None:
                feed_files(test, files, progress)
            else:
                asyncio.run(_feed_topics(test, datetime.now(UTC) - timedelta(seconds=back), progress))
        except (RiskstreamError, KafkaError) as exc:
            err.print(f"[red]error[/red] {exc or type(exc).__name__}", soft_wrap=True)
            raise typer.Exit(1) from None
        notices = test.finish(seconds)
    if notices_out is not None:
        with notices_out.open("wb") as fh:
            for n in notices:
                row = {"at": n.at, "decided": n.decided, "alert": n.alert.model_dump(mode="json")}
                fh.write(orjson.dumps(row) + b"\n")
    _report(test, notices, show, notices_out)


def feed_files(test: Backtest, files: list[Path], progress: Progress) -> None:
    """Every file's events, merged by event time across files (each file in its own order)."""
    total = sum(f.stat().st_size for f in files if str(f) != "-")
    name = files[0].name if len(files) == 1 else f"{len(files)} files"
    task = progress.add_task(f"backtest {name}", total=total or None, events=0)

    def events(path: Path, stack: ExitStack) -> Iterator[EventBase]:
        for number, raw in _lines(path, stack):
            progress.update(task, advance=len(raw) + 1, events=test.events)
            event = test.decode(raw, str(path), number)
            if event is not None:
                yield event

    with ExitStack() as stack:
        for event in by_event_time(events(path, stack) for path in files):
            test.feed_event(event)


async def _feed_topics(test: Backtest, since: datetime, progress: Progress) -> None:
    settings = get_settings()
    family_of = {t: f for f, t in settings.input_topics().items()}
    task = progress.add_task(f"backtest {settings.kafka_bootstrap}", total=None, events=0)
    async for item in read_since(settings, list(family_of), since):
        if isinstance(item, Window):
            progress.update(task, total=item.records)
            continue
        test.feed(item.value, f"{item.topic}[{item.partition}]", item.offset, family_of[item.topic])
        progress.update(task, advance=1, events=test.events)


def _report(test: Backtest, notices: list[Notice], show: int, notices_out: Path | None) -> None:
    span = ""
    if test.first is not None and test.last is not None:
        first, last = test.first.astimezone(UTC), test.last.astimezone(UTC)
        span = f" from {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC"
    rejected = f", [yellow]{test.rejected:,} rejected[/yellow]" if test.rejected else ""
    out.print(f"backtest: {test.events:,} events{rejected}{span}", soft_wrap=True)
    for r in test.rejects:
        err.print(f"[yellow]rejected[/yellow] {r.source}:{r.line}: {r.reason}", soft_wrap=True)
    if test.rejected > len(test.rejects):
        err.print(f"... and {test.rejected - len(test.rejects):,} more rejected lines", soft_wrap=True)
    tallies = test.tallies()
    if tallies:
        out.print(_table(tallies))
        out.print(_agency_table(tallies))
    else:
        out.print("no rule raised an alert")
    silent = test.silent_rules()
    if silent and test.only:
        out.print(f"[yellow]raised nothing:[/yellow] {', '.join(silent)}", soft_wrap=True)
    for rule_id, count in sorted(test.evaluation_errors().items()):
        err.print(
            f"[yellow]{rule_id}[/yellow]: {count:,} event(s) could not be evaluated (a field compared while "
            "missing?): guard it with `field != null && ...`",
            soft_wrap=True,
        )
    for n in notices[:show]:
        late = f" (late event, decided at +{n.decided:,.0f}s)" if n.late else ""
        out.print(f"[dim]+{n.at:,.0f}s{late}[/dim]", end=" ")
        out.print(render(to_cloudevent(n.alert), set()))
    if notices_out is not None:
        out.print(f"{len(notices):,} notices written to {notices_out}")


CHANGE_ORDER = ("opened", "tier_raised", "tier_lowered", "repeat", "escalated", "released", "resolved")


def _table(tallies: list[RuleTally]) -> Table:
    table = Table(title="what each rule would have raised", title_justify="left")
    table.add_column("rule", overflow="fold")
    table.add_column("top tier", no_wrap=True)
    for name in ("alerts", "notices", "withheld"):
        table.add_column(name, justify="right")
    table.add_column("notices by change", overflow="fold")
    for t in tallies:
        tier = t.top_tier
        changes = " · ".join(f"{c} {t.changes[c]}" for c in CHANGE_ORDER if t.changes[c])
        table.add_row(
            f"{t.rule_id} [dim](shadow)[/dim]" if t.shadow else t.rule_id,
            f"[{TIER_STYLE[tier]}] {tier.label} [/]" if tier else "",
            f"{len(t.alerts):,}",
            f"{t.notices:,}",
            f"{t.withheld:,}" if t.withheld else "",
            changes,
        )
    return table


def _agency_table(tallies: list[RuleTally]) -> Table:
    """Who would have been told how often: the load a rule change puts on each agency."""
    load: dict[str, tuple[int, set[str]]] = {}
    for t in tallies:
        for agency, n in t.agencies.items():
            count, rules = load.get(agency, (0, set()))
            load[agency] = (count + n, rules | {t.rule_id})
    table = Table(title="what each agency would have been sent", title_justify="left")
    table.add_column("agency")
    table.add_column("notices", justify="right")
    table.add_column("from rules", overflow="fold")
    for agency, (count, rules) in sorted(load.items(), key=lambda kv: (-kv[1][0], kv[0])):
        table.add_row(agency, f"{count:,}", ", ".join(sorted(rules)))
    return table
