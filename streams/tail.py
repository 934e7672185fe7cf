"""`riskstream tail`: a duty officer's live view of an agency's alert topic, coloured by tier."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Annotated

import typer
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaConnectionError
from pydantic import ValidationError
from rich.console import Console
from rich.text import Text

from rules.alerts import CloudEvent
from rules.errors import RiskstreamError
from rules.model import Tier
from rules.routing import load_routing
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
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def render(ce: CloudEvent, watched: set[str]) -> Text:
    """Two or three lines: what and how bad, where and since when, what to do and why it came here."""
    a = ce.data
    local = a.last_seen.astimezone()
    if a.status == "resolved":
        badge = Text(f" RESOLVED {a.tier.value} ", style="bold black on green")
    else:
        badge = Text(f" {a.tier.value.upper()} {a.tier_level} ", style=TIER_STYLE[a.tier])
    head = Text.assemble(badge, " ", (a.title, "bold"), "  ", a.summary)
    if a.change != "opened":
        head.append(f"  {CHANGE_TEXT.get(a.change, a.change)}", style="bold")
    if a.acknowledged_by:
        head.append(f"  acknowledged by {a.acknowledged_by}", style="green")
        if a.ack_note:
            head.append(f": {a.ack_note}", style="green")
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
    where = " / ".join(a.grid_path)
    if a.location.name:
        where += f" · {a.location.name}"
    if a.location.lon is not None and a.location.lat is not None:
        where += f" ({a.location.lat:.5f}, {a.location.lon:.5f})"
    first = a.first_seen.astimezone().strftime("%H:%M:%S")
    detail = Text(
        f"    {where} | since {first}, last {local:%H:%M:%S}, {a.count}x | {a.risk.value} | "
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


async def _tail(settings: Settings, topics: dict[str, str], from_beginning: bool, limit: int | None) -> None:
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=None,
        auto_offset_reset="earliest" if from_beginning else "latest",
    )
    try:
        await consumer.start()
    except KafkaConnectionError:
        raise RiskstreamError(
            f"cannot reach Kafka at {settings.kafka_bootstrap}: start it (`make kafka`) "
            "or set RISKSTREAM_KAFKA_BOOTSTRAP"
        ) from None
    seen: OrderedDict[str, None] = OrderedDict()
    shown = 0
    try:
        err.print(f"[dim]watching {', '.join(topics)} — Ctrl-C to stop[/dim]")
        async for msg in consumer:
            try:
                ce = CloudEvent.model_validate_json(msg.value or b"")
            except ValidationError as exc:
                why = exc.errors()[0]["msg"]
                err.print(f"[red]unreadable alert on {msg.topic} offset {msg.offset}:[/red] {why}")
                continue
            if ce.id in seen:
                continue  # one notice reaches several agencies, and delivery is at-least-once
            seen[ce.id] = None
            if len(seen) > SEEN_LIMIT:
                seen.popitem(last=False)
            out.print(render(ce, set(topics.values())))
            shown += 1
            if limit is not None and shown >= limit:
                return
    finally:
        await consumer.stop()


def tail(
    agency: Annotated[list[str] | None, typer.Option("--agency", "-a", help="Agency id (repeatable)")] = None,
    all_agencies: Annotated[bool, typer.Option("--all", help="Every agency in the routing file")] = False,
    from_beginning: Annotated[bool, typer.Option("--from-beginning", help="Replay older alerts too")] = False,
    limit: Annotated[int | None, typer.Option(help="Stop after this many alerts")] = None,
) -> None:
    """Show alerts arriving on an agency's topic as they come, coloured by tier."""
    settings = get_settings()
    router = load_routing(settings.routing_path)
    names = list(router.agencies) if all_agencies else (agency or [])
    if not names:
        known = ", ".join(router.agencies)
        err.print(f"[red]error[/red] name an agency with --agency or use --all; agencies: {known}")
        raise typer.Exit(2)
    unknown = [n for n in names if n not in router.agencies]
    if unknown:
        err.print(
            f"[red]error[/red] unknown agency {', '.join(unknown)}; agencies: {', '.join(router.agencies)}"
        )
        raise typer.Exit(2)
    topics = {settings.topic(router.topic_of(n)): n for n in names}
    try:
        asyncio.run(_tail(settings, topics, from_beginning, limit))
    except RiskstreamError as exc:
        err.print(f"[red]error[/red] {exc}")
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        pass
