"""Where a worker's CPU went, per stage: `python -m bench.profile_summary DIR/<scenario>.prof EVENTS`.

Reads a profile written by `riskstream-bench --profile DIR` (give DIR as an absolute path) and
prints, per input event of the drain, the time the worker's main thread was busy inside each
stage's decisions, in writing its state, and what is left for Faust and aiokafka (delivering
batches, producing, committing, the event loop). Time waiting for the network is left out. The
consumer's fetching runs in a thread of its own and is not in the profile. cProfile slows Python
code down, so read the shares, not the absolute microseconds.
"""

from __future__ import annotations

import pstats
import sys
from dataclasses import dataclass

PARTS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("detect: decode, rules, windows", "streams/detect.py", ("decide",)),
    ("windows: hits into windows", "streams/window_stage.py", ("decide",)),
    ("dispatch: lifecycle, notices", "streams/dispatch.py", ("decide",)),
    ("clock: absences, quiet alerts", "streams/stage.py", ("on_clock",)),
    ("writing state to tables", "streams/tables.py", ("snapshot", "write")),
)
IDLE = "<method 'poll' of 'select.epoll' objects>"
"""Where the event loop waits for the network: not work."""
WITHIN = ("  of all the above, handing messages to the producer", "streams/sending.py", ("send",))
"""Within the parts above (decisions and state writing), shown apart."""


@dataclass(frozen=True)
class Share:
    part: str
    seconds: float


def summarise(path: str) -> tuple[float, list[Share]]:
    """Seconds the main thread was busy (not waiting in the event loop's poll), and each part's."""
    stats = pstats.Stats(path)
    entries = stats.stats  # type: ignore[attr-defined]  # (file, line, name) -> (cc, nc, tt, ct, callers)
    waiting = sum(tt for (_, _, n), (_, _, tt, _, _) in entries.items() if n == IDLE)
    total = float(stats.total_tt) - waiting  # type: ignore[attr-defined]
    out = []
    for part, file, names in (*PARTS, WITHIN):
        seconds = sum(
            ct for (f, _, n), (_, _, _, ct, _) in entries.items() if f.endswith(file) and n in names
        )
        out.append(Share(part, seconds))
    return total, out


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.splitlines()[0], file=sys.stderr)
        return 2
    path, events = argv[0], int(argv[1])
    total, shares = summarise(path)
    print(f"{path}: {total:.1f} s busy over {events:,} events ({total / events * 1e6:,.0f} us/event)")
    accounted = sum(share.seconds for share in shares[: len(PARTS)])
    rest = Share("Faust, aiokafka, event loop, rest", total - accounted)
    for share in (*shares[: len(PARTS)], rest, shares[-1]):
        per_event = share.seconds / events * 1e6
        print(f"  {share.part:42s} {per_event:7.1f} us/event  {share.seconds / total:6.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
