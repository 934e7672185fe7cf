"""`riskstream ack|resolve`: a duty officer takes an alert on, or closes it, from the command line.

The acknowledgement goes to the acks topic (streams/actions.py, shared with the board); every
worker reads it, and the one that owns the alert stops its escalation and tells the alert's
agencies who took it on.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console

from rules.errors import RiskstreamError
from streams.actions import Action, act_on_alert
from streams.settings import get_settings

err = Console(stderr=True, highlight=False, emoji=False)


def _post(alert_id: str, action: Action, by: str, note: str | None) -> None:
    try:
        alert = asyncio.run(act_on_alert(get_settings(), alert_id, action, by, note))
    except RiskstreamError as exc:
        err.print(f"[red]error[/red] {exc}", soft_wrap=True)
        raise typer.Exit(1) from None
    err.print(
        f"[green]{action} of {alert.alert_id} by {by} sent[/green] ({alert.tier.label} {alert.rule_id}); "
        "the worker owning the alert applies it within a tick and tells its agencies",
        soft_wrap=True,
    )


AlertId = Annotated[
    str,
    typer.Argument(
        metavar="ALERT_ID",
        help="The alert id (data.alert_id of a notice, as `tail` prints it) or its first 8+ chars",
    ),
]
AckBy = Annotated[
    str, typer.Option("--by", metavar="NAME", help="Who takes it on: name or badge number")
]
AckNote = Annotated[
    str | None, typer.Option("--note", metavar="TEXT", help="What is being done, e.g. 已出警")
]
ResolveBy = Annotated[
    str, typer.Option("--by", metavar="NAME", help="Who closes it: name or badge number")
]
ResolveNote = Annotated[
    str | None,
    typer.Option("--note", metavar="TEXT", help="How it was settled or why it is closed, e.g. 已处置"),
]


def ack(alert_id: AlertId, by: AckBy, note: AckNote = None) -> None:
    """Acknowledge an alert: stops its escalation; its agencies see who took it on, when and why."""
    _post(alert_id, "ack", by, note)


def resolve(alert_id: AlertId, by: ResolveBy, note: ResolveNote = None) -> None:
    """Resolve an alert by hand: its agencies hear who closed it, when and why.

    For an alert that does not clear by itself, e.g. a device gone for good; a later match opens a new one.
    """
    _post(alert_id, "resolve", by, note)
