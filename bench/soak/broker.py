"""A broker of the soak's own: scripts/kafka-local.sh with a state dir of its own, on free ports.

Only this broker is ever stopped: another run (a developer's `make kafka` on 127.0.0.1:9092, the
integration suite's broker) is never touched. It is started again on the same client and
controller ports with the same data, as an operator restarting a broker would.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import time
from pathlib import Path

KAFKA_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "kafka-local.sh"
SCRIPT_TIMEOUT = 300.0


class BrokerError(RuntimeError):
    """kafka-local.sh could not do what the soak asked."""


class OwnBroker:
    def __init__(self, home: Path):
        self.home = home
        self.port: int | None = None
        self.controller_port: int | None = None
        self.running = False

    @property
    def bootstrap(self) -> str:
        if self.port is None:
            raise BrokerError("the broker has not been started")
        return f"127.0.0.1:{self.port}"

    @property
    def server_log(self) -> Path:
        return self.home / "logs" / "server.out"

    async def _script(self, *args: str, env: dict[str, str] | None = None) -> str:
        full = {**os.environ, "RISKSTREAM_KAFKA_HOME": str(self.home), **(env or {})}
        proc = await asyncio.create_subprocess_exec(
            "bash", str(KAFKA_SCRIPT), *args, env=full,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.DEVNULL,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), SCRIPT_TIMEOUT)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise BrokerError(f"kafka-local.sh {args[0]} took over {SCRIPT_TIMEOUT:g} s") from None
        if proc.returncode != 0:
            said = err.decode(errors="replace")[-3000:]
            raise BrokerError(f"kafka-local.sh {' '.join(args)} failed:\n{said}")
        return out.decode()

    async def start(self) -> str:
        """First start, on free ports; returns the bootstrap address."""
        self.home.mkdir(parents=True, exist_ok=True)
        out = await self._script("start", "--port", "0")
        self.port = int(out.strip().splitlines()[-1].rsplit(":", 1)[1])
        props = (self.home / "server.properties").read_text(encoding="utf-8")
        found = re.search(r"CONTROLLER://127\.0\.0\.1:(\d+)", props)
        self.controller_port = int(found.group(1)) if found else None
        self.running = True
        return self.bootstrap

    async def stop(self) -> None:
        """SIGTERM and wait for it to exit (kafka-local.sh stop; SIGKILL after 30 s)."""
        await self._script("stop")
        self.running = False

    async def start_again(self) -> float:
        """Start on the same ports over the same data; seconds until it answered (kafka-local.sh
        waits for a metadata answer and a group coordinator)."""
        if self.port is None:
            raise BrokerError("the broker has not been started")
        env = {"KAFKA_CONTROLLER_PORT": str(self.controller_port)} if self.controller_port else {}
        t0 = time.monotonic()
        await self._script("start", "--port", str(self.port), env=env)
        self.running = True
        return time.monotonic() - t0

    async def close(self, keep_data: bool = False) -> None:
        try:
            await self._script("stop")
        finally:
            self.running = False
            if not keep_data:
                shutil.rmtree(self.home / "data", ignore_errors=True)
