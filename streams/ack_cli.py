"""`riskstream ack|resolve`: a duty officer takes an alert on, or closes it, from the command line.

The acknowledgement goes to the acks topic; every worker reads it, and the one that owns the
alert stops its escalation and tells the alert's agencies who took it on.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Literal

import typer
from pydantic import ValidationError
from rich.console import Console

from rules.errors import RiskstreamError
from rules.world import Ack, ActiveAlert, ActiveIndex
from streams.kafka_io import read_all, send
from streams.settings import Settings, get_settings

err = Console(stderr=True, highlight=False)


async def _open_alerts(settings: Settings) -> ActiveIndex:
    latest = await read_all(settings, settings.topic(settings.topic_active))
    index = ActiveIndex()
    for value in latest.values():
        if value is None:
            continue
        try:
            index.put(ActiveAlert.model_validate_json(value))
        except ValidationError:  # written by another version: it cannot be this id's anyway
            continue
    return index


async def _find_and_send(
    settings: Settings, alert_id: str, action: Literal["ack", "resolve"], by: str, note: str | None
) -> ActiveAlert:
    """Look the alert up among the open ones first, so a wrong id is refused rather than lost."""
    alert = (await _open_alerts(settings)).find(alert_id)
    ack = Ack(alert_id=alert.alert_id, action=action, by=by, note=note, at=datetime.now(UTC))
    topic = settings.topic(settings.topic_acks)
    await send(settings, topic, [(alert.alert_id.encode(), ack.model_dump_json().encode())])
    return alert


def _post(alert_id: str, action: Literal["ack", "resolve"], by: str, note: str | None) -> None:
    try:
        alert = asyncio.run(_find_and_send(get_settings(), alert_id, action, by, note))
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
        help="The alert id (data.alert_id of a notice, as `tail` prints it) or its first 8+ chars"
    ),
]
By = Annotated[str, typer.Option("--by", help="Who takes it on: name or badge number")]
Note = Annotated[str | None, typer.Option("--note", help="What is being done")]


def ack(alert_id: AlertId, by: By, note: Note = None) -> None:
    """Acknowledge an alert: stops its escalation; its agencies see who took it on."""
    _post(alert_id, "ack", by, note)


def resolve(alert_id: AlertId, by: By, note: Note = None) -> None:
    """Resolve an alert by hand: its agencies get a resolved notice."""
    _post(alert_id, "resolve", by, note)
