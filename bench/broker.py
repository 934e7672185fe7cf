"""The Kafka a run uses: the one given or a throwaway from kafka-local.sh; admin queries; the preload."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from bench.params import Display
from connectors.kafka_quiet import await_leaders, quiet_topic_setup

REPO_ROOT = Path(__file__).resolve().parents[1]
KAFKA_SCRIPT = REPO_ROOT / "scripts" / "kafka-local.sh"
KAFKA_POM = REPO_ROOT / "deploy" / "kafka" / "pom.xml"


def kafka_version() -> str:
    try:
        text = KAFKA_POM.read_text(encoding="utf-8")
    except OSError:
        return "unknown"
    found = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", text)
    return found.group(1) if found else "unknown"


PLAINTEXT_SETTINGS: dict[str, Any] = {
    "kafka_security_protocol": "PLAINTEXT",
    "kafka_username": None,
    "kafka_password": None,
    "kafka_password_file": None,
    "kafka_ssl_cafile": None,
    "kafka_ssl_certfile": None,
    "kafka_ssl_keyfile": None,
}
"""Settings overrides for the throwaway broker, which is plain whatever RISKSTREAM_KAFKA_* say."""


def given_bootstrap(flag: str | None) -> str | None:
    """The broker the user named, if any; the Settings fallback 127.0.0.1:9092 does not count."""
    return flag or os.environ.get("RISKSTREAM_KAFKA_BOOTSTRAP") or os.environ.get("KAFKA_BOOTSTRAP_SERVERS")


def _kafka_script(command: str, home: Path, *args: str) -> str:
    if not KAFKA_SCRIPT.exists():
        raise RuntimeError(f"{KAFKA_SCRIPT} not found: set RISKSTREAM_KAFKA_BOOTSTRAP to a broker")
    env = {**os.environ, "RISKSTREAM_KAFKA_HOME": str(home)}
    done = subprocess.run(
        ["bash", str(KAFKA_SCRIPT), command, *args],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"kafka-local.sh {command} failed:\n{done.stderr[-3000:]}")
    return done.stdout


@contextlib.contextmanager
def broker(bootstrap: str | None, display: Display) -> Iterator[tuple[str, bool]]:
    """Yield (bootstrap, started_here): the given broker, or a throwaway one stopped afterwards.

    A fresh state dir per run keeps the benchmark from ever stopping a developer's own broker.
    """
    if bootstrap:
        yield bootstrap, False
        return
    home = Path(tempfile.mkdtemp(prefix="riskstream-bench-kafka-"))
    task = display.phase("starting a local Kafka broker (kafka-local.sh --port 0)", None)
    try:
        out = _kafka_script("start", home, "--port", "0")
        line = out.strip().splitlines()[-1]
        address = line.split("=", 1)[1]
        display.done(task, address)
        yield address, True
    finally:
        stop = display.phase("stopping the local Kafka broker", None)
        with contextlib.suppress(Exception):
            _kafka_script("stop", home)
        shutil.rmtree(home, ignore_errors=True)
        display.done(stop)


class KafkaProbe:
    """Admin and offset queries, kept apart from the measured clients so they add no load there.

    ``kafka``: bootstrap_servers and the security options (``Settings.kafka_client_options()``).
    """

    def __init__(self, kafka: Mapping[str, Any]):
        self.admin = AIOKafkaAdminClient(**kafka, request_timeout_ms=30000)
        self.consumer = AIOKafkaConsumer(**kafka, enable_auto_commit=False)

    async def __aenter__(self) -> KafkaProbe:
        await self.admin.start()
        await self.consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()
        await self.admin.close()

    async def create(self, topics: Sequence[str], partitions: int) -> None:
        """Create the topics and wait for their leaders, without aiokafka's retry warnings on the
        progress display (see connectors.kafka_quiet)."""
        new = [NewTopic(t, partitions, 1) for t in topics]
        with quiet_topic_setup():
            with contextlib.suppress(TopicAlreadyExistsError):
                await self.admin.create_topics(new)
            await await_leaders(self.admin, topics)

    async def partitions(self, topics: Sequence[str]) -> list[TopicPartition]:
        described = await self.admin.describe_topics(list(topics))
        return [TopicPartition(t["topic"], p["partition"]) for t in described for p in t["partitions"]]

    async def end_total(self, tps: Sequence[TopicPartition]) -> int:
        ends = await self.consumer.end_offsets(list(tps))
        return sum(ends.values())

    async def lag(self, group: str, tps: Sequence[TopicPartition]) -> int:
        """End offsets minus the group's committed offsets (uncommitted partitions count fully)."""
        ends = await self.consumer.end_offsets(list(tps))
        committed = await self.admin.list_consumer_group_offsets(group, partitions=list(tps))
        done = {tp: (om.offset if om is not None and om.offset >= 0 else 0) for tp, om in committed.items()}
        return sum(max(0, end - done.get(tp, 0)) for tp, end in ends.items())

    async def delete_prefixed(self, prefix: str) -> int:
        names = [t for t in await self.admin.list_topics() if t.startswith(prefix)]
        if names:
            await self.admin.delete_topics(names)
        return len(names)


async def preload(
    kafka: Mapping[str, Any], messages: Sequence[tuple[str, bytes, bytes]], display: Display, task: int
) -> None:
    """Write the backlog with large batches: its speed is not measured, only its completeness."""
    await preload_chunks(kafka, [messages], display, task)


async def preload_chunks(
    kafka: Mapping[str, Any],
    chunks: Iterable[Sequence[tuple[str, bytes, bytes]]],
    display: Display,
    task: int,
) -> int:
    """Like preload, for a backlog generated chunk by chunk (a million events do not fit a list
    comfortably); returns how many messages were written."""
    producer = AIOKafkaProducer(**kafka, linger_ms=20, max_batch_size=512 * 1024, acks=1)
    await producer.start()
    sent = 0
    try:
        for messages in chunks:
            futures = []
            for topic, key, value in messages:
                futures.append(await producer.send(topic, value, key=key))
                sent += 1
                if sent % 2000 == 0:
                    display.update(task, sent)
            await asyncio.gather(*futures)
            display.update(task, sent)
    finally:
        await producer.stop()
    return sent
