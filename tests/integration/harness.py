"""Helpers for integration tests: a real worker process and plain Kafka produce/consume."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

ROOT = Path(__file__).resolve().parents[2]
started: list[Process] = []
"""Every worker started in this run, so a failing test can show their logs (see conftest)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def unique_prefix(name: str) -> str:
    return f"it-{name}-{uuid.uuid4().hex[:8]}."


class Process:
    """A riskstream subprocess writing to its own log: workers and connectors."""

    proc: subprocess.Popen[bytes] | None
    log_path: Path

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def stop(self, sig_kill: bool = False) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        if sig_kill:
            self.proc.kill()
        else:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


@dataclass
class Worker(Process):
    """A `riskstream worker` subprocess with its own app id, topic prefix and metrics port."""

    bootstrap: str
    prefix: str
    web_port: int
    log_path: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    _log: object = field(default=None, repr=False)

    def start(self) -> Worker:
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streams", "worker"],
            cwd=ROOT,
            env=self.env,
            stdout=self._log,  # type: ignore[arg-type]
            stderr=subprocess.STDOUT,
        )
        started.append(self)
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 90) -> None:
        """Until the worker owns input partitions (its lag gauge names them), not merely answers.

        Events sent before the consumer group settles are read later as a backlog from several
        partitions at once, which would make order-sensitive expectations flaky.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if f'topic="{self.prefix}events.' in self.metrics_text():
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"worker not ready after {timeout}s:\n{self.log_tail()}")

    def metrics_text(self) -> str:
        url = f"http://127.0.0.1:{self.web_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.read().decode()

    def metric(self, name: str, **labels: str) -> float:
        """Sum of a metric's samples whose labels include ``labels`` (0 when absent)."""
        total = 0.0
        for line in self.metrics_text().splitlines():
            m = re.match(rf"^{re.escape(name)}(?:\{{(.*)\}})? (\S+)$", line)
            if not m:
                continue
            have = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1) or ""))
            if all(have.get(k) == v for k, v in labels.items()):
                total += float(m.group(2))
        return total



def make_worker(bootstrap: str, tmp: Path, name: str, **env: str) -> Worker:
    prefix = unique_prefix(name)
    port = free_port()
    full_env = {
        **os.environ,
        "RISKSTREAM_KAFKA_BOOTSTRAP": bootstrap,
        "RISKSTREAM_APP_ID": f"{prefix}riskstream",
        "RISKSTREAM_TOPIC_PREFIX": prefix,
        "RISKSTREAM_STORE": "memory://",
        "RISKSTREAM_DATA_DIR": str(tmp / "data"),
        "RISKSTREAM_WEB_PORT": str(port),
        "RISKSTREAM_LOG_LEVEL": "info",
        **env,
    }
    return Worker(bootstrap, prefix, port, tmp / f"worker-{name}.log", full_env)


def produce(
    bootstrap: str,
    records: Iterable[tuple[str, bytes | None, bytes]],
    security: Mapping[str, Any] | None = None,
) -> None:
    """Send (topic, key, value) records and wait until the broker has them.

    ``security``: aiokafka's TLS/SASL options (``KafkaSecurity.client_options()``) for a secured broker.
    """

    async def go() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, max_request_size=4 * 1024 * 1024, **(security or {})
        )
        await producer.start()
        try:
            for topic, key, value in records:
                await producer.send(topic, value=value, key=key)
            await producer.flush()
        finally:
            await producer.stop()

    asyncio.run(go())


def consume(
    bootstrap: str,
    topics: list[str],
    done: Callable[[list[ConsumerRecord[bytes, bytes]]], bool],
    timeout: float = 60,
    settle: float = 0.0,
    security: Mapping[str, Any] | None = None,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Read topics from the start until ``done(records)`` holds (then ``settle`` more seconds)."""

    async def go() -> list[ConsumerRecord[bytes, bytes]]:
        consumer = AIOKafkaConsumer(
            *topics,
            bootstrap_servers=bootstrap,
            group_id=None,
            auto_offset_reset="earliest",
            **(security or {}),
        )
        await consumer.start()
        got: list[ConsumerRecord[bytes, bytes]] = []
        try:
            deadline = time.monotonic() + timeout
            settled_at: float | None = None
            while time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    got.extend(records)
                if settled_at is None and done(got):
                    settled_at = time.monotonic() + settle
                if settled_at is not None and time.monotonic() >= settled_at:
                    break
        finally:
            await consumer.stop()
        return got

    return asyncio.run(go())
