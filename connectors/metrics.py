"""Prometheus metrics of the connectors: what came in, what reached Kafka, what was refused and why.

Served on ``/metrics`` like the worker's (127.0.0.1 by default), one port per connector process.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped in prometheus_client

RECEIVED = Counter(
    "riskstream_connector_received_total",
    "Records a connector received from its source (a batch counts each record)",
    ["connector"],
)
PRODUCED = Counter(
    "riskstream_connector_produced_total",
    "Events a connector produced and Kafka acknowledged, by topic",
    ["connector", "topic"],
)
DEAD_LETTERS = Counter(
    "riskstream_connector_dead_letters_total",
    "Records a mapping could not turn into a valid event, sent to the dead-letter topic, by reason",
    ["connector", "reason"],
)
REFUSED = Counter(
    "riskstream_connector_refused_total",
    "Input the connector pushed back instead of buffering, by why: kafka_unavailable, busy, "
    "unauthorized, too_large (HTTP answers), queue_full (UDP datagrams dropped)",
    ["connector", "why"],
)
PENDING = Gauge(
    "riskstream_connector_pending_records",
    "Records received and not yet acknowledged by Kafka (the connector's queue depth)",
    ["connector"],
)
BACKLOG = Gauge(
    "riskstream_connector_backlog_bytes",
    "File connectors: bytes of known files not yet delivered (lag behind the source)",
    ["connector"],
)
KAFKA_UP = Gauge(
    "riskstream_connector_kafka_up", "1 while the connector's Kafka producer is connected", ["connector"]
)
DELIVERY_SECONDS = Histogram(
    "riskstream_connector_delivery_seconds",
    "Seconds from handing a batch to Kafka to its acknowledgement",
    ["connector"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
