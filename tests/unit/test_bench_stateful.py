"""The stateful bench workloads: generated packs load cleanly, the group vocabulary is what the
README claims, every event is one hit, and the firing prediction equals the pure core's decisions.

No broker: the worker's decisions are rules.engine + rules.stateful, which run here in-process.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from bench.packs import PROBE_RULE_ID, count_rules, write_pack
from bench.params import BenchParams
from bench.pipeline import parse_counters
from bench.process import parse_status
from bench.runner import plan, short_count
from bench.stateful import (
    GROUPS_RULE_ID,
    STATEFUL_GROUPS,
    FiringModel,
    GroupSpace,
    StatefulFactory,
    groups_pack,
    plan_rules,
    stateful_backlog,
    stateful_pack,
    stateful_probe_pack,
    unique_group_events,
)
from rules.compiler import RuleSet, load_ruleset
from rules.engine import Engine
from rules.events import EVENT_ADAPTER
from rules.routing import Router, load_routing
from rules.stateful import WindowJudge
from rules.windows import GroupWindow
from streams.settings import PACKAGE_RULES, Settings

TOPICS = Settings(topic_prefix="t.").input_topics()


@pytest.fixture(scope="module")
def shipped_router() -> Router:
    """The bench routes generated rules with the shipped routing file (the probe's device_ops)."""
    return load_routing(PACKAGE_RULES / "routing.yaml")


@pytest.fixture(scope="module")
def stateful_rules(tmp_path_factory: pytest.TempPathFactory, shipped_router: Router) -> RuleSet:
    d = tmp_path_factory.mktemp("stateful")
    write_pack(d / "stateful.yaml", stateful_pack(plan_rules(), shipped_router))
    write_pack(d / "probe.yaml", stateful_probe_pack())
    return load_ruleset([d], shipped_router)


def _replay(rules: RuleSet, bodies: list[bytes]) -> tuple[int, int, Counter[str]]:
    """(hits, firings, outcomes) of the worker's own decisions on these events, in order."""
    engine, stage = Engine(rules.rules), WindowJudge(rules.rules)
    state: dict[str, GroupWindow | None] = {}
    hits = fired = 0
    outcomes: Counter[str] = Counter()
    now = datetime.now(UTC)
    for raw in bodies:
        found = engine.detect(EVENT_ADAPTER.validate_json(raw))
        assert not found.candidates, "generated stateful workloads have no stateless matches"
        for hit in found.hits:
            hits += 1
            res = stage.on_hit(state.get(hit.fingerprint), hit, now)
            state[hit.fingerprint] = res.state
            outcomes[res.outcome] += 1
            fired += res.candidate is not None
    return hits, fired, outcomes


def test_plan_has_the_form_mix_and_one_kind_per_holds_for_rule() -> None:
    rules = plan_rules(100)
    assert len({r.id for r in rules}) == 100
    forms = Counter(r.form for r in rules)
    assert forms == {
        "count": 50,
        "distinct": 25,
        "aggregate": 10,
        "holds_for": 5,
        "sequence": 5,
        "absent_for": 5,
    }
    pairs = Counter((r.family, r.kind) for r in rules)
    for r in rules:
        if r.form == "holds_for":
            assert pairs[(r.family, r.kind)] == 1, "a holds_for rule sees every event of its kind"
    assert len({r.family for r in rules}) == 5
    slots = {(r.family, r.kind, r.street) for r in rules}
    assert len(slots) == 100, "no two rules read the same kind on the same street"


def test_generated_stateful_pack_loads_and_lints_cleanly(stateful_rules: RuleSet) -> None:
    by_id = stateful_rules.by_id()
    assert len(by_id) == 101
    assert by_id[PROBE_RULE_ID].stateful
    generated = [r for r in stateful_rules.rules if r.id != PROBE_RULE_ID]
    assert all(r.stateful for r in generated)
    assert {r.group_by for r in generated} == {("location.grid",)}


def test_bench_plan_counts_the_rules_the_worker_will_run(tmp_path: Path, shipped_router: Router) -> None:
    params = BenchParams(rule_counts=(), shipped=False, passthrough=False, stateful=True, groups=1_000_000)
    stateful, groups = plan(params, tmp_path, shipped_router)
    assert (stateful.slug, stateful.kind, stateful.store, stateful.events) == (
        "stateful100",
        "stateful",
        "rocksdb://",
        100_000,
    )
    assert count_rules(stateful.rule_paths, shipped_router) == 101
    assert (groups.slug, groups.kind, groups.store, groups.events) == (
        "groups1m",
        "groups",
        "rocksdb://",
        10**6,
    )
    assert count_rules(groups.rule_paths, shipped_router) == 1


def test_group_vocabulary_is_100k_cells_each_watched_by_one_rule() -> None:
    rules = plan_rules()
    space = GroupSpace(rules, STATEFUL_GROUPS)
    grids = {space.grid(g) for g in range(space.groups)}
    assert len(grids) == STATEFUL_GROUPS == 100_000
    per_rule = Counter(space.rule_of(g).index for g in range(space.groups))
    assert set(per_rule.values()) == {1000}
    with pytest.raises(ValueError):
        GroupSpace(rules, 99)


def test_events_are_valid_keyed_by_their_cell_and_spread_over_the_cells() -> None:
    space = GroupSpace(plan_rules(), 1000)
    factory = StatefulFactory("t", 7, space)
    seen = set()
    for _ in range(3000):
        family, key, body = factory.background("tp", 1_770_000_000.0)
        event = EVENT_ADAPTER.validate_python(body)
        assert event.family is family
        assert key == body["location"]["grid"]
        seen.add(key)
    assert len(seen) > 900  # 3 events per cell on average: nearly every cell is drawn


def test_every_event_is_exactly_one_hit_and_the_model_predicts_the_firings(stateful_rules: RuleSet) -> None:
    # 300 cells and 2,400 events: 8 per window on average, so every form that can fire does.
    space = GroupSpace(plan_rules(), 300)
    model = FiringModel(space)
    backlog = stateful_backlog(StatefulFactory("t", 11, space), TOPICS, 2400, "tp", model)
    hits, fired, outcomes = _replay(stateful_rules, [value for _, _, value in backlog])
    assert hits == model.hits == 2400
    assert outcomes == {"counted": 2400}
    assert fired == model.firings
    assert {"count", "distinct", "aggregate", "sequence"} <= set(model.by_form)


def test_warmup_gives_every_cell_one_event_first() -> None:
    space = GroupSpace(plan_rules(), 500)
    backlog = stateful_backlog(StatefulFactory("t", 7, space), TOPICS, 300, "tp", FiringModel(space), True)
    assert len(backlog) == 800
    assert len({key for _, key, _ in backlog[:500]}) == 500
    assert backlog[:500] != sorted(backlog[:500], key=lambda m: m[1]), "the warm-up is shuffled"


def test_default_workload_fires_rarely() -> None:
    # The defaults' shape (a warm-up, then as many events as cells) on a tenth of the cells.
    space = GroupSpace(plan_rules(), STATEFUL_GROUPS // 10)
    model = FiringModel(space)
    stateful_backlog(StatefulFactory("t", 7, space), TOPICS, STATEFUL_GROUPS // 10, "tp", model, True)
    assert 0.005 < model.firings / model.hits < 0.02
    assert set(model.by_form) == {"count", "distinct", "aggregate", "sequence"}


def test_memory_workload_is_one_group_per_event_and_never_fires(
    tmp_path: Path, shipped_router: Router
) -> None:
    write_pack(tmp_path / "groups.yaml", groups_pack())
    rules = load_ruleset([tmp_path], shipped_router)
    assert [r.id for r in rules.rules] == [GROUPS_RULE_ID]
    chunks = list(unique_group_events("t", TOPICS, 2500, chunk=1000))
    assert [len(c) for c in chunks] == [1000, 1000, 500]
    messages = [m for c in chunks for m in c]
    assert len({key for _, key, _ in messages}) == 2500
    assert {topic for topic, _, _ in messages} == {TOPICS[rules.rules[0].spec.on]}
    hits, fired, outcomes = _replay(rules, [value for _, _, value in messages[:500]])
    assert (hits, fired, outcomes) == (500, 0, {"counted": 500})
    assert orjson.loads(messages[0][2])["source_id"] == "bench-g-0000000"


def test_window_and_stage_metrics_are_read_from_the_worker_page() -> None:
    text = "\n".join(
        [
            "# HELP riskstream_window_hits_total ...",
            'riskstream_window_hits_total{outcome="counted",rule="a"} 7.0',
            'riskstream_window_hits_total{outcome="counted",rule="b"} 3.0',
            'riskstream_window_hits_total{outcome="late",rule="a"} 1.0',
            'riskstream_window_groups{stage="detect"} 40.0',
            'riskstream_window_groups{stage="windows"} 2.0',
            'riskstream_events_total{family="sensor",outcome="valid"} 11.0',
            'riskstream_stage_records_total{stage="dispatch"} 5.0',
            'riskstream_stage_records_total{stage="detect"} 11.0',
        ]
    )
    c = parse_counters(text)
    assert c.window_outcomes == {"counted": 10.0, "late": 1.0}
    assert (c.window_hits, c.window_groups, c.processed) == (11.0, 42.0, 11.0)
    assert c.stage_records == {"dispatch": 5.0, "detect": 11.0}


def test_process_memory_from_proc_status() -> None:
    status = "Name:\tpython\nVmPeak:\t  900000 kB\nVmHWM:\t  524288 kB\nVmRSS:\t  262144 kB\n"
    mem = parse_status(status)
    assert (mem.rss_mb, mem.peak_mb) == (256.0, 512.0)
    assert parse_status("Name:\tx\n").peak_mb is None


@pytest.mark.parametrize(("n", "text"), [(1_000_000, "1m"), (100_000, "100k"), (2500, "2500"), (5000, "5k")])
def test_short_count(n: int, text: str) -> None:
    assert short_count(n) == text
