"""`riskstream rules lint|test|backtest|schema`: the rule author's checks (`backtest --since` reads Kafka)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from rules.errors import RuleSetError
from rules.testing import case_errors, run_cases
from streams import backtest_cli, case_report, explain_cli, publish_cli, rules_list_cli
from streams.rule_loading import load_or_exit, report_errors
from streams.shadow_cli import shadow_report

app = typer.Typer(help="Check, test and describe rule packs.", no_args_is_help=True)
out = Console(highlight=False, emoji=False)
err = Console(stderr=True, highlight=False, emoji=False)

PathsArg = Annotated[
    list[Path] | None,
    typer.Argument(metavar="PATH", help="Pack files or directories (default: the configured rules path)"),
]
RoutingOpt = Annotated[
    Path | None, typer.Option("--routing", metavar="PATH", help="Routing file (default: configured)")
]


@app.command()
def lint(
    paths: PathsArg = None,
    routing: RoutingOpt = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Treat warnings as errors (exit 1 if there is any)")
    ] = False,
) -> None:
    """Validate packs and routing; exit 1 with file:line messages on any error. Warnings (a rule
    that runs but is almost certainly a mistake) are printed with file:line and exit 0 unless
    --strict."""
    ruleset = load_or_exit(paths, routing)
    problems = case_errors(ruleset)
    if problems:
        report_errors(RuleSetError(problems))
        raise typer.Exit(1)
    warnings = ruleset.warnings
    for w in warnings:
        where = f"{w.location}: " if w.location else ""
        rule = f"[bold]{w.rule_id}[/bold]: " if w.rule_id else ""
        err.print(f"[yellow]warning[/yellow] {where}{rule}{w.message}", soft_wrap=True)
    noted = f", [yellow]{len(warnings)} warning(s)[/yellow]" if warnings else ""
    if warnings and strict:
        err.print(f"[red]{len(warnings)} warning(s) with --strict[/red]; fix them or drop --strict.")
        raise typer.Exit(1)
    out.print(
        f"[green]ok[/green] {len(ruleset.rules)} rules in {len(ruleset.files)} file(s), "
        f"{len(ruleset.cases)} test case(s), {len(ruleset.router.agencies)} agencies{noted}"
    )


@app.command("test")
def test_cmd(paths: PathsArg = None, routing: RoutingOpt = None) -> None:
    """Run the packs' test cases on a virtual clock; exit 1 if any fails."""
    ruleset = load_or_exit(paths, routing)
    results = run_cases(ruleset)
    failed = [r for r in results if not r.passed]
    for r in results:
        case_report.print_result(out, r)
    colour = "red" if failed else "green"
    out.print(f"[{colour}]{len(results) - len(failed)} passed, {len(failed)} failed[/{colour}]")
    if failed:
        raise typer.Exit(1)


@app.command()
def backtest(
    events: backtest_cli.EventFiles = None,
    since: backtest_cli.Since = None,
    rules: Annotated[
        list[Path] | None,
        typer.Option(
            "--rules",
            metavar="PATH",
            help="Pack file or directory (repeatable; default: the configured path)",
        ),
    ] = None,
    routing: RoutingOpt = None,
    rule: backtest_cli.RuleOpt = None,
    run_on: backtest_cli.RunOn = "1h",
    show: backtest_cli.Show = 0,
    notices: backtest_cli.NoticesOut = None,
) -> None:
    """Replay recorded events through the worker's stages: what each rule would have raised."""
    if bool(events) == (since is not None):
        err.print("[red]error[/red] give event files, or --since DURATION to read the input topics")
        raise typer.Exit(2)
    backtest_cli.check_files(events or [])
    ruleset = load_or_exit(rules, routing)
    backtest_cli.run(ruleset, events or [], since, rule, run_on, show, notices)


@app.command()
def schema(
    out_dir: Annotated[
        Path, typer.Argument(metavar="DIR", help="Directory for the JSON Schema files")
    ] = Path("docs/schemas"),
) -> None:
    """Export JSON Schema for every event family and for alerts."""
    from rules.schema_export import export_schemas

    written = export_schemas(out_dir)
    for path in written:
        out.print(f"wrote {path}")
    if not written:
        err.print("nothing written")
        raise typer.Exit(1)


app.command("publish")(publish_cli.publish)
app.command("history")(publish_cli.history)
app.command("rollback")(publish_cli.rollback)
app.command("list")(rules_list_cli.list_rules)
app.command("shadow-report")(shadow_report)
app.command("explain")(explain_cli.explain)
