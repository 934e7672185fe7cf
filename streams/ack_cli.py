"""`riskstream ack|resolve`: a duty officer takes an alert on, or closes it, from the command line.

The acknowledgement goes to the acks topic; every worker reads it, and the one that owns the
alert stops its escalation and tells the alert's agencies who took it on.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Literal

import typer
from rich.console import Console

from rules.errors import RiskstreamError
from rules.world import Ack
from streams.kafka_io import send
from streams.settings import get_settings

err = Console(stderr=True, highlight=False)


def _post(alert_id: str, action: Literal["ack", "resolve"], by: str, note: str | None) -> None:
    settings = get_settings()
    ack = Ack(alert_id=alert_id, action=action, by=by, note=note, at=datetime.now(UTC))
    topic = settings.topic(settings.topic_acks)
    try:
        asyncio.run(send(settings, topic, [(alert_id.encode(), ack.model_dump_json().encode())]))
    except RiskstreamError as exc:
        err.print(f"[red]error[/red] {exc}")
        raise typer.Exit(1) from None
    err.print(
        f"[green]{action} of {alert_id} by {by} sent[/green] to {topic}; the worker owning the alert "
        "applies it within a tick and its agencies see it (an unknown or already resolved id changes nothing)"
    )


AlertId = Annotated[
    str, typer.Argument(help="The alert id (data.alert_id of a notice; `tail` shows its start)")
]
By = Annotated[str, typer.Option("--by", help="Who takes it on: name or badge number")]
Note = Annotated[str | None, typer.Option("--note", help="What is being done")]


def ack(alert_id: AlertId, by: By, note: Note = None) -> None:
    """Acknowledge an alert: stops its escalation; its agencies see who took it on."""
    _post(alert_id, "ack", by, note)


def resolve(alert_id: AlertId, by: By, note: Note = None) -> None:
    """Resolve an alert by hand: its agencies get a resolved notice."""
    _post(alert_id, "resolve", by, note)
