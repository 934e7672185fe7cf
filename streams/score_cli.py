"""`riskstream score`: how accurate the packs are against the simulator's ground truth.

The alerts come from one of: a backtest of recorded events (``--events``, the same code path as
`riskstream rules backtest`), a notices file (``--notices``: `rules backtest --notices`, or the audit
topic's CloudEvents as JSON lines), the audit topic itself (``--audit``: what a running worker
raised), or a simulated city day built and backtested in this process (``--city-day``). The
matching and the figures are rules.score's; this module reads, runs and prints.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Annotated, NoReturn

import orjson
import typer
from aiokafka.errors import KafkaError
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from connectors.city_day import DAY_START, DayPlan, city_day
from connectors.scenarios import SCENARIOS_FILE, GroundTruth, load_scenarios, read_ground_truth
from rules.alerts import Alert
from rules.backtest import Backtest
from rules.compiler import RuleSet
from rules.durations import parse_duration
from rules.errors import DurationError, RiskstreamError, RuleError, RuleSetError
from rules.model import Tier
from rules.score import BACKGROUND, Figures, Outcome, Score, score
from streams import backtest_cli
from streams.kafka_io import Window, read_since
from streams.rule_loading import load_or_exit
from streams.settings import get_settings
from streams.tail import TIER_STYLE

out = Console(highlight=False, emoji=False)
err = Console(stderr=True, highlight=False, emoji=False)

TARGET_RECALL = 1.0
TARGET_PRECISION = 0.95
"""The shipped packs' targets on a simulated city day (issue 12): figures below them print red."""
LISTED = 50
"""False positives and missed alerts listed in the tables at most (``--json`` has them all)."""
TIMES_CAPTION = ("median, p95, max: time to alert, from the event that should open an expected alert to "
                 "its first notice (a backtest decides on event time, so it shows the rules' own delay)")
AUDIT_SLACK = timedelta(minutes=5)
"""Read the audit topic from this long before the first injection (a worker's clock may lag)."""


def score_cmd(
    truth: Annotated[
        Path | None,
        typer.Argument(metavar="TRUTH", help="Ground truth of `riskstream simulate` (not with --city-day)",
                       show_default=False),
    ] = None,
    events: Annotated[
        list[Path] | None,
        typer.Option("--events", metavar="PATH", help="Backtest these recorded events (e.g. `simulate "
                     "--record PATH`) and score what the packs raise (repeatable)"),
    ] = None,
    notices: Annotated[
        Path | None,
        typer.Option("--notices", metavar="PATH", help="Score these notices: `rules backtest --notices` "
                     "output, or the audit topic's CloudEvents, one JSON per line"),
    ] = None,
    audit: Annotated[
        bool, typer.Option("--audit", help="Score what the worker raised: the audit topic on Kafka, from "
                           "the first injection (or --since) to now")
    ] = False,
    since: Annotated[
        str | None, typer.Option("--since", metavar="DURATION", help="With --audit: read from this long ago")
    ] = None,
    day: Annotated[
        bool, typer.Option("--city-day", help="Simulate a city day in this process (every scenario in "
                           "turn over seeded background traffic), backtest it and score it")
    ] = False,
    seed: Annotated[int, typer.Option(metavar="N", help="--city-day: seeds the city and its traffic")] = 7,
    rate: Annotated[
        float, typer.Option(min=0, metavar="N", help="--city-day: background events/s besides heartbeats")
    ] = DayPlan.rate,
    hours: Annotated[float, typer.Option(min=0.1, metavar="H", help="--city-day: the day's length")] = 24.0,
    every: Annotated[
        float, typer.Option(min=1, metavar="SECONDS", help="--city-day: seconds between injections")
    ] = DayPlan.every,
    heartbeat: Annotated[
        float, typer.Option(min=1, metavar="SECONDS", help="--city-day: each sensor's reporting period")
    ] = DayPlan.heartbeat,
    keep: Annotated[
        Path | None, typer.Option(metavar="DIR", help="--city-day: also write DIR/events.jsonl (for `rules "
                                  "backtest`) and DIR/ground-truth.jsonl")
    ] = None,
    scenarios_file: Annotated[
        Path, typer.Option(metavar="PATH", help="--city-day: scenario definitions")
    ] = SCENARIOS_FILE,
    rules: Annotated[
        list[Path] | None,
        typer.Option("--rules", metavar="PATH",
                     help="Pack file or directory (repeatable; default: configured)"),
    ] = None,
    routing: Annotated[
        Path | None, typer.Option("--routing", metavar="PATH", help="Routing file (default: configured)")
    ] = None,
    run_on: Annotated[
        str, typer.Option("--run-on", metavar="DURATION", help="--events, --city-day: clock time after the "
                          "newest event")
    ] = "1h",
    incidents: Annotated[
        bool, typer.Option("--incidents", help="List every expected alert of every injection, not only "
                           "those missed or short of their tier")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole score as JSON instead")] = False,
    min_recall: Annotated[
        float | None, typer.Option(min=0, max=1, metavar="R", help="Exit 1 if overall recall is below R")
    ] = None,
    min_precision: Annotated[
        float | None, typer.Option(min=0, max=1, metavar="P", help="Exit 1 if overall precision is below P")
    ] = None,
) -> None:
    """Recall, precision and time to alert against the simulator's ground truth.

    Each injection's expected alert (rule and group) is raised if an alert of that rule and group
    opened after the injection started, at any tier (a lower tier is reported as tier short); every
    alert that no expected alert explains is a false positive, background traffic included
    (docs/rules.md, Scoring accuracy).

    Examples: `riskstream score --city-day` (the README's figures);
    `riskstream score .riskstream/ground-truth.jsonl --audit` (what the running worker raised);
    `riskstream score truth.jsonl --events events.jsonl` (a recording, backtested).
    """
    sources = [bool(events), notices is not None, audit, day]
    if sum(sources) != 1:
        _fail("give one source of alerts: --events PATH, --notices PATH, --audit or --city-day", 2)
    if day == (truth is not None):
        _fail("give the ground-truth file TRUTH, or --city-day (which makes its own), not both", 2)
    for path in [*([truth] if truth else []), *(events or []), *([notices] if notices else [])]:
        if not path.is_file():
            _fail(f"no such file: {path}", 2)
    try:
        seconds = parse_duration(run_on)
        back = parse_duration(since) if since is not None else None
    except DurationError as exc:
        _fail(str(exc), 2)
    ruleset = load_or_exit(rules, routing)
    if day:
        plan = DayPlan(seed=seed, start=DAY_START, hours=hours, rate=rate, every=every, heartbeat=heartbeat)
        truths, alerts, source = _city_day(ruleset, plan, scenarios_file, keep, seconds)
    else:
        assert truth is not None
        truths = _read_truth(truth)
        if events:
            alerts, source = _backtest(ruleset, events, seconds), f"backtest of {_names(events)}"
        elif notices is not None:
            alerts, source = list(_read_notices(notices)), str(notices)
        else:
            alerts, source = _read_audit(truths, back), "the audit topic"
    result = score(truths, alerts, {r.spec.id: r.spec.risk for r in ruleset.rules})
    if as_json:
        out.print_json(orjson.dumps(result.as_dict()).decode())
    else:
        _report(result, source, incidents)
    overall = result.overall
    if min_recall is not None and (overall.recall or 0.0) < min_recall:
        _fail(f"recall {_pct(overall.recall)} is below {min_recall:.0%}", 1)
    if min_precision is not None and (overall.precision or 0.0) < min_precision:
        _fail(f"precision {_pct(overall.precision)} is below {min_precision:.0%}", 1)


def _fail(message: str, code: int) -> NoReturn:
    err.print(f"[red]error[/red] {message}", soft_wrap=True)
    raise typer.Exit(code)


def _names(paths: list[Path]) -> str:
    return paths[0].name if len(paths) == 1 else f"{len(paths)} files"


# -------------------------------------------------------------------------------------- sources


def _read_truth(path: Path) -> list[GroundTruth]:
    try:
        truths = read_ground_truth(path)
    except ValidationError as exc:
        _fail(f"{path} is not a ground-truth file of `riskstream simulate`: {exc.errors()[0]['msg']}", 2)
    if not truths:
        _fail(f"{path} holds no injection: run `riskstream simulate` with scenarios first", 2)
    return truths


def _city_day(
    ruleset: RuleSet, plan: DayPlan, scenarios_file: Path, keep: Path | None, run_on: float
) -> tuple[list[GroundTruth], list[Alert], str]:
    try:
        scenarios = load_scenarios(scenarios_file)
    except (RuleError, RuleSetError) as exc:
        for e in exc.errors if isinstance(exc, RuleSetError) else [exc]:
            err.print(f"[red]error[/red] {e}", soft_wrap=True)
        raise typer.Exit(1) from None
    with err.status(f"simulating a {plan.hours:g} h city day (seed {plan.seed})"):
        city = city_day(scenarios, plan)
    if keep is not None:
        city.write(keep / "events.jsonl", keep / "ground-truth.jsonl")
        err.print(f"[dim]wrote {keep / 'events.jsonl'} and {keep / 'ground-truth.jsonl'}[/dim]")
    test = Backtest(ruleset)
    with _progress() as progress:
        task = progress.add_task("backtest the day", total=len(city.events), events=0)
        for number, line in enumerate(city.lines(), start=1):
            test.feed(line, "city-day", number)
            if number % 5000 == 0:
                progress.update(task, completed=number, events=number)
        notices = test.finish(run_on)
    source = (f"a simulated city day: seed {plan.seed}, {plan.hours:g} h, {len(city.events):,} events "
              f"({plan.rate:g}/s background, heartbeats every {plan.heartbeat:g} s), an injection every "
              f"{plan.every:g} s")
    return city.truths, [n.alert for n in notices], source


def _progress() -> Progress:
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[events]:,} events"))
    return Progress(*columns, TimeRemainingColumn(), console=err, transient=True)


def _backtest(ruleset: RuleSet, files: list[Path], run_on: float) -> list[Alert]:
    test = Backtest(ruleset)
    with _progress() as progress:
        backtest_cli.feed_files(test, files, progress)
    if test.rejected:
        err.print(f"[yellow]{test.rejected:,} recorded line(s) are not events[/yellow] "
                  "(`riskstream rules backtest` lists them)")
    return [n.alert for n in test.finish(run_on)]


def _read_notices(path: Path) -> Iterator[Alert]:
    """Each line's alert: a backtest notice ({at, alert}), a CloudEvent ({data}) or an alert."""
    with path.open("rb") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = orjson.loads(line)
                body = row.get("alert") or row.get("data") or row
                yield Alert.model_validate(body)
            except (orjson.JSONDecodeError, ValidationError, AttributeError) as exc:
                why = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
                _fail(f"{path}:{number}: not an alert notice ({why}); give `rules backtest --notices` "
                      "output or the audit topic's CloudEvents", 2)


def _read_audit(truths: list[GroundTruth], back: float | None) -> list[Alert]:
    settings = get_settings()
    topic = settings.topic(settings.topic_audit)
    if back is not None:
        start = datetime.now(UTC) - timedelta(seconds=back)
    else:
        start = min(t.injected_at for t in truths) - AUDIT_SLACK
    alerts: list[Alert] = []

    async def read() -> None:
        with _progress() as progress:
            task = progress.add_task(f"read {topic}", total=None, events=0)
            async for item in read_since(settings, [topic], start):
                if isinstance(item, Window):
                    progress.update(task, total=item.records)
                    continue
                progress.update(task, advance=1, events=len(alerts))
                try:
                    alerts.append(Alert.model_validate(orjson.loads(item.value or b"{}")["data"]))
                except (orjson.JSONDecodeError, KeyError, TypeError, ValidationError):
                    err.print(f"[yellow]skipped[/yellow] {item.topic}[{item.partition}]@{item.offset}: "
                              "not an alert notice")

    try:
        asyncio.run(read())
    except (RiskstreamError, KafkaError) as exc:
        _fail(str(exc) or type(exc).__name__, 1)
    return alerts


# --------------------------------------------------------------------------------------- report


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _secs(value: float | None) -> str:
    """Seconds as people read them: 0.4 s, 42 s, 3 min 05 s, 2 h 10 min."""
    if value is None:
        return "–"
    sign, v = ("-" if value < 0 else ""), abs(value)
    if v == 0:
        return "0 s"
    if v < 10:
        return f"{sign}{v:.1f} s"
    if v < 60:
        return f"{sign}{v:.0f} s"
    if v < 3600:
        return f"{sign}{int(v // 60)} min {int(v % 60):02d} s"
    return f"{sign}{int(v // 3600)} h {int(v % 3600 // 60):02d} min"


def _tier(tier: Tier | None) -> str:
    return f"[{TIER_STYLE[tier]}] {tier.label} [/]" if tier is not None else "–"


def _coloured(value: float | None, target: float) -> str:
    if value is None:
        return "[dim]–[/dim]"
    ok = value >= target or math.isclose(value, target)
    return f"[{'green' if ok else 'red'}]{_pct(value)}[/]"


def _figure_cells(f: Figures) -> list[str]:
    return [
        f"{f.expected:,}", f"{f.raised:,}", _coloured(f.recall, TARGET_RECALL),
        f"[yellow]{f.tier_short:,}[/yellow]" if f.tier_short else "0",
        f"{f.alerts:,}", f"[red]{f.false:,}[/red]" if f.false else "0",
        _coloured(f.precision, TARGET_PRECISION),
        _secs(f.median), _secs(f.p95), _secs(f.max),
    ]


def _figures_table(title: str, first: str, rows: list[tuple[str, Figures]], overall: Figures) -> Table:
    table = Table(title=title, title_justify="left", caption=TIMES_CAPTION, caption_justify="left")
    table.add_column(first, no_wrap=True)
    for name in ("expected", "raised", "recall", "tier short", "alerts", "false+", "precision",
                 "median", "p95", "max"):
        table.add_column(name, justify="right")
    for i, (name, f) in enumerate(rows):
        table.add_row(name, *_figure_cells(f), end_section=i == len(rows) - 1)
    table.add_row("[bold]overall[/bold]", *_figure_cells(overall))
    return table


def _report(result: Score, source: str, every_incident: bool) -> None:
    zone = get_settings().city_tz
    overall = result.overall
    partial = f", {result.partial} stopped part way and not scored" if result.partial else ""
    scenarios = len({o.scenario for o in result.outcomes})
    out.print(f"score: {result.injections:,} injections of {scenarios} scenarios{partial}, "
              f"{overall.expected:,} expected alerts, {overall.alerts:,} alerts; from {source}",
              soft_wrap=True)
    by_scenario = [(name if name != BACKGROUND else "[dim](background traffic)[/dim]", f)
                   for name, f in result.by_scenario.items()]
    out.print(_figures_table("by scenario", "scenario", by_scenario, overall))
    by_risk = [(risk.value, f) for risk, f in result.by_risk.items()]
    out.print(_figures_table("by risk (of the rule)", "risk", by_risk, overall))
    listed = [o for o in result.outcomes if o.scored and (every_incident or not o.raised or o.tier_short)]
    if listed:
        title = "every expected alert" if every_incident else "expected alerts missed or short of their tier"
        out.print(_outcome_table(title, listed if every_incident else listed[:LISTED], zone))
    if result.false_alerts:
        out.print(_false_table(result, zone))
    good = "[green]✓[/green]" if overall.recall == 1.0 else "[red]✗[/red]"
    out.print(f"{good} recall {_pct(overall.recall)} ({overall.raised:,} of {overall.expected:,}), "
              f"precision {_pct(overall.precision)} ({overall.alerts - overall.false:,} of "
              f"{overall.alerts:,} alerts explained), time to alert median {_secs(overall.median)}, "
              f"p95 {_secs(overall.p95)}, max {_secs(overall.max)}", soft_wrap=True)


def _when(t: datetime, zone: tzinfo) -> str:
    return t.astimezone(zone).strftime("%m-%d %H:%M:%S %Z")


def _outcome_table(title: str, outcomes: list[Outcome], zone: tzinfo) -> Table:
    table = Table(title=title, title_justify="left")
    for name in ("injected", "scenario", "rule", "group", "expected", "reached"):
        table.add_column(name, overflow="fold")
    for name in ("time to alert", "to tier"):
        table.add_column(name, justify="right")
    table.add_column("result")
    for o in outcomes:
        result = ("[red]✗ missed[/red]" if not o.raised
                  else "[yellow]▼ tier short[/yellow]" if o.tier_short else "[green]✓[/green]")
        group = ", ".join(f"{k}={v}" for k, v in o.group) if o.group is not None else "(any)"
        table.add_row(_when(o.started, zone), f"{o.scenario} [dim]{o.run_id}[/dim]", o.rule, group,
                      _tier(o.tier), _tier(o.reached), _secs(o.time_to_alert), _secs(o.time_to_tier), result)
    return table


def _false_table(result: Score, zone: tzinfo) -> Table:
    false = result.false_alerts
    more = f" (first {LISTED} of {len(false):,}; --json lists all)" if len(false) > LISTED else ""
    table = Table(title=f"false positives: alerts no injection expects{more}", title_justify="left")
    for name in ("first notice", "rule", "group", "tier", "raised by"):
        table.add_column(name, overflow="fold")
    for f in false[:LISTED]:
        a = f.alert
        cause = f"{f.scenario} [dim]{f.run_id}[/dim]" if f.scenario else "background traffic"
        withheld = " [dim](withheld)[/dim]" if a.withheld else ""
        table.add_row(_when(a.raised, zone), a.rule, ", ".join(f"{k}={v}" for k, v in a.group),
                      _tier(a.top) + withheld, cause)
    return table

