"""Payload bytes to what goes to Kafka: mapped events, and refusals bound for the dead-letter topic.

Pure (no I/O), so `riskstream connect dry-run` shows exactly what a running connector would send.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from connectors.mapping import event_bytes
from connectors.records import Record, unreadable
from rules.errors import EventDecodeError
from rules.events import EventBase

if TYPE_CHECKING:
    from connectors.config import ConnectorConfig


@dataclass(frozen=True)
class Mapped:
    """An event for its family's topic, keyed by source id so one device's events stay in order."""

    event: EventBase
    value: bytes

    @property
    def key(self) -> bytes:
        return self.event.source_id.encode()


@dataclass(frozen=True)
class Refused:
    """Input that is not an event: its original bytes, where it came from, and why."""

    raw: bytes
    error: EventDecodeError
    origin: str
    whole_payload: bool = False
    """The payload as a whole could not be read (not JSON, not syslog), as opposed to one record."""


Outcome = Mapped | Refused


class Translator:
    """One connector's format and mapping, applied to what its source receives."""

    def __init__(self, config: ConnectorConfig):
        self.config = config

    def translate(self, payload: bytes, meta: Mapping[str, Any]) -> list[Outcome]:
        """``meta`` carries at least ``received_at`` and ``origin`` (see docs/connectors.md)."""
        try:
            records = self.config.format.records(payload, self.config.options, meta["received_at"])
        except EventDecodeError as exc:
            return [Refused(payload, exc, str(meta["origin"]), whole_payload=True)]
        return self.map_records(records, meta)

    def map_records(self, records: list[Record], meta: Mapping[str, Any]) -> list[Outcome]:
        out: list[Outcome] = []
        for i, (record, raw) in enumerate(records):
            where = meta if len(records) == 1 else {**meta, "origin": f"{meta['origin']}#{i}", "index": i}
            out.append(self._one(record, raw, where))
        return out

    def _one(self, record: Any, raw: bytes, meta: Mapping[str, Any]) -> Outcome:
        origin = str(meta["origin"])
        error = unreadable(record)
        if error is not None:
            return Refused(raw, error, origin)
        try:
            event = self.config.mapping.apply(record, raw, meta)
        except EventDecodeError as exc:
            return Refused(raw, exc, origin)
        except Exception as exc:  # a mapping bug costs this record (dead-lettered), not the connector
            return Refused(raw, EventDecodeError("mapping_error", f"{type(exc).__name__}: {exc}"), origin)
        return Mapped(event, event_bytes(event))


def translate_sample(translator: Translator, data: bytes, name: str) -> list[Outcome]:
    """What a connector would send for a sample file: one payload per line for line formats (syslog,
    text), the whole file otherwise (a JSON body or batch, a CSV export, JSON Lines)."""
    from connectors.edge import meta

    if translator.config.format.name in ("syslog", "text"):
        lines = [(i, line) for i, line in enumerate(data.splitlines(), 1)
                 if line.strip() and not line.startswith(b"#")]
        return [o for i, line in lines for o in translator.translate(line, meta(f"{name}:{i}"))]
    return translator.translate(data, meta(name))
