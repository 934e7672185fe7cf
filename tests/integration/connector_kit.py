"""Helpers for connector integration tests: a `riskstream connect` process, Mosquitto, topics."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from rules.routing import load_routing
from streams.settings import Settings
from streams.topics import ensure_topics
from tests.integration import harness
from tests.integration.harness import ROOT, Process, free_port, unique_prefix

CONFIGS = ROOT / "connectors" / "configs"
SAMPLES = ROOT / "connectors" / "samples"


def create_topics(bootstrap: str, prefix: str) -> None:
    """The worker's topics under ``prefix``, as `riskstream worker` creates them."""
    settings = Settings(kafka_bootstrap=bootstrap, topic_prefix=prefix)
    asyncio.run(ensure_topics(settings, load_routing(settings.routing_path)))


def write_config(tmp: Path, shipped: str, **source: Any) -> Path:
    """A shipped connector file with some of its ``source`` settings replaced."""
    yaml = YAML()
    data = yaml.load((CONFIGS / shipped).read_text(encoding="utf-8"))
    for key, value in source.items():
        data["source"][key] = value
    path = tmp / shipped
    with path.open("w", encoding="utf-8") as f:
        yaml.dump(data, f)
    return path


def wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


@dataclass
class Connector(Process):
    """A `riskstream connect TYPE CONFIG` subprocess with its own topic prefix and metrics port."""

    kind: str
    config: Path
    bootstrap: str
    prefix: str
    log_path: Path
    metrics_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    def start(self, wait_kafka: bool = True) -> Connector:
        env = {**os.environ, "RISKSTREAM_KAFKA_BOOTSTRAP": self.bootstrap,
               "RISKSTREAM_TOPIC_PREFIX": self.prefix, "RISKSTREAM_LOG_LEVEL": "info", **self.extra_env}
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streams", "connect", self.kind, str(self.config),
             "--metrics-port", str(self.metrics_port)],
            cwd=self.log_path.parent, env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        harness.started.append(self)  # a failing test shows this log too
        if wait_kafka:
            self.wait_until(lambda: self.metric("riskstream_connector_kafka_up") == 1, "connected to Kafka")
        return self

    def metric(self, name: str, **labels: str) -> float:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as r:
                text = r.read().decode()
        except OSError:
            return 0.0
        total = 0.0
        for line in text.splitlines():
            sample = line.startswith(name) and line[len(name)] in " {"
            if sample and all(f'{k}="{v}"' in line for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def wait_until(self, condition: Any, what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"connector exited with {self.proc.returncode}:\n{self.log_tail()}")
            if condition():
                return
            time.sleep(0.2)
        raise RuntimeError(f"connector not {what} after {timeout}s:\n{self.log_tail()}")



@contextmanager
def running_connector(kind: str, config: Path, bootstrap: str, tmp: Path, **env: str) -> Iterator[Connector]:
    prefix = unique_prefix(f"connect-{kind}")
    create_topics(bootstrap, prefix)
    connector = Connector(kind, config, bootstrap, prefix, tmp / f"connector-{kind}.log", extra_env=env)
    try:
        yield connector.start()
    finally:
        connector.stop()


@contextmanager
def mosquitto_broker(state: Path) -> Iterator[int]:
    """Debian's Mosquitto on a free loopback port, queueing enough for a killed subscriber's session."""
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(binary).exists():
        raise RuntimeError("mosquitto is not installed: run `bash scripts/install-peers.sh` "
                           "(as root: apt-get install mosquitto mosquitto-clients)")
    port = free_port()
    conf = state / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    "max_queued_messages 200000\nmax_inflight_messages 100\n", encoding="utf-8")
    log = (state / "mosquitto.log").open("ab")
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
