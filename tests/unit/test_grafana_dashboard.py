"""The Grafana dashboard asks only for metrics the worker and the connectors export.

A renamed metric leaves a dashboard panel silently empty; here every PromQL expression of
deploy/grafana/dashboards/riskstream.json is checked against the series names the worker
(streams.metrics) and the connectors (connectors.metrics) register with prometheus_client.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

import connectors.metrics
import streams.metrics

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "riskstream.json"
DATASOURCES = ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "prometheus.yaml"
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}

SUFFIXES = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum"),
    "summary": ("", "_count", "_sum"),
    "info": ("_info",),
    "stateset": ("",),
    "unknown": ("",),
}
"""Series each kind of metric family exposes: a family ``x`` of type counter is queried as
``x_total``, a histogram as ``x_bucket``/``x_count``/``x_sum`` (``_created`` is turned off)."""

METRIC = re.compile(r"(?<![\w:])((?:riskstream|faust)_\w+)")
STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')


def exported_series() -> set[str]:
    """Every series name the worker's and the connectors' /metrics can show."""
    assert streams.metrics.EVENTS and connectors.metrics.RECEIVED  # both registered in REGISTRY
    names: set[str] = set()
    for family in REGISTRY.collect():
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers starting riskstream_ or faust_, outside
    string literals (label values), including the selector ``{__name__="..."}`` form."""
    named = set(re.findall(r'__name__\s*=\s*"([^"]+)"', expr))
    return named | set(METRIC.findall(STRING.sub('""', expr)))


def all_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from all_panels(panel.get("panels", []))  # a collapsed row keeps its panels


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def query_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in all_panels(dashboard["panels"]) if p.get("type") != "row"]


def test_the_parser_finds_metric_names_and_not_labels_or_functions() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le, stage) (rate(riskstream_alert_latency_seconds_bucket'
        '{job="riskstream_worker"}[$__rate_interval]))) / faust_x_total + {__name__="riskstream_open_alerts"}'
    )
    assert metric_names(expr) == {
        "riskstream_alert_latency_seconds_bucket", "faust_x_total", "riskstream_open_alerts"
    }


def test_series_names_follow_the_family_type() -> None:
    series = exported_series()
    assert {"riskstream_events_total", "riskstream_open_alerts", "riskstream_alert_latency_seconds_bucket",
            "riskstream_alert_latency_seconds_count", "riskstream_connector_kafka_up"} <= series
    assert "riskstream_events" not in series  # a counter is only ever scraped with _total
    assert "riskstream_open_alerts_total" not in series
    assert "riskstream_alert_latency_seconds" not in series


def test_every_panel_queries_only_exported_metrics(dashboard: dict[str, Any]) -> None:
    series = exported_series()
    unknown = {
        (panel["title"], name)
        for panel in query_panels(dashboard)
        for target in panel.get("targets", [])
        for name in metric_names(target["expr"])
        if name not in series
    }
    assert not unknown


def test_every_panel_has_a_title_a_datasource_and_a_query(dashboard: dict[str, Any]) -> None:
    panels = query_panels(dashboard)
    assert len(panels) >= 20
    for panel in all_panels(dashboard["panels"]):
        assert panel.get("title", "").strip(), panel
    for panel in panels:
        assert panel.get("datasource") == DATASOURCE, panel["title"]
        assert panel.get("targets"), panel["title"]
        for target in panel["targets"]:
            assert target.get("datasource", DATASOURCE) == DATASOURCE, panel["title"]
            assert metric_names(target.get("expr", "")), panel["title"]
    ids = [p["id"] for p in all_panels(dashboard["panels"])]
    assert len(ids) == len(set(ids))


def test_the_dashboard_covers_what_ops_watch(dashboard: dict[str, Any]) -> None:
    used = {name for p in query_panels(dashboard) for t in p["targets"] for name in metric_names(t["expr"])}
    assert {
        "riskstream_events_total", "riskstream_dead_letters_total", "riskstream_rule_matches_total",
        "riskstream_alerts_total", "riskstream_notices_total", "riskstream_notices_withheld_total",
        "riskstream_alert_latency_seconds_bucket", "riskstream_consumer_lag_messages",
        "riskstream_stalled_partitions", "riskstream_open_alerts", "riskstream_rule_reloads_total",
        "riskstream_rules_loaded", "riskstream_window_groups", "riskstream_stage_records_total",
        "riskstream_connector_received_total", "riskstream_connector_produced_total",
        "riskstream_connector_dead_letters_total", "riskstream_connector_refused_total",
        "riskstream_connector_pending_records", "riskstream_connector_kafka_up",
    } <= used


def test_the_provisioned_datasource_has_the_uid_the_dashboard_uses() -> None:
    text = DATASOURCES.read_text(encoding="utf-8")
    assert re.search(r"^\s+uid: prometheus$", text, re.MULTILINE)
    assert re.search(r"^\s+type: prometheus$", text, re.MULTILINE)


PROMTOOL_MISSING = "promtool not installed (Debian package prometheus)"


@pytest.mark.skipif(shutil.which("promtool") is None, reason=PROMTOOL_MISSING)
def test_every_panel_query_is_valid_promql(dashboard: dict[str, Any], tmp_path: Path) -> None:
    """promtool parses each expression as a recording rule (Grafana's $__ intervals made concrete)."""
    rules = [
        {"record": f"dashboard:panel_{p['id']}_{t['refId']}",
         "expr": re.sub(r"\$__(rate_)?interval|\$__range", "5m", t["expr"])}
        for p in query_panels(dashboard)
        for t in p["targets"]
    ]
    path = tmp_path / "dashboard-rules.json"  # YAML is a superset of JSON: promtool reads it
    path.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}), encoding="utf-8")
    done = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
