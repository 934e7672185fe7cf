"""The simulator's incident scenarios, through a real worker and broker, raise exactly the alerts
the scenarios expect, on exactly the right agency topics, with the ids the pure core predicts."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from connectors.scenarios import GroundTruth, Injection, load_scenarios, materialise
from connectors.simulator import inject
from rules.compiler import load_ruleset
from rules.events import EVENT_ADAPTER, EventBase
from rules.routing import load_routing
from rules.testing import replay
from streams.settings import PACKAGE_RULES, Settings
from tests.integration.harness import ROOT, Worker, consume, make_worker

SCENARIOS = load_scenarios(ROOT / "connectors" / "scenarios.yaml")
ROUTER = load_routing(PACKAGE_RULES / "routing.yaml")


@dataclass
class Run:
    worker: Worker
    truths: list[GroundTruth]
    predicted: list[dict[str, Any]]
    audit: list[dict[str, Any]]
    by_topic: dict[str, list[dict[str, Any]]]


def predict(truths: list[GroundTruth]) -> list[dict[str, Any]]:
    """Every notice the pure core raises for the same materialised events (same ids, same identifiers
    as cast, same order), rebuilt from the ground truth alone."""
    ruleset = load_ruleset([PACKAGE_RULES / "packs"], ROUTER)
    by_name = {s.name: s for s in SCENARIOS}
    out: list[dict[str, Any]] = []
    for truth in truths:
        injection = Injection(truth.run_id, truth.injected_at, truth.cast)
        raw = materialise(by_name[truth.scenario], injection)
        events: list[EventBase] = [EVENT_ADAPTER.validate_python(ev) for _, ev in raw]
        out.extend(n.alert.model_dump(mode="json") for n in replay(ruleset, events, clock_ticks=False))
    return out


@pytest.fixture(scope="module")
def run(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp: Path = tmp_path_factory.mktemp("scenarios")
    worker = make_worker(bootstrap, tmp, "scenarios").start()
    settings = Settings(kafka_bootstrap=bootstrap, topic_prefix=worker.prefix)
    run_id = "it"
    truths = asyncio.run(inject(settings.kafka_target(), SCENARIOS, run_id, gap=0.3))
    predicted = predict(truths)
    audit_topic = settings.topic(settings.topic_audit)
    records = consume(
        bootstrap, [audit_topic], lambda r: len(r) >= len(predicted), timeout=90, settle=3.0
    )
    audit = [orjson.loads(r.value)["data"] for r in records]
    agency_topics = [settings.topic(a.topic) for a in ROUTER.agencies.values()]
    expected_deliveries = sum(len(n["agencies"]) for n in predicted if not n["withheld_by"])
    delivered = consume(bootstrap, agency_topics, lambda r: len(r) >= expected_deliveries, timeout=60)
    by_topic: dict[str, list[dict[str, Any]]] = {}
    for r in delivered:
        by_topic.setdefault(r.topic, []).append(orjson.loads(r.value)["data"])
    yield Run(worker, truths, predicted, audit, by_topic)
    worker.stop()


def notice_key(n: dict[str, Any]) -> tuple[str, int]:
    return (n["alert_id"], n["notice_seq"])


def test_every_scenario_expectation_is_met_by_a_live_alert(run: Run) -> None:
    live = Counter((n["rule_id"], n["tier"], tuple(sorted(n["group"].items()))) for n in run.audit)
    for truth in run.truths:
        for exp in truth.expected:
            matches = [
                k for k in live
                if k[0] == exp.rule
                and (exp.tier is None or k[1] == exp.tier.value)
                and (exp.group is None or dict(k[2]) == {a: str(b) for a, b in exp.group.items()})
            ]
            assert matches, f"{truth.scenario}: no live alert for {exp}"


def test_live_notices_are_exactly_the_ones_the_core_predicts(run: Run) -> None:
    assert sorted(map(notice_key, run.audit)) == sorted(map(notice_key, run.predicted))


def test_notice_count_matches_the_scenarios(run: Run) -> None:
    assert len(run.audit) == sum(len(t.expected) for t in run.truths)


def test_scenarios_injected_together_are_played_on_identifiers_of_their_own(run: Run) -> None:
    played = [v for t in run.truths for v in t.cast.values()]
    assert played and len(played) == len(set(played))
    assert not [n["group_key"] for n in run.audit if "~" in n["group_key"]]


def test_live_notices_carry_the_predicted_tier_agencies_and_count(run: Run) -> None:
    predicted = {notice_key(n): n for n in run.predicted}
    for n in run.audit:
        p = predicted[notice_key(n)]
        assert (n["tier"], sorted(n["agencies"]), n["count"], n["evidence"]) == (
            p["tier"], sorted(p["agencies"]), p["count"], p["evidence"]
        ), n["rule_id"]


def test_each_notice_reaches_exactly_its_agency_topics(run: Run) -> None:
    settings = Settings(topic_prefix=run.worker.prefix)
    for n in run.predicted:
        for agency in ROUTER.agencies:
            topic = settings.topic(ROUTER.topic_of(agency))
            got = [m for m in run.by_topic.get(topic, []) if notice_key(m) == notice_key(n)]
            delivered = agency in n["agencies"] and not n["withheld_by"]
            assert len(got) == (1 if delivered else 0), (n["rule_id"], agency, n["withheld_by"])


def test_metrics_count_the_alerts_per_agency(run: Run) -> None:
    for agency in ROUTER.agencies:
        want = sum(1 for n in run.predicted if agency in n["agencies"] and not n["withheld_by"])
        assert run.worker.metric("riskstream_alerts_total", agency=agency) == want, agency
