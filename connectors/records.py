"""Payload formats: how a source's bytes become the records a mapping reads.

Each format is one small class in ``FORMATS``; a connector's file names it (``format: json``). A format
returns every record with its own bytes, so a record the mapping refuses is dead-lettered as it came,
not as the whole batch it arrived in.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol
from zoneinfo import ZoneInfo

import orjson

from connectors.formats.syslog import parse_syslog
from connectors.mapping import FieldPath
from rules.errors import EventDecodeError

Record = tuple[Any, bytes]


@dataclass(frozen=True)
class FormatOptions:
    """What a connector's file says about its payloads."""

    records: FieldPath | None = None
    delimiter: str = ","
    encoding: str = "utf-8"
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))


class Format(Protocol):
    name: ClassVar[str]

    def records(self, payload: bytes, options: FormatOptions, received_at: datetime) -> list[Record]:
        """Every record in one payload; raises EventDecodeError when the payload as a whole is unreadable."""
        ...


def _json(payload: bytes) -> Any:
    if not payload.strip():
        raise EventDecodeError("empty", "payload is empty")
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        reason = "payload is not UTF-8" if "utf-8" in str(exc).lower() else f"payload is not JSON: {exc}"
        raise EventDecodeError("not_json", reason) from None


class JsonFormat:
    """One JSON object, an array of them, or an object holding the array at ``records:``."""

    name: ClassVar[str] = "json"

    def records(self, payload: bytes, options: FormatOptions, received_at: datetime) -> list[Record]:
        data = _json(payload)
        if options.records is not None:
            inner = options.records.read(data, {}) if isinstance(data, Mapping) else None
            if inner is None:
                raise EventDecodeError("no_records", f"payload has no list at '{options.records.text}'")
            data = inner
        if isinstance(data, list):
            return [(item, orjson.dumps(item)) for item in data]
        return [(data, payload)]


class JsonLinesFormat:
    """One JSON object per line (a blank line is skipped); a bad line costs that line only."""

    name: ClassVar[str] = "jsonl"

    def records(self, payload: bytes, options: FormatOptions, received_at: datetime) -> list[Record]:
        out: list[Record] = []
        for line in payload.splitlines():
            if not line.strip():
                continue
            try:
                out.append((orjson.loads(line), line))
            except orjson.JSONDecodeError as exc:
                out.append((_Unreadable(EventDecodeError("not_json", f"line is not JSON: {exc}")), line))
        return out


class CsvFormat:
    """A header row naming the columns, then one record per row (all values as text)."""

    name: ClassVar[str] = "csv"

    def records(self, payload: bytes, options: FormatOptions, received_at: datetime) -> list[Record]:
        try:
            text = payload.decode(options.encoding)
        except UnicodeDecodeError as exc:
            raise EventDecodeError("bad_encoding", f"payload is not {options.encoding} "
                                   f"(bad byte at offset {exc.start}); set 'encoding:'") from None
        rows = csv_rows(io.StringIO(text), options.delimiter)
        return [(row, raw.encode(options.encoding, "replace")) for row, raw in rows]


def csv_rows(lines: io.StringIO | Any, delimiter: str) -> list[tuple[dict[str, str] | _Unreadable, str]]:
    """Rows as dicts by header; a row with more or fewer cells than the header is unreadable."""
    reader = csv.reader(lines, delimiter=delimiter)
    try:
        header = [h.strip().lstrip("\ufeff") for h in next(reader)]
    except StopIteration:
        return []
    out: list[tuple[dict[str, str] | _Unreadable, str]] = []
    for cells in reader:
        raw = delimiter.join(cells)
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            out.append((_Unreadable(EventDecodeError(
                "bad_row", f"row has {len(cells)} cells, the header has {len(header)}")), raw))
            continue
        out.append((dict(zip(header, cells, strict=True)), raw))
    return out


class TextFormat:
    """The payload as one string under ``text`` (a sensor publishing a bare number: ``{from: text}``)."""

    name: ClassVar[str] = "text"

    def records(self, payload: bytes, options: FormatOptions, received_at: datetime) -> list[Record]:
        try:
            text = payload.decode(options.encoding).strip()
        except UnicodeDecodeError as exc:
            raise EventDecodeError("bad_encoding", f"payload is not {options.encoding} "
                                   f"(bad byte at offset {exc.start})") from None
        return [({"text": text}, payload)]


class SyslogFormat:
    """One RFC 5424 or RFC 3164 message; a CEF payload is parsed into ``cef``."""

    name: ClassVar[str] = "syslog"

    def records(self, payload: bytes, options: FormatOptions, received_at: datetime) -> list[Record]:
        return [(parse_syslog(payload, received_at, options.zone), payload)]


@dataclass(frozen=True)
class _Unreadable:
    """A record a format could not read, carried to the mapping step so it is dead-lettered alone."""

    error: EventDecodeError


FORMATS: dict[str, Format] = {
    f.name: f for f in (JsonFormat(), JsonLinesFormat(), CsvFormat(), TextFormat(), SyslogFormat())
}


def unreadable(record: Any) -> EventDecodeError | None:
    """Why a record from ``Format.records`` cannot be mapped, if a format already knows."""
    return record.error if isinstance(record, _Unreadable) else None
