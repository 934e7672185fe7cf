"""A measured child process: its own session, output to a log file, stopped by SIGTERM then SIGKILL."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

WORKER_STOP_SECONDS = 30.0


class Child:
    """A measured process in its own session, so Ctrl-C on the bench never half-kills it."""

    def __init__(self, argv: list[str], env: dict[str, str], log_path: Path, cwd: Path):
        self.argv, self.env, self.log_path, self.cwd = argv, env, log_path, cwd
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log_path.open("wb") as log:
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    async def stop(self) -> int | None:
        """SIGTERM (the worker's clean stop, which also lets cProfile write), then SIGKILL."""
        if self.proc is None:
            return None
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), WORKER_STOP_SECONDS)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                await self.proc.wait()
        return self.proc.returncode

    def memory(self) -> ProcessMemory:
        return process_memory(self.pid)

    def tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def python_argv(script: list[str], profile: Path | None) -> list[str]:
    if profile is None:
        return [sys.executable, *script]
    return [sys.executable, "-m", "cProfile", "-o", str(profile), *script]


@dataclass(frozen=True)
class ProcessMemory:
    """Resident memory now (VmRSS) and its high-water mark (VmHWM), in MB; None when unreadable."""

    rss_mb: float | None = None
    peak_mb: float | None = None


def parse_status(text: str) -> ProcessMemory:
    """VmRSS and VmHWM from the text of /proc/<pid>/status (values in kB)."""
    found: dict[str, float] = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            with contextlib.suppress(ValueError, IndexError):
                found[name] = round(int(rest.split()[0]) / 1024, 1)
    return ProcessMemory(found.get("VmRSS"), found.get("VmHWM"))


def process_memory(pid: int | None) -> ProcessMemory:
    if pid is None:
        return ProcessMemory()
    try:
        return parse_status(Path(f"/proc/{pid}/status").read_text())
    except OSError:
        return ProcessMemory()


def tree_size_mb(path: Path) -> float | None:
    """Bytes under ``path`` (a store directory), in MB."""
    total = 0
    try:
        for p in path.rglob("*"):
            with contextlib.suppress(OSError):
                if p.is_file():
                    total += p.stat().st_size
    except OSError:
        return None
    return round(total / 2**20, 1)
