"""One real Kafka broker per test run, shared by every integration test."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from tests.integration import harness
from tests.integration.broker import kafka_broker
from tests.integration.connector_kit import mosquitto_broker

LOG_LINES = 80


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    state: Path = tmp_path_factory.mktemp("kafka")
    with kafka_broker(state) as servers:
        yield servers


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """One real Mosquitto (Debian's package) per run, for the MQTT connector; yields its port."""
    with mosquitto_broker(tmp_path_factory.mktemp("mosquitto")) as port:
        yield port


FIRST_WORKER = pytest.StashKey[int]()


def pytest_runtest_setup(item: pytest.Item) -> None:
    item.stash[FIRST_WORKER] = len(harness.started)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Generator[None, pytest.TestReport, None]:
    """A failing integration test shows the log tail of each worker it used.

    CI keeps only the test output; without the worker's own account (rebalances, recovery,
    exceptions) a failure there cannot be explained afterwards. "Used" means still running (a
    module's shared worker) or started by this test.
    """
    outcome = yield
    report = outcome.get_result()
    if not report.failed or "tests/integration/" not in str(item.fspath):
        return
    first = item.stash.get(FIRST_WORKER, len(harness.started))
    for i, worker in enumerate(harness.started):
        if i >= first or worker.running:
            report.sections.append((f"worker log {worker.log_path}", _tail_without_tables(worker)))


def _tail_without_tables(worker: harness.Process) -> str:
    """Faust draws tables of partitions in its log; the lines that say what happened matter here."""
    try:
        lines = worker.log_path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return "(no log)"
    said = [line for line in lines if not line.startswith(("|", "+"))]
    return "\n".join(said[-LOG_LINES:])
