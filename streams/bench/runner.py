"""Runs every scenario against one broker: the passthrough ceiling, then one worker per rule set."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import TopicPartition

from rules.compiler import pack_files
from rules.events import Family
from rules.routing import Router, load_routing
from streams.bench.broker import KafkaProbe, preload
from streams.bench.latency import LatencyRun, passthrough_event, probe_alert_event
from streams.bench.packs import SHIPPED_PACKS, count_rules, generate_pack, probe_pack, write_pack
from streams.bench.params import BenchParams, Display, Scenario, ScenarioResult
from streams.bench.pipeline import Counters, free_port, scrape, worker_argv, worker_env
from streams.bench.process import Child, python_argv
from streams.bench.report import compare, load_average, report
from streams.bench.throughput import Poll, drain, throughput_of, wait_committed
from streams.bench.workload import EventFactory, backlog
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

    def factory(self, slug: str) -> EventFactory:
        """The same seed for every scenario, so each drains exactly the same backlog."""
        return EventFactory(f"{self.run_id}{slug}", self.params.seed)


def _every(fraction: float) -> int:
    return max(1, round(1.0 / fraction)) if fraction > 0 else 10**12


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
    factory = ctx.factory(scenario.slug)
    await _preload(ctx, scenario, inputs, factory)
    group = ctx.app_id(scenario.slug)
    argv = python_argv(
        ["-m", "streams.bench.passthrough", ctx.bootstrap, group, output, *inputs.values()],
        ctx.profile_path(scenario.slug),
    )
    child = Child(argv, dict(os.environ), ctx.tmp / f"{scenario.slug}.log", ctx.tmp)
    out_tps = await ctx.probe.partitions([output])
    in_tps = await ctx.probe.partitions(list(inputs.values()))
    n = ctx.params.events

    async def poll() -> tuple[float, bool]:
        count = await ctx.probe.end_total(out_tps)
        return count, count >= n

    await child.start()
    try:
        await _measure(ctx, scenario, result, child, poll, group, in_tps)
        every = 1  # every passthrough event is measured
        run = LatencyRun(ctx.bootstrap, inputs, out_tps, factory, passthrough_event, every, "lat")
        await _latency(ctx, scenario, result, run)
    except Exception as exc:  # one broken scenario must not lose the others' numbers
        result.error = f"{type(exc).__name__}: {exc}"
        result.worker_log = child.tail()
    finally:
        await child.stop()
    return result


async def run_pipeline(ctx: RunContext, scenario: Scenario) -> ScenarioResult:
    """One worker per scenario: drain first (it is idle then), then latency on the same worker."""
    settings = _pipeline_settings(ctx, scenario)
    result = ScenarioResult(
        scenario.name,
        scenario.slug,
        rules=0,
        generated_rules=scenario.generated_rules,
        expected_match_fraction=scenario.expected_match,
    )
    try:
        result.rules = count_rules(settings.rules_path, ctx.router)
    except Exception as exc:  # the shipped packs are edited by people; report, do not crash
        result.error = f"rules do not load: {exc}"
        return result
    await ensure_topics(settings, ctx.router)
    inputs = settings.input_topics()
    factory = ctx.factory(scenario.slug)
    await _preload(ctx, scenario, inputs, factory)
    in_tps = await ctx.probe.partitions([*inputs.values(), settings.topic(settings.topic_candidates)])
    child = Child(
        worker_argv(ctx.tmp, ctx.profile_path(scenario.slug)),
        worker_env(settings),
        ctx.tmp / f"{scenario.slug}.log",
        ctx.tmp,
    )
    n = ctx.params.events

    async def poll() -> tuple[float, bool]:
        c = await scrape(settings.web_port)
        if c is None:
            return 0.0, False
        return c.processed, c.processed >= n and c.dispatched >= c.matched

    await child.start()
    try:
        await _measure(ctx, scenario, result, child, poll, settings.app_id, in_tps)
        _add_counters(result, await scrape(settings.web_port))
        audit = await ctx.probe.partitions([settings.topic(settings.topic_audit)])
        every = _every(ctx.params.probe_fraction)
        run = LatencyRun(ctx.bootstrap, inputs, audit, factory, probe_alert_event, every, "lat")
        await _latency(ctx, scenario, result, run)
    except Exception as exc:  # one broken scenario must not lose the others' numbers
        result.error = f"{type(exc).__name__}: {exc}"
        result.worker_log = child.tail()
    finally:
        await child.stop()
    return result


def _pipeline_settings(ctx: RunContext, scenario: Scenario) -> Settings:
    data_dir = ctx.tmp / "data" / scenario.slug
    data_dir.mkdir(parents=True, exist_ok=True)
    return ctx.base.model_copy(
        update={
            "app_id": ctx.app_id(scenario.slug),
            "topic_prefix": ctx.prefix(scenario.slug),
            "rules_path": list(scenario.rule_paths),
            "store": "memory://",
            "data_dir": data_dir,
            "web_bind": "127.0.0.1",
            "web_port": free_port(),
            "log_level": "warning",
        }
    )


async def _preload(
    ctx: RunContext, scenario: Scenario, inputs: dict[Family, str], factory: EventFactory
) -> None:
    messages = backlog(factory, inputs, ctx.params.events, "tp")
    task = ctx.display.phase(f"{scenario.name}: preload backlog", len(messages))
    await preload(ctx.bootstrap, messages, ctx.display, task)
    ctx.display.done(task)


async def _measure(
    ctx: RunContext,
    scenario: Scenario,
    result: ScenarioResult,
    child: Child,
    poll: Poll,
    group: str,
    tps: Sequence[TopicPartition],
) -> None:
    n = ctx.params.events
    task = ctx.display.phase(f"{scenario.name}: drain backlog", n)
    deadline = time.monotonic() + ctx.params.worker_timeout
    d = await drain(poll, n, deadline, child, ctx.display, task)
    result.throughput = throughput_of(n, d)
    ctx.display.done(task, f"{result.throughput.events_per_s:,.0f} ev/s")
    result.throughput.committed_drain_s = await wait_committed(ctx.probe, group, tps, d.started, 30.0)


def _add_counters(result: ScenarioResult, c: Counters | None) -> None:
    t = result.throughput
    if c is None or t is None:
        return
    t.matched, t.alerts, t.eval_errors = c.matched, c.alerts, c.eval_errors
    t.match_fraction = round(c.matched / t.events, 5) if t.events else None


async def _latency(ctx: RunContext, scenario: Scenario, result: ScenarioResult, run: LatencyRun) -> None:
    p = ctx.params
    total = int(p.rate * p.duration)
    task = ctx.display.phase(f"{scenario.name}: latency at {p.rate:g} ev/s", total)
    result.latency = await run.run(p.rate, p.duration, p.settle, ctx.display, task)
    result.saturated = _saturated(result, p.rate)
    lat = result.latency
    ctx.display.done(task, f"p99 {lat.p99_ms} ms ({lat.received}/{lat.tracked})")


def plan(params: BenchParams, tmp: Path, router: Router) -> list[Scenario]:
    """Write the generated packs and list the scenarios, cheapest first."""
    probe = write_pack(tmp / "packs" / "probe" / "probe.yaml", probe_pack())
    out: list[Scenario] = []
    if params.passthrough:
        out.append(Scenario("passthrough", "passthrough"))
    if params.shipped and SHIPPED_PACKS.is_dir() and pack_files([SHIPPED_PACKS]):
        out.append(Scenario("shipped packs", "shipped", (SHIPPED_PACKS, probe.parent)))
    for count in params.rule_counts:
        pack, expected = generate_pack(count, params.match_rate, router)
        path = write_pack(tmp / "packs" / f"gen{count}" / f"generated-{count}.yaml", pack)
        out.append(
            Scenario(
                f"generated {count}", f"gen{count}", (path.parent, probe.parent), count, round(expected, 5)
            )
        )
    return out


async def run_bench(
    bootstrap: str, params: BenchParams, display: Display, started_broker: bool
) -> dict[str, Any]:
    """Every scenario against one broker; returns the JSON-ready report."""
    run_id = f"{int(time.time()) % 10**6:06d}"
    tmp = Path(tempfile.mkdtemp(prefix="riskstream-bench-"))
    base = Settings(kafka_bootstrap=bootstrap, partitions=params.partitions)
    router = load_routing(base.routing_path)
    results: list[ScenarioResult] = []
    load_before = load_average()
    async with KafkaProbe(bootstrap) as probe:
        ctx = RunContext(bootstrap, params, display, probe, tmp, run_id, base, router)
        try:
            for scenario in plan(params, tmp, router):
                runner = run_passthrough if scenario.is_passthrough else run_pipeline
                results.append(await runner(ctx, scenario))
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
