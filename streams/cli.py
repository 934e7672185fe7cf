"""The `riskstream` command: one entry point for workers, connectors and rule authors."""

from __future__ import annotations

import typer

from streams import connect_cli, rules_cli, silence_cli
from streams.ack_cli import ack, resolve
from streams.board_cli import board
from streams.cli_help import use_conventional_help
from streams.config_cli import config
from streams.score_cli import score_cmd
from streams.simulate_cli import simulate
from streams.soak_cli import soak
from streams.tail import tail
from streams.worker import worker

use_conventional_help()

app = typer.Typer(
    help="riskstream: tiered, routed risk alerts from a city's event streams.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(rules_cli.app, name="rules")
app.add_typer(silence_cli.app, name="silence")
app.add_typer(connect_cli.app, name="connect")
app.command()(ack)
app.command()(resolve)
app.command()(worker)
app.command()(tail)
app.command()(board)
app.command()(config)
app.command("simulate")(simulate)
app.command("score")(score_cmd)
app.command("soak")(soak)


def main() -> None:
    app()
