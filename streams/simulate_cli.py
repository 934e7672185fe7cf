"""`riskstream simulate`: drive the input topics with city traffic and scripted incidents."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from connectors.iot_gateway import MqttUnavailableError
from connectors.scenarios import SCENARIOS_FILE, load_scenarios
from connectors.simulator import KafkaUnavailableError, SimulatorError, new_run_id, run_simulation
from rules.errors import RuleError, RuleSetError
from rules.schema import ScenarioSpec
from streams.settings import get_settings

out = Console(highlight=False, emoji=False)
err = Console(stderr=True, highlight=False, emoji=False)


def _select(all_scenarios: list[ScenarioSpec], names: list[str]) -> list[ScenarioSpec]:
    """The named scenarios in the order given; an unknown name is an error that lists the known."""
    by_name = {s.name: s for s in all_scenarios}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        known = ", ".join(by_name) or "(none)"
        raise typer.BadParameter(
            f"unknown scenario {', '.join(repr(n) for n in unknown)}; known scenarios: {known}",
            param_hint="'--scenario'",
        )
    return [by_name[n] for n in names]


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise typer.BadParameter(f"{text!r} is not HOST:PORT (e.g. 127.0.0.1:1883)", param_hint="'--mqtt'")
    return host, int(port)


def _load(path: Path, names: list[str]) -> list[ScenarioSpec]:
    try:
        scenarios = load_scenarios(path)
    except (RuleError, RuleSetError) as exc:
        errors = exc.errors if isinstance(exc, RuleSetError) else [exc]
        for e in errors:
            err.print(f"[red]error[/red] {e}", soft_wrap=True)
        raise typer.Exit(1) from None
    return _select(scenarios, names) if names else scenarios


def simulate(
    rate: Annotated[
        float, typer.Option(min=0, metavar="N", help="Background events per second (0: none)")
    ] = 50,
    duration: Annotated[
        float | None,
        typer.Option(min=0, metavar="SECONDS", help="Stop after this many seconds (default: Ctrl-C)"),
    ] = None,
    scenario: Annotated[
        list[str] | None,
        typer.Option("--scenario", "-s", metavar="NAME", help="Scenario to inject by name; repeat for more "
                     "(default: all in the scenarios file)"),
    ] = None,
    every: Annotated[
        float, typer.Option(metavar="SECONDS", help="Seconds between injections, one scenario at a time "
                            "in turn (0: background only)")
    ] = 60,
    once: Annotated[
        bool, typer.Option("--once", help="Inject all chosen scenarios together at the start, "
                           "once; without --duration, exit when they are sent")
    ] = False,
    time_scale: Annotated[
        float, typer.Option(min=0, metavar="FACTOR", help="Wall-clock seconds per scenario second: 0.1 "
                            "plays ten times faster, 0 sends a scenario at once (event times keep the "
                            "scenario's spacing)")
    ] = 1.0,
    ground_truth: Annotated[
        Path, typer.Option(metavar="PATH", help="JSON lines of injected scenarios and the alerts each "
                           "must raise (created at start, appended)")
    ] = Path(".riskstream/ground-truth.jsonl"),
    record: Annotated[
        Path | None, typer.Option(metavar="PATH", help="Also append every event sent to this JSON Lines "
                                  "file, one event per line exactly as sent, for `riskstream rules "
                                  "backtest PATH`")
    ] = None,
    seed: Annotated[int, typer.Option(metavar="N", help="Seeds the city model and its traffic")] = 7,
    scenarios_file: Annotated[
        Path, typer.Option(metavar="PATH", help="Scenario definitions")
    ] = SCENARIOS_FILE,
    mqtt: Annotated[
        str | None, typer.Option(metavar="HOST:PORT", help="Publish sensor readings to this MQTT broker "
                                 "as an IoT gateway would (topic iot/DISTRICT/METRIC/DEVICE, QoS 1) "
                                 "instead of producing them to Kafka; bring them in with `riskstream "
                                 "connect mqtt connectors/configs/mqtt-iot-sensors.yaml`")
    ] = None,
) -> None:
    """Send realistic 乌海市 traffic to the input topics and inject incident scenarios.

    Background events stay in normal ranges, so the worker should alert only on scenarios.
    Each injection plays its scenario on devices, grids and companies of its own and is appended
    to the ground-truth file with the alerts it must raise.
    Kafka: RISKSTREAM_KAFKA_BOOTSTRAP (or KAFKA_BOOTSTRAP_SERVERS); start one with `make kafka`.

    Examples: `riskstream simulate --rate 200 --duration 600` (all scenarios, one a minute);
    `riskstream simulate --rate 0 --once -s NAME --time-scale 0` (one incident, at once).
    """
    if scenario and every <= 0 and not once:
        raise typer.BadParameter("naming scenarios needs --every > 0 or --once",
                                 param_hint="'--scenario'")
    scenarios = [] if every <= 0 and not once else _load(scenarios_file, scenario or [])
    broker = _host_port(mqtt) if mqtt else None
    settings = get_settings()
    progress = sys.stderr.isatty()
    if not progress:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run_id = new_run_id()
    recording = f", events recorded in {record}" if record else ""
    err.print(f"simulating run {run_id} -> {settings.kafka_bootstrap}: {rate:g} events/s, "
              f"{len(scenarios)} scenario(s), ground truth in {ground_truth}{recording}")
    try:
        stats = asyncio.run(run_simulation(
            settings.kafka_target(), rate, duration, scenarios, every, ground_truth, progress, seed, once,
            time_scale=time_scale, run_id=run_id, mqtt=broker, record=record,
        ))
    except KafkaUnavailableError as exc:
        err.print(f"[red]error[/red] {exc}\nStart Kafka with `make kafka`, or point "
                  f"RISKSTREAM_KAFKA_BOOTSTRAP at a running broker (host:port).", soft_wrap=True)
        raise typer.Exit(1) from None
    except MqttUnavailableError as exc:
        err.print(f"[red]error[/red] {exc}\nStart one (e.g. `mosquitto -p {broker[1] if broker else 1883}`) "
                  "or leave out --mqtt.", soft_wrap=True)
        raise typer.Exit(1) from None
    except SimulatorError as exc:
        err.print(f"[red]error[/red] {exc}", soft_wrap=True)
        raise typer.Exit(1) from None
    except OSError as exc:  # the ground-truth or record file cannot be written
        err.print(f"[red]error[/red] {exc}", soft_wrap=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        err.print("interrupted")
        raise typer.Exit(130) from None
    out.print(stats.line(), soft_wrap=True)
    if stats.errors:
        err.print(f"[yellow]{stats.errors} send error(s)[/yellow]; last: {stats.last_error}")
        raise typer.Exit(1)
