"""The worker's and the connectors' /metrics exposition passes Prometheus's linter.

The worker's app is built (no broker needed) so that every metric it registers is in the default
registry, the one its /metrics page renders; ``promtool check metrics`` runs on that text where
promtool is installed (Debian's ``prometheus`` package, see scripts/install-peers.sh). The same
lint rules, as far as they concern names, types and help, are checked here in Python as well, so
they hold on machines without promtool. tests/integration/test_promtool.py checks a running
worker's page with every label in use.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from faust.sensors.prometheus import FaustMetrics
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest

import connectors.metrics  # noqa: F401  # registers the connectors' metrics
from streams.app import build
from streams.settings import Settings

PROMTOOL = shutil.which("promtool")

# promtool's lint (client_golang promlint): abbreviated units and units that are not base units.
ABBREVIATED_UNITS = {"s", "ms", "us", "ns", "sec", "b", "kb", "mb", "gb", "tb", "pb", "m", "h", "d"}
NON_BASE_UNITS = {
    "milliseconds", "microseconds", "nanoseconds", "minutes", "hours", "days", "weeks",
    "kilobytes", "megabytes", "gigabytes", "terabytes", "petabytes", "percent",
}


@pytest.fixture(scope="module")
def worker_exposition(tmp_path_factory: pytest.TempPathFactory) -> str:
    """What the worker's /metrics page serves (less label children that only traffic creates)."""
    data = tmp_path_factory.mktemp("metrics-app")
    build(Settings(data_dir=data, store="memory://", app_id="metrics-exposition-test"))
    return generate_latest(REGISTRY).decode()


def faust_sensor_exposition() -> str:
    """What Faust's own Prometheus sensor would add (the worker does not install it)."""
    registry = CollectorRegistry()
    FaustMetrics.create(registry, "faust")
    return generate_latest(registry).decode()


def promtool_check(text: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30, check=False
    )


def lint(text: str) -> list[str]:
    """promtool's naming, type and help rules, on the # HELP / # TYPE lines of an exposition."""
    helps = dict(re.findall(r"^# HELP (\S+) ?(.*)$", text, re.MULTILINE))
    problems = []
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE):
        parts = name.split("_")
        if not helps.get(name, "").strip():
            problems.append(f"{name}: no help text")
        if kind == "counter" and not name.endswith("_total"):
            problems.append(f'{name}: counter metrics should have "_total" suffix')
        if kind != "counter" and name.endswith("_total"):
            problems.append(f'{name}: non-counter metrics should not have "_total" suffix')
        if kind not in ("histogram", "summary") and parts[-1] in ("count", "sum", "bucket"):
            problems.append(f"{name}: only histograms and summaries have a reserved suffix")
        if ABBREVIATED_UNITS & set(parts):
            problems.append(f"{name}: metric names should not contain abbreviated units")
        if NON_BASE_UNITS & set(parts):
            problems.append(f"{name}: use base units (seconds, bytes)")
        if kind != "untyped" and (f"_{kind}_" in name or name.endswith(f"_{kind}")):
            problems.append(f"{name}: metric name should not include type '{kind}'")
        if ":" in name or name != name.lower():
            problems.append(f"{name}: no colons or camelCase in names")
    return problems


def families(text: str) -> set[str]:
    return set(re.findall(r"^# TYPE (\S+) ", text, re.MULTILINE))


def test_the_worker_registers_riskstream_and_connector_metrics(worker_exposition: str) -> None:
    names = families(worker_exposition)
    assert {"riskstream_events_total", "riskstream_alert_latency_seconds"} <= names
    assert "riskstream_connector_received_total" in names


def test_the_worker_does_not_export_faust_sensor_metrics(worker_exposition: str) -> None:
    """See streams/metrics.py: they duplicate riskstream's and break Prometheus's conventions."""
    assert not [n for n in families(worker_exposition) if n.startswith("faust_")]


def test_the_worker_exposition_follows_the_lint_rules(worker_exposition: str) -> None:
    assert lint(worker_exposition) == []


def test_the_lint_rules_catch_what_promtool_refuses_in_faust_metrics() -> None:
    assert "faust_events_runtime_ms: metric names should not contain abbreviated units" in lint(
        faust_sensor_exposition()
    )


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian package prometheus)")
def test_promtool_check_metrics_passes_on_the_worker_exposition(worker_exposition: str) -> None:
    done = promtool_check(worker_exposition)
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian package prometheus)")
def test_promtool_check_metrics_refuses_faust_sensor_metrics() -> None:
    """The check above would catch them: this is the lint failure that keeps them out."""
    done = promtool_check(faust_sensor_exposition())
    assert done.returncode != 0
    assert "faust_events_runtime_ms metric names should not contain abbreviated units" in (
        done.stdout + done.stderr
    )


def test_the_lint_rules_pass_a_conventional_exposition_and_refuse_an_abbreviated_unit() -> None:
    """A sanity check of ``lint`` itself: a conventional exposition has no problem."""
    text = (
        "# HELP x_requests_total Requests.\n# TYPE x_requests_total counter\nx_requests_total 1.0\n"
        "# HELP x_queue_bytes Queue size.\n# TYPE x_queue_bytes gauge\nx_queue_bytes 3.0\n"
    )
    assert lint(text) == []
    assert lint(text.replace("x_queue_bytes", "x_queue_ms")) == [
        "x_queue_ms: metric names should not contain abbreviated units"
    ]
