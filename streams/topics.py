"""Creating riskstream's topics before the worker starts, with the partition count tables need.

Faust creates only its internal topics; a source topic auto-created by the broker would get the
broker's default partition count and break co-partitioning (PartitionsMismatch), so we create
every topic ourselves and refuse to start on a mismatch that would break table state.
"""

from __future__ import annotations

import contextlib
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from connectors.kafka_quiet import await_leaders, quiet_topic_setup
from rules.errors import ConfigError
from rules.routing import Router
from streams.dead_letters import check_broker_limit
from streams.kafka_security import unreachable
from streams.settings import Settings

log = logging.getLogger(__name__)


def all_topics(settings: Settings, router: Router) -> list[str]:
    names = list(settings.input_topics().values())
    names += [settings.topic(settings.topic_dlq), settings.topic(settings.topic_audit)]
    names += [settings.topic(a.topic) for a in router.agencies.values()]
    return names


def compacted_topics(settings: Settings) -> list[str]:
    """Topics that hold current state by key (latest value wins) and that every worker reads whole."""
    return [settings.topic(t) for t in (settings.topic_acks, settings.topic_silences, settings.topic_active)]


async def ensure_topics(settings: Settings, router: Router) -> list[str]:
    """Create missing topics; return the ones created. Raises ConfigError if Kafka is unreachable."""
    admin = AIOKafkaAdminClient(**settings.kafka_client_options(), request_timeout_ms=15000)
    try:
        await admin.start()
    except KafkaConnectionError:
        hint = "start it with `make kafka` or point RISKSTREAM_KAFKA_BOOTSTRAP at your cluster"
        raise ConfigError(unreachable(settings, hint)) from None
    try:
        existing = set(await admin.list_topics())
        keyed = [settings.topic(settings.topic_candidates), settings.topic(settings.topic_hits)]
        compacted = set(compacted_topics(settings))
        wanted = [*all_topics(settings, router), *keyed, *compacted]
        missing = [t for t in dict.fromkeys(wanted) if t not in existing]
        if missing:
            new = [
                NewTopic(
                    t,
                    settings.partitions,
                    settings.replication,
                    topic_configs={"cleanup.policy": "compact"} if t in compacted else {},
                )
                for t in missing
            ]
            with quiet_topic_setup():
                with contextlib.suppress(TopicAlreadyExistsError):
                    await admin.create_topics(new)
                await await_leaders(admin, missing)  # so the worker's first sends meet no retries
        await check_broker_limit(settings, admin)
        for name in (t for t in keyed if t in existing):
            meta = await admin.describe_topics([name])
            count = len(meta[0]["partitions"])
            if count != settings.partitions:
                raise ConfigError(
                    f"topic {name} has {count} partitions but RISKSTREAM_PARTITIONS is "
                    f"{settings.partitions}; the state tables must match it. Set "
                    f"RISKSTREAM_PARTITIONS={count} or use a new RISKSTREAM_TOPIC_PREFIX."
                )
        return missing
    finally:
        await admin.close()


def rules_topic(settings: Settings) -> str:
    """The compacted topic of published rule versions (``rules.rule_bundle``)."""
    return settings.topic(settings.topic_rules)


async def ensure_rules_topic(settings: Settings) -> bool:
    """Create the rules topic if missing (compacted, one partition: versions and the pointer are read
    in the order written); return whether it was created. Raises ConfigError if Kafka is unreachable
    or the topic has more partitions."""
    name = rules_topic(settings)
    admin = AIOKafkaAdminClient(**settings.kafka_client_options(), request_timeout_ms=15000)
    try:
        await admin.start()
    except KafkaConnectionError:
        raise ConfigError(unreachable(settings)) from None
    try:
        if name in set(await admin.list_topics()):
            meta = await admin.describe_topics([name])
            count = len(meta[0]["partitions"])
            if count != 1:
                raise ConfigError(
                    f"topic {name} has {count} partitions; the rules topic must have one, so that "
                    "versions and the pointer are read in the order written. Recreate it, or set "
                    "RISKSTREAM_TOPIC_RULES to a new name."
                )
            return False
        topic = NewTopic(name, 1, settings.replication, topic_configs={"cleanup.policy": "compact"})
        with quiet_topic_setup():
            try:
                await admin.create_topics([topic])
            except TopicAlreadyExistsError:
                return False
            await await_leaders(admin, [name])
        return True
    finally:
        await admin.close()
