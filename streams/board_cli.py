"""`riskstream board`: serve the live alert board to duty officers' browsers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from datetime import timedelta
from typing import Annotated

import typer
from aiohttp import web
from rich.console import Console

from rules.durations import parse_duration
from rules.errors import DurationError, RiskstreamError
from rules.routing import load_routing
from streams.board.feed import Hub, follow
from streams.board.server import Board
from streams.board.view import BoardView
from streams.settings import Settings, get_settings

err = Console(stderr=True, highlight=False, emoji=False)
log = logging.getLogger("riskstream.board")


def board_token(settings: Settings) -> str | None:
    if settings.board_token is not None:
        return settings.board_token.get_secret_value() or None
    if settings.board_token_file is not None:
        return settings.board_token_file.read_text(encoding="utf-8").strip() or None
    return None


async def serve(settings: Settings, port: int, since: timedelta) -> None:
    view, hub, caught_up = BoardView(), Hub(), asyncio.Event()
    board = Board(settings, load_routing(settings.routing_path), view, hub, board_token(settings), caught_up)
    runner = web.AppRunner(board.app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.web_bind, port).start()
    err.print(
        f"alert board on [bold]http://{settings.web_bind}:{port}/[/bold] "
        f"(alerts of the last {since}, then live; acting "
        f"{'needs the board token' if board.token else 'is open to anyone who reaches it'})"
    )
    try:
        await follow(settings, view, hub, since, caught_up)
    finally:
        await runner.cleanup()


def board(
    port: Annotated[
        int | None, typer.Option(metavar="PORT", help="Port (default RISKSTREAM_BOARD_PORT, 6070)")
    ] = None,
    since: Annotated[
        str, typer.Option(metavar="DURATION", help="Show alerts notified this long ago and since")
    ] = "24h",
) -> None:
    """Serve the live alert board: open alerts as they change; acknowledge, resolve, silence.

    Binds to RISKSTREAM_WEB_BIND (127.0.0.1); RISKSTREAM_BOARD_TOKEN (or _FILE) makes acting need a token.
    """
    settings = get_settings()
    try:
        window = timedelta(seconds=parse_duration(since))
    except DurationError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--since'") from None
    logging.basicConfig(
        level=settings.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        asyncio.run(serve(settings, port or settings.board_port, window))
    except RiskstreamError as exc:
        err.print(f"[red]error[/red] {exc}", soft_wrap=True)
        raise typer.Exit(1) from None
    except OSError as exc:
        err.print(f"[red]error[/red] {exc}; another process may use the port: pass --port", soft_wrap=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        with contextlib.suppress(Exception):
            err.print("stopped")
