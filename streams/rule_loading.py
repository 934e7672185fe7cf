"""The rule set every `riskstream rules ...` command runs on, loaded one way: the configured (or
given) packs and routing, compiled in the city's zone; a broken file is reported with file:line and
the command exits 1."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from rules.compiler import RuleSet, load_ruleset
from rules.errors import RiskstreamError, RuleError, RuleSetError
from rules.routing import load_routing
from streams.settings import get_settings

err = Console(stderr=True, highlight=False, emoji=False)


def load_rules(paths: list[Path] | None, routing: Path | None) -> RuleSet:
    """Raises what is wrong with the packs or the routing file."""
    settings = get_settings()
    router = load_routing(routing or settings.routing_path)
    return load_ruleset(paths or settings.rules_path, router, zone=settings.city_tz)


def report_errors(exc: RiskstreamError) -> None:
    """Every error, with its file, line and rule, and what to do next."""
    errors = exc.errors if isinstance(exc, RuleSetError) else [exc]
    for e in errors:
        if isinstance(e, RuleError):
            where = f"{e.location}: " if e.location else ""
            rule = f"[bold]{e.rule_id}[/bold]: " if e.rule_id else ""
            err.print(f"[red]error[/red] {where}{rule}{e.message}", soft_wrap=True)
        else:
            err.print(f"[red]error[/red] {e}", soft_wrap=True)
    err.print(f"[red]{len(errors)} error(s)[/red]; fix them and run `riskstream rules lint` again.")


def load_or_exit(paths: list[Path] | None, routing: Path | None) -> RuleSet:
    """The rule set, or every error with its file and line and exit status 1."""
    try:
        return load_rules(paths, routing)
    except RiskstreamError as exc:
        report_errors(exc)
        raise typer.Exit(1) from None
