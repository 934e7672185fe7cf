"""`riskstream tail`: a duty officer's live view of an agency's alert topic, coloured by tier."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import datetime, tzinfo
from typing import Annotated, Any

import typer
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaConnectionError
from pydantic import ValidationError
from rich.console import Console
from rich.text import Text

from rules.alerts import Alert, CloudEvent
from rules.errors import RiskstreamError
from rules.model import Tier
from rules.routing import Router, load_routing
from streams.kafka_io import partitions_of
from streams.kafka_security import unreachable
from streams.settings import Settings, get_settings

TIER_STYLE = {
    Tier.red: "bold white on red",
    Tier.orange: "bold black on dark_orange",
    Tier.yellow: "bold black on yellow",
    Tier.blue: "bold white on blue",
}
SEEN_LIMIT = 50_000
CHANGE_TEXT = {
    "tier_raised": "▲ tier raised",
    "tier_lowered": "▼ tier lowered",
    "repeat": "still firing",
    "escalated": "⚠ ESCALATED: not acknowledged",
    "acknowledged": "✓ acknowledged",
    "resolved": "resolved",
    "released": "(silence or inhibition ended)",
}
out = Console(highlight=False, emoji=False)
err = Console(stderr=True, highlight=False, emoji=False)


def clock(times: Sequence[datetime], zone: tzinfo, day_of: datetime | None = None) -> list[str]:
    """Times of one line in ``zone``: the zone's abbreviation (or offset) once, after the last, or
    after each if they differ (a change to summer time); the date too when not ``day_of``'s."""
    local = [t.astimezone(zone) for t in times]
    day = day_of.astimezone(zone).date() if day_of is not None else None
    names = {t.tzname() for t in local}
    texts = []
    for i, t in enumerate(local):
        text = t.strftime("%H:%M:%S" if day is None or t.date() == day else "%m-%d %H:%M:%S")
        if len(names) > 1 or i == len(local) - 1:
            text += f" {t.tzname()}"
        texts.append(text)
    return texts


def _people(a: Alert, zone: tzinfo) -> str:
    """Who took it on and who closed it, each with when and what they said."""
    parts: list[tuple[str, datetime, str | None]] = []
    if a.acknowledged_by and a.acknowledged_at:
        parts.append((f"acknowledged by {a.acknowledged_by}", a.acknowledged_at, a.ack_note))
    if a.resolved_by and a.resolved_at:
        parts.append((f"resolved by {a.resolved_by}", a.resolved_at, a.resolve_note))
    times = clock([at for _, at, _ in parts], zone, a.raised_at)
    return " · ".join(
        f"{who} at {when}" + (f": {note}" if note else "")
        for (who, _, note), when in zip(parts, times, strict=True)
    )


def render(ce: CloudEvent, watched: set[str], zone: tzinfo | None = None) -> Text:
    """A few lines: what and how bad, who took it on or closed it, where and since when (in the
    city's zone: ``zone``, default the ``city_zone`` setting), what to do and why it came here."""
    a = ce.data
    zone = zone or get_settings().city_tz
    if a.status == "resolved":
        badge = Text(f" RESOLVED {a.tier.value} ", style="bold black on green")
    else:
        badge = Text(f" {a.tier.value.upper()} {a.tier_level} ", style=TIER_STYLE[a.tier])
    head = Text.assemble(badge, " ", (a.title, "bold"), "  ", a.summary)
    if a.change != "opened":
        head.append(f"  {CHANGE_TEXT.get(a.change, a.change)}", style="bold")
    if a.storm is not None:
        top = ", ".join(f"{g} ({n})" for g, n in a.storm.top)
        head.append(f"\n    storm: {a.storm.groups} groups; top: {top}", style="bold")
    if a.inhibited_count:
        listed = ", ".join(a.inhibited)
        head.append(f"\n    withheld {a.inhibited_count} lower alert(s) here: {listed}", style="dim")
    if a.window:
        figures = ", ".join(f"{k} {v:g}" for k, v in a.window.items())
        head.append(f"  [{figures}]", style="bold")
    if a.notice_seq > 1:
        head.append(f"  (update #{a.notice_seq})", style="italic")
    people = _people(a, zone)
    if people:
        head.append(f"\n    {people}", style="green")
    where = " / ".join(a.grid_path)
    if a.location.name:
        where += f" · {a.location.name}"
    if a.location.lon is not None and a.location.lat is not None:
        where += f" ({a.location.lat:.5f}, {a.location.lon:.5f})"
    first, last = clock([a.first_seen, a.last_seen], zone, a.raised_at)
    detail = Text(
        f"    {where} | since {first}, last {last}, {a.count}x | {a.risk.value} | "
        f"rule {a.rule_id} v{a.rule_version} | id {a.alert_id}",
        style="dim",
    )
    lines = Text.assemble(head, "\n", detail)
    why = "; ".join(f"{ag}: {r}" for ag, r in a.routed_because.items() if ag in watched)
    if a.action or why:
        lines.append("\n    ")
        if a.action:
            lines.append(f"→ {a.action}", style="cyan")
        if why:
            lines.append(f"  [{why}]", style="dim")
    return lines


def short_name(topic: str) -> str:
    """A topic's last part, the name duty officers use for it: cyber for alerts.cyber."""
    return topic.rsplit(".", 1)[-1]


def agency_list(router: Router) -> str:
    """Every agency as id (topic short name), for messages that say what may be given."""
    names = []
    for agency in router.agencies:
        short = short_name(router.topic_of(agency))
        names.append(agency if short == agency else f"{agency} ({short})")
    return ", ".join(names)


def find_agency(router: Router, name: str) -> str:
    """The agency id given by its id, its topic or its topic's short name; ValueError if none, or
    if the short name is several agencies' (give the id then)."""
    if name in router.agencies:
        return name
    by_topic = [a for a in router.agencies if router.topic_of(a) == name]
    by_short = [a for a in router.agencies if short_name(router.topic_of(a)) == name]
    found = by_topic or by_short
    if len(found) == 1:
        return found[0]
    if found:
        raise ValueError(f"{name} is the topic name of several agencies ({', '.join(found)}); give the id")
    raise ValueError(f"unknown agency {name}")


Show = Callable[[CloudEvent], bool]
"""Shows one notice; True once enough have been shown."""


def _decode(record: ConsumerRecord[bytes, bytes]) -> CloudEvent | None:
    try:
        return CloudEvent.model_validate_json(record.value or b"")
    except ValidationError as exc:
        why = exc.errors()[0]["msg"]
        err.print(f"[red]unreadable alert on {record.topic} offset {record.offset}:[/red] {why}")
        return None


def in_time_order(notices: list[CloudEvent]) -> list[CloudEvent]:
    """By the time each notice was raised; notices raised at the same moment keep the order read
    (one alert's notices share a partition, so they stay in the order they were sent)."""
    return sorted(notices, key=lambda ce: ce.data.raised_at)


async def _read_to_end(consumer: Any, parts: list[TopicPartition]) -> list[CloudEvent]:
    """Everything in ``parts`` from the consumer's positions up to the end offsets as of now (and
    whatever arrives meanwhile)."""
    end = await consumer.end_offsets(parts)
    notices: list[CloudEvent] = []
    while True:
        behind = [tp for tp in parts if await consumer.position(tp) < end[tp]]
        if not behind:
            return notices
        batch = await consumer.getmany(*behind, timeout_ms=500)
        for records in batch.values():
            notices += [ce for ce in map(_decode, records) if ce is not None]


async def follow(consumer: Any, parts: list[TopicPartition], from_beginning: bool, show: Show) -> None:
    """Show the notices of ``parts``: with ``from_beginning`` first those already there, across
    partitions in the time they were raised, then each new one as it comes."""
    if from_beginning:
        await consumer.seek_to_beginning(*parts)
        for ce in in_time_order(await _read_to_end(consumer, parts)):
            if show(ce):
                return
    else:
        await consumer.seek_to_end(*parts)
    while True:
        batch = await consumer.getmany(timeout_ms=1000)
        for records in batch.values():
            for notice in map(_decode, records):
                if notice is not None and show(notice):
                    return


class _Printer:
    """Prints each notice once (one notice reaches several agencies, and delivery is
    at-least-once), until ``limit``."""

    def __init__(self, watched: set[str], zone: tzinfo, limit: int | None):
        self.watched, self.zone, self.limit = watched, zone, limit
        self.seen: OrderedDict[str, None] = OrderedDict()
        self.shown = 0

    def __call__(self, ce: CloudEvent) -> bool:
        if ce.id not in self.seen:
            self.seen[ce.id] = None
            if len(self.seen) > SEEN_LIMIT:
                self.seen.popitem(last=False)
            out.print(render(ce, self.watched, self.zone))
            self.shown += 1
        return self.limit is not None and self.shown >= self.limit


async def _tail(
    settings: Settings, topics: dict[str, str], from_beginning: bool, limit: int | None
) -> None:
    consumer = AIOKafkaConsumer(
        **settings.kafka_client_options(), group_id=None, enable_auto_commit=False
    )
    try:
        await consumer.start()
    except KafkaConnectionError:
        raise RiskstreamError(unreachable(settings)) from None
    try:
        existing = await consumer.topics()
        missing = [t for t in topics if t not in existing]
        if len(missing) == len(topics):
            raise RiskstreamError(
                f"no topic {', '.join(missing)} on {settings.kafka_bootstrap} yet: the worker creates "
                "every agency's topic when it starts (`riskstream worker`); check RISKSTREAM_TOPIC_PREFIX"
            )
        if missing:
            err.print(f"[yellow]not watching {', '.join(missing)}[/yellow]: no such topic yet")
        watching = [t for t in topics if t not in missing]
        known = await partitions_of(settings, watching)
        parts = [TopicPartition(t, p) for t in watching for p in known[t]]
        consumer.assign(parts)
        err.print(f"[dim]watching {', '.join(watching)} — Ctrl-C to stop[/dim]")
        printer = _Printer(set(topics.values()), settings.city_tz, limit)
        await follow(consumer, parts, from_beginning, printer)
    finally:
        await consumer.stop()


def tail(
    agency: Annotated[
        list[str] | None,
        typer.Option(
            "--agency",
            "-a",
            metavar="NAME",
            help="Agency id or its topic's short name, e.g. cyber_center or cyber (repeatable)",
        ),
    ] = None,
    all_agencies: Annotated[bool, typer.Option("--all", help="Every agency in the routing file")] = False,
    from_beginning: Annotated[
        bool,
        typer.Option(
            "--from-beginning", help="First the alerts already sent, in the order they were raised"
        ),
    ] = False,
    limit: Annotated[int | None, typer.Option(metavar="N", help="Stop after N alerts")] = None,
) -> None:
    """Show alerts arriving on an agency's topic as they come, coloured by tier.

    Times are in the city's time zone (setting city_zone, RISKSTREAM_CITY_ZONE).
    """
    settings = get_settings()
    router = load_routing(settings.routing_path)
    names = list(router.agencies) if all_agencies else (agency or [])
    if not names:
        err.print(
            "[red]error[/red] name an agency with --agency or use --all; agencies by id (topic name): "
            f"{agency_list(router)}",
            soft_wrap=True,
        )
        raise typer.Exit(2)
    ids, problems = [], []
    for name in names:
        try:
            ids.append(find_agency(router, name))
        except ValueError as exc:
            problems.append(str(exc))
    if problems:
        err.print(
            f"[red]error[/red] {'; '.join(problems)}; agencies by id (topic name): {agency_list(router)}",
            soft_wrap=True,
        )
        raise typer.Exit(2)
    topics = {settings.topic(router.topic_of(n)): n for n in dict.fromkeys(ids)}
    try:
        asyncio.run(_tail(settings, topics, from_beginning, limit))
    except RiskstreamError as exc:
        err.print(f"[red]error[/red] {exc}", soft_wrap=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        pass
