"""`riskstream worker`: check rules, create topics, then run the Faust worker."""

from __future__ import annotations

import asyncio
import logging
import sys

import typer
from rich.console import Console

from connectors import kafka_log_summary
from rules.errors import ConfigError, RiskstreamError
from streams.settings import get_settings

err = Console(stderr=True, highlight=False, emoji=False)


def worker() -> None:
    """Run the detect, window and dispatch stages with the configured rule packs (Ctrl-C stops)."""
    settings = get_settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="[%(asctime)s] %(levelname)s %(name)s: %(message)s"
    )
    # While the broker is away aiokafka logs every retry (thousands of lines a second): one line
    # per kind and interval with a count instead (flushed by streams.housekeeping's timer).
    kafka_log_summary.install()
    try:
        from streams.app import build
        from streams.topics import ensure_topics

        runtime = build(settings)  # loads and compiles the rules, once; broken rules raise here
        created = asyncio.run(ensure_topics(settings, runtime.rules.ruleset.router))
    except ConfigError as exc:
        err.print(f"[red]error[/red] {exc}")
        raise typer.Exit(2) from None
    except RiskstreamError as exc:
        err.print(f"[red]error[/red] the worker will not start on broken rules:\n{exc}")
        err.print("Fix them (check with `riskstream rules lint`) and start again.")
        raise typer.Exit(2) from None
    if created:
        err.print(f"created {len(created)} topics ({settings.partitions} partitions each)")
    err.print(
        f"riskstream worker: {len(runtime.rules.engine.rules)} rules, Kafka {settings.kafka_bootstrap}, "
        f"metrics http://{settings.web_bind}:{settings.web_port}/metrics"
    )

    from faust.worker import Worker

    (settings.data_dir / settings.app_id).mkdir(parents=True, exist_ok=True)
    sys.argv = [sys.argv[0]]
    faust_worker = Worker(runtime.app, loglevel=settings.log_level)
    # Faust's terminal spinner sets the root logger to DEBUG at level warning and above, so every
    # aiokafka debug call builds a log record: about 30% of throughput on alert-heavy traffic.
    faust_worker.spinner = None
    faust_worker.execute_from_commandline()
