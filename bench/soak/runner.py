"""Runs a soak: a broker of its own, two workers in one group, the load, the faults on schedule,
the drain, then reads what reached the topics and judges it (bench.soak.verdict)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from rich.markup import escape

from bench.broker import PLAINTEXT_SETTINGS
from bench.soak.broker import OwnBroker
from bench.soak.kafka import Offsets, producer, read_topics
from bench.soak.logs import LogCounts, count_segment, file_size
from bench.soak.params import SoakParams
from bench.soak.plan import SLOTS, Fault, plan_faults
from bench.soak.verdict import (
    EventCheck,
    Exit,
    Notice,
    Outage,
    Row,
    Sample,
    check_alerts,
    check_duplicates,
    expected_alerts,
    notice_from,
    passed,
    recovery_times,
    verdict_rows,
)
from bench.soak.workers import Lifetime, Slot
from bench.soak.workload import Sender, SoakLoad, delivered
from connectors.simulator import new_run_id
from rules.routing import load_routing
from streams.settings import Settings
from streams.topics import ensure_topics

SAMPLE_EVERY = 0.5
LAG_EVERY = 2.0
READY_TIMEOUT = 120.0
LATE_KILL = 5.0
"""A kill more than this many seconds past its time (the broker was still coming back) is skipped."""
DELIVERY_TIMEOUT = 120.0


class Display(Protocol):
    def log(self, message: str) -> None: ...

    def status(self, lines: list[str]) -> None: ...


@dataclass
class SoakResult:
    params: SoakParams
    run_id: str
    rows: list[Row]
    passed: bool
    figures: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "passed": self.passed, "parameters": asdict(self.params),
                "verdict": [asdict(r) for r in self.rows], **self.figures}


async def run_soak(
    params: SoakParams, work: Path, display: Display, keep_broker_data: bool = False
) -> SoakResult:
    work.mkdir(parents=True, exist_ok=True)
    broker = OwnBroker(work / "kafka")
    display.log("starting a broker of the soak's own (scripts/kafka-local.sh on free ports, state in "
                f"{broker.home})")
    try:
        await broker.start()
        display.log(f"broker answering on {broker.bootstrap}")
        return await _Soak(params, work, broker, display).run()
    finally:
        display.log("stopping the soak's broker")
        try:
            await broker.close(keep_data=keep_broker_data)
        except Exception as exc:  # never hide why the run itself failed
            display.log(f"[red]could not stop the soak's broker: {escape(str(exc))}")


@dataclass
class _OutageMarks:
    stopped_at: float
    down: dict[str, int]
    """Log file sizes per lifetime when the broker was stopped."""
    exited_at: float | None = None
    back_at: float | None = None
    up: dict[str, int] = field(default_factory=dict)
    after_end_at: float | None = None
    after_end: dict[str, int] = field(default_factory=dict)


class _Soak:
    def __init__(self, params: SoakParams, work: Path, broker: OwnBroker, display: Display):
        self.p = params
        self.work = work
        self.broker = broker
        self.display = display
        self.run_id = new_run_id()
        self.settings = Settings(
            kafka_bootstrap=broker.bootstrap,
            app_id=f"soak-{self.run_id}",
            topic_prefix=f"soak-{self.run_id}.",
            partitions=params.partitions,
            store=params.store,
            log_level="info",
            session_timeout=params.session_timeout,
            **PLAINTEXT_SETTINGS,  # the soak's own broker is plain, whatever RISKSTREAM_KAFKA_* say
        )
        self.router = load_routing(self.settings.routing_path)
        self.loop = asyncio.get_running_loop()
        self.t0 = self.loop.time()
        extra = {"RISKSTREAM_SESSION_TIMEOUT": f"{params.session_timeout:g}"}
        self.slots = {name: Slot(name, self.settings, extra, work, self.now) for name in SLOTS}
        self.plan = plan_faults(params)
        self.kills_planned = sum(f.kind == "kill" for f in self.plan)
        self.kills = 0
        self.skipped: list[Fault] = []
        self.samples: list[Sample] = []
        self.exits: list[Exit] = []
        self.outage: _OutageMarks | None = None
        self.phase = "starting"
        self.lag: int | None = None
        self.next_fault: Fault | None = None
        self.load = SoakLoad(params.seed, self.run_id, params.rate, params.incident_every,
                             params.incident_gap)
        self.offsets = Offsets(self.settings)
        self.loaded_until: float | None = None
        self._restart_when_back: set[str] = set()
        self._fault_task: asyncio.Task[None] | None = None

    def now(self) -> float:
        return round(self.loop.time() - self.t0, 2)

    def log(self, message: str) -> None:
        self.display.log(f"[{self.now():7.1f} s] {message}")

    # ------------------------------------------------------------------------------ the run

    async def run(self) -> SoakResult:
        await ensure_topics(self.settings, self.router)
        await self.offsets.start()
        inputs = list(self.settings.input_topics().values())
        s = self.settings
        internal = [s.topic(s.topic_hits), s.topic(s.topic_candidates)]
        self.input_tps = await self.offsets.partitions(inputs)
        self.pipeline_tps = [*self.input_tps, *await self.offsets.partitions(internal)]
        monitor: asyncio.Task[None] | None = None
        try:
            self.display.log(f"run {self.run_id}: two workers in group {self.settings.app_id}, "
                             f"topics {self.settings.topic_prefix}*, logs in {self.work}")
            for slot in self.slots.values():
                await slot.start()
            await asyncio.gather(*(s.wait_ready(READY_TIMEOUT) for s in self.slots.values()))
            self.display.log("both workers own input partitions; load starts: "
                             f"{self.p.rate:,.0f} events/s for {self.p.duration:g} s, one incident every "
                             f"{self.p.incident_every:g} s; faults: "
                             + (", ".join(f"{f.describe()} at {f.at:g} s" for f in self.plan) or "none"))
            self.t0 = self.loop.time()
            monitor = asyncio.create_task(self._monitor())
            await self._load_and_faults()
            self.phase = "draining"
            drained = await self._drain()
            self.phase = "reading"
            for slot in self.slots.values():
                await slot.scrape()
            result = await self._judge(drained)
        finally:
            if monitor is not None:
                monitor.cancel()
                await asyncio.gather(monitor, return_exceptions=True)
            self.phase = "stopping"
            await asyncio.gather(*(s.stop() for s in self.slots.values()), return_exceptions=True)
            await self.offsets.close()
            for slot in self.slots.values():  # the workers' tables; their logs stay
                shutil.rmtree(slot.settings.data_dir, ignore_errors=True)
        return result

    async def _load_and_faults(self) -> None:
        self.phase = "load"
        client = producer(
            self.settings, linger_ms=5, max_batch_size=256 * 1024, acks="all", enable_idempotence=True,
            client_id="riskstream-soak",
            request_timeout_ms=int(max(60.0, self.p.outage + 90.0) * 1000),
        )
        await client.start()
        try:
            self.sender = Sender(client, {f.value: t for f, t in self.settings.input_topics().items()},
                                 self.load.stats)
            stop = asyncio.Event()
            load = asyncio.create_task(self.load.run(self.sender, stop))
            faults = asyncio.create_task(self._faults())
            try:
                await asyncio.sleep(self.p.duration)
            finally:
                stop.set()
                self.loaded_until = self.now()
                await load
                faults.cancel()
                await asyncio.gather(faults, return_exceptions=True)
                if self._fault_task is not None:
                    await asyncio.gather(self._fault_task, return_exceptions=True)
            self._end_after_segment()
            self.log(f"load stopped: {self.load.stats.generated:,} events handed over; waiting for the "
                     "broker to acknowledge every one")
            if not await delivered(self.sender, DELIVERY_TIMEOUT):
                self.log(f"[red]{self.load.stats.generated - self.load.stats.acked:,} events still "
                         f"unacknowledged after {DELIVERY_TIMEOUT:g} s")
        finally:
            await client.stop()

    async def _faults(self) -> None:
        for fault in self.plan:
            self.next_fault = fault
            delay = fault.at - self.now()
            if delay > 0:
                await asyncio.sleep(delay)
            work = self._outage(fault) if fault.kind == "outage" else self._kill(fault)
            self._fault_task = asyncio.create_task(work)
            try:
                await asyncio.shield(self._fault_task)  # the end of the load does not cut a fault short
            except Exception as exc:  # the verdict then shows what did not happen
                self.log(f"[red]{fault.describe()} failed:[/] {escape(str(exc))}")
        self.next_fault = None

    async def _kill(self, fault: Fault) -> None:
        o = self.outage
        late = self.now() - fault.at
        quiet = o is not None and (o.back_at is None or self.now() < o.back_at + self.p.quiet_after)
        if not self.broker.running or quiet or late > LATE_KILL:
            self.skipped.append(fault)
            self.log(f"skipped: {fault.describe()} planned at {fault.at:g} s (broker outage or its "
                     "quiet time)")
            return
        self._end_after_segment()
        assert fault.slot is not None
        slot = self.slots[fault.slot]
        async with slot.lock:
            old = await slot.kill()
            new = await slot.start()
        self.kills += 1
        done = f"{old.last.valid:,.0f} events decided" if old is not None and old.last else "not yet scraped"
        pid = old.pid if old is not None else "-"
        self.log(f"SIGKILL worker {slot.name} (pid {pid}, {done}); restarted as pid {new.pid}")

    async def _outage(self, fault: Fault) -> None:
        marks = _OutageMarks(self.now(), self._log_sizes())
        self.outage = marks
        self.log(f"stopping the broker for {fault.length:g} s")
        await self.broker.stop()
        marks.exited_at = self.now()
        self.log(f"broker stopped (exited after {marks.exited_at - marks.stopped_at:.1f} s)")
        await asyncio.sleep(fault.length)
        self.log("starting the broker again (same ports, same data)")
        took = await self.broker.start_again()
        marks.back_at = self.now()
        marks.up = self._log_sizes()
        self.load.stats.watch_for_ack("broker_back", self.loop.time())
        self.log(f"broker answering again ({took:.1f} s to start); measuring how soon both workers process")
        for name in sorted(self._restart_when_back):
            async with self.slots[name].lock:
                await self._restart(self.slots[name])
        self._restart_when_back.clear()

    def _end_after_segment(self) -> None:
        o = self.outage
        if o is not None and o.back_at is not None and o.after_end_at is None:
            o.after_end_at = self.now()
            o.after_end = self._log_sizes()

    def _log_sizes(self) -> dict[str, int]:
        return {life.name: file_size(life.log_path) for life in self._alive()}

    def _alive(self) -> Iterable[Lifetime]:
        return (life for s in self.slots.values() if (life := s.current) is not None)

    async def _restart(self, slot: Slot) -> None:
        life = await slot.start()
        self.log(f"worker {slot.name} restarted as pid {life.pid} (a supervisor's restart)")

    async def _monitor(self) -> None:
        last_lag = 0.0
        while True:
            for slot in self.slots.values():
                async with slot.lock:
                    gone = slot.exited()
                    if gone is None:
                        continue
                    self.exits.append(Exit(slot.name, gone.number, self.now(), gone.code))
                    self.log(f"[red]worker {gone.name} (pid {gone.pid}) exited by itself with code "
                             f"{gone.code}[/]")
                    if self.broker.running:
                        await self._restart(slot)
                    else:
                        self._restart_when_back.add(slot.name)
            scraped = await asyncio.gather(*(s.scrape() for s in self.slots.values()))
            for slot, sample in zip(self.slots.values(), scraped, strict=True):
                life = slot.current
                if sample is not None and life is not None:
                    self.samples.append(Sample(self.now(), slot.name, life.number, sample.detect_done))
            if self.loop.time() - last_lag >= LAG_EVERY:
                last_lag = self.loop.time()
                self.lag = None
                if self.broker.running:
                    with contextlib.suppress(Exception):
                        self.lag = await asyncio.wait_for(
                            self.offsets.lag(self.settings.app_id, self.pipeline_tps), LAG_EVERY)
            self.display.status(self._status())
            await asyncio.sleep(SAMPLE_EVERY)

    def _status(self) -> list[str]:
        st = self.load.stats
        elapsed = self.now()
        lines = [
            f"{self.phase} {elapsed:,.0f}/{self.p.duration:g} s · sent {st.generated:,}, "
            f"acked {st.acked:,} · "
            f"injections {st.injections_done}/{st.injections} · broker "
            + ("up" if self.broker.running else "[red]DOWN[/]")
            + f" · lag {'-' if self.lag is None else f'{self.lag:,}'}"
        ]
        for slot in self.slots.values():
            life = slot.current
            if life is None:
                lines.append(f"  worker {slot.name}: not running")
                continue
            s = life.last
            lines.append(
                f"  worker {life.name} pid {life.pid}, up {elapsed - life.started_at:,.0f} s: "
                + (f"{s.input_partitions} input partitions, {s.valid:,.0f} events decided, "
                   f"{s.detect_done:,.0f} finished" if s is not None else "starting")
            )
        nxt = self.next_fault
        lines.append(f"  faults: {self.kills}/{self.kills_planned} kills"
                     + (f", next: {nxt.describe()} at {nxt.at:g} s" if nxt is not None else "")
                     + (f" · producer retries {st.failed:,} (last: {escape(st.last_error or '')})"
                        if st.failed else ""))
        return lines

    async def _drain(self) -> bool:
        """Until the group has committed every record of the input, hits and candidates topics
        (dispatch commits a candidate only once its notices are on the broker), three polls in a row."""
        self.log("draining: waiting for the group to commit every input, hit and candidate")
        deadline = self.loop.time() + self.p.drain_timeout
        steady = 0
        while self.loop.time() < deadline:
            try:
                lag = await asyncio.wait_for(self.offsets.lag(self.settings.app_id, self.pipeline_tps), 10.0)
            except Exception:
                lag = -1
                await self._reopen_offsets()
            self.lag = lag if lag >= 0 else None
            steady = steady + 1 if lag == 0 else 0
            if steady >= 3:
                self.log("drained: nothing left uncommitted")
                return True
            await asyncio.sleep(1.0)
        self.log(f"[red]not drained after {self.p.drain_timeout:g} s (lag {self.lag})")
        return False

    async def _reopen_offsets(self) -> None:
        """New admin and consumer clients, should the old ones not have got over the outage."""
        with contextlib.suppress(Exception):
            await self.offsets.close()
        self.offsets = Offsets(self.settings)
        with contextlib.suppress(Exception):
            await self.offsets.start()

    # ---------------------------------------------------------------------------- the verdict

    async def _judge(self, drained: bool) -> SoakResult:
        s = self.settings
        audit_topic = s.topic(s.topic_audit)
        agency_topics = sorted({s.topic(a.topic) for a in self.router.agencies.values()})
        audit = _notices(await read_topics(s, await self.offsets.partitions([audit_topic])))
        deliveries = _notices(await read_topics(s, await self.offsets.partitions(agency_topics)))
        ends = await self.offsets.ends(self.input_tps)
        begins = await self.offsets.beginnings(self.input_tps)
        committed = await self.offsets.committed(s.app_id, self.input_tps)
        lifetimes = [life for slot in self.slots.values() for life in slot.lifetimes]
        st = self.load.stats
        events = EventCheck(
            generated=st.generated,
            acked=st.acked,
            on_topics=sum(ends[tp] - begins[tp] for tp in self.input_tps),
            uncommitted=sum(max(0, ends[tp] - committed[tp]) for tp in self.input_tps),
            counted_valid=sum(life.last.valid for life in lifetimes if life.last),
            counted_invalid=sum(life.last.invalid for life in lifetimes if life.last),
            detect_done=sum(life.last.detect_done for life in lifetimes if life.last),
            resent=st.resent,
        )
        expected = expected_alerts(self.load.truths)
        alerts = check_alerts(expected, audit)
        dupes = check_duplicates(audit, deliveries)
        outage = self._outage_figures()
        rows = verdict_rows(alerts, dupes, events, outage, self.exits, self.kills, self.kills_planned,
                            self.p.recovery_target, self.p.max_error_lines_per_second)
        if not drained:
            rows.insert(0, Row("drained", f"within {self.p.drain_timeout:g} s", "no", False,
                               "the group still had uncommitted records"))
        figures = {
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "work_dir": str(self.work),
            "load": {"generated": st.generated, "acked": st.acked, "failed": st.failed, "resent": st.resent,
                     "background": self.load.background_sent, "scenario_events": st.scenario_events,
                     "injections": st.injections_done, "seconds": self.loaded_until,
                     "achieved_rate": _rate(self.load.background_sent, self.loaded_until),
                     "achieved_rate_broker_up": _rate(self.load.background_sent, self._seconds_broker_up())},
            "alerts": {"expected": alerts.expected, "lost": [e.describe() for e in alerts.lost],
                       "tier_short": [f"{e.describe()}: {got}" for e, got in alerts.tier_short],
                       "notices": alerts.notices, "other_alerts": alerts.other_alerts},
            "duplicates": asdict(dupes),
            "events": {**asdict(events), "replayed": events.replayed},
            "outage": _jsonable(outage),
            "kills": self.kills, "kills_planned": self.kills_planned,
            "skipped": [asdict(f) for f in self.skipped],
            "exits": [asdict(e) for e in self.exits],
            "lifetimes": [_lifetime(life) for life in lifetimes],
        }
        return SoakResult(self.p, self.run_id, rows, passed(rows), figures)

    def _seconds_broker_up(self) -> float | None:
        """Seconds of load during which the broker answered (the producer waits while it does not)."""
        if self.loaded_until is None:
            return None
        o = self.outage
        if o is None:
            return self.loaded_until
        back = o.back_at if o.back_at is not None else self.loaded_until
        return self.loaded_until - (min(back, self.loaded_until) - o.stopped_at)

    def _outage_figures(self) -> Outage | None:
        o = self.outage
        if o is None:
            return None
        lifetimes = {life.name: life for slot in self.slots.values() for life in slot.lifetimes}
        during: dict[str, LogCounts] = {}
        after: dict[str, LogCounts] = {}
        for name, start in o.down.items():
            life = lifetimes[name]
            during[life.slot] = during.get(life.slot, LogCounts()) + count_segment(
                life.log_path, start, o.up.get(name))
        after_end = o.after_end_at if o.after_end_at is not None else self.now()
        if o.back_at is not None:
            for life in lifetimes.values():
                if life.name in o.up:
                    segment = count_segment(life.log_path, o.up[life.name], o.after_end.get(life.name))
                elif o.back_at <= life.started_at < after_end:
                    segment = count_segment(life.log_path, 0, o.after_end.get(life.name))
                else:
                    continue
                after[life.slot] = after.get(life.slot, LogCounts()) + segment
        recovery: dict[str, float | None] = {}
        if o.back_at is not None:
            recovery = recovery_times(self.samples, o.back_at)
        acked = self.load.stats.first_ack_after.get("broker_back")
        producer_back = None
        if acked is not None and o.back_at is not None:
            producer_back = round(acked - self.t0 - o.back_at, 1)
        return Outage(o.stopped_at, o.back_at, self.p.outage, during, after,
                      max(0.0, after_end - (o.back_at or after_end)), recovery, producer_back)


def _rate(events: int, seconds: float | None) -> float | None:
    return round(events / seconds, 1) if seconds else None


def _notices(records: list[tuple[str, bytes | None]]) -> list[Notice]:
    return [n for t, v in records if (n := notice_from(t, v)) is not None]


def _lifetime(life: Lifetime) -> dict[str, Any]:
    out = {k: v for k, v in asdict(life).items() if k != "log_path"}
    out["log"] = str(life.log_path)
    return out


def _jsonable(value: Any) -> Any:
    if value is None:
        return None
    return asdict(value)
