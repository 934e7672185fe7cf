"""Prometheus metrics: what ops watch for load, errors, lag and latency.

Names follow Prometheus conventions (base units, _total counters). Label children are looked up once
(``child``): a stage counts per batch, and ``labels()`` costs more than the increment.

The worker's ``/metrics`` (``streams.app``) serves these and prometheus_client's process and Python
collectors, and deliberately not Faust's own Prometheus sensor (``faust.sensors.prometheus``,
installed by ``setup_prometheus_sensors``): its metrics duplicate these ones (messages received:
``riskstream_events_total``; end and committed offsets: ``riskstream_consumer_lag_messages``; sends:
``riskstream_stage_records_total``), count per message where the stages work per batch, and break
Prometheus conventions: ``faust_events_runtime_ms`` fails ``promtool check metrics`` ("metric names
should not contain abbreviated units") and every one of its latency histograms observes
milliseconds, not seconds. ``tests/unit/test_metrics_exposition.py`` lints what the worker registers
(with promtool where it is installed).
"""

from __future__ import annotations

from functools import cache
from typing import TypeVar, cast

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.metrics import MetricWrapperBase

disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped in prometheus_client

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

EVENTS = Counter(
    "riskstream_events_total", "Input messages consumed, by family and outcome", ["family", "outcome"]
)
DEAD_LETTERS = Counter(
    "riskstream_dead_letters_total", "Messages sent to the dead-letter topic", ["family", "reason"]
)
RULE_MATCHES = Counter("riskstream_rule_matches_total", "Events that met a rule", ["rule", "risk", "tier"])
RULE_EVAL_ERRORS = Counter(
    "riskstream_rule_eval_errors_total",
    "Rule conditions that could not be evaluated for an event (counted as no match)",
    ["rule"],
)
NOTICES = Counter(
    "riskstream_alerts_total",
    "Alert notices produced to agency topics",
    ["rule", "risk", "tier", "agency"],
)
NOTICE_CHANGES = Counter(
    "riskstream_notices_total",
    "Notices delivered, per rule, agency and what they report (opened, tier_raised, tier_lowered, repeat, "
    "escalated, acknowledged, resolved, released)",
    ["rule", "agency", "change"],
)
WITHHELD = Counter(
    "riskstream_notices_withheld_total",
    "Notices held back from an agency (audited, not lost), by rule, agency and why (silence, inhibited, "
    "storm)",
    ["rule", "agency", "why"],
)
SHADOW_NOTICES = Counter(
    "riskstream_shadow_notices_total",
    "Would-be notices of shadow rules (audit topic only, sent to no agency), by rule, the agency it would "
    "have reached, what it reports, and outcome: sent (would have been), or why it would have been held "
    "back (silence, inhibited, storm)",
    ["rule", "agency", "change", "outcome"],
)
TIME_TO_ACK = Histogram(
    "riskstream_time_to_ack_seconds",
    "Seconds from an alert opening to its acknowledgement by a duty officer",
    ["rule"],
    buckets=(30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400),
)
SUPPRESSED = Counter(
    "riskstream_candidates_suppressed_total",
    "Rule matches that produced no notice, by reason (in_cooldown: merged into the open alert, duplicate, "
    "nothing_to_resolve)",
    ["rule", "reason"],
)
WINDOW_HITS = Counter(
    "riskstream_window_hits_total",
    "Events reaching a stateful rule's window, by outcome: counted, duplicate (same event id "
    "again), late (older than the rule's lateness allows; not counted), unknown_rule",
    ["rule", "outcome"],
)
WINDOW_TICKS = Counter(
    "riskstream_window_ticks_total",
    "Clock checks of one group, by outcome: absent (fired), expired (idle group forgotten), waiting, stale",
    ["outcome"],
)
WINDOW_EVICTIONS = Counter(
    "riskstream_window_evictions_total",
    "Events dropped from a group's window because it held more than the per-group limit",
    ["rule"],
)
WINDOW_GROUPS = Gauge(
    "riskstream_window_groups",
    "Groups with window state in the partitions this worker owns, by stage: detect (rules grouped by "
    "source_id, beside detection) and windows (the window stage)",
    ["stage"],
)
PROCESSING_ERRORS = Counter(
    "riskstream_processing_errors_total",
    "Records a stage parked in the dead-letter topic, and clock turns of one group or alert that "
    "failed, because of an unexpected error (the log has the traceback): any is a bug to report",
    ["stage"],
)
ALREADY_DELIVERED = Counter(
    "riskstream_notices_already_delivered_total",
    "Notice copies not sent again after a takeover because their topic already held them (a worker "
    "had delivered them and was stopped before it recorded the alert's state), by rule",
    ["rule"],
)
STAGE_RECORDS = Counter(
    "riskstream_stage_records_total",
    "Records a stage has finished: decided, their output acknowledged by the broker and their state "
    "written (detect: input events; windows: hits; dispatch: candidates and notes)",
    ["stage"],
)
LATENCY = Histogram(
    "riskstream_alert_latency_seconds",
    "Seconds from event time (stage=event_to_alert) or from consumption (stage=consume_to_produce)"
    " to the alert being handed to the producer",
    ["stage"],
    buckets=LATENCY_BUCKETS,
)
LAG = Gauge(
    "riskstream_consumer_lag_messages",
    "Messages not yet committed per owned source partition (end offset minus the consumer group's "
    "committed offset as the broker has it)",
    ["topic", "partition"],
)
STALLED = Gauge(
    "riskstream_stalled_partitions",
    "Owned source partitions with waiting messages and no committed progress for RISKSTREAM_STALL_AFTER s",
)
OPEN_ALERTS = Gauge("riskstream_open_alerts", "Open alerts in the partitions this worker owns")
WORLD = Gauge(
    "riskstream_world_entries",
    "What every worker knows of the whole system, by kind (active alerts, acks, silences)",
    ["kind"],
)
RULES_LOADED = Gauge("riskstream_rules_loaded", "Enabled rules the worker is running")
RULE_RELOADS = Counter(
    "riskstream_rule_reloads_total", "Rule reload attempts, by outcome (ok, refused)", ["outcome"]
)
RULES_VERSION = Gauge(
    "riskstream_rules_version",
    "Published rule version: the one this worker runs (state=running) and the one the rules topic names "
    "current (state=wanted); running differs from wanted when the worker refused it. 0: rules from files",
    ["state"],
)


_M = TypeVar("_M", bound=MetricWrapperBase)


@cache
def _child(metric: MetricWrapperBase, *labels: str) -> MetricWrapperBase:
    return metric.labels(*labels)


def child(metric: _M, *labels: str) -> _M:
    """``metric.labels(*labels)``, looked up once: labels() takes a lock and costs ~20 us per event.

    The cache grows with label cardinality, which Prometheus needs bounded anyway.
    """
    return cast(_M, _child(metric, *labels))
