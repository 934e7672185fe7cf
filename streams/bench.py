"""`riskstream bench`: how fast the worker drains a backlog and how soon an event becomes an alert.

Every pipeline number sits next to a raw aiokafka consume-to-produce loop on the same broker, so a
result reads as "the pipeline achieves X of what Kafka plus a Python client can do here" instead of
an absolute that mostly describes the machine. The worker runs exactly as deployed (`riskstream
worker` in its own process, its own app id and topic prefix) so the benchmark cannot flatter it.

Two numbers per scenario, measured differently on purpose:

* throughput: a backlog is written *before* the consumer starts, then the time to drain it is
  timed from the first processed event, so worker start-up and rebalancing are not counted;
* latency: a fixed offered rate below saturation, where queueing would otherwise dominate; probe
  events carry their send time and each fires a dedicated rule with a group of its own.

``python -m streams.bench passthrough ...`` runs the passthrough in its own process (internal).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import platform
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from ruamel.yaml import YAML

from rules.compiler import load_ruleset, pack_files
from rules.events import KINDS, Family
from rules.routing import Router, load_routing
from streams.settings import PACKAGE_RULES, Settings
from streams.topics import ensure_topics

REPO_ROOT = Path(__file__).resolve().parent.parent
KAFKA_SCRIPT = REPO_ROOT / "scripts" / "kafka-local.sh"
KAFKA_POM = REPO_ROOT / "deploy" / "kafka" / "pom.xml"
SHIPPED_PACKS = PACKAGE_RULES / "packs"

PROBE_RULE_ID = "bench-latency-probe"
PROBE_FAMILY = Family.sensor
PROBE_KIND = "heartbeat"
"""Probes use a kind no generated rule reads, so their cost is the probe rule plus shipped rules."""

FAMILY_MIX: dict[Family, float] = {
    Family.sensor: 0.62,
    Family.camera: 0.20,
    Family.cyber: 0.10,
    Family.safety: 0.05,
    Family.hotline: 0.03,
}
"""The simulator's city mix: IoT sensors dominate real city traffic."""

STREETS = tuple(f"JD{i:02d}" for i in range(24))
"""Generated rules are scoped per street (街道), the way a city tunes thresholds locally; this
bounds the rule count at kinds x streets and spreads rules without making them overlap."""
DISTRICTS = ("HBW", "WD", "HN")
SOURCES_PER_FAMILY = 3000
METRIC_TOP = 100.0
QUIET_TOP = 10.0
QUIET_SHARE = 0.9
"""Readings are quiet (below 10) nine times in ten, like a city's real sensors, so threshold rules
in the shipped packs fire on the tail only. Kinds are drawn uniformly, so shipped rules that fire on
every event of an incident kind (fight, intrusion, malware) still fire often: about 20 % of events."""
POLL_SECONDS = 0.2
WORKER_STOP_SECONDS = 30.0
LATENCY_TICK = 0.005

RISK_OF: dict[Family, str] = {
    Family.sensor: "public_safety",
    Family.camera: "public_order",
    Family.safety: "public_safety",
    Family.cyber: "cyber_security",
    Family.hotline: "social_conflict",
}
ROUTE_OF: dict[Family, str] = {
    Family.sensor: "emergency",
    Family.camera: "police",
    Family.safety: "emergency",
    Family.cyber: "cyber_center",
    Family.hotline: "hotline",
}


@dataclass(frozen=True)
class Metric:
    """The one number generated rules test on a family: a CEL path, its scale and whether int."""

    path: str
    scale: float
    integer: bool = False


METRIC_OF: dict[Family, Metric] = {
    Family.sensor: Metric("value", 1.0),
    Family.camera: Metric("density", 0.1),
    Family.safety: Metric("value", 1.0),
    Family.cyber: Metric("attributes.risk_score", 1.0),
    Family.hotline: Metric("people_involved", 1.0, integer=True),
}


# ------------------------------------------------------------------------------ parameters


@dataclass(frozen=True)
class BenchParams:
    """One run's knobs; all of them go into the JSON so results stay comparable."""

    events: int = 20_000
    rate: float = 200.0  # well below the slowest drain seen on 2 cores (~800 ev/s): work, not queues
    duration: float = 30.0
    probe_fraction: float = 0.05
    match_rate: float = 0.02
    rule_counts: tuple[int, ...] = (100, 1000)
    shipped: bool = True
    passthrough: bool = True
    partitions: int = 4
    seed: int = 7
    settle: float = 10.0
    worker_timeout: float = 180.0
    profile_dir: Path | None = None


@dataclass(frozen=True)
class Scenario:
    name: str
    slug: str
    rule_paths: tuple[Path, ...] = ()
    generated_rules: int = 0
    expected_match: float | None = None

    @property
    def is_passthrough(self) -> bool:
        return not self.rule_paths


@dataclass
class Throughput:
    events: int
    seconds: float
    events_per_s: float
    first_progress_after_s: float
    committed_drain_s: float | None = None
    matched: float | None = None
    match_fraction: float | None = None
    alerts: float | None = None
    eval_errors: float | None = None
    process_cpu_util: float | None = None
    machine_busy: float | None = None
    progress: list[tuple[float, float]] = field(default_factory=list)


@dataclass
class Latency:
    rate: float
    duration_s: float
    sent: int
    tracked: int
    received: int
    achieved_rate: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    mean_ms: float | None


@dataclass
class ScenarioResult:
    name: str
    slug: str
    rules: int
    generated_rules: int
    expected_match_fraction: float | None = None
    throughput: Throughput | None = None
    latency: Latency | None = None
    vs_passthrough: dict[str, float] = field(default_factory=dict)
    saturated: bool = False
    error: str | None = None
    worker_log: str | None = None


class Display(Protocol):
    """Where progress goes; the CLI draws it with rich, tests can pass a silent one."""

    def phase(self, description: str, total: float | None) -> int: ...

    def update(self, task: int, completed: float, info: str = "") -> None: ...

    def done(self, task: int, info: str = "") -> None: ...

    def log(self, message: str) -> None: ...


# ------------------------------------------------------------------------------ statistics


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile: always an observed value, so p99 of 500 samples is honest."""
    if not ordered:
        return None
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000.0, 2)


def summarize_latency(samples: list[float], rate: float, duration: float, sent: int,
                      tracked: int, achieved: float) -> Latency:
    ordered = sorted(samples)
    mean = sum(ordered) / len(ordered) if ordered else None
    return Latency(
        rate=rate,
        duration_s=duration,
        sent=sent,
        tracked=tracked,
        received=len(ordered),
        achieved_rate=round(achieved, 1),
        p50_ms=_ms(percentile(ordered, 50)),
        p95_ms=_ms(percentile(ordered, 95)),
        p99_ms=_ms(percentile(ordered, 99)),
        max_ms=_ms(ordered[-1] if ordered else None),
        mean_ms=_ms(mean),
    )


# ------------------------------------------------------------------------------ events


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def draw_metric(rng: random.Random) -> float:
    """Quiet band [0, 10) with probability 0.9, else the tail [10, 100); both uniform."""
    if rng.random() < QUIET_SHARE:
        return rng.random() * QUIET_TOP
    return QUIET_TOP + rng.random() * (METRIC_TOP - QUIET_TOP)


def survival(x: float) -> float:
    """P(metric >= x) under draw_metric: what makes generated match rates known in advance."""
    tail = 1.0 - QUIET_SHARE
    if x <= 0:
        return 1.0
    if x < QUIET_TOP:
        return tail + QUIET_SHARE * (QUIET_TOP - x) / QUIET_TOP
    if x < METRIC_TOP:
        return tail * (METRIC_TOP - x) / (METRIC_TOP - QUIET_TOP)
    return 0.0


def inverse_survival(q: float) -> float:
    """The x with survival(x) == q, for q in [0, 1]."""
    tail = 1.0 - QUIET_SHARE
    if q >= 1.0:
        return 0.0
    if q <= tail:
        return METRIC_TOP - q / tail * (METRIC_TOP - QUIET_TOP)
    return QUIET_TOP - (q - tail) / QUIET_SHARE * QUIET_TOP


class EventFactory:
    """Contract-valid events whose one metric follows draw_metric, so match rates are known."""

    def __init__(self, run_id: str, seed: int):
        self.run_id = run_id
        self.rng = random.Random(seed)
        self.seq = 0
        self._families = list(FAMILY_MIX)
        self._weights = [FAMILY_MIX[f] for f in self._families]
        self._kinds = {f: sorted(k for k in KINDS[f] if (f, k) != (PROBE_FAMILY, PROBE_KIND))
                       for f in Family}

    def _next_id(self, tag: str) -> str:
        self.seq += 1
        return f"{self.run_id}-{tag}-{self.seq}"

    def background(self, tag: str, ts: float) -> tuple[Family, str, dict[str, Any]]:
        """A city event of the usual family mix; returns (family, key, body)."""
        family = self.rng.choices(self._families, self._weights)[0]
        kind = self.rng.choice(self._kinds[family])
        metric = draw_metric(self.rng)
        source = f"{family.value}-{self.rng.randrange(SOURCES_PER_FAMILY)}"
        street = self.rng.randrange(len(STREETS))
        body = self._envelope(self._next_id(tag), family, kind, source, street, ts)
        body.update(_family_fields(family, metric, body["event_id"]))
        if family is Family.cyber:
            body["attributes"] = {"risk_score": round(metric, 3)}
        return family, source, body

    def probe(self, tag: str, ts: float) -> tuple[Family, str, dict[str, Any]]:
        """An event only the probe rule fires on, with a group (source) no other event shares."""
        event_id = self._next_id(tag)
        source = f"bench-probe-{event_id}"
        body = self._envelope(event_id, PROBE_FAMILY, PROBE_KIND, source, 0, ts)
        body.update({"value": 0.0, "unit": "raw", "status": "normal"})
        return PROBE_FAMILY, source, body

    def _envelope(self, event_id: str, family: Family, kind: str, source: str, street: int,
                  ts: float) -> dict[str, Any]:
        return {
            "event_id": event_id,
            "family": family.value,
            "kind": kind,
            "time": _iso(ts),
            "source_id": source,
            "location": {
                "city": "bench-city",
                "district": DISTRICTS[street % len(DISTRICTS)],
                "street": STREETS[street],
                "grid": f"{STREETS[street]}-G{self.rng.randrange(40):02d}",
                "name": f"bench site {source}",
            },
        }


def _family_fields(family: Family, metric: float, event_id: str) -> dict[str, Any]:
    """The family's own fields, the metric placed where METRIC_OF says rules will look."""
    if family is Family.sensor:
        return {"value": round(metric, 3), "unit": "raw", "status": "normal", "battery": 80.0}
    if family is Family.camera:
        return {"density": round(metric * 0.1, 4), "people": int(metric * 3), "confidence": 0.9,
                "channel": 1, "state": "pulse"}
    if family is Family.safety:
        return {"site_id": f"site-{int(metric * 7) % 50}", "tank_id": "T1", "value": round(metric, 3),
                "unit": "raw", "hazard_level": 3}
    if family is Family.cyber:
        return {"src_ip": "10.0.0.1", "dst_ip": "10.0.0.2", "dst_port": 443, "protocol": "tcp",
                "asset": "portal", "severity": 3, "signature": "bench"}
    return {"ticket_id": event_id, "channel": "12345", "people_involved": int(metric),
            "text": "bench report"}


def encode(body: dict[str, Any]) -> bytes:
    return orjson.dumps(body)


# ------------------------------------------------------------------------------ rules


def probe_pack() -> dict[str, Any]:
    """One rule that fires on every probe and opens a new alert each time (unique group)."""
    return {
        "version": 1,
        "pack": "bench-probe",
        "description": "riskstream bench latency probe (generated)",
        "rules": [{
            "id": PROBE_RULE_ID,
            "title": "bench latency probe",
            "risk": "public_safety",
            "on": PROBE_FAMILY.value,
            "kind": PROBE_KIND,
            "when": "source_id.startsWith('bench-probe-')",
            "tier": "blue",
            "group_by": ["source_id"],
            "cooldown": "1s",
            "route": ["device_ops"],
            "summary": "bench probe {source_id}",
        }],
    }


def rule_pairs() -> list[tuple[Family, str]]:
    """Every (family, kind) a generated rule may read, in a fixed order."""
    return [(f, k) for f in Family for k in sorted(KINDS[f]) if (f, k) != (PROBE_FAMILY, PROBE_KIND)]


def max_generated_rules() -> int:
    return len(rule_pairs()) * len(STREETS)


def _threshold(metric: Metric, match: float) -> float:
    """The cut with P(metric >= cut) == ``match``, rounded the way the YAML writes it."""
    cut = inverse_survival(min(1.0, match))
    return float(math.ceil(cut)) if metric.integer else round(cut, 2)


def _literal(metric: Metric, cut: float) -> str:
    value = cut * metric.scale
    return str(int(value)) if metric.integer else f"{value:.4f}"


def _generated_rule(family: Family, kind: str, street: int, cut: float,
                    agencies: set[str]) -> dict[str, Any]:
    """Shaped like the shipped packs (scope, null guard, tier ladder), so CEL cost is realistic."""
    metric = METRIC_OF[family]
    path = metric.path
    step = METRIC_TOP - cut
    red, orange = cut + 0.8 * step, cut + 0.5 * step
    guard = "" if "." in path else f"{path} != null && "
    route = [ROUTE_OF[family]] if ROUTE_OF[family] in agencies else []
    return {
        "id": f"bench-{family.value}-{kind.replace('_', '-')}-{STREETS[street].lower()}",
        "title": f"bench {family.value} {kind} {STREETS[street]}",
        "risk": RISK_OF[family],
        "on": family.value,
        "kind": kind,
        "when": f"location.street == '{STREETS[street]}' && {guard}{path} >= {_literal(metric, cut)}",
        "tier": {
            "red": f"{path} >= {_literal(metric, red)}",
            "orange": f"{path} >= {_literal(metric, orange)}",
            "yellow": "true",
        },
        "group_by": ["source_id"],
        "cooldown": "10m",
        "route": route,
        "summary": f"{{location.street}} {{source_id}} {kind}" + ("" if "." in path else f" {{{path}}}"),
    }


def generate_pack(count: int, match_rate: float, router: Router) -> tuple[dict[str, Any], float]:
    """``count`` rules spread round-robin over kinds, one street each; returns (pack, P(match)).

    With m rules on a kind (m streets out of 24), P(an event of that kind matches) is
    m/24 * survival(cut); the cut is chosen to make that ``match_rate`` where it can, and the
    returned fraction is recomputed from the written thresholds so the report states the truth
    (an integer metric matches int(metric) >= cut, which equals metric >= cut for integer cuts).
    """
    pairs = rule_pairs()
    if not 0 < count <= max_generated_rules():
        raise ValueError(f"generated rule count must be 1..{max_generated_rules()}, got {count}")
    per_pair = [count // len(pairs) + (1 if i < count % len(pairs) else 0) for i in range(len(pairs))]
    agencies = set(router.agencies)
    rules: list[dict[str, Any]] = []
    expected = 0.0
    for (family, kind), m in zip(pairs, per_pair, strict=True):
        if m == 0:
            continue
        metric = METRIC_OF[family]
        cut = _threshold(metric, match_rate * len(STREETS) / m)
        rules += [_generated_rule(family, kind, street, cut, agencies) for street in range(m)]
        kinds_in_family = sum(1 for f, _ in pairs if f is family)
        expected += FAMILY_MIX[family] / kinds_in_family * m / len(STREETS) * survival(cut)
    pack = {"version": 1, "pack": f"bench-generated-{count}",
            "description": "riskstream bench: generated stateless rules", "rules": rules}
    return pack, expected


def write_pack(path: Path, pack: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    yaml = YAML(typ="rt")  # keeps key order, so the file reads like a hand-written pack
    yaml.default_flow_style = False
    with path.open("w", encoding="utf-8") as fh:
        yaml.dump(pack, fh)
    return path


def count_rules(paths: Sequence[Path], router: Router) -> int:
    """Load the packs exactly as the worker will, so a broken pack fails here with its message."""
    return sum(1 for r in load_ruleset(list(paths), router).rules if r.spec.enabled)


# ------------------------------------------------------------------------------ broker


def kafka_version() -> str:
    try:
        text = KAFKA_POM.read_text(encoding="utf-8")
    except OSError:
        return "unknown"
    found = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", text)
    return found.group(1) if found else "unknown"


def given_bootstrap(flag: str | None) -> str | None:
    """The broker the user named, if any; the Settings fallback 127.0.0.1:9092 does not count."""
    return flag or os.environ.get("RISKSTREAM_KAFKA_BOOTSTRAP") or os.environ.get("KAFKA_BOOTSTRAP_SERVERS")


def _kafka_script(command: str, home: Path, *args: str) -> str:
    if not KAFKA_SCRIPT.exists():
        raise RuntimeError(f"{KAFKA_SCRIPT} not found: set RISKSTREAM_KAFKA_BOOTSTRAP to a broker")
    env = {**os.environ, "RISKSTREAM_KAFKA_HOME": str(home)}
    done = subprocess.run(["bash", str(KAFKA_SCRIPT), command, *args], env=env, check=False,
                          capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"kafka-local.sh {command} failed:\n{done.stderr[-3000:]}")
    return done.stdout


@contextlib.contextmanager
def broker(bootstrap: str | None, display: Display) -> Iterator[tuple[str, bool]]:
    """Yield (bootstrap, started_here): the given broker, or a throwaway one stopped afterwards.

    A fresh state dir per run keeps the benchmark from ever stopping a developer's own broker.
    """
    if bootstrap:
        yield bootstrap, False
        return
    home = Path(tempfile.mkdtemp(prefix="riskstream-bench-kafka-"))
    task = display.phase("starting a local Kafka broker (kafka-local.sh --port 0)", None)
    try:
        out = _kafka_script("start", home, "--port", "0")
        line = out.strip().splitlines()[-1]
        address = line.split("=", 1)[1]
        display.done(task, address)
        yield address, True
    finally:
        stop = display.phase("stopping the local Kafka broker", None)
        with contextlib.suppress(Exception):
            _kafka_script("stop", home)
        shutil.rmtree(home, ignore_errors=True)
        display.done(stop)


class KafkaProbe:
    """Admin and offset queries, kept apart from the measured clients so they add no load there."""

    def __init__(self, bootstrap: str):
        self.bootstrap = bootstrap
        self.admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)

    async def __aenter__(self) -> KafkaProbe:
        await self.admin.start()
        await self.consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()
        await self.admin.close()

    async def create(self, topics: Sequence[str], partitions: int) -> None:
        new = [NewTopic(t, partitions, 1) for t in topics]
        with contextlib.suppress(TopicAlreadyExistsError):
            await self.admin.create_topics(new)

    async def partitions(self, topics: Sequence[str]) -> list[TopicPartition]:
        described = await self.admin.describe_topics(list(topics))
        return [TopicPartition(t["topic"], p["partition"]) for t in described for p in t["partitions"]]

    async def end_total(self, tps: Sequence[TopicPartition]) -> int:
        ends = await self.consumer.end_offsets(list(tps))
        return sum(ends.values())

    async def lag(self, group: str, tps: Sequence[TopicPartition]) -> int:
        """End offsets minus the group's committed offsets (uncommitted partitions count fully)."""
        ends = await self.consumer.end_offsets(list(tps))
        committed = await self.admin.list_consumer_group_offsets(group, partitions=list(tps))
        done = {tp: (om.offset if om is not None and om.offset >= 0 else 0)
                for tp, om in committed.items()}
        return sum(max(0, end - done.get(tp, 0)) for tp, end in ends.items())

    async def delete_prefixed(self, prefix: str) -> int:
        names = [t for t in await self.admin.list_topics() if t.startswith(prefix)]
        if names:
            await self.admin.delete_topics(names)
        return len(names)


async def preload(bootstrap: str, messages: Sequence[tuple[str, bytes, bytes]],
                  display: Display, task: int) -> None:
    """Write the backlog with large batches: its speed is not measured, only its completeness."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20,
                                max_batch_size=512 * 1024, acks=1)
    await producer.start()
    try:
        futures = []
        for i, (topic, key, value) in enumerate(messages, 1):
            futures.append(await producer.send(topic, value, key=key))
            if i % 2000 == 0:
                display.update(task, i)
        await asyncio.gather(*futures)
        display.update(task, len(messages))
    finally:
        await producer.stop()


def backlog(factory: EventFactory, topics: dict[Family, str], n: int,
            tag: str) -> list[tuple[str, bytes, bytes]]:
    now = time.time()
    out = []
    for _ in range(n):
        family, key, body = factory.background(tag, now)
        out.append((topics[family], key.encode(), encode(body)))
    return out


# ------------------------------------------------------------------------------ processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Child:
    """A measured process in its own session, so Ctrl-C on the bench never half-kills it."""

    def __init__(self, argv: list[str], env: dict[str, str], log_path: Path, cwd: Path):
        self.argv, self.env, self.log_path, self.cwd = argv, env, log_path, cwd
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log_path.open("wb") as log:
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv, env=self.env, cwd=self.cwd, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    async def stop(self) -> int | None:
        """SIGTERM (the worker's clean stop, which also lets cProfile write), then SIGKILL."""
        if self.proc is None:
            return None
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), WORKER_STOP_SECONDS)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                await self.proc.wait()
        return self.proc.returncode

    def tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def _python_argv(script: list[str], profile: Path | None) -> list[str]:
    if profile is None:
        return [sys.executable, *script]
    return [sys.executable, "-m", "cProfile", "-o", str(profile), *script]


def worker_argv(tmp: Path, profile: Path | None) -> list[str]:
    """`riskstream worker` through the installed entry point, or a shim when it is not installed."""
    entry = Path(sys.executable).with_name("riskstream")
    if not entry.exists():
        entry = tmp / "riskstream_entry.py"
        entry.write_text("import sys\nfrom streams.cli import main\nsys.exit(main())\n", encoding="utf-8")
    return _python_argv([str(entry), "worker"], profile)


def worker_env(s: Settings) -> dict[str, str]:
    """The worker's whole configuration, with the caller's RISKSTREAM_* removed so runs repeat."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISKSTREAM_")}
    env.update({
        "RISKSTREAM_KAFKA_BOOTSTRAP": s.kafka_bootstrap,
        "RISKSTREAM_APP_ID": s.app_id,
        "RISKSTREAM_TOPIC_PREFIX": s.topic_prefix,
        "RISKSTREAM_PARTITIONS": str(s.partitions),
        "RISKSTREAM_RULES_PATH": os.pathsep.join(str(p) for p in s.rules_path),
        "RISKSTREAM_ROUTING_PATH": str(s.routing_path),
        "RISKSTREAM_STORE": s.store,
        "RISKSTREAM_DATA_DIR": str(s.data_dir),
        "RISKSTREAM_WEB_BIND": s.web_bind,
        "RISKSTREAM_WEB_PORT": str(s.web_port),
        "RISKSTREAM_LOG_LEVEL": s.log_level,
        "PYTHONUNBUFFERED": "1",
    })
    return env


@dataclass(frozen=True)
class Counters:
    """The worker's own Prometheus counters: exact progress, without waiting for a commit."""

    processed: float = 0.0
    matched: float = 0.0
    alerts: float = 0.0
    suppressed: float = 0.0
    eval_errors: float = 0.0

    @property
    def dispatched(self) -> float:
        return self.alerts + self.suppressed


_COUNTER_OF = {
    "riskstream_events_total": "processed",
    "riskstream_rule_matches_total": "matched",
    "riskstream_candidates_suppressed_total": "suppressed",
    "riskstream_rule_eval_errors_total": "eval_errors",
}


def parse_counters(text: str) -> Counters:
    sums = dict.fromkeys(("processed", "matched", "alerts", "suppressed", "eval_errors"), 0.0)
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        name = series.split("{", 1)[0]
        if name in _COUNTER_OF:
            sums[_COUNTER_OF[name]] += float(value)
        elif name == "riskstream_alert_latency_seconds_count" and 'stage="event_to_alert"' in series:
            sums["alerts"] += float(value)
    return Counters(**sums)


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=2.0) as resp:
        return str(resp.read().decode("utf-8"))


async def scrape(port: int) -> Counters | None:
    try:
        text = await asyncio.to_thread(_get, f"http://127.0.0.1:{port}/metrics")
    except OSError:
        return None
    return parse_counters(text)


# ------------------------------------------------------------------------------ measuring


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds of the measured process and busy/total ticks of the whole machine."""

    process: float | None
    busy: float
    total: float


def cpu_sample(pid: int | None) -> CpuSample:
    """From /proc: shows whether a drain was CPU-bound, and whether others shared the cores."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    process = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        if pid is not None:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            process = (int(stat[11]) + int(stat[12])) / tick
    busy = total = 0.0
    with contextlib.suppress(OSError, ValueError):
        ticks = [float(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        total = sum(ticks[:8])
        busy = total - ticks[3] - ticks[4]
    return CpuSample(process, busy, total)


@dataclass
class Drain:
    started: float
    ended: float
    first_count: float
    first_wall: float
    cpu_start: CpuSample
    cpu_end: CpuSample
    samples: list[tuple[float, float]] = field(default_factory=list)


Poll = Callable[[], Awaitable[tuple[float, bool]]]


def _next_poll(first: tuple[float, float, CpuSample] | None, count: float, n: int, now: float) -> float:
    """Poll often only at the two ends: a worker /metrics scrape costs the worker CPU time."""
    if first is None or count <= first[1]:
        return POLL_SECONDS
    rate = (count - first[1]) / max(1e-6, now - first[0])
    eta = (n - count) / rate
    return min(1.0, max(0.1, eta / 3.0))


async def drain(poll: Poll, n: int, deadline: float, child: Child,
                display: Display, task: int) -> Drain:
    """Time from the first poll showing progress to the first showing everything processed.

    Throughput is then (n - count at the first progress) / elapsed, so the unknown moment the
    first event was taken inside the first interval does not bias the result.
    """
    launched = time.monotonic()
    first: tuple[float, float, CpuSample] | None = None
    samples: list[tuple[float, float]] = []
    while True:
        count, complete = await poll()
        now = time.monotonic()
        display.update(task, count)
        if first is None and count > 0:
            first = (now, count, cpu_sample(child.pid))
        if first is not None:
            samples.append((round(now - first[0], 3), count))
        if complete and first is not None:
            return Drain(first[0], now, first[1], first[0] - launched, first[2],
                         cpu_sample(child.pid), samples)
        if now > deadline:
            raise TimeoutError(f"processed {count:.0f} of {n} events before the deadline")
        if not child.alive():
            raise RuntimeError("the measured process exited")
        await asyncio.sleep(_next_poll(first, count, n, now))


def throughput_of(n: int, d: Drain) -> Throughput:
    seconds = max(1e-6, d.ended - d.started)
    rate = (n - d.first_count) / seconds
    t = Throughput(events=n, seconds=round(seconds, 3), events_per_s=round(rate, 1),
                   first_progress_after_s=round(d.first_wall, 2), progress=d.samples)
    a, b = d.cpu_start, d.cpu_end
    if a.process is not None and b.process is not None:
        t.process_cpu_util = round((b.process - a.process) / seconds, 3)
    if b.total > a.total:
        t.machine_busy = round((b.busy - a.busy) / (b.total - a.total), 3)
    return t


async def wait_committed(probe: KafkaProbe, group: str, tps: Sequence[TopicPartition],
                         since: float, timeout: float) -> float | None:
    """Seconds from the first progress until the group's commits reach the end offsets."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if await probe.lag(group, tps) == 0:
            return round(time.monotonic() - since, 3)
        await asyncio.sleep(POLL_SECONDS)
    return None


Extract = Callable[[bytes], str | None]


def probe_alert_event(value: bytes) -> str | None:
    """The event id that opened a probe alert (data.evidence[0]); None for other alerts."""
    data = orjson.loads(value).get("data") or {}
    if data.get("rule_id") != PROBE_RULE_ID:
        return None
    evidence = data.get("evidence") or []
    return str(evidence[0]) if evidence else None


def passthrough_event(value: bytes) -> str | None:
    return str(orjson.loads(value)["event_id"])


class LatencyRun:
    """Offered load at a fixed rate, and a reader that matches outputs back to their send time."""

    def __init__(self, bootstrap: str, topics: dict[Family, str], output: list[TopicPartition],
                 factory: EventFactory, extract: Extract, every: int, tag: str):
        self.bootstrap, self.topics, self.output = bootstrap, topics, output
        self.factory, self.extract, self.every, self.tag = factory, extract, every, tag
        self.sent_at: dict[str, float] = {}
        self.samples: list[float] = []
        self.sent = 0

    async def run(self, rate: float, duration: float, settle: float,
                  display: Display, task: int) -> Latency:
        reader = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                                  fetch_max_wait_ms=50, auto_offset_reset="latest")
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, linger_ms=0, acks=1)
        await reader.start()
        await producer.start()
        try:
            await self._assign_at_end(reader)
            reading = asyncio.create_task(self._read(reader))
            achieved = await self._offer(producer, rate, duration, display, task)
            await self._settle(settle)
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reading
        finally:
            await producer.stop()
            await reader.stop()
        tracked = len(self.samples) + len(self.sent_at)
        return summarize_latency(self.samples, rate, duration, self.sent, tracked, achieved)

    async def _assign_at_end(self, reader: AIOKafkaConsumer) -> None:
        reader.assign(self.output)
        await reader.seek_to_end(*self.output)
        for tp in self.output:
            await reader.position(tp)  # resolve now, so no output of this run is skipped

    async def _read(self, reader: AIOKafkaConsumer) -> None:
        while True:
            batch = await reader.getmany(timeout_ms=100)
            seen = time.time()
            for records in batch.values():
                for record in records:
                    self._match(record.value, seen)

    def _match(self, value: bytes | None, seen: float) -> None:
        if not value:
            return
        try:
            event_id = self.extract(value)
        except (ValueError, KeyError, TypeError, AttributeError):  # not ours: never stop reading
            return
        sent = self.sent_at.pop(event_id, None) if event_id else None
        if sent is not None:
            self.samples.append(seen - sent)

    async def _offer(self, producer: AIOKafkaProducer, rate: float, duration: float,
                     display: Display, task: int) -> float:
        """Send on a schedule (not as fast as possible): each event is stamped right before send."""
        total = int(rate * duration)
        start = time.monotonic()
        futures = []
        while self.sent < total:
            due = min(total, int((time.monotonic() - start) * rate) + 1)
            while self.sent < due:
                futures.append(await self._send_one(producer))
            display.update(task, self.sent, f"{len(self.samples)} measured")
            await asyncio.sleep(LATENCY_TICK)
        elapsed = time.monotonic() - start
        await asyncio.gather(*futures)
        return self.sent / elapsed if elapsed > 0 else 0.0

    async def _send_one(self, producer: AIOKafkaProducer) -> asyncio.Future[Any]:
        tracked = self.sent % self.every == 0
        now = time.time()
        make = self.factory.probe if tracked and self.every > 1 else self.factory.background
        family, key, body = make(self.tag, now)
        if tracked:
            self.sent_at[body["event_id"]] = now
        self.sent += 1
        future: asyncio.Future[Any] = await producer.send(self.topics[family], encode(body),
                                                          key=key.encode())
        return future

    async def _settle(self, settle: float) -> None:
        end = time.monotonic() + settle
        while self.sent_at and time.monotonic() < end:
            await asyncio.sleep(0.05)


# ------------------------------------------------------------------------------ scenarios


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
    argv = _python_argv(["-m", "streams.bench", "passthrough", ctx.bootstrap, group, output,
                         *inputs.values()], ctx.profile_path(scenario.slug))
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
    result = ScenarioResult(scenario.name, scenario.slug, rules=0,
                            generated_rules=scenario.generated_rules,
                            expected_match_fraction=scenario.expected_match)
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
    child = Child(worker_argv(ctx.tmp, ctx.profile_path(scenario.slug)), worker_env(settings),
                  ctx.tmp / f"{scenario.slug}.log", ctx.tmp)
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
    return ctx.base.model_copy(update={
        "app_id": ctx.app_id(scenario.slug),
        "topic_prefix": ctx.prefix(scenario.slug),
        "rules_path": list(scenario.rule_paths),
        "store": "memory://",
        "data_dir": data_dir,
        "web_bind": "127.0.0.1",
        "web_port": free_port(),
        "log_level": "warning",
    })


async def _preload(ctx: RunContext, scenario: Scenario, inputs: dict[Family, str],
                   factory: EventFactory) -> None:
    messages = backlog(factory, inputs, ctx.params.events, "tp")
    task = ctx.display.phase(f"{scenario.name}: preload backlog", len(messages))
    await preload(ctx.bootstrap, messages, ctx.display, task)
    ctx.display.done(task)


async def _measure(ctx: RunContext, scenario: Scenario, result: ScenarioResult, child: Child,
                   poll: Poll, group: str, tps: Sequence[TopicPartition]) -> None:
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


# ------------------------------------------------------------------------------ the run


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
        out.append(Scenario(f"generated {count}", f"gen{count}", (path.parent, probe.parent),
                            count, round(expected, 5)))
    return out


def compare(results: list[ScenarioResult]) -> None:
    """Fill vs_passthrough: throughput ratio and latency differences to the ceiling run."""
    base = next((r for r in results if r.slug == "passthrough" and r.throughput), None)
    if base is None or base.throughput is None:
        return
    for r in results:
        if r is base or r.throughput is None:
            continue
        ratio = r.throughput.events_per_s / base.throughput.events_per_s
        r.vs_passthrough["throughput_ratio"] = round(ratio, 4)
        if r.latency and base.latency:
            for q in ("p50_ms", "p95_ms", "p99_ms"):
                mine, ceiling = getattr(r.latency, q), getattr(base.latency, q)
                if mine is not None and ceiling is not None:
                    r.vs_passthrough[f"{q}_delta"] = round(mine - ceiling, 2)


async def run_bench(bootstrap: str, params: BenchParams, display: Display,
                    started_broker: bool) -> dict[str, Any]:
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


def load_average() -> list[float] | None:
    """Recorded because other processes on a shared box move these numbers a lot."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def machine_info() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": affinity,
        "cpu_model": model,
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "kafka_version": kafka_version(),
        "faust_streaming": _version("faust-streaming"),
        "aiokafka": _version("aiokafka"),
        "git_commit": _git_commit(),
    }


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


def _git_commit() -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=5, check=False)
    except OSError:
        return None
    return done.stdout.strip() or None


def report(params: BenchParams, results: list[ScenarioResult], started_broker: bool,
           run_id: str) -> dict[str, Any]:
    parameters = asdict(params)
    parameters["profile_dir"] = str(params.profile_dir) if params.profile_dir else None
    parameters["broker"] = "started by bench (kafka-local.sh)" if started_broker else "external"
    return {
        "schema": 1,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "run_id": run_id,
        "machine": machine_info(),
        "parameters": parameters,
        "notes": {
            "events_per_s": "drain of a preloaded backlog, from the first processed event to the last "
                            "(pipeline: worker counters incl. dispatch; passthrough: output end offsets)",
            "latency": "alert seen on the audit topic minus the send time carried in the event; "
                       "pipeline: probe events only; passthrough: every event",
            "rules": "rules the worker runs, including the 1 latency probe rule",
        },
        "scenarios": [asdict(r) for r in results],
    }


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")


# ------------------------------------------------------------------------------ passthrough process


async def passthrough(bootstrap: str, group: str, output: str, inputs: Sequence[str]) -> None:
    """The ceiling: consume, produce each message unchanged, commit like Faust (every 1 s).

    Producer settings mirror the worker's (acks=all, linger 5 ms) so the gap to the pipeline is
    the pipeline's own work, not a cheaper delivery guarantee.
    """
    consumer = AIOKafkaConsumer(*inputs, bootstrap_servers=bootstrap, group_id=group,
                                auto_offset_reset="earliest", enable_auto_commit=True,
                                auto_commit_interval_ms=1000)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks="all")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await consumer.start()
    await producer.start()
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=100, max_records=500)
            futures = [await producer.send(output, m.value, key=m.key)
                       for records in batch.values() for m in records]
            if futures:
                await asyncio.gather(*futures)
    finally:
        await producer.stop()
        await consumer.stop()


def main(argv: list[str]) -> int:
    if len(argv) >= 5 and argv[0] == "passthrough":
        asyncio.run(passthrough(argv[1], argv[2], argv[3], argv[4:]))
        return 0
    print("usage: python -m streams.bench passthrough BOOTSTRAP GROUP OUTPUT INPUT...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
