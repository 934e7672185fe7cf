"""`riskstream rules list`: the rules as a duty desk's supervisor reads them, with their sources.

One row per rule: what it watches, the tiers it can raise (coloured as alerts are), which agencies
hear it at each tier, and the standards, laws and documents it rests on (``references``) and when
it is known to fire without a real risk (``falsepositives``). Agencies come from the routing file's
own decision (``Router.resolve``) for an alert anywhere in the city, so the list shows what the
worker would do; routes that apply only to one district, street or grid are left out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from rules.compiler import CompiledRule
from rules.model import Risk, Tier
from rules.routing import RouteInput, Router
from rules.schema import Reference
from streams.rule_loading import load_or_exit
from streams.tail import TIER_STYLE

out = Console(highlight=False, emoji=False)

ANYWHERE = "*"
"""A place no route names: what the routing file decides for an alert in any place."""


def tiers_of(rule: CompiledRule) -> list[Tier]:
    """The tiers a rule can raise, highest first."""
    return [tier for tier, _ in rule.ladder]


def agencies_by_tier(rule: CompiledRule, router: Router) -> dict[Tier, list[str]]:
    """For each tier of the rule, lowest first, the agencies that hear it anywhere in the city."""
    spec = rule.spec
    out: dict[Tier, list[str]] = {}
    for tier in reversed(tiers_of(rule)):
        heard: dict[str, None] = {}
        for kind in rule.kinds or ("",):
            facts = RouteInput(
                spec.id, tuple(spec.route), spec.risk, tier, spec.on, kind,
                district=ANYWHERE, grid=ANYWHERE, city=ANYWHERE, street=ANYWHERE, community=ANYWHERE,
            )  # fmt: skip
            heard.update(dict.fromkeys(router.resolve(facts)))
        out[tier] = list(heard)
    return out


def reference_text(ref: str | Reference) -> str:
    if isinstance(ref, str):
        return ref
    return ", ".join(p for p in (ref.title, ref.section, ref.url) if p)


def _badge(tier: Tier) -> Text:
    return Text(f" {tier.value} {tier.level} ", style=TIER_STYLE[tier])


def _row(rule: CompiledRule, router: Router, falsepositives: bool) -> list[Text | str]:
    spec = rule.spec
    name = Text(spec.id, style="bold" if spec.enabled else "dim")
    name.append(f"\n{spec.title}", style="dim")
    if not spec.enabled:
        name.append("\n(disabled)", style="dim italic")
    if rule.mode != "live":
        name.append(f"\n({rule.mode})", style="magenta")
    reads = f"{spec.on.value}: {', '.join(rule.kinds) or 'any kind'}"
    if spec.forms:
        reads += f"\n{spec.forms[0]}"
    tiers = Text("\n").join(_badge(tier) for tier in tiers_of(rule))
    lines = []
    before: set[str] = set()
    for tier, heard in agencies_by_tier(rule, router).items():
        new = [a for a in heard if a not in before]
        line = Text(f"{tier.value}: ", style=TIER_STYLE[tier].split(" on ")[-1])
        line.append(("+" if before else "") + (", ".join(new) or "(the same)"), style="default")
        lines.append(line)
        before.update(heard)
    agencies = Text("\n").join(lines)
    refs = "\n".join(f"- {reference_text(r)}" for r in spec.references) or Text("none", style="red")
    cells: list[Text | str] = [name, spec.risk.value, reads, tiers, agencies, refs]
    if falsepositives:
        cells.append("\n".join(f"- {fp}" for fp in spec.falsepositives))
    return cells


def list_rules(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(metavar="PATH", help="Pack files or directories (default: the configured rules path)"),
    ] = None,
    routing: Annotated[
        Path | None, typer.Option("--routing", metavar="PATH", help="Routing file (default: configured)")
    ] = None,
    risk: Annotated[
        list[Risk] | None, typer.Option("--risk", metavar="RISK", help="Only rules of this risk (repeatable)")
    ] = None,
    rule: Annotated[
        list[str] | None, typer.Option("--rule", metavar="ID", help="Only this rule (repeatable)")
    ] = None,
    falsepositives: Annotated[
        bool, typer.Option("--falsepositives", help="Also show when each rule is known to fire wrongly")
    ] = False,
) -> None:
    """List the rules: risk, tiers, the agencies each tier reaches, and references."""

    ruleset = load_or_exit(paths, routing)
    chosen = [
        r for r in ruleset.rules
        if (not risk or r.spec.risk in risk) and (not rule or r.id in rule)
    ]  # fmt: skip
    unknown = sorted(set(rule or ()) - {r.id for r in ruleset.rules})
    if unknown:
        out.print(f"[red]error[/red] no rule {', '.join(unknown)} in the packs", soft_wrap=True)
        raise typer.Exit(1)
    table = Table(show_lines=True, title=f"{len(chosen)} rules", title_justify="left", expand=True)
    for column in ("rule", "risk", "reads"):
        table.add_column(column, overflow="fold")
    table.add_column("tiers", no_wrap=True)
    table.add_column("agencies by tier", overflow="fold", ratio=1)
    table.add_column("references", overflow="fold", ratio=2)
    if falsepositives:
        table.add_column("false positives", overflow="fold", ratio=1)
    for r in sorted(chosen, key=lambda r: (list(Risk).index(r.spec.risk), r.id)):
        table.add_row(*_row(r, ruleset.router, falsepositives))
    out.print(table)


__all__ = ["agencies_by_tier", "list_rules", "reference_text", "tiers_of"]
