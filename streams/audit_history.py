"""One alert's notices read back from the audit topic, for `riskstream rules explain --alert`.

Dispatch keys every notice by its alert id, with Kafka's default partitioning, so all of one
alert's notices are in one partition of the audit topic: only that one is read, from its start to
its end as of now, outside any consumer group (nothing is committed; live workers do not notice).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaConnectionError
from pydantic import ValidationError

from rules.alerts import Alert, CloudEvent
from rules.errors import RiskstreamError
from streams.kafka_io import partitions_of
from streams.kafka_security import unreachable
from streams.partitioner import CachedPartitioner
from streams.settings import Settings


@dataclass
class AuditRead:
    topic: str
    partition: int
    records: int = 0
    """Records of the partition read (every alert's)."""
    notices: list[Alert] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    """``topic[partition]@offset: why`` for a record of this alert that is not a notice."""


def partition_of(alert_id: str, partitions: list[int]) -> int:
    """The partition dispatch sends an alert's notices to (``streams.sending``)."""
    ordered = sorted(partitions)
    return CachedPartitioner(remembered=1)(alert_id.encode(), ordered, ordered)


async def alert_notices(settings: Settings, alert_id: str) -> AuditRead:
    """Every notice of ``alert_id`` on the audit topic, in the order the topic holds them."""
    topic = settings.topic(settings.topic_audit)
    consumer = AIOKafkaConsumer(**settings.kafka_client_options(), group_id=None, enable_auto_commit=False)
    try:
        await consumer.start()
    except KafkaConnectionError:
        raise RiskstreamError(unreachable(settings)) from None
    try:
        if topic not in await consumer.topics():
            raise RiskstreamError(
                f"no audit topic {topic} on {settings.kafka_bootstrap}: the worker creates it when it "
                "starts (`riskstream worker`); check RISKSTREAM_TOPIC_PREFIX, or give recorded notices "
                "with --from-file"
            )
        known = (await partitions_of(settings, [topic]))[topic]
        tp = TopicPartition(topic, partition_of(alert_id, known))
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        read = AuditRead(topic, tp.partition)
        key = alert_id.encode()
        while await consumer.position(tp) < end:
            batch = await consumer.getmany(tp, timeout_ms=500)
            for record in batch.get(tp, []):
                if record.offset >= end:
                    continue
                read.records += 1
                if record.key != key:
                    continue
                try:
                    read.notices.append(CloudEvent.model_validate_json(record.value or b"").data)
                except ValidationError as exc:
                    why = exc.errors(include_url=False)[0]["msg"]
                    read.unreadable.append(f"{topic}[{tp.partition}]@{record.offset}: {why}")
        return read
    finally:
        await consumer.stop()
