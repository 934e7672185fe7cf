"""`riskstream rules publish|history|rollback`: rule versions on the rules topic, for every worker at once."""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from aiokafka.errors import KafkaError
from rich.console import Console
from rich.table import Table
from rich.text import Text

from rules.errors import RiskstreamError, RuleError, RuleSetError
from rules.rule_bundle import RuleFile, RuleVersion, content_checksum
from streams import rule_publish
from streams.settings import Settings, get_settings
from streams.topics import rules_topic

out = Console(highlight=False, emoji=False)
err = Console(stderr=True, highlight=False, emoji=False)

CHECKSUM_SHOWN = 12
T = TypeVar("T")

PathsArg = Annotated[
    list[Path] | None,
    typer.Argument(metavar="PATH", help="Pack files or directories (default: the configured rules path)"),
]
RoutingOpt = Annotated[
    Path | None, typer.Option("--routing", metavar="PATH", help="Routing file (default: configured)")
]


def publish(
    message: Annotated[
        str,
        typer.Option("--message", "-m", metavar="TEXT", help="What changed and why (shown in the history)"),
    ],
    paths: PathsArg = None,
    routing: RoutingOpt = None,
    author: Annotated[
        str | None, typer.Option("--author", metavar="NAME", help="Who publishes (default: the OS user)")
    ] = None,
) -> None:
    """Lint and test the packs, then publish them and the routing file as the next rule version;
    workers following the rules topic (RISKSTREAM_RULES_SOURCE=topic) switch to it together."""
    if not message.strip():
        _fail("say what changed with --message", 2)
    settings = get_settings()
    who = author or _os_user()
    pack_paths, routing_path = paths or settings.rules_path, routing or settings.routing_path
    checked = _read(pack_paths, routing_path)
    _checks(paths, routing)
    packs, routing_file = _read(pack_paths, routing_path)
    if content_checksum(packs, routing_file) != content_checksum(*checked):
        _fail("the files changed while they were checked: nothing published; publish again", 1)
    step = rule_publish.publish(settings, packs, routing_file, who, message.strip(), _now())
    outcome = _run(step, "published")
    v = outcome.version
    if outcome.pointer is None:
        out.print(
            Text.assemble(
                ("unchanged", "yellow"),
                f": the files are version {v.version} ({_short(v)}), which is current; nothing published",
            )
        )
        return
    out.print(
        Text.assemble(
            (f"published version {v.version}", "green"),
            f" ({_short(v)}, {len(v.packs)} pack file(s)) by {v.author} to {rules_topic(settings)}; "
            "workers following it switch now",
        ),
        soft_wrap=True,
    )
    _note_source(settings)


def history() -> None:
    """Every rule version on the rules topic, newest first, and which one workers run."""
    settings = get_settings()
    found = _run(rule_publish.read_history(settings), "read")
    versions = found.listing()
    if not versions:
        out.print(f"[dim]no rule version on {rules_topic(settings)} yet: `riskstream rules publish`[/dim]")
        return
    zone = settings.city_tz
    current = found.current
    table = Table("", "version", f"published ({settings.city_zone})", "author", "checksum", "message")
    for v in versions:
        now = current is not None and current.version == v.version
        table.add_row(
            "[bold green]current[/bold green]" if now else "",
            f"[bold]{v.version}[/bold]" if now else str(v.version),
            f"{v.published_at.astimezone(zone):%Y-%m-%d %H:%M:%S}",
            Text(v.author),
            _short(v),
            Text(v.message),
        )
    out.print(table)
    if current is not None:
        how = "published" if current.action == "publish" else "rolled back"
        out.print(
            f"current: version {current.version}, {how} by {current.by} at "
            f"{current.at.astimezone(zone):%Y-%m-%d %H:%M:%S}",
            soft_wrap=True,
        )
        if found.wanted is None:
            _warn(f"the pointer names version {current.version}, which the topic no longer holds")


def rollback(
    version: Annotated[int, typer.Argument(metavar="VERSION", help="A version `rules history` lists")],
    by: Annotated[
        str | None, typer.Option("--by", metavar="NAME", help="Who rolls back (default: the OS user)")
    ] = None,
) -> None:
    """Make an earlier version current again (once it is known to compile); workers switch to it."""
    settings = get_settings()
    outcome = _run(rule_publish.rollback(settings, version, by or _os_user(), _now()), "rolled back")
    v = outcome.version
    if outcome.pointer is None:
        out.print(Text.assemble(("unchanged", "yellow"), f": version {v.version} is current already"))
        return
    out.print(
        Text.assemble(
            (f"version {v.version} is current again", "green"),
            f" ({_short(v)}, by {v.author}: {v.message}); workers following the rules topic switch now",
        ),
        soft_wrap=True,
    )
    _note_source(settings)


def _checks(paths: list[Path] | None, routing: Path | None) -> None:
    """`rules lint`, then `rules test`, with their own output; refuse on any failure."""
    from streams.rules_cli import lint, test_cmd  # rules_cli registers these commands

    try:
        lint(paths=paths, routing=routing, strict=False)
        test_cmd(paths=paths, routing=routing)
    except typer.Exit as exc:
        if exc.exit_code:
            _fail("not published: fix the errors above and publish again", exc.exit_code)
        raise


def _read(paths: list[Path], routing: Path) -> tuple[list[RuleFile], RuleFile]:
    try:
        return rule_publish.read_rule_files(paths, routing)
    except RiskstreamError as exc:
        _fail(f"{exc}\nnot published", 1)


def _run(step: Coroutine[Any, Any, T], done: str) -> T:
    """Run a Kafka step; rules that do not compile are listed (exit 1), anything else is one line (2)."""
    try:
        return asyncio.run(step)
    except (RuleError, RuleSetError) as exc:
        _errors(exc)
        _fail(f"not {done}: the rules do not compile", 1)
    except RiskstreamError as exc:
        _fail(str(exc), 2)
    except KafkaError as exc:
        _fail(f"Kafka refused ({type(exc).__name__}: {exc}); docs/operations.md lists the ACLs needed", 2)


def _short(v: RuleVersion) -> str:
    return v.checksum[:CHECKSUM_SHOWN]


def _note_source(settings: Settings) -> None:
    if settings.rules_source != "topic":
        _warn(
            "workers run the rule files unless RISKSTREAM_RULES_SOURCE=topic (this shell has "
            f"{settings.rules_source})"
        )


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        _fail("cannot tell who you are from the OS: say it with --author / --by", 2)


def _now() -> datetime:
    return datetime.now(UTC)


def _warn(message: str) -> None:
    err.print(Text.assemble(("note ", "yellow"), message), soft_wrap=True)


def _fail(message: str, code: int) -> NoReturn:
    err.print(Text.assemble(("error ", "red"), message), soft_wrap=True)
    raise typer.Exit(code)


def _errors(exc: RiskstreamError) -> None:
    for e in exc.errors if isinstance(exc, RuleSetError) else [exc]:
        err.print(Text.assemble(("error ", "red"), str(e)), soft_wrap=True)

