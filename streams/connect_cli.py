"""`riskstream connect mqtt|http|syslog|file|check|dry-run`: run and check the edge connectors."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console

from connectors.config import ConnectorConfig, load_connector
from connectors.edge import run_connector
from connectors.translate import Mapped, Translator, translate_sample
from rules.errors import RiskstreamError, RuleError, RuleSetError
from streams.settings import get_settings

app = typer.Typer(help="Run and check connectors: MQTT, HTTP push, syslog/CEF and files into the input "
                  "topics (docs/connectors.md).", no_args_is_help=True)
out = Console(highlight=False, emoji=False)
err = Console(stderr=True, highlight=False, emoji=False)

ConfigArg = Annotated[Path, typer.Argument(metavar="CONFIG", help="Connector file (YAML)")]
MetricsOpt = Annotated[int | None, typer.Option(
    "--metrics-port", metavar="PORT", help="Serve /metrics on this port (default "
    "RISKSTREAM_CONNECTOR_METRICS_PORT, 6068; 0: off)")]


def _report(exc: RiskstreamError, path: Path) -> None:
    errors = exc.errors if isinstance(exc, RuleSetError) else [exc]
    for e in errors:
        err.print(f"[red]error[/red] {e}", soft_wrap=True)
    err.print(f"[red]{len(errors)} error(s)[/red] in {path}; fix them and run "
              f"`riskstream connect check {path}` again.", soft_wrap=True)


def _load(path: Path) -> ConnectorConfig:
    try:
        return load_connector(path)
    except (RuleError, RuleSetError) as exc:
        _report(exc, path)
        raise typer.Exit(1) from None


def _run(path: Path, source_type: str, metrics_port: int | None) -> None:
    config = _load(path)
    if config.source.type != source_type:
        err.print(f"[red]error[/red] {path} is a {config.source.type} connector; run it with "
                  f"`riskstream connect {config.source.type} {path}`", soft_wrap=True)
        raise typer.Exit(2)
    settings = get_settings()
    logging.basicConfig(level=settings.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    port = settings.connector_metrics_port if metrics_port is None else metrics_port
    err.print(f"connector [bold]{config.name}[/bold]: {config.source.describe()} -> "
              f"{settings.input_topics()[config.family]} on {settings.kafka_bootstrap} "
              f"(dead letters: {settings.topic(settings.topic_dlq)})", soft_wrap=True)
    try:
        asyncio.run(run_connector(
            config, settings.kafka_target(), settings.topic(settings.topic_dlq),
            metrics_bind=settings.web_bind, metrics_port=port or None,
            timeout=settings.connector_timeout, progress=sys.stderr.isatty(),
        ))
    except OSError as exc:
        err.print(f"[red]error[/red] {exc}; is another process using the port? Change it in {path} "
                  "or pass --metrics-port.", soft_wrap=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


@app.command()
def mqtt(config: ConfigArg, metrics_port: MetricsOpt = None) -> None:
    """Subscribe to MQTT topics (QoS 1) and produce each message as an event.

    A message is acknowledged to the broker only once Kafka has it, so a crash loses nothing.
    """
    _run(config, "mqtt", metrics_port)


@app.command()
def http(config: ConfigArg, metrics_port: MetricsOpt = None) -> None:
    """Accept events pushed over HTTP (JSON, single or batched).

    Answers 200 only once Kafka has them, 503 with Retry-After while Kafka is unreachable.
    """
    _run(config, "http", metrics_port)


@app.command()
def syslog(config: ConfigArg, metrics_port: MetricsOpt = None) -> None:
    """Receive syslog (RFC 5424/3164, UDP and TCP); CEF payloads become cyber events."""
    _run(config, "syslog", metrics_port)


@app.command("file")
def file_cmd(config: ConfigArg, metrics_port: MetricsOpt = None) -> None:
    """Replay JSON Lines or CSV files, or watch a directory for them.

    Progress is checkpointed after each acknowledged batch, so a restart resumes where it ended.
    """
    _run(config, "file", metrics_port)


@app.command()
def check(
    configs: Annotated[list[Path], typer.Argument(metavar="CONFIG", help="Connector files")],
) -> None:
    """Validate connector files; exit 1 with file:line messages on any error."""
    failed = 0
    for path in configs:
        try:
            config = load_connector(path)
        except (RuleError, RuleSetError) as exc:
            _report(exc, path)
            failed += 1
            continue
        out.print(f"[green]ok[/green] {path}: [bold]{config.name}[/bold] {config.source.describe()} -> "
                  f"{config.family.value} events ({config.format.name})", soft_wrap=True)
    if failed:
        raise typer.Exit(1)


@app.command("dry-run")
def dry_run(
    config: ConfigArg,
    sample: Annotated[Path, typer.Argument(metavar="SAMPLE", help="Input as the source would send it: a "
                                           "JSON body or batch, JSON Lines, CSV, or syslog lines")],
    as_json: Annotated[bool, typer.Option("--json", help="Print events as JSON lines only")] = False,
) -> None:
    """Show the events a sample input becomes, and what would be dead-lettered and why.

    Sends nothing. Example: riskstream connect dry-run CONFIG connectors/samples/hikvision-crowd.json
    """
    connector = _load(config)
    try:
        data = sample.read_bytes()
    except OSError as exc:
        err.print(f"[red]error[/red] cannot read {sample}: {exc.strerror}")
        raise typer.Exit(1) from None
    outcomes = translate_sample(Translator(connector), data, sample.name)
    topic = get_settings().input_topics()[connector.family]
    mapped = 0
    for outcome in outcomes:
        if isinstance(outcome, Mapped):
            mapped += 1
            if as_json:
                sys.stdout.write(outcome.value.decode() + "\n")
                continue
            out.print(f"[green]event[/green] -> {topic} key={outcome.key.decode()}", soft_wrap=True)
            out.print_json(orjson.dumps(outcome.event.model_dump(mode="json", exclude_none=True)).decode())
        elif not as_json:
            out.print(f"[red]dead letter[/red] {outcome.origin}: [bold]{outcome.error.category}[/bold] "
                      f"{outcome.error.reason}", soft_wrap=True)
    refused = len(outcomes) - mapped
    summary = f"{mapped} event(s), {refused} dead letter(s) from {sample}"
    err.print(f"[{'yellow' if refused else 'green'}]{summary}[/]")
