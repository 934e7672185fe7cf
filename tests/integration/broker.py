"""Where integration tests get a real Kafka broker, in the order the project promises.

1. KAFKA_BOOTSTRAP_SERVERS, if set (an existing cluster);
2. testcontainers' Kafka, if a Docker engine answers;
3. otherwise scripts/kafka-local.sh: Apache Kafka assembled from Maven jars, on a free port.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "kafka-local.sh"


def docker_engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@contextmanager
def testcontainers_kafka() -> Iterator[str]:
    from testcontainers.community.kafka import KafkaContainer

    image = os.environ.get("RISKSTREAM_TEST_KAFKA_IMAGE", "confluentinc/cp-kafka:7.9.0")
    with KafkaContainer(image).with_kraft() as kafka:
        yield kafka.get_bootstrap_server()


@contextmanager
def local_script_kafka(state_dir: Path) -> Iterator[str]:
    env = {**os.environ, "RISKSTREAM_KAFKA_HOME": str(state_dir)}
    started = subprocess.run(
        ["bash", str(SCRIPT), "start", "--port", "0"], env=env, capture_output=True, text=True, timeout=600
    )
    if started.returncode != 0:
        raise RuntimeError(
            f"scripts/kafka-local.sh could not start Kafka:\n{started.stdout}\n{started.stderr}"
        )
    last = started.stdout.strip().splitlines()[-1]
    try:
        yield last.split("=", 1)[1]
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop"], env=env, capture_output=True, timeout=120)


@contextmanager
def kafka_broker(state_dir: Path) -> Iterator[str]:
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    elif docker_engine_answers():
        with testcontainers_kafka() as bootstrap:
            yield bootstrap
    else:
        with local_script_kafka(state_dir) as bootstrap:
            yield bootstrap
