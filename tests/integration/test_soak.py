"""The chaos soak, shortened: the city workload against two workers while one is SIGKILLed and
the broker (the soak's own, never the suite's) is stopped for 10 s; nothing may be lost, nothing
notified twice, and both workers must process again within 30 s of the broker's return."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.soak.params import SoakParams
from bench.soak.runner import SoakResult, run_soak

SHORT = SoakParams(
    duration=85,
    rate=1000,
    kill_every=15,
    outage=10,
    outage_at=37,
    quiet_after=8,
    incident_every=1.5,
    session_timeout=6,
    drain_timeout=45,
)
"""A kill at 15 s, the broker stopped from 37 s, a kill at 75 s if the broker answered again by
67 s (else it is skipped, and so is the one planned at 60 s); about 2 minutes and 20 seconds with
the broker's and the workers' starts and the drain."""


class Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def log(self, message: str) -> None:
        self.lines.append(message)
        print(message, flush=True)

    def status(self, lines: list[str]) -> None:
        pass


def test_a_short_soak_loses_nothing_and_recovers_from_a_broker_outage(tmp_path: Path) -> None:
    result: SoakResult = asyncio.run(run_soak(SHORT, tmp_path, Lines()))
    table = "\n".join(f"{'pass' if r.ok else 'FAIL' if r.ok is False else 'info'}  {r.check}: {r.measured}"
                      f"{' - ' + r.note if r.note else ''}" for r in result.rows)
    print(table)
    assert result.figures["alerts"]["expected"] > 0
    assert result.figures["kills"] >= 1
    assert result.figures["outage"]["back_at"] is not None
    assert result.passed, f"{table}\n{log_tails(result)}"


def log_tails(result: SoakResult, lines: int = 30) -> str:
    """What each worker process said last (Faust's partition tables left out), for a failure."""
    out = []
    for life in result.figures["lifetimes"]:
        try:
            text = Path(life["log"]).read_text(errors="replace").splitlines()
        except OSError:
            continue
        said = [line for line in text if not line.startswith(("|", "+"))]
        head = f"--- worker {life['slot']}#{life['number']} ({life['how']}):"
        out.append("\n".join([head, *said[-lines:]]))
    return "\n".join(out)
