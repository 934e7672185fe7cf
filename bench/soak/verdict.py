"""The soak's verdict, from what was recorded: the notices on the audit and agency topics, the
ground truth of the injected scenarios, the input topics' offsets, the workers' counters per
process lifetime, their logs, and when the broker came back. Pure: no Kafka, no processes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from bench.soak.logs import LogCounts
from connectors.scenarios import GroundTruth
from rules.model import Tier

Group = tuple[tuple[str, str], ...]


def group_of(group: Mapping[str, Any] | None) -> Group | None:
    """A group as notices carry it: field -> value as text, in field order."""
    if group is None:
        return None
    return tuple(sorted((str(k), str(v)) for k, v in group.items()))


def _rank(tier: str | None) -> int:
    try:
        return Tier(tier).rank if tier is not None else 0
    except ValueError:
        return 0


# ----------------------------------------------------------------------------------- notices


@dataclass(frozen=True)
class Notice:
    """One alert notice as read from a topic (the CloudEvent's data)."""

    topic: str
    alert_id: str
    notice_seq: int
    rule: str
    tier: str | None
    group: Group
    change: str | None = None
    withheld: bool = False

    @property
    def cloudevent_id(self) -> str:
        return f"{self.alert_id}:{self.notice_seq}"


def notice_from(topic: str, value: bytes | None) -> Notice | None:
    """The notice in a record's value, or None when the value is no alert notice."""
    if value is None:
        return None
    try:
        data = orjson.loads(value)["data"]
        return Notice(
            topic=topic,
            alert_id=str(data["alert_id"]),
            notice_seq=int(data["notice_seq"]),
            rule=str(data["rule_id"]),
            tier=data.get("tier"),
            group=group_of(data.get("group") or {}) or (),
            change=data.get("change"),
            withheld=bool(data.get("withheld_by")),
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


# ------------------------------------------------------------------------------ lost alerts


@dataclass(frozen=True)
class Expected:
    """One alert an injection must open: its rule and group (as cast), and the highest tier its
    expected notices reach."""

    scenario: str
    run_id: str
    rule: str
    group: Group | None
    tier: str | None

    def describe(self) -> str:
        group = ", ".join(f"{k}={v}" for k, v in self.group or ()) or "any group"
        return f"{self.rule} [{group}] ({self.scenario}, injection {self.run_id})"


def expected_alerts(truths: Iterable[GroundTruth]) -> list[Expected]:
    """The alerts the complete injections must open, one per rule and group of each injection."""
    found: dict[tuple[str, str, Group | None], Expected] = {}
    for truth in truths:
        if not truth.complete:
            continue
        for exp in truth.expected:
            key = (truth.run_id, exp.rule, group_of(exp.group))
            tier = exp.tier.value if exp.tier is not None else None
            have = found.get(key)
            if have is None or _rank(tier) > _rank(have.tier):
                found[key] = Expected(truth.scenario, truth.run_id, exp.rule, key[2], tier)
    return list(found.values())


@dataclass(frozen=True)
class AlertCheck:
    expected: int
    lost: list[Expected]
    """Expected alerts with no notice at all on the audit topic."""
    tier_short: list[tuple[Expected, str | None]]
    """Opened, but no notice reached the expected highest tier (with the highest one seen)."""
    other_alerts: int
    """Alerts on the audit topic that no injection expects (background traffic)."""
    notices: int

    @property
    def ok(self) -> bool:
        return not self.lost


def check_alerts(expected: Sequence[Expected], audit: Iterable[Notice]) -> AlertCheck:
    by_key: dict[tuple[str, Group], list[Notice]] = {}
    by_rule: dict[str, list[Notice]] = {}
    notices = 0
    for n in audit:
        notices += 1
        by_key.setdefault((n.rule, n.group), []).append(n)
        by_rule.setdefault(n.rule, []).append(n)
    lost: list[Expected] = []
    short: list[tuple[Expected, str | None]] = []
    matched: set[str] = set()
    for exp in expected:
        seen = by_rule.get(exp.rule, []) if exp.group is None else by_key.get((exp.rule, exp.group), [])
        if not seen:
            lost.append(exp)
            continue
        matched.update(n.alert_id for n in seen)
        best = max((n.tier for n in seen), key=_rank)
        if _rank(best) < _rank(exp.tier):
            short.append((exp, best))
    all_ids = {n.alert_id for ns in by_key.values() for n in ns}
    return AlertCheck(len(expected), lost, short, len(all_ids - matched), notices)


# ------------------------------------------------------------------------------- duplicates


@dataclass(frozen=True)
class DuplicateCheck:
    audit: int
    """Notices on the audit topic beyond the first with the same alert id and notice_seq."""
    deliveries: int
    """The same on the agency topics, per topic: what an agency would see twice."""
    examples: list[str] = field(default_factory=list)
    """CloudEvents ids (alert_id:notice_seq) seen more than once, a few."""

    @property
    def ok(self) -> bool:
        return self.audit == 0 and self.deliveries == 0


def check_duplicates(audit: Iterable[Notice], deliveries: Iterable[Notice], show: int = 5) -> DuplicateCheck:
    on_audit = Counter(n.cloudevent_id for n in audit)
    per_topic = Counter((n.topic, n.cloudevent_id) for n in deliveries)
    extra_audit = sum(c - 1 for c in on_audit.values())
    extra_deliveries = sum(c - 1 for c in per_topic.values())
    examples = [i for i, c in on_audit.items() if c > 1]
    examples += [i for (_, i), c in per_topic.items() if c > 1 and i not in examples]
    return DuplicateCheck(extra_audit, extra_deliveries, examples[:show])


# ----------------------------------------------------------------------------------- events


@dataclass(frozen=True)
class EventCheck:
    """Every input event in, processed and committed, and in the counters.

    ``counted_valid`` sums riskstream_events_total{outcome="valid"} over every worker process of
    the run (a killed one as scraped just before its SIGKILL). A batch decided by a worker killed
    before its offsets were committed is decided again by the partition's next owner and counted
    again there, so the sum is the events plus those replays; what is exact is the offsets: each
    input record is committed by the group once, and the group's committed offsets must reach the
    input topics' ends.
    """

    generated: int
    """Events the load generator made (each a distinct event id)."""
    acked: int
    """Of those, acknowledged by the broker."""
    on_topics: int
    """Records on the input topics."""
    uncommitted: int
    """Sum over input partitions of end offset minus the group's committed offset."""
    counted_valid: float
    counted_invalid: float
    detect_done: float
    """Sum over lifetimes of riskstream_stage_records_total{stage="detect"}."""
    resent: int = 0
    """Sends repeated by the load generator after a failed delivery (a possible input duplicate)."""

    @property
    def replayed(self) -> float:
        return self.counted_valid - self.on_topics

    def problems(self) -> list[str]:
        out = []
        if self.acked != self.generated:
            out.append(f"{self.generated - self.acked:,} events never acknowledged by the broker")
        if self.on_topics != self.acked:
            more = self.on_topics - self.acked
            out.append(f"the input topics hold {abs(more):,} {'more' if more > 0 else 'fewer'} records "
                       "than events acknowledged")
        if self.uncommitted:
            out.append(f"{self.uncommitted:,} input records never committed by the group")
        if self.counted_invalid:
            out.append(f"{self.counted_invalid:,.0f} valid events counted as dead letters")
        if self.counted_valid < self.on_topics:
            out.append(f"the workers counted {self.on_topics - self.counted_valid:,.0f} fewer valid events "
                       "than the input holds")
        if self.detect_done < self.on_topics:
            out.append(f"detect finished {self.on_topics - self.detect_done:,.0f} fewer events than "
                       "the input holds")
        return out

    @property
    def ok(self) -> bool:
        return not self.problems()


# --------------------------------------------------------------------------------- recovery


@dataclass(frozen=True)
class Sample:
    """A scrape of one worker: when (seconds of the run), which slot and process, what it had done."""

    at: float
    slot: str
    lifetime: int
    detect_done: float


def recovery_times(samples: Iterable[Sample], back_at: float) -> dict[str, float | None]:
    """Per slot: seconds from ``back_at`` (the broker answering again) to the first scrape showing
    the worker finished more input than before it (None: never within the samples).

    A worker that had not been scraped before ``back_at`` counts from any progress of its own.
    """
    before: dict[str, tuple[int, float]] = {}
    out: dict[str, float | None] = {}
    for s in sorted(samples, key=lambda s: s.at):
        if s.at <= back_at:
            before[s.slot] = (s.lifetime, s.detect_done)
            out.setdefault(s.slot, None)
            continue
        out.setdefault(s.slot, None)
        if out[s.slot] is not None:
            continue
        life, value = before.get(s.slot, (s.lifetime, 0.0))
        if (s.lifetime == life and s.detect_done > value) or (s.lifetime != life and s.detect_done > 0):
            out[s.slot] = round(s.at - back_at, 1)
    return out


# ------------------------------------------------------------------------------------- rows


@dataclass(frozen=True)
class Row:
    check: str
    target: str
    measured: str
    ok: bool | None
    """None: for information, not judged."""
    note: str = ""


@dataclass(frozen=True)
class Exit:
    slot: str
    lifetime: int
    at: float
    code: int | None


@dataclass(frozen=True)
class Outage:
    stopped_at: float
    """When the broker was told to stop (seconds of the run)."""
    back_at: float | None
    """When it answered again (None: it never did)."""
    down_for: float
    """Seconds it was asked to stay stopped."""
    logs_during: Mapping[str, LogCounts]
    logs_after: Mapping[str, LogCounts]
    after_seconds: float
    """Length of the 'after' segment: from its return to the next kill or the end of the load."""
    recovery: Mapping[str, float | None]
    producer_back: float | None = None
    """Seconds from its return to the load generator's first acknowledged send."""


FIRST_LINES = 10
"""ERROR lines allowed beyond the rate: the summary lets the first line of each kind of client
error through as it is, and about ten kinds come in an outage (fetch, connect, metadata, heartbeat,
coordinator, ...). A 10-second outage logged 20 lines, summarised; a loop logs thousands."""


def _logs_ok(counts: Mapping[str, LogCounts], seconds: float, per_second: float) -> bool:
    allowed = FIRST_LINES + per_second * seconds
    return all(c.errors <= allowed and c.tracebacks <= 1 for c in counts.values())


def _first_error(counts: Mapping[str, LogCounts]) -> str:
    return next((c.first_error for c in counts.values() if c.first_error), "")


def _logs_text(counts: Mapping[str, LogCounts]) -> str:
    return "; ".join(f"{slot}: {c.errors:,} ERROR, {c.tracebacks:,} tracebacks"
                     for slot, c in sorted(counts.items())) or "no worker log"


def verdict_rows(
    alerts: AlertCheck,
    dupes: DuplicateCheck,
    events: EventCheck,
    outage: Outage | None,
    exits: Sequence[Exit],
    kills: int,
    kills_planned: int,
    recovery_target: float = 30.0,
    error_lines_per_second: float = 1.0,
) -> list[Row]:
    rows = [
        Row("expected alerts opened", "all (0 lost)",
            f"{alerts.expected - len(alerts.lost):,} of {alerts.expected:,} ({len(alerts.lost)} lost)",
            alerts.ok,
            "; ".join(e.describe() for e in alerts.lost[:3])),
        Row("expected highest tiers reached", "all",
            f"{alerts.expected - len(alerts.lost) - len(alerts.tier_short):,} of "
            f"{alerts.expected - len(alerts.lost):,}",
            not alerts.tier_short,
            "; ".join(f"{e.describe()}: {e.tier} expected, {got} seen" for e, got in alerts.tier_short[:3])),
        Row("duplicate notices", "0",
            f"{dupes.audit:,} on the audit topic, {dupes.deliveries:,} on agency topics",
            dupes.ok,
            "" if dupes.ok else "same CloudEvents id (alert_id:notice_seq) as a notice already sent: an "
            "agency drops it by id (docs/alerts.md); e.g. " + ", ".join(dupes.examples)),
        Row("input events accounted for", "all in, all committed, each counted",
            f"{events.acked:,} sent, {events.on_topics:,} on the input topics, "
            f"{events.uncommitted:,} uncommitted; counted {events.counted_valid:,.0f} "
            f"({events.replayed:+,.0f}: decided again after kills and rebalances)",
            events.ok,
            "; ".join(events.problems())),
    ]
    if outage is not None:
        times = list(outage.recovery.values())
        worst = max((t for t in times if t is not None), default=None)
        if not times or None in times:
            worst = None
        per = ", ".join(f"{slot} {'never' if t is None else f'{t:g} s'}"
                        for slot, t in sorted(outage.recovery.items()))
        back = ""
        if outage.back_at is None:
            back = "broker never answered again"
        elif outage.producer_back is not None:
            back = f"load generator delivering after {outage.producer_back:g} s"
        rows.append(Row("processing again after the broker's return", f"≤ {recovery_target:g} s",
                        f"{'-' if worst is None else f'{worst:g} s'} ({per})",
                        worst is not None and worst <= recovery_target, back))
        during = outage.back_at - outage.stopped_at if outage.back_at is not None else outage.down_for
        rows.append(Row("worker logs while the broker was down",
                        f"≤ {error_lines_per_second:g} ERROR line/s, no traceback loop",
                        f"{_logs_text(outage.logs_during)} in {during:.0f} s",
                        _logs_ok(outage.logs_during, during, error_lines_per_second),
                        _first_error(outage.logs_during)))
        rows.append(Row("worker logs after its return",
                        f"≤ {error_lines_per_second:g} ERROR line/s, no traceback loop",
                        f"{_logs_text(outage.logs_after)} in {outage.after_seconds:.0f} s",
                        _logs_ok(outage.logs_after, outage.after_seconds, error_lines_per_second),
                        _first_error(outage.logs_after)))
    rows.append(Row("workers exiting by themselves", "0", f"{len(exits)}", not exits,
                    "; ".join(f"{e.slot}#{e.lifetime} exit {e.code} at {e.at:.0f} s" for e in exits[:3])))
    faults = f"{kills} of {kills_planned} planned SIGKILLs"
    if outage is not None:
        faults += f", broker stopped at {outage.stopped_at:.0f} s for {outage.down_for:g} s"
        if outage.back_at is not None:
            faults += f", answering again at {outage.back_at:.0f} s"
    rows.append(Row("faults injected", "kills and the outage happened", faults,
                    (kills > 0 or kills_planned == 0) and (outage is None or outage.back_at is not None),
                    "" if kills == kills_planned else "a kill is skipped when its time passed while the "
                    "broker was still coming back"))
    rows.append(Row("notices", "-", f"{alerts.notices:,} on the audit topic; {alerts.other_alerts:,} alerts "
                    "no injection expects", None))
    return rows


def passed(rows: Iterable[Row]) -> bool:
    return all(r.ok is not False for r in rows)
