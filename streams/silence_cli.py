"""`riskstream silence add|list|expire`: silences and maintenance windows on a compacted topic.

Every worker reads the whole topic, so a silence added here holds everywhere within seconds; a
silence expires by itself at its end, and `expire` ends one early (the record is kept, ended).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from rules.durations import parse_duration
from rules.errors import DurationError, RiskstreamError
from rules.events import MODELS, field_paths
from rules.silences import MATCH_KEYS, Recurrence, Silence, SilenceFile
from rules.yaml_source import load_yaml, to_plain
from streams.actions import add_silences
from streams.kafka_io import read_all
from streams.settings import Settings, get_settings

app = typer.Typer(help="Silences and maintenance windows: hold back notices (they are still counted).")
out = Console(highlight=False, emoji=False)
err = Console(stderr=True, highlight=False, emoji=False)


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]error[/red] {message}")
    return typer.Exit(2)


def _group_keys() -> set[str]:
    return set().union(*(field_paths(m) for m in MODELS.values()))


def parse_matchers(items: list[str]) -> dict[str, str | list[str]]:
    """'rule=gas-leak', 'grid=G-07', 'tier=blue,yellow' (a comma means any of)."""
    known = set(MATCH_KEYS) | _group_keys()
    out: dict[str, str | list[str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise ValueError(
                f"cannot read matcher {item!r}: write key=value, e.g. rule=gas-leak or grid=G-07"
            )
        if key not in known:
            raise ValueError(
                f"unknown matcher key {key!r}: use {', '.join(MATCH_KEYS)} "
                "or an event field a rule groups by (e.g. source_id, location.grid)"
            )
        out[key] = value.split(",") if "," in value else value
    return out


def _store(settings: Settings, silences: list[Silence]) -> None:
    asyncio.run(add_silences(settings, silences))


@app.command()
def add(
    match: Annotated[
        list[str] | None,
        typer.Option("--match", "-m", metavar="KEY=VALUE", help="e.g. rule=gas-leak (repeatable)"),
    ] = None,
    duration: Annotated[
        str | None, typer.Option("--for", metavar="DURATION", help="How long, e.g. 2h (or use --until)")
    ] = None,
    until: Annotated[
        datetime | None,
        typer.Option(metavar="TIME", help="End time (ISO 8601; local zone if none given)"),
    ] = None,
    start: Annotated[datetime | None, typer.Option(metavar="TIME", help="Start time (default now)")] = None,
    every: Annotated[
        str | None, typer.Option(metavar="DAYS", help="Weekly maintenance days, e.g. sun or sat,sun")
    ] = None,
    from_: Annotated[
        str | None, typer.Option("--from", metavar="HH:MM", help="Maintenance window start")
    ] = None,
    to: Annotated[str | None, typer.Option("--to", metavar="HH:MM", help="Maintenance window end")] = None,
    tz: Annotated[str, typer.Option(metavar="ZONE", help="Time zone of --from/--to")] = "Asia/Shanghai",
    by: Annotated[str | None, typer.Option("--by", metavar="NAME", help="Author")] = None,
    reason: Annotated[
        str | None, typer.Option(metavar="TEXT", help="Why (shown to whoever wonders where alerts went)")
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", metavar="PATH", help="A YAML file of silences instead")
    ] = None,
) -> None:
    """Add a silence (or a weekly maintenance window) from options or from a file."""
    settings = get_settings()
    now = datetime.now(UTC)
    try:
        if file is not None:
            silences = SilenceFile.model_validate(to_plain(load_yaml(file))).silences
            silences = [s.model_copy(update={"created_at": s.created_at or now}) for s in silences]
        else:
            if not match:
                raise _fail("name what to silence with --match key=value (or give --file)")
            if by is None or reason is None:
                raise _fail("a silence needs an author (--by) and a reason (--reason)")
            begins = (start or now).astimezone(UTC) if (start or now).tzinfo else (start or now).astimezone()
            if until is not None:
                ends = until if until.tzinfo else until.astimezone()
            elif duration is not None:
                ends = begins + timedelta(seconds=parse_duration(duration))
            else:
                raise _fail("say how long: --for 2h or --until 2026-12-01T06:00")
            recurring = None
            if every or from_ or to:
                if not (from_ and to):
                    raise _fail("a maintenance window needs --from and --to (HH:MM), and optionally --every")
                days = every.split(",") if every else None
                data = {"from": from_, "to": to, "tz": tz, **({"every": days} if days else {})}
                recurring = Recurrence.model_validate(data)
            silences = [
                Silence(
                    matchers=parse_matchers(match),
                    starts_at=begins,
                    ends_at=ends,
                    recurring=recurring,
                    author=by,
                    reason=reason,
                    created_at=now,
                )
            ]
        _store(settings, silences)
    except (ValueError, DurationError, RiskstreamError) as exc:
        detail = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        raise _fail(detail) from None
    for s in silences:
        err.print(f"[green]silence {s.id}[/green] {_what(s)} until {s.ends_at.astimezone():%Y-%m-%d %H:%M}")


def _what(s: Silence) -> str:
    matchers = ", ".join(f"{k}={v if isinstance(v, str) else '|'.join(v)}" for k, v in s.matchers.items())
    if s.recurring is not None:
        r = s.recurring
        matchers += f" every {','.join(r.every)} {r.start:%H:%M}-{r.end:%H:%M} {r.tz}"
    return matchers


def load(settings: Settings) -> list[Silence]:
    latest = asyncio.run(read_all(settings, settings.topic(settings.topic_silences)))
    return sorted(
        (Silence.model_validate_json(v) for v in latest.values() if v is not None),
        key=lambda s: (s.starts_at, s.id),
    )


@app.command("list")
def list_(
    all_: Annotated[bool, typer.Option("--all", help="Include expired silences")] = False,
) -> None:
    """The silences every worker holds: active now, scheduled, and (with --all) expired."""
    settings = get_settings()
    try:
        silences = load(settings)
    except RiskstreamError as exc:
        raise _fail(str(exc)) from None
    now = datetime.now(UTC)
    table = Table("state", "matches", "from", "until", "by", "reason")
    table.add_column("id", no_wrap=True)
    for s in silences:
        if s.ends_at <= now and not all_:
            continue
        state = "expired" if s.ends_at <= now else ("active" if s.active(now) else "scheduled")
        style = {"active": "bold yellow", "scheduled": "cyan", "expired": "dim"}[state]
        table.add_row(
            f"[{style}]{state}[/{style}]",
            _what(s),
            f"{s.starts_at.astimezone():%m-%d %H:%M}",
            f"{s.ends_at.astimezone():%m-%d %H:%M}",
            s.author,
            s.reason,
            s.id,
        )
    out.print(table if table.row_count else "[dim]no silences[/dim]")


@app.command()
def expire(
    silence_id: Annotated[
        str, typer.Argument(metavar="SILENCE_ID", help="The silence id (see `silence list`)")
    ],
) -> None:
    """End a silence now (its record stays, ended)."""
    settings = get_settings()
    try:
        found = {s.id: s for s in load(settings)}.get(silence_id)
        if found is None:
            raise _fail(f"no silence {silence_id!r}; `riskstream silence list` shows them")
        now = datetime.now(UTC)
        ended = found.model_copy(update={"ends_at": max(now, found.starts_at + timedelta(microseconds=1))})
        _store(settings, [ended])
    except RiskstreamError as exc:
        raise _fail(str(exc)) from None
    err.print(f"[green]silence {silence_id} expired[/green]")
