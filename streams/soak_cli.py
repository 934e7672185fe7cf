"""`riskstream soak`: the chaos soak (bench.soak): city load, SIGKILLed workers, a broker outage,
and a verdict against the scenarios' ground truth."""

from __future__ import annotations

import asyncio
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.markup import escape

from bench.soak.params import CITY_DRAIN_RATE, DEFAULT_RATE, SoakParams
from connectors import kafka_log_summary

err = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 140)


def soak(
    duration: Annotated[
        float, typer.Option(min=10, metavar="SECONDS", help="Seconds of load; faults happen within it")
    ] = 600,
    rate: Annotated[
        float, typer.Option(min=1, metavar="N", show_default=False, help="Background events per second "
                            f"(default {DEFAULT_RATE:.0f}: half of one worker's measured drain rate of the "
                            f"city workload, {CITY_DRAIN_RATE:,.0f}/s, README Benchmark)")
    ] = DEFAULT_RATE,
    kill_every: Annotated[
        float, typer.Option(min=0, metavar="SECONDS", help="SIGKILL a worker (in turn) this often and "
                            "restart it (0: never)")
    ] = 30,
    outage: Annotated[
        float, typer.Option(min=0, metavar="SECONDS", help="Stop the broker this long, once (0: never)")
    ] = 20,
    outage_at: Annotated[
        float | None, typer.Option(min=0, metavar="SECONDS", help="When to stop it (default: half way)")
    ] = None,
    seed: Annotated[int, typer.Option(metavar="N", help="Seeds the city, its traffic and the incidents")] = 7,
    incident_every: Annotated[
        float, typer.Option(min=0, metavar="SECONDS", help="Seconds between scenario injections (0: none)")
    ] = 6,
    session_timeout: Annotated[
        float, typer.Option(min=6, metavar="SECONDS", help="The workers' RISKSTREAM_SESSION_TIMEOUT")
    ] = 10,
    drain_timeout: Annotated[
        float, typer.Option(min=10, metavar="SECONDS", help="Longest wait after the load for the workers "
                            "to commit everything")
    ] = 300,
    work_dir: Annotated[
        Path | None, typer.Option(metavar="PATH", help="Worker logs, the soak's log and the broker's "
                                  "state (default .riskstream/soak/TIME)")
    ] = None,
    output: Annotated[Path, typer.Option("--output", "-o", metavar="PATH", help="JSON results")] = Path(
        "bench-results/soak.json"
    ),
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep the broker's data in the work dir after the run, to "
                           "read its topics again (start it with RISKSTREAM_KAFKA_HOME=WORK/kafka "
                           "scripts/kafka-local.sh start --port PORT)")
    ] = False,
) -> None:
    """Chaos soak: city traffic with incidents against two workers and a broker of its own,
    killing workers and stopping the broker on a schedule; then a verdict.

    Verdict: every alert the injected scenarios expect is opened, no notice twice, every input
    event processed and committed, both workers processing again within 30 s of the broker's
    return, without restarting and without a loop of errors in their logs. Exit status 1 when
    a check fails. See docs/operations.md (Chaos soak).
    """
    from bench.soak.display import LiveDisplay, PlainDisplay, notes, verdict_table
    from bench.soak.runner import run_soak

    params = SoakParams(duration=duration, rate=rate, kill_every=kill_every, outage=outage,
                        outage_at=outage_at, seed=seed, incident_every=incident_every,
                        session_timeout=session_timeout, drain_timeout=drain_timeout)
    if params.outage_start() is not None and not 0 <= (params.outage_start() or 0) < duration:
        raise typer.BadParameter("the outage must start within the duration", param_hint="'--outage-at'")
    work = work_dir or Path(".riskstream/soak") / datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    work.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, filename=str(work / "soak.log"),
                        format="[%(asctime)s] %(levelname)s %(name)s: %(message)s")
    kafka_log_summary.install()  # the load generator's producer retries, counted while the broker is down
    display = LiveDisplay(err) if err.is_terminal else PlainDisplay(err)
    try:
        with display:
            result = asyncio.run(run_soak(params, work.resolve(), display, keep_broker_data=keep))
    except KeyboardInterrupt:
        err.print(f"interrupted: workers and the broker stopped; logs in {work}")
        raise typer.Exit(130) from None
    except Exception as exc:
        err.print(f"[red]soak failed to run:[/red] {escape(str(exc))}")
        err.print(f"logs in {work}")
        raise typer.Exit(1) from None
    err.print(verdict_table(result))
    for line in notes(result):
        err.print(line, highlight=False, markup=False)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(orjson.dumps(result.to_json(), option=orjson.OPT_INDENT_2))
    err.print(f"results written to {output}; worker logs in {work}")
    if not result.passed:
        raise typer.Exit(1)
