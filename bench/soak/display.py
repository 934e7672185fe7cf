"""Progress while a soak runs (a live status on a terminal, a line every few seconds elsewhere) and
the verdict table at the end."""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from bench.soak.runner import SoakResult

PLAIN_EVERY = 10.0


class LiveDisplay:
    """Fault and phase lines scroll; the status (load, workers, faults) stays at the bottom."""

    def __init__(self, console: Console):
        self.console = console
        self.live = Live(console=console, refresh_per_second=4, transient=True)

    def __enter__(self) -> LiveDisplay:
        self.live.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.live.__exit__(kind, exc, tb)

    def log(self, message: str) -> None:
        self.console.print(message, highlight=False)

    def status(self, lines: list[str]) -> None:
        self.live.update(Text.from_markup("\n".join(lines)))


class PlainDisplay:
    """For logs and CI: the lines as they come, the status every ``every`` seconds."""

    def __init__(self, console: Console, every: float = PLAIN_EVERY):
        self.console = console
        self.every = every
        self.last = 0.0

    def __enter__(self) -> PlainDisplay:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def log(self, message: str) -> None:
        self.console.print(message, highlight=False)

    def status(self, lines: list[str]) -> None:
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            self.console.print("\n".join(lines), highlight=False)


def verdict_table(result: SoakResult) -> Table:
    p = result.params
    outage = f"the broker stopped for {p.outage:g} s once" if p.outage > 0 else "no broker outage"
    kills = f"a worker SIGKILLed every {p.kill_every:g} s" if p.kill_every > 0 else "no kills"
    load = result.figures.get("load", {})
    table = Table(
        title=f"chaos soak {result.run_id}: {p.duration:g} s at {p.rate:,.0f} events/s (achieved "
        f"{load.get('achieved_rate_broker_up') or 0:,.0f} while the broker answered), seed {p.seed}, "
        f"two workers, {kills}, {outage}",
        title_justify="left",
    )
    for name in ("check", "target", "measured", "verdict"):
        table.add_column(name, overflow="fold")
    for row in result.rows:
        verdict = "[green]pass" if row.ok else "[red]FAIL" if row.ok is False else "[dim]info"
        table.add_row(row.check, row.target, row.measured, verdict)
    return table


def notes(result: SoakResult) -> list[str]:
    return [f"{r.check}: {r.note}" for r in result.rows if r.note]
