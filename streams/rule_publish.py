"""Rule versions on the rules topic: publishing one, moving the pointer back, reading and following it.

Publishes and rollbacks are Kafka transactions under one transactional id per rules topic. Starting
the producer fences any publisher still at work under that id, and the history is read after that,
so two authors publishing at once cannot both take the same version number: the later one wins,
the earlier one's commit fails and writes nothing. The version record and the pointer to it are
committed together, and readers read committed records only, so no worker sees a pointer to a
version it has not been given.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaConnectionError, KafkaError, MessageSizeTooLargeError, ProducerFenced

from rules.compiler import pack_files
from rules.errors import ConfigError, Location, RiskstreamError, RuleError
from rules.rule_bundle import CURRENT_KEY, CurrentPointer, RecordError, RuleFile, RuleHistory, RuleVersion
from streams.kafka_security import unreachable
from streams.settings import Settings
from streams.topics import ensure_rules_topic, rules_topic

log = logging.getLogger(__name__)

READ_TIMEOUT_MS = 1000


def publisher_id(settings: Settings) -> str:
    """The transactional id every publish and rollback of this rules topic uses (ACLs name it)."""
    return f"{rules_topic(settings)}.publisher"


def read_rule_files(paths: Sequence[Path], routing: Path) -> tuple[list[RuleFile], RuleFile]:
    """The packs under ``paths`` and the routing file as they would be published, named as the
    author's checkout names them (relative to the working directory when inside it)."""
    return [_read(p) for p in pack_files(paths)], _read(routing)


def _read(path: Path) -> RuleFile:
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise RuleError("file not found", Location(path)) from None
    except OSError as exc:
        raise RuleError(f"cannot read the file: {exc.strerror or exc}", Location(path)) from None
    except UnicodeDecodeError as exc:
        raise RuleError(f"file is not UTF-8 (byte {exc.start})", Location(path)) from None
    return RuleFile(name=_name(path), text=text)


def _name(path: Path) -> str:
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


@dataclass(frozen=True)
class Outcome:
    """What a publish or rollback did: the version now current, and the pointer written (None: that
    version was current already, nothing was written)."""

    version: RuleVersion
    pointer: CurrentPointer | None


async def publish(
    settings: Settings, packs: Sequence[RuleFile], routing: RuleFile, author: str, message: str, at: datetime
) -> Outcome:
    """Publish the files as the next version and make it current. Content equal to the current
    version's is not published again. Raises RiskstreamError (RuleSetError if it does not compile)."""
    with _refusals(settings):
        await ensure_rules_topic(settings)
    async with _transaction(settings) as (producer, history):
        version = RuleVersion.create(history.next_version(), packs, routing, author, message, at)
        current = history.wanted
        if current is not None and current.checksum == version.checksum:
            return Outcome(current, None)
        version.compile(settings.city_tz)
        pointer = CurrentPointer.to(version, "publish", author, at)
        await _commit(producer, settings, [(version.key, version.encode()), (CURRENT_KEY, pointer.encode())])
        return Outcome(version, pointer)


async def rollback(settings: Settings, number: int, by: str, at: datetime) -> Outcome:
    """Point workers at an earlier version, once it is known to compile. Raises RiskstreamError."""
    async with _transaction(settings) as (producer, history):
        target = history.versions.get(number)
        if target is None:
            held = ", ".join(str(v.version) for v in history.listing()) or "none"
            raise RiskstreamError(
                f"version {number} is not on {rules_topic(settings)} (versions held: {held}); "
                "`riskstream rules history` lists them"
            )
        if history.current is not None and history.current.version == number:
            return Outcome(target, None)
        target.compile(settings.city_tz)
        pointer = CurrentPointer.to(target, "rollback", by, at)
        await _commit(producer, settings, [(CURRENT_KEY, pointer.encode())])
        return Outcome(target, pointer)


@asynccontextmanager
async def _transaction(settings: Settings) -> AsyncIterator[tuple[AIOKafkaProducer, RuleHistory]]:
    """A transactional producer, started (so any other publisher is fenced), and the history as
    read after that."""
    producer = AIOKafkaProducer(
        **settings.kafka_client_options(),
        transactional_id=publisher_id(settings),
        acks="all",
        compression_type="gzip",
    )
    try:
        with _refusals(settings):
            await producer.start()
            yield producer, await read_history(settings)
    finally:
        await producer.stop()


@contextmanager
def _refusals(settings: Settings) -> Iterator[None]:
    """Kafka's errors as what to do about them."""
    try:
        yield
    except KafkaConnectionError:
        raise ConfigError(unreachable(settings)) from None
    except (ProducerFenced, MessageSizeTooLargeError):
        raise
    except KafkaError as exc:
        raise RiskstreamError(
            f"Kafka refused ({type(exc).__name__}: {exc}): publishing needs Describe, Read and Write on "
            f"topic {rules_topic(settings)} (Create too if it does not exist yet) and Describe and Write "
            f"on transactional id {publisher_id(settings)}; see docs/operations.md"
        ) from None


async def _commit(producer: AIOKafkaProducer, settings: Settings, records: list[tuple[bytes, bytes]]) -> None:
    topic = rules_topic(settings)
    try:
        async with producer.transaction():
            for key, value in records:
                await producer.send_and_wait(topic, value=value, key=key, partition=0)
    except ProducerFenced:
        raise RiskstreamError(
            "another publish or rollback of these rules started meanwhile and took over: nothing was "
            "written. See `riskstream rules history` and try again"
        ) from None
    except MessageSizeTooLargeError:
        size = max(len(v) for _, v in records)
        raise RiskstreamError(
            f"the rule version is {size:,} bytes, more than the producer or {topic} takes "
            "(max.message.bytes): raise the topic's max.message.bytes, or split large packs' comments out"
        ) from None


async def _consumer(settings: Settings) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(
        **settings.kafka_client_options(),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    try:
        await consumer.start()
    except KafkaConnectionError:
        await consumer.stop()
        raise ConfigError(unreachable(settings)) from None
    return consumer


async def read_history(settings: Settings) -> RuleHistory:
    """The rules topic from its start to its current end (empty if nobody has published yet)."""
    history = RuleHistory()
    consumer = await _consumer(settings)
    try:
        tp = TopicPartition(rules_topic(settings), 0)
        if tp.topic in await consumer.topics():
            await _catch_up(consumer, tp, history)
    finally:
        await consumer.stop()
    return history


async def follow(settings: Settings, on_history: Callable[[RuleHistory], object]) -> None:
    """Read the rules topic whole, hand the history over, then apply each new batch of records to it
    and hand it over again; runs until cancelled. Earlier pointers met while catching up are never
    handed over, so a worker never switches to a version that was current once and no longer is."""
    consumer = await _consumer(settings)
    try:
        tp = TopicPartition(rules_topic(settings), 0)
        history = RuleHistory()
        await _catch_up(consumer, tp, history)
        on_history(history)
        while True:
            if await _read_batch(consumer, tp, history):
                on_history(history)
    finally:
        await consumer.stop()


async def _catch_up(consumer: AIOKafkaConsumer, tp: TopicPartition, history: RuleHistory) -> None:
    consumer.assign([tp])
    await consumer.seek_to_beginning(tp)
    end = (await consumer.end_offsets([tp]))[tp]
    while await consumer.position(tp) < end:  # the position also passes transaction markers
        await _read_batch(consumer, tp, history)


async def _read_batch(consumer: AIOKafkaConsumer, tp: TopicPartition, history: RuleHistory) -> bool:
    batch = await consumer.getmany(tp, timeout_ms=READ_TIMEOUT_MS)
    records = batch.get(tp, [])
    for record in records:
        try:
            history.apply(record.key, record.value)
        except RecordError as exc:
            log.warning("skipping record at offset %d of %s: %s", record.offset, tp.topic, exc)
    return bool(records)
