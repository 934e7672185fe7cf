"""Runs every scenario against one broker: the passthrough ceiling, then one worker per rule set."""

from __future__ import annotations

import asyncio
import contextlib
import math
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import TopicPartition

from bench.broker import PLAINTEXT_SETTINGS, KafkaProbe, preload, preload_chunks
from bench.city import CityFactory
from bench.latency import LatencyRun, passthrough_event, probe_alert_event
from bench.packs import SHIPPED_PACKS, count_rules, generate_pack, probe_pack, write_pack
from bench.params import BenchParams, Display, Memory, Scenario, ScenarioResult
from bench.pipeline import Counters, free_port, scrape, worker_argv, worker_env
from bench.process import Child, python_argv, tree_size_mb
from bench.report import compare, load_average, report
from bench.stateful import (
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
from bench.throughput import Poll, cpu_sample, drain, throughput_of, wait_committed
from bench.workload import EventFactory, backlog
from rules.compiler import pack_files
from rules.events import Family
from rules.routing import Router, load_routing
from streams.settings import Settings
from streams.topics import ensure_topics


@dataclass
class RunContext:
    """What every scenario shares; names derive from the run id so runs never see each other."""

    bootstrap: str
    params: BenchParams
    display: Display
    probe: KafkaProbe
    tmp: Path
    run_id: str
    base: Settings
    router: Router

    @property
    def kafka(self) -> dict[str, Any]:
        """bootstrap_servers and the security options for the bench's own clients."""
        return self.base.kafka_client_options()

    def prefix(self, slug: str) -> str:
        return f"bench-{self.run_id}-{slug}."

    def app_id(self, slug: str) -> str:
        return f"bench-{self.run_id}-{slug}"

    def profile_path(self, slug: str) -> Path | None:
        d = self.params.profile_dir
        if d is None:
            return None
        d.mkdir(parents=True, exist_ok=True)
        return d / f"{slug}.prof"

    def factory(self, scenario: Scenario) -> EventFactory:
        """The same seed for every scenario, so each drains exactly the same backlog."""
        run_id, seed = f"{self.run_id}{scenario.slug}", self.params.seed
        if scenario.kind == "stateful":
            return StatefulFactory(run_id, seed, self.group_space())
        if scenario.workload == "city":
            return CityFactory(run_id, seed)
        return EventFactory(run_id, seed)

    def group_space(self) -> GroupSpace:
        return GroupSpace(plan_rules(self.params.stateful_rules), self.params.stateful_groups)


def _every(fraction: float) -> int:
    return max(1, round(1.0 / fraction)) if fraction > 0 else 10**12


def offered_rate(p: BenchParams, result: ScenarioResult) -> float:
    """The latency phase's load: the given rate, or a share of what this scenario drained."""
    if p.rate is not None:
        return p.rate
    drained = result.throughput.events_per_s if result.throughput is not None else 0.0
    return max(FLOOR_RATE, round(drained * p.rate_share))


FLOOR_RATE = 50.0


def _saturated(s: ScenarioResult, rate: float) -> bool:
    """Latency at an offered rate near the drain rate mostly measures the queue, not the work."""
    return s.throughput is not None and s.throughput.events_per_s < rate * 1.5


async def run_passthrough(ctx: RunContext, scenario: Scenario) -> ScenarioResult:
    """The ceiling, measured exactly like the pipeline: same backlog, same offered load."""
    result = ScenarioResult(scenario.name, scenario.slug, rules=0, generated_rules=0)
    settings = ctx.base.model_copy(update={"topic_prefix": ctx.prefix(scenario.slug)})
    inputs = settings.input_topics()
    output = settings.topic("bench.passthrough.out")
    await ctx.probe.create([*inputs.values(), output], ctx.params.partitions)
    factory = ctx.factory(scenario)
    await _preload(ctx, scenario, inputs, factory)
    group = ctx.app_id(scenario.slug)
    argv = python_argv(
        ["-m", "bench.passthrough", ctx.bootstrap, group, output, *inputs.values()],
        ctx.profile_path(scenario.slug),
    )
    child = Child(argv, worker_env(settings), ctx.tmp / f"{scenario.slug}.log", ctx.tmp)
    out_tps = await ctx.probe.partitions([output])
    in_tps = await ctx.probe.partitions(list(inputs.values()))
    n = ctx.params.events

    async def poll() -> tuple[float, bool]:
        count = await ctx.probe.end_total(out_tps)
        return count, count >= n

    await child.start()
    try:
        await _measure(ctx, scenario, result, child, poll, group, in_tps, ctx.params.events)
        every = 1  # every passthrough event is measured
        run = LatencyRun(ctx.kafka, inputs, out_tps, factory, passthrough_event, every, "lat")
        await _latency(ctx, scenario, result, run, child)
    except Exception as exc:  # one broken scenario must not lose the others' numbers
        result.error = f"{type(exc).__name__}: {exc}"
        result.worker_log = child.tail()
    finally:
        result.peak_rss_mb = child.memory().peak_mb
        await child.stop()
    return result


async def run_pipeline(ctx: RunContext, scenario: Scenario) -> ScenarioResult:
    """One worker per scenario: drain first (it is idle then), then latency on the same worker.

    A stateful scenario is complete when the window stage has handled every hit (not when
    detection has read every event) and its matches have been dispatched.
    """
    settings = _pipeline_settings(ctx, scenario)
    result = ScenarioResult(
        scenario.name,
        scenario.slug,
        rules=0,
        generated_rules=scenario.generated_rules,
        expected_match_fraction=scenario.expected_match,
        store=scenario.store,
    )
    try:
        result.rules = count_rules(settings.rules_path, ctx.router)
    except Exception as exc:  # the shipped packs are edited by people; report, do not crash
        result.error = f"rules do not load: {exc}"
        return result
    await ensure_topics(settings, ctx.router)
    inputs = settings.input_topics()
    factory = ctx.factory(scenario)
    measured = scenario.events or ctx.params.events
    n, warmup, hits_needed = measured, 0, 0
    timed: list[tuple[str, bytes, bytes]] = []
    if isinstance(factory, StatefulFactory):
        # One event per group first, drained untimed, so the timed part finds every group in state.
        warmup = factory.space.groups
        n = warmup + measured
        model = FiringModel(factory.space)
        task = ctx.display.phase(f"{scenario.name}: generate {warmup:,} + {measured:,} events", None)
        messages = stateful_backlog(factory, inputs, measured, "tp", model, warmup=True)
        ctx.display.done(task, f"{model.hits:,} hits, {model.firings:,} must fire")
        timed = messages[warmup:]
        await _write_backlog(ctx, scenario, messages[:warmup], "preload warm-up, one event per group")
        hits_needed = model.hits
        result.expected_matches = model.firings
        result.expected_match_fraction = round(model.firings / n, 5)
    else:
        await _preload(ctx, scenario, inputs, factory)
    candidates = settings.topic(settings.topic_candidates)
    internal = [candidates, settings.topic(settings.topic_hits)]
    in_tps = await ctx.probe.partitions([*inputs.values(), *internal])
    candidate_tps = await ctx.probe.partitions([candidates])
    child = Child(
        worker_argv(ctx.tmp, ctx.profile_path(scenario.slug)),
        worker_env(settings),
        ctx.tmp / f"{scenario.slug}.log",
        ctx.tmp,
    )

    last = Counters()

    async def poll() -> tuple[float, bool]:
        nonlocal last
        c = await scrape(settings.web_port)
        if c is None:
            return 0.0, False
        last = c
        done = c.processed >= n and c.window_hits >= hits_needed
        if done:
            # Dispatch is done when it has finished all that detect and the window stage wrote for
            # it (counting its decisions would miss notices storm control withholds).
            written = await ctx.probe.end_total(candidate_tps)
            done = c.stage_records.get("dispatch", 0.0) >= written
        count = _two_stage(c, n, hits_needed) if hits_needed else c.processed
        return count, done

    def info() -> str:
        return f"detect {last.processed:,.0f}, windows {last.window_hits:,.0f} hits" if hits_needed else ""

    await child.start()
    try:
        if warmup:
            await _warm_up(ctx, scenario, child, poll, warmup, info)
            # Written while the worker runs: it starts on the first of these, so the clock does too.
            await _write_backlog(ctx, scenario, timed, "preload timed backlog")
        await _measure(ctx, scenario, result, child, poll, settings.app_id, in_tps, n, info, warmup)
        _add_counters(result, await scrape(settings.web_port), stateful=bool(hits_needed))
        audit = await ctx.probe.partitions([settings.topic(settings.topic_audit)])
        every = _every(ctx.params.probe_fraction)
        run = LatencyRun(ctx.kafka, inputs, audit, factory, probe_alert_event, every, "lat")
        await _latency(ctx, scenario, result, run, child)
    except Exception as exc:  # one broken scenario must not lose the others' numbers
        result.error = f"{type(exc).__name__}: {exc}"
        result.worker_log = child.tail()
    finally:
        result.peak_rss_mb = child.memory().peak_mb
        await child.stop()
    return result


def _two_stage(c: Counters, events: int, hits: int) -> float:
    """Progress in events of a drain through detect and the window stage, which lags detect (with
    a backlog, Faust reads the input topics far ahead of the hits topic): the mean of the two."""
    return (min(c.processed, events) + min(c.window_hits, hits) * events / max(1, hits)) / 2


async def _warm_up(
    ctx: RunContext, scenario: Scenario, child: Child, poll: Poll, events: int, info: Callable[[], str]
) -> None:
    """Drain the warm-up backlog (untimed) until both stages have handled all of it."""
    task = ctx.display.phase(f"{scenario.name}: warm-up, {events:,} groups into window state", events)
    deadline = time.monotonic() + ctx.params.worker_timeout + events / 100.0
    while True:
        count, _ = await poll()
        ctx.display.update(task, min(count, events), info())
        if count >= events:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"warm-up: {count:.0f} of {events} events through both stages")
        if not child.alive():
            raise RuntimeError("the measured process exited")
        await asyncio.sleep(1.0)
    ctx.display.done(task, info())


class _MemoryWatch:
    """The worker's RSS and group count as the drain goes; the peak comes from VmHWM."""

    SAMPLE_EVERY = 5.0

    def __init__(self, child: Child):
        self.child = child
        self.rss_start: float | None = None
        self.rss: float | None = None
        self.groups = 0.0
        self.started: float | None = None
        self.samples: list[tuple[float, float, float]] = []

    def observe(self, c: Counters) -> None:
        now = time.monotonic()
        self.rss = self.child.memory().rss_mb
        self.groups = c.window_groups
        if c.processed == 0 and c.window_hits == 0:
            self.rss_start = self.rss
            return
        if self.started is None:
            self.started = now
        last = self.samples[-1][0] if self.samples else -math.inf
        at = now - self.started
        if self.rss is not None and at - last >= self.SAMPLE_EVERY:
            self.samples.append((round(at, 1), self.groups, self.rss))

    def info(self) -> str:
        rss = "?" if self.rss is None else f"{self.rss:,.0f}"
        return f"{self.groups:,.0f} groups, RSS {rss} MB"


async def run_groups(ctx: RunContext, scenario: Scenario) -> ScenarioResult:
    """The memory scenario: one window per event, N groups, the worker's peak RSS."""
    settings = _pipeline_settings(ctx, scenario)
    n = scenario.events or 0
    result = ScenarioResult(scenario.name, scenario.slug, rules=0, generated_rules=0, store=scenario.store)
    result.expected_matches = 0
    result.expected_match_fraction = 0.0
    try:
        result.rules = count_rules(settings.rules_path, ctx.router)
    except Exception as exc:
        result.error = f"rules do not load: {exc}"
        return result
    await ensure_topics(settings, ctx.router)
    inputs = settings.input_topics()
    task = ctx.display.phase(f"{scenario.name}: preload {n:,} events, one group each", n)
    await preload_chunks(ctx.kafka, unique_group_events(ctx.run_id, inputs, n), ctx.display, task)
    ctx.display.done(task)
    internal = [settings.topic(settings.topic_candidates), settings.topic(settings.topic_hits)]
    in_tps = await ctx.probe.partitions([*inputs.values(), *internal])
    child = Child(
        worker_argv(ctx.tmp, ctx.profile_path(scenario.slug)),
        worker_env(settings),
        ctx.tmp / f"{scenario.slug}.log",
        ctx.tmp,
    )
    watch = _MemoryWatch(child)

    async def poll() -> tuple[float, bool]:
        c = await scrape(settings.web_port)
        if c is None:
            return 0.0, False
        watch.observe(c)
        return _two_stage(c, n, n), c.processed >= n and c.window_hits >= n

    await child.start()
    try:
        await _measure(ctx, scenario, result, child, poll, settings.app_id, in_tps, n, watch.info)
        c = await scrape(settings.web_port)
        _add_counters(result, c, stateful=True)
        mem = child.memory()
        held = c.window_groups if c is not None else None
        grown = None
        if mem.peak_mb is not None and watch.rss_start is not None and held:
            grown = round((mem.peak_mb - watch.rss_start) * 2**20 / held, 1)
        result.memory = Memory(
            groups_target=n,
            groups_held=held,
            peak_rss_mb=mem.peak_mb,
            rss_end_mb=mem.rss_mb,
            rss_start_mb=watch.rss_start,
            bytes_per_group=grown,
            store_disk_mb=tree_size_mb(settings.data_dir),
            samples=watch.samples,
        )
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"
        result.worker_log = child.tail()
    finally:
        result.peak_rss_mb = child.memory().peak_mb
        await child.stop()
    if result.memory is not None and result.error is None:
        await _restart(ctx, scenario, settings, result.memory)
    return result


async def _restart(ctx: RunContext, scenario: Scenario, settings: Settings, mem: Memory) -> None:
    """Start the worker again over the groups it holds; time until it processes a new event."""
    inputs = settings.input_topics()
    child = Child(
        worker_argv(ctx.tmp, None), worker_env(settings), ctx.tmp / f"{scenario.slug}-restart.log", ctx.tmp
    )
    task = ctx.display.phase(f"{scenario.name}: restart over them, until a new event is processed", None)
    started = time.monotonic()
    await child.start()
    try:
        one_more = unique_group_events(f"{ctx.run_id}r", inputs, 1)
        await preload_chunks(ctx.kafka, one_more, ctx.display, task)
        while time.monotonic() - started < 300:
            c = await scrape(settings.web_port)
            if c is not None and c.processed >= 1 and c.stage_records.get("detect", 0.0) >= 1:
                mem.restart_s = round(time.monotonic() - started, 1)
                mem.restart_rss_mb = child.memory().rss_mb
                break
            await asyncio.sleep(0.2)
        ctx.display.done(task, f"{mem.restart_s} s" if mem.restart_s is not None else "timed out")
    finally:
        await child.stop()


def _pipeline_settings(ctx: RunContext, scenario: Scenario) -> Settings:
    data_dir = ctx.tmp / "data" / scenario.slug
    data_dir.mkdir(parents=True, exist_ok=True)
    return ctx.base.model_copy(
        update={
            "app_id": ctx.app_id(scenario.slug),
            "topic_prefix": ctx.prefix(scenario.slug),
            "rules_path": list(scenario.rule_paths),
            "store": scenario.store,
            "data_dir": data_dir,
            "web_bind": "127.0.0.1",
            "web_port": free_port(),
            "log_level": "warning",
        }
    )


async def _preload(
    ctx: RunContext, scenario: Scenario, inputs: dict[Family, str], factory: EventFactory
) -> None:
    await _write_backlog(ctx, scenario, backlog(factory, inputs, ctx.params.events, "tp"))


async def _write_backlog(
    ctx: RunContext,
    scenario: Scenario,
    messages: Sequence[tuple[str, bytes, bytes]],
    what: str = "preload backlog",
) -> None:
    task = ctx.display.phase(f"{scenario.name}: {what}", len(messages))
    await preload(ctx.kafka, messages, ctx.display, task)
    ctx.display.done(task)


async def _measure(
    ctx: RunContext,
    scenario: Scenario,
    result: ScenarioResult,
    child: Child,
    poll: Poll,
    group: str,
    tps: Sequence[TopicPartition],
    n: int,
    info: Callable[[], str] | None = None,
    warmup: int = 0,
) -> None:
    what = f"drain {n - warmup:,} timed events" if warmup else "drain backlog"
    task = ctx.display.phase(f"{scenario.name}: {what}", n)
    # Long backlogs get time in proportion: a slow but progressing worker is a result, not a hang.
    deadline = time.monotonic() + ctx.params.worker_timeout + n / 100.0
    d = await drain(poll, n, deadline, child, ctx.display, task, info, start_after=warmup)
    result.throughput = throughput_of(n, d)
    if warmup:
        result.throughput.events, result.throughput.warmup_events = n - warmup, warmup
    ctx.display.done(task, f"{result.throughput.events_per_s:,.0f} ev/s")
    result.throughput.committed_drain_s = await wait_committed(ctx.probe, group, tps, d.started, 30.0)


def _add_counters(result: ScenarioResult, c: Counters | None, stateful: bool = False) -> None:
    t = result.throughput
    if c is None or t is None:
        return
    t.matched, t.alerts, t.eval_errors = c.matched, c.alerts, c.eval_errors
    drained = t.events + (t.warmup_events or 0)  # the counters cover the warm-up too
    t.match_fraction = round(c.matched / drained, 5) if drained else None
    if stateful:
        t.window_hits = dict(sorted(c.window_outcomes.items()))
        t.window_groups = c.window_groups


async def _latency(
    ctx: RunContext, scenario: Scenario, result: ScenarioResult, run: LatencyRun, child: Child
) -> None:
    p = ctx.params
    rate = offered_rate(p, result)
    total = int(rate * p.duration)
    task = ctx.display.phase(f"{scenario.name}: latency at {rate:,.0f} ev/s", total)
    before, started = cpu_sample(child.pid), time.monotonic()
    result.latency = await run.run(rate, p.duration, p.settle, ctx.display, task)
    after, elapsed = cpu_sample(child.pid), time.monotonic() - started
    if before.process is not None and after.process is not None and elapsed > 0:
        result.latency.process_cpu_util = round((after.process - before.process) / elapsed, 3)
    result.saturated = _saturated(result, rate)
    lat = result.latency
    ctx.display.done(task, f"p99 {lat.p99_ms} ms ({lat.received}/{lat.tracked})")


def plan(params: BenchParams, tmp: Path, router: Router) -> list[Scenario]:
    """Write the generated packs and list the scenarios, cheapest first."""
    probe = write_pack(tmp / "packs" / "probe" / "probe.yaml", probe_pack())
    out: list[Scenario] = []
    if params.passthrough:
        out.append(Scenario("passthrough", "passthrough", kind="passthrough"))
    if params.shipped and SHIPPED_PACKS.is_dir() and pack_files([SHIPPED_PACKS]):
        out.append(
            Scenario(
                "city (shipped packs)",
                "city",
                (SHIPPED_PACKS, probe.parent),
                store="rocksdb://",
                workload="city",
            )
        )
        out.append(Scenario("shipped packs, stress", "shipped", (SHIPPED_PACKS, probe.parent)))
    for count in params.rule_counts:
        pack, expected = generate_pack(count, params.match_rate, router)
        path = write_pack(tmp / "packs" / f"gen{count}" / f"generated-{count}.yaml", pack)
        out.append(
            Scenario(
                f"generated {count}", f"gen{count}", (path.parent, probe.parent), count, round(expected, 5)
            )
        )
    if params.stateful:
        n = params.stateful_rules
        rules = plan_rules(n)
        path = write_pack(tmp / "packs" / f"st{n}" / f"stateful-{n}.yaml", stateful_pack(rules, router))
        st_probe = write_pack(tmp / "packs" / "probe-st" / "probe.yaml", stateful_probe_pack())
        out.append(
            Scenario(
                f"stateful {n}, {short_count(params.stateful_groups)} groups",
                f"stateful{n}",
                (path.parent, st_probe.parent),
                n,
                kind="stateful",
                store="rocksdb://",
                events=params.stateful_events,
            )
        )
    if params.groups:
        path = write_pack(tmp / "packs" / "groups" / "groups.yaml", groups_pack())
        label = short_count(params.groups)
        out.append(
            Scenario(
                f"{label} groups (memory)",
                f"groups{label}",
                (path.parent,),
                kind="groups",
                store="rocksdb://",
                events=params.groups,
            )
        )
    return out


def short_count(n: int) -> str:
    """1000000 -> '1m', 100000 -> '100k', 2500 -> '2500': for scenario names and slugs."""
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}m"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}k"
    return str(n)


_RUNNERS = {
    "passthrough": run_passthrough,
    "pipeline": run_pipeline,
    "stateful": run_pipeline,
    "groups": run_groups,
}


async def run_bench(
    bootstrap: str, params: BenchParams, display: Display, started_broker: bool
) -> dict[str, Any]:
    """Every scenario against one broker; returns the JSON-ready report."""
    run_id = f"{int(time.time()) % 10**6:06d}"
    tmp = Path(tempfile.mkdtemp(prefix="riskstream-bench-"))
    # A given broker takes the RISKSTREAM_KAFKA_* security settings; the throwaway one is plain.
    plain = PLAINTEXT_SETTINGS if started_broker else {}
    base = Settings(kafka_bootstrap=bootstrap, partitions=params.partitions, **plain)
    router = load_routing(base.routing_path)
    results: list[ScenarioResult] = []
    load_before = load_average()
    async with KafkaProbe(base.kafka_client_options()) as probe:
        ctx = RunContext(bootstrap, params, display, probe, tmp, run_id, base, router)
        try:
            for scenario in plan(params, tmp, router):
                results.append(await _RUNNERS[scenario.kind](ctx, scenario))
        finally:
            if not started_broker:  # a throwaway broker is deleted whole; a shared one is tidied
                with contextlib.suppress(Exception):
                    await probe.delete_prefixed(f"bench-{run_id}-")
    compare(results)
    failed = any(r.error for r in results)
    if failed:
        display.log(f"worker logs and generated packs kept in {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    data = report(params, results, started_broker, run_id)
    data["machine"]["load_average_before"] = load_before
    data["machine"]["load_average_after"] = load_average()
    return data
