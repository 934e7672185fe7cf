"""Files (batch exports from hotline and safety systems): JSON Lines or CSV, replayed into Kafka.

Progress is checkpointed per file after Kafka acknowledges each batch, so a connector killed
mid-file resumes where Kafka's acknowledgements ended (a batch may be sent twice, under the same
event ids; nothing is skipped). ``replay: fast`` sends records in file order as fast as Kafka takes
them; ``replay: event_time`` sorts each file by event time and paces the gaps (``speed`` times real
time; 0 sends at once). ``watch: true`` keeps watching the directory for new and growing files.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

import orjson
from pydantic import Field
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from connectors import metrics
from connectors.edge import meta
from connectors.sources.base import SourceSpec
from connectors.translate import Mapped, Outcome, Refused

if TYPE_CHECKING:
    from connectors.edge import Edge

log = logging.getLogger("riskstream.connector.file")


class FileSource(SourceSpec):
    type: Literal["file"]
    default_format: ClassVar[str] = "jsonl"

    path: Path = Field(description="A file, or a directory of files (relative to the connector file)")
    pattern: str = Field(default="*", description="Which files of a directory, e.g. *.csv")
    replay: Literal["fast", "event_time"] = Field(default="fast", description="File order as fast as Kafka "
                                                  "takes it, or sorted by event time and paced")
    speed: float = Field(default=0.0, ge=0, description="event_time: times real time (60: a minute a "
                         "second); 0 sends at once")
    watch: bool = Field(default=False, description="Keep watching the directory for new and growing files")
    batch: int = Field(default=500, ge=1, le=100_000, description="Records per Kafka acknowledgement and "
                       "checkpoint")
    checkpoint: Path | None = Field(default=None, description="Progress file (default: "
                                    ".riskstream/connectors/NAME.checkpoint.json)")

    def describe(self) -> str:
        mode = f"replay {self.replay}" + (", watching" if self.watch else "")
        return f"files {self.path}{'/' + self.pattern if self.path.is_dir() else ''} ({mode})"

    def files(self) -> list[Path]:
        if self.path.is_dir():
            return sorted(p for p in self.path.iterdir()
                          if p.is_file() and fnmatch.fnmatch(p.name, self.pattern))
        return [self.path] if self.path.exists() else []

    async def run(self, edge: Edge) -> None:
        if not await edge.kafka_ready():
            return
        default = Path(".riskstream/connectors") / f"{edge.name}.checkpoint.json"
        checkpoint = Checkpoint(self.checkpoint or default)
        reader = _Replay(self, edge, checkpoint)
        for path in self.files():
            if edge.stopping.is_set():
                return
            await reader.file(path, final=not self.watch)
        if not self.watch:
            return
        from watchfiles import Change, awatch

        directory = self.path if self.path.is_dir() else self.path.parent
        log.info("watching %s for new files", directory)
        async for changes in awatch(directory, stop_event=edge.stopping, recursive=False):
            for change, name in sorted(changes, key=lambda c: c[1]):
                path = Path(name)
                wanted = fnmatch.fnmatch(path.name, self.pattern) if self.path.is_dir() else path == self.path
                if change != Change.deleted and wanted and path.is_file():
                    await reader.file(path, final=False)


@dataclass
class _Progress:
    offset: int = 0
    sent: int = 0
    chunk_end: int = 0
    done: bool = False


class Checkpoint:
    """Per file: bytes delivered, and for event-time replay the records of the chunk in progress
    (``offset`` to ``chunk_end``) delivered in sorted order; written atomically (temporary file,
    then rename) after every acknowledged batch."""

    def __init__(self, path: Path):
        self.path = path
        self.files: dict[str, _Progress] = {}
        if path.exists():
            for name, entry in orjson.loads(path.read_bytes()).items():
                self.files[name] = _Progress(**entry)

    def of(self, file: Path) -> _Progress:
        return self.files.setdefault(str(file.resolve()), _Progress())

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps({k: vars(v) for k, v in self.files.items()}, option=orjson.OPT_INDENT_2))
        os.replace(tmp, self.path)


class _Replay:
    def __init__(self, spec: FileSource, edge: Edge, checkpoint: Checkpoint):
        self.spec = spec
        self.edge = edge
        self.checkpoint = checkpoint
        self.csv = edge.config.format.name == "csv"
        self.backlog = metrics.BACKLOG.labels(edge.name)

    def _lines(self, path: Path, start: int, final: bool,
               stop: int | None = None) -> Iterator[tuple[int, int, bytes]]:
        """(line number, end offset, record bytes) of each complete record after ``start`` and ending
        by ``stop``; a CSV record may span lines inside quotes. An unterminated last line waits for
        more unless ``final``."""
        with path.open("rb") as f:
            number = 0
            if self.csv:
                self.header = f.readline()
                number = 1
            while f.tell() < start and f.readline():
                number += 1
            pending = b""
            first = number + 1
            while line := f.readline():
                number += 1
                if not line.endswith(b"\n") and not final:
                    break
                pending += line
                if self.csv and pending.count(b'"') % 2:
                    continue
                if stop is not None and f.tell() > stop:
                    break
                if pending.strip():
                    yield first, f.tell(), pending
                pending = b""
                first = number + 1

    def _records(self, path: Path, number: int, raw: bytes) -> list[Outcome]:
        where = meta(f"file:{path.name}:{number}", file=path.name, path=str(path), line=number)
        payload = self.header + raw if self.csv else raw
        return self.edge.translator.translate(payload, where)

    async def file(self, path: Path, final: bool) -> None:
        progress = self.checkpoint.of(path)
        size = path.stat().st_size
        if progress.done and progress.offset >= size:
            return
        self.header = b""
        self.backlog.set(size - progress.offset)
        before = progress.offset
        with self._bar(path, size) as bar:
            if self.spec.replay == "fast":
                await self._fast(path, progress, final, bar)
            else:
                await self._event_time(path, progress, final, bar)
        self.backlog.set(0)
        log.info("%s: delivered up to byte %d of %d (%d new)%s", path.name, progress.offset, size,
                 progress.offset - before, "" if progress.done else ", more may follow")

    async def _fast(self, path: Path, progress: _Progress, final: bool, bar: _Bar) -> None:
        batch: list[Outcome] = []
        end = progress.offset
        bar.advance(progress.offset)
        for number, end, raw in self._lines(path, progress.offset, final):
            batch += self._records(path, number, raw)
            if len(batch) >= self.spec.batch:
                await self._commit(path, progress, batch, end, bar)
                batch = []
                if self.edge.stopping.is_set():
                    return
        await self._commit(path, progress, batch, end, bar, done=final)

    async def _commit(self, path: Path, progress: _Progress, batch: list[Outcome], end: int, bar: _Bar,
                      done: bool = False) -> None:
        await self.edge.deliver_patiently(batch, f"{len(batch)} records of {path.name}")
        bar.advance(end - progress.offset)
        progress.offset = max(progress.offset, end)
        progress.done = done
        self.checkpoint.save()
        self.backlog.set(max(0, path.stat().st_size - progress.offset))

    async def _event_time(self, path: Path, progress: _Progress, final: bool, bar: _Bar) -> None:
        """One chunk (the file's new complete lines) sorted by event time. A chunk interrupted part
        way is read again to the same end, so the records already sent are the same ones skipped."""
        resumed = progress.sent > 0
        stop = progress.chunk_end if resumed else None
        outcomes: list[Outcome] = []
        end = progress.offset
        for number, offset, raw in self._lines(path, progress.offset, final, stop):
            outcomes += self._records(path, number, raw)
            end = offset
        progress.chunk_end = end
        refused = [o for o in outcomes if isinstance(o, Refused)]
        events = sorted((o for o in outcomes if isinstance(o, Mapped)), key=lambda o: o.event.time)
        ordered: list[Outcome] = [*refused, *events]
        if not await self._paced(path, ordered, progress, bar):
            return
        progress.offset, progress.sent, progress.done = end, 0, final and not resumed
        self.checkpoint.save()
        if resumed:  # the lines that arrived after the interrupted chunk
            await self._event_time(path, progress, final, bar)

    async def _paced(self, path: Path, ordered: list[Outcome], progress: _Progress, bar: _Bar) -> bool:
        """Deliver from ``progress.sent`` on, each record not before its event time's turn at ``speed``;
        False when stopped part way."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        first = next((o.event.time for o in ordered[progress.sent:] if isinstance(o, Mapped)), None)
        i = progress.sent
        while i < len(ordered):
            if self.edge.stopping.is_set():
                return False
            end = min(i + self.spec.batch, len(ordered))
            if self.spec.speed and first is not None:
                for j in range(i, end):
                    outcome = ordered[j]
                    if not isinstance(outcome, Mapped):
                        continue
                    due = started + (outcome.event.time - first).total_seconds() / self.spec.speed
                    wait = due - loop.time()
                    if wait > 0:
                        end = j
                        break
                if end == i:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.edge.stopping.wait(), wait)
                    continue
            await self.edge.deliver_patiently(ordered[i:end], f"{end - i} records of {path.name}")
            progress.sent = end
            self.checkpoint.save()
            bar.advance_records(end - i, len(ordered))
            i = end
        return True

    def _bar(self, path: Path, size: int) -> _Bar:
        return _Bar(path.name, size, records=self.spec.replay == "event_time",
                    enabled=self.edge.progress and sys.stderr.isatty())


class _Bar:
    """A rich progress bar on stderr (bytes for fast replay, records for event-time replay)."""

    def __init__(self, name: str, size: int, records: bool, enabled: bool):
        self.progress: Progress | None = None
        self.task: TaskID | None = None
        if enabled:
            done = MofNCompleteColumn() if records else DownloadColumn()
            self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), done,
                                     TimeRemainingColumn())
            self.task = self.progress.add_task(name, total=None if records else size)

    def __enter__(self) -> _Bar:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def advance(self, n: int) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.advance(self.task, n)

    def advance_records(self, n: int, total: int) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, total=total, advance=n)
