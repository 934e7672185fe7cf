"""`riskstream-bench`: the command line and the rich display around the bench package.

Options default to None so that ``--quick`` can shrink whatever the user did not set explicitly.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from bench.broker import broker, given_bootstrap
from bench.packs import max_generated_rules
from bench.params import BenchParams
from bench.report import write_json
from bench.runner import run_bench
from streams.cli_help import use_conventional_help

console = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 120)
"""Wide enough for the table when the output goes to a file or CI log."""

FULL = BenchParams()
QUICK = BenchParams(events=20_000, duration=10.0, settle=5.0, stateful_events=20_000, stateful_groups=20_000)
DEFAULT_OUTPUT = Path("bench-results/latest.json")


class RichDisplay:
    """One line per phase that stays on screen, so the log of a run reads as its timeline."""

    def __init__(self, progress: Progress):
        self.progress = progress

    def phase(self, description: str, total: float | None) -> int:
        return int(self.progress.add_task(description, total=total, info=""))

    def update(self, task: int, completed: float, info: str = "") -> None:
        self.progress.update(TaskID(task), completed=completed, info=info)

    def done(self, task: int, info: str = "") -> None:
        t = TaskID(task)
        total = self.progress.tasks[self.progress.task_ids.index(t)].total
        self.progress.update(t, total=total or 1, completed=total or 1, info=info)
        self.progress.stop_task(t)

    def log(self, message: str) -> None:
        self.progress.console.print(message)


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(finished_text="[green]✓"),
        TextColumn("{task.description}"),
        BarColumn(bar_width=24),
        MofNCompleteColumn(),
        TextColumn("[cyan]{task.fields[info]}"),
        TimeElapsedColumn(),
        console=console,
    )


def _parse_counts(text: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise typer.BadParameter(f"expected comma-separated integers, got {text!r}") from None
    limit = max_generated_rules()
    if any(not 0 < c <= limit for c in counts):
        raise typer.BadParameter(f"each generated rule count must be 1..{limit}")
    return counts


def _fmt(value: float | None, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def _vs(row: dict[str, Any]) -> str:
    if row["slug"] == "passthrough":
        return "ceiling"
    vs = row["vs_passthrough"]
    if "throughput_ratio" not in vs:
        return "-"
    text = f"{vs['throughput_ratio']:.2f}× thr"
    if "p99_ms_delta" in vs:
        text += f", p99 {vs['p99_ms_delta']:+.0f} ms"
    return text


def render(report: dict[str, Any]) -> Table:
    p = report["parameters"]
    table = Table(
        title=f"riskstream bench ({report['machine']['cpus_usable']} CPUs, Kafka "
        f"{report['machine']['kafka_version']}, {p['partitions']} partitions)",
        caption=f"events/s: drain of {p['events']:,} preloaded events"
        + _stateful_caption(report)
        + ". Latency: event sent to alert seen, at "
        + (f"{p['rate']:g} ev/s" if p["rate"] else "half of each scenario's drain rate")
        + f" for {p['duration']:g} s "
        f"({p['probe_fraction']:.0%} probe events in pipelines). Rules include the 1 probe rule. "
        "groups: window groups held after the drain. peak MB: the measured process's VmHWM. "
        "* = offered rate near saturation.",
    )
    columns = ("scenario", "rules", "events/s", "p50 ms", "p95 ms", "p99 ms", "groups", "peak MB")
    for name in (*columns, "vs passthrough"):
        table.add_column(name, justify="left" if name == "scenario" else "right", no_wrap=True)
    for row in report["scenarios"]:
        table.add_row(*_cells(row))
    return table


def _stateful_caption(report: dict[str, Any]) -> str:
    """Stateful rows drain other backlogs: say which, so the events/s column is not misread."""
    p = report["parameters"]
    kinds = {row["slug"] for row in report["scenarios"]}
    parts = []
    if any(k.startswith("stateful") for k in kinds):
        parts.append(
            f"stateful: {p['stateful_events']:,} events over {p['stateful_groups']:,} grid cells after "
            "an untimed warm-up of one event per cell, RocksDB store"
        )
    if p.get("groups"):
        parts.append(f"memory: {p['groups']:,} events, one group each, RocksDB store")
    return f" ({'; '.join(parts)})" if parts else ""


def _cells(row: dict[str, Any]) -> list[str]:
    if row["error"] and not row["throughput"]:
        return [row["name"], str(row["rules"] or "-"), f"[red]{row['error'][:60]}", "", "", "", "", "", ""]
    thr, lat = row["throughput"] or {}, row["latency"] or {}
    flag = " [yellow]*" if row["saturated"] else ""
    return [
        row["name"] + flag,
        str(row["rules"]) if row["slug"] != "passthrough" else "-",
        _fmt(thr.get("events_per_s"), ",.0f"),
        _fmt(lat.get("p50_ms")),
        _fmt(lat.get("p95_ms")),
        _fmt(lat.get("p99_ms")),
        _fmt(thr.get("window_groups"), ",.0f"),
        _fmt(row.get("peak_rss_mb"), ",.0f"),
        _vs(row),
    ]


def _notes(report: dict[str, Any]) -> None:
    """What the table cannot show: errors, lost alerts, and match rates vs what was intended."""
    for row in report["scenarios"]:
        thr, lat = row["throughput"] or {}, row["latency"] or {}
        if row["error"]:
            console.print(f"[red]{row['name']}: {row['error']}")
            if row["worker_log"]:
                console.print(row["worker_log"], markup=False)
        if lat:
            console.print(
                f"{row['name']}: latency offered at {lat['rate']:,.0f} events/s "
                f"(achieved {lat['achieved_rate']:,.0f})"
            )
        if lat and lat["received"] < lat["tracked"]:
            console.print(
                f"[yellow]{row['name']}: {lat['tracked'] - lat['received']} of "
                f"{lat['tracked']} measured events produced no output within the settle time"
            )
        if thr.get("process_cpu_util") is not None:
            console.print(
                f"{row['name']}: during the drain the measured process used "
                f"{thr['process_cpu_util']:.0%} of one core; the machine was "
                f"{thr.get('machine_busy') or 0:.0%} busy (all cores, everything)"
            )
        if thr.get("match_fraction") is not None:
            expected = row["expected_match_fraction"]
            hint = f" (generator intended {expected:.2%})" if expected is not None else ""
            console.print(
                f"{row['name']}: {thr['match_fraction']:.2%} of backlog events matched a rule"
                f"{hint}, {thr.get('alerts') or 0:.0f} alerts, "
                f"{thr.get('eval_errors') or 0:.0f} evaluation errors"
            )
        _window_notes(row)


def _window_notes(row: dict[str, Any]) -> None:
    """Stateful rows: what the window stage did against what the generator says it had to do."""
    thr = row["throughput"] or {}
    hits = thr.get("window_hits")
    if hits is not None:
        outcomes = ", ".join(f"{v:,.0f} {k}" for k, v in hits.items()) or "none"
        expected = row.get("expected_matches")
        want = f" (the workload makes exactly {expected:,} fire)" if expected is not None else ""
        console.print(
            f"{row['name']}: window stage handled {sum(hits.values()):,.0f} hits ({outcomes}); "
            f"{thr.get('matched') or 0:,.0f} fired{want}; "
            f"{thr.get('window_groups') or 0:,.0f} groups held"
        )
    mem = row.get("memory")
    if mem:
        per = mem["bytes_per_group"]
        console.print(
            f"{row['name']}: worker peak RSS {_fmt(mem['peak_rss_mb'], ',.0f')} MB with "
            f"{_fmt(mem['groups_held'], ',.0f')} groups (RSS {_fmt(mem['rss_start_mb'], ',.0f')} MB "
            f"before the first event, {_fmt(mem['rss_end_mb'], ',.0f')} MB at the end"
            + (f"; about {per:,.0f} bytes per group" if per is not None else "")
            + f"); data dir {_fmt(mem['store_disk_mb'], ',.0f')} MB on disk"
            + (
                f"; restarted over them, it processed a new event after {mem['restart_s']} s "
                f"(RSS {_fmt(mem.get('restart_rss_mb'), ',.0f')} MB)"
                if mem.get("restart_s") is not None
                else ""
            )
        )


def bench(
    events: Annotated[
        int | None,
        typer.Option(
            "--events",
            "-n",
            min=100,
            help="Backlog size for the throughput drain (default 100000; --quick 20000)",
        ),
    ] = None,
    rate: Annotated[
        float | None,
        typer.Option(
            min=1.0,
            help="Offered events/s for latency (default: half of each scenario's measured drain rate)",
        ),
    ] = None,
    duration: Annotated[
        float | None,
        typer.Option(min=1.0, help="Seconds of offered load for latency (default 30; --quick 10)"),
    ] = None,
    probe_fraction: Annotated[
        float,
        typer.Option(
            min=0.001, max=1.0, help="Share of latency events that are probes firing the bench rule"
        ),
    ] = 0.05,
    match_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of background events generated rules should match")
    ] = 0.02,
    rules: Annotated[
        str, typer.Option(help="Generated rule counts, comma-separated ('' for none)")
    ] = "100,1000",
    shipped: Annotated[bool, typer.Option(help="Run the shipped packs (rules/packs) scenario")] = True,
    passthrough: Annotated[bool, typer.Option(help="Run the raw aiokafka passthrough ceiling")] = True,
    partitions: Annotated[int, typer.Option(min=1, help="Partitions of every bench topic")] = 4,
    bootstrap: Annotated[
        str | None,
        typer.Option(
            help="Kafka to use (default: env RISKSTREAM_KAFKA_BOOTSTRAP or KAFKA_BOOTSTRAP_SERVERS), with "
            "TLS/SASL from the RISKSTREAM_KAFKA_* settings; without one a throwaway plain broker is "
            "started via scripts/kafka-local.sh"
        ),
    ] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="JSON results file")] = DEFAULT_OUTPUT,
    profile: Annotated[
        Path | None,
        typer.Option(
            help="Run each worker under cProfile, writing DIR/<scenario>.prof (numbers are then slower)"
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Event generator seed")] = 7,
    stateful: Annotated[
        bool,
        typer.Option(
            "--stateful",
            help="Add the stateful scenario: 100 generated window rules (count, distinct, aggregate, "
            "holds_for, sequence, absent_for) over --stateful-groups grid cells, RocksDB store",
        ),
    ] = False,
    stateful_events: Annotated[
        int | None,
        typer.Option(
            min=100,
            help="Timed backlog of the stateful drain, after an untimed warm-up of one event per group "
            "(default 100000; --quick 20000)",
        ),
    ] = None,
    stateful_groups: Annotated[
        int | None,
        typer.Option(
            min=100,
            help="Distinct groups (grid cells) of the stateful workload (default 100000; --quick 20000)",
        ),
    ] = None,
    groups: Annotated[
        int,
        typer.Option(
            min=0,
            help="Add the memory scenario: this many events, each its own group of one count rule "
            "(e.g. 1000000); reports the worker's peak RSS. 0 = off",
        ),
    ] = 0,
    quick: Annotated[bool, typer.Option("--quick", help="Smaller backlog and shorter latency phase")] = False,
) -> None:
    """Benchmark the worker against a raw Kafka passthrough: throughput and end-to-end latency."""
    defaults = QUICK if quick else FULL
    params = BenchParams(
        events=events or defaults.events,
        rate=rate,
        duration=duration or defaults.duration,
        probe_fraction=probe_fraction,
        match_rate=match_rate,
        rule_counts=_parse_counts(rules),
        shipped=shipped,
        passthrough=passthrough,
        partitions=partitions,
        seed=seed,
        settle=defaults.settle,
        profile_dir=profile,
        stateful=stateful,
        stateful_groups=stateful_groups or defaults.stateful_groups,
        stateful_events=stateful_events or defaults.stateful_events,
        groups=groups,
    )
    with _progress() as progress:
        display = RichDisplay(progress)
        with broker(given_bootstrap(bootstrap), display) as (address, started):
            report = asyncio.run(run_bench(address, params, display, started))
    console.print(render(report))
    _notes(report)
    write_json(output, report)
    console.print(f"results written to {output}")
    if profile is not None:
        console.print(f"worker profiles in {profile}/ (python -m pstats {profile}/<scenario>.prof)")
    if any(row["error"] for row in report["scenarios"]):
        raise typer.Exit(1)


def main() -> None:
    use_conventional_help()
    typer.run(bench)
