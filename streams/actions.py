"""What a duty officer does to alerts, one implementation for the CLI and the board.

An acknowledgement or resolution goes to the acks topic, a silence to the silences topic; every
worker reads both, and the worker owning an alert tells its agencies (and the audit topic) who
acted, so the page and `tail` learn of an action from the same notices as everyone else.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Literal

from pydantic import ValidationError

from rules.silences import Silence
from rules.world import Ack, ActiveAlert, ActiveIndex
from streams.kafka_io import read_all, send
from streams.settings import Settings

Action = Literal["ack", "resolve"]


async def open_alerts(settings: Settings) -> ActiveIndex:
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


async def act_on_alert(settings: Settings, alert_id: str, action: Action, by: str,
                       note: str | None) -> ActiveAlert:
    """Look the alert up among the open ones first, so a wrong id is refused (AlertNotOpenError)
    rather than sent to no effect."""
    alert = (await open_alerts(settings)).find(alert_id)
    ack = Ack(alert_id=alert.alert_id, action=action, by=by, note=note, at=datetime.now(UTC))
    topic = settings.topic(settings.topic_acks)
    await send(settings, topic, [(alert.alert_id.encode(), ack.model_dump_json().encode())])
    return alert


async def add_silences(settings: Settings, silences: Sequence[Silence]) -> None:
    topic = settings.topic(settings.topic_silences)
    await send(settings, topic, [(s.id.encode(), s.model_dump_json().encode()) for s in silences])
