"""The Faust application, its topics and its table, configured from Settings.

Values travel as raw bytes and are decoded by the core (orjson + pydantic), so a malformed
message reaches our dead-letter handling instead of failing inside Faust's codecs.
"""

from __future__ import annotations

import faust
from faust.sensors.prometheus import setup_prometheus_sensors

from rules.events import Family
from streams.live_rules import LiveRules
from streams.settings import get_settings

settings = get_settings()
rules = LiveRules.load(settings)

app = faust.App(
    settings.app_id,
    broker=[f"kafka://{h}" for h in settings.kafka_bootstrap.split(",")],
    store=settings.store,
    datadir=str(settings.data_dir / settings.app_id),
    web_bind=settings.web_bind,
    web_port=settings.web_port,
    web_host=settings.web_bind,
    web_tables_enabled=False,
    topic_partitions=settings.partitions,
    topic_replication_factor=settings.replication,
    topic_allow_declare=True,
    consumer_auto_offset_reset="earliest",
    producer_linger=0.005,
    producer_acks=-1,
    broker_commit_interval=1.0,
    broker_session_timeout=settings.session_timeout,
    key_serializer="raw",
    value_serializer="raw",
)
setup_prometheus_sensors(app, pattern="/metrics", name_prefix="faust")

FAMILY_OF_TOPIC: dict[str, Family] = {t: f for f, t in settings.input_topics().items()}

input_topic = app.topic(*FAMILY_OF_TOPIC, key_type=bytes, value_type=bytes)
candidates_topic = app.topic(
    settings.topic(settings.topic_candidates),
    key_type=bytes,
    value_type=bytes,
    partitions=settings.partitions,
)
hits_topic = app.topic(
    settings.topic(settings.topic_hits),
    key_type=bytes,
    value_type=bytes,
    partitions=settings.partitions,
)
active_topic = app.topic(settings.topic(settings.topic_active), key_type=bytes, value_type=bytes)
dlq_topic = app.topic(settings.topic(settings.topic_dlq), key_type=bytes, value_type=bytes)
audit_topic = app.topic(settings.topic(settings.topic_audit), key_type=bytes, value_type=bytes)

alert_state = app.Table(
    "alert-state",
    default=None,
    partitions=settings.partitions,
    schema=faust.Schema(key_serializer="json", value_serializer="json"),
)
"""Fingerprint to the AlertState of its current alert (JSON), changelog-backed."""

window_state = app.Table(
    "window-state",
    default=None,
    partitions=settings.partitions,
    schema=faust.Schema(key_serializer="json", value_serializer="json"),
)
"""Fingerprint (stateful rule + group) to {"rule": rule id, "w": its GroupWindow as compact JSON}."""


_agency_topics: dict[str, faust.TopicT] = {}


def agency_topic(agency: str) -> faust.TopicT:
    """The topic of an agency under the current routing file, built once per topic name."""
    name = settings.topic(rules.dispatcher.router.topic_of(agency))
    topic = _agency_topics.get(name)
    if topic is None:
        topic = _agency_topics[name] = app.topic(name, key_type=bytes, value_type=bytes)
    return topic
