"""Syslog, the one transport every firewall, IDS and appliance offers, read into one record shape.

Both wire formats are read because senders are split: RFC 5424 from modern stacks, RFC 3164 (BSD) from
most appliances, which leave out the year and the zone. The 5424 header is checked strictly, since a
sender that gets it wrong is misconfigured and the dead-letter reason should say where; 3164 is read
leniently, as its RFC asks a receiver to. TCP streams are cut into messages by Framer (RFC 6587).
Every pattern here is anchored and linear, so hostile input costs time in proportion to its size.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any

from connectors.formats.cef import parse_cef
from rules.errors import EventDecodeError

_BOM = "\ufeff"
_PRI = re.compile(rb"<(\d{1,3})>")
_RFC5424_VERSION = re.compile(rb"1(?: |\Z)")
_PRINTUSASCII = re.compile(rb"[!-~]+")
_RFC5424_FIELDS = (("TIMESTAMP", 64), ("HOSTNAME", 255), ("APP-NAME", 48), ("PROCID", 128), ("MSGID", 32))
_SD_NAME = rb"[!#-<>-\\^-~]+"  # PRINTUSASCII except '=', ']', '"' (SP is outside the range)
_SD_ID = re.compile(rb"\[(" + _SD_NAME + rb")")
_SD_PARAM = re.compile(rb" (" + _SD_NAME + rb')="([^"\\]*(?:\\.[^"\\]*)*)"', re.DOTALL)
_SD_VALUE_ESCAPE = re.compile(rb'\\(["\\\]])')
_SD_NAME_LIMIT = 32
_ISO_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})?",
    re.ASCII,
)
_BSD_TIMESTAMP = re.compile(
    r"([A-Za-z]{3}) {1,2}(\d{1,2})(?: (\d{4}))? (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(?: |\Z)",
    re.ASCII,
)
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1
    )
}
_ISO_TOKEN = re.compile(r"(\d{4}-\S*)(?: |\Z)", re.ASCII)
_HOST_TOKEN = re.compile(r"(\S+)(?: |\Z)", re.ASCII)
_TAG = re.compile(r"([^\s\[\]:]{1,48})(?:\[([^\]\s]{1,128})\])?:(?: |\Z)", re.ASCII)
_QUOTE_LIMIT = 40


def parse_syslog(line: bytes, received_at: datetime, zone: tzinfo) -> dict[str, Any]:
    """Read one unframed syslog message; `received_at` and `zone` stand in for what RFC 3164 leaves out.

    Raises EventDecodeError and nothing else: "empty", "not_syslog" (no PRI, broken 5424 header or
    structured data) or "bad_cef" (a CEF payload whose header is broken).
    """
    data = line.rstrip(b"\r\n\x00")
    if not data:
        raise EventDecodeError("empty", "the syslog message has no bytes (after trailing CR/LF/NUL)")
    pri = _PRI.match(data)
    if pri is None:
        raise _not_syslog(f"expected '<PRI>' (PRI 0-191) to open a syslog message, found {_quote(data)}")
    prival = int(pri.group(1))
    if prival > 191:
        raise _not_syslog(f"PRI {prival} is out of range: facility*8+severity is at most 191")
    if received_at.tzinfo is None:
        received_at = received_at.replace(tzinfo=zone)
    version = _RFC5424_VERSION.match(data, pri.end())
    if version is not None:
        record = _rfc5424(data, version.end())
    else:
        record = _rfc3164(data[pri.end() :].decode("utf-8", "replace"), received_at, zone)
    message = record["message"]
    cef_text = message.lstrip(" " + _BOM)
    return {
        "protocol": record.pop("protocol"),
        "facility": prival // 8,
        "severity": prival % 8,
        **record,
        "cef": parse_cef(cef_text) if cef_text.startswith("CEF:") else None,
    }


def _rfc5424(data: bytes, header_start: int) -> dict[str, Any]:
    """RFC 5424 section 6, checked field by field so a bad sender learns which field it got wrong."""
    parts = data[header_start:].split(b" ", len(_RFC5424_FIELDS))
    if len(parts) <= len(_RFC5424_FIELDS):
        found = len(parts) if parts != [b""] else 0
        raise _not_syslog(
            "an RFC 5424 header needs TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA after "
            f"'<PRI>1 ', found {found} field(s) in {_quote(data)}"
        )
    header = [
        _header_field(name, limit, raw)
        for (name, limit), raw in zip(_RFC5424_FIELDS, parts[:-1], strict=True)
    ]
    structured_data, msg = _structured_data(parts[-1])
    return {
        "protocol": "rfc5424",
        "timestamp": _rfc5424_timestamp(header[0]),
        "hostname": header[1],
        "app_name": header[2],
        "procid": header[3],
        "msgid": header[4],
        "structured_data": structured_data,
        "message": msg.removeprefix(_BOM.encode()).decode("utf-8", "replace"),
    }


def _header_field(name: str, limit: int, raw: bytes) -> str | None:
    if not raw:
        raise _not_syslog(f"RFC 5424 {name} is empty (two spaces in a row?); use '-' for no value")
    if len(raw) > limit:
        raise _not_syslog(f"RFC 5424 {name} is {len(raw)} characters long, more than {limit}: {_quote(raw)}")
    if _PRINTUSASCII.fullmatch(raw) is None:
        raise _not_syslog(f"RFC 5424 {name} must be printable US-ASCII, found {_quote(raw)}")
    return None if raw == b"-" else raw.decode("ascii")


def _rfc5424_timestamp(text: str | None) -> datetime | None:
    if text is None:
        return None
    stamp = _iso_datetime(text, None)
    if stamp is None:
        raise _not_syslog(f"RFC 5424 TIMESTAMP {text!r} is not an RFC 3339 date-time with a zone offset")
    return stamp


def _structured_data(rest: bytes) -> tuple[dict[str, dict[str, str]], bytes]:
    """The SD-ELEMENTs and the MSG that follows them (b"" when there is none)."""
    if rest.startswith(b"-"):
        elements: dict[str, dict[str, str]] = {}
        end = 1
    elif rest.startswith(b"["):
        elements, end = _sd_elements(rest)
    else:
        raise _not_syslog(f"expected STRUCTURED-DATA ('-' or '[') after MSGID, found {_quote(rest)}")
    if end == len(rest):
        return elements, b""
    if rest[end : end + 1] != b" ":
        raise _not_syslog(f"expected a space between STRUCTURED-DATA and MSG, found {_quote(rest[end:])}")
    return elements, rest[end + 1 :]


def _sd_elements(rest: bytes) -> tuple[dict[str, dict[str, str]], int]:
    elements: dict[str, dict[str, str]] = {}
    pos = 0
    while rest[pos : pos + 1] == b"[":
        sd_id = _SD_ID.match(rest, pos)
        if sd_id is None:
            raise _not_syslog(f"expected an SD-ID after '[', found {_quote(rest[pos:])}")
        params = elements.setdefault(_sd_name(sd_id.group(1), "SD-ID"), {})
        pos = sd_id.end()
        while (param := _SD_PARAM.match(rest, pos)) is not None:
            value = _SD_VALUE_ESCAPE.sub(rb"\1", param.group(2))
            params[_sd_name(param.group(1), "PARAM-NAME")] = value.decode("utf-8", "replace")
            pos = param.end()
        if rest[pos : pos + 1] != b"]":
            raise _not_syslog(
                f"expected ' NAME=\"value\"' or ']' in SD-ELEMENT [{sd_id.group(1).decode()}, "
                f"found {_quote(rest[pos:])}"
            )
        pos += 1
    return elements, pos


def _sd_name(raw: bytes, what: str) -> str:
    if len(raw) > _SD_NAME_LIMIT:
        raise _not_syslog(f"{what} {_quote(raw)} is longer than {_SD_NAME_LIMIT} characters")
    return raw.decode("ascii")


def _rfc3164(text: str, received_at: datetime, zone: tzinfo) -> dict[str, Any]:
    """BSD syslog read as RFC 3164 section 4.3 tells a relay to: whatever is not a header is MSG."""
    timestamp, pos = _bsd_timestamp(text, received_at, zone)
    hostname = None
    if timestamp is not None and not text.startswith("CEF:", pos) and _TAG.match(text, pos) is None:
        host = _HOST_TOKEN.match(text, pos)
        if host is not None:
            hostname, pos = host.group(1), host.end()
    app_name = procid = None
    tag = None if text.startswith("CEF:", pos) else _TAG.match(text, pos)
    if tag is not None:
        app_name, procid, pos = tag.group(1), tag.group(2), tag.end()
    return {
        "protocol": "rfc3164",
        "timestamp": timestamp,
        "hostname": hostname,
        "app_name": app_name,
        "procid": procid,
        "msgid": None,
        "structured_data": {},
        "message": text[pos:].removeprefix(_BOM),
    }


def _bsd_timestamp(text: str, received_at: datetime, zone: tzinfo) -> tuple[datetime | None, int]:
    """The timestamp and where the text after it starts; (None, 0) when there is none to read."""
    iso = _ISO_TOKEN.match(text)
    if iso is not None:
        stamp = _iso_datetime(iso.group(1), zone)
        return (stamp, iso.end()) if stamp is not None else (None, 0)
    bsd = _BSD_TIMESTAMP.match(text)
    if bsd is None or bsd.group(1).lower() not in _MONTHS:
        return None, 0
    month = _MONTHS[bsd.group(1).lower()]
    day, hour, minute, second = (int(bsd.group(i)) for i in (2, 4, 5, 6))
    micro = _microseconds(bsd.group(7))
    years = [int(bsd.group(3))] if bsd.group(3) else _years_around(received_at, zone)
    candidates = []
    for year in years:
        try:
            candidates.append(datetime(year, month, day, hour, minute, second, micro, tzinfo=zone))
        except ValueError:
            continue
    if not candidates:
        raise _not_syslog(f"RFC 3164 TIMESTAMP {bsd.group(0).strip()!r} is not a real date and time")
    return min(candidates, key=lambda c: abs(c - received_at)), bsd.end()


def _years_around(received_at: datetime, zone: tzinfo) -> list[int]:
    """Candidate years for a yearless stamp: Dec 31 logs received on Jan 1 belong to the year before."""
    year = received_at.astimezone(zone).year
    return [year - 1, year, year + 1]


def _iso_datetime(text: str, default_zone: tzinfo | None) -> datetime | None:
    match = _ISO_TIMESTAMP.fullmatch(text)
    if match is None:
        return None
    zone = _offset(match.group(8)) if match.group(8) else default_zone
    if zone is None:
        return None
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    try:
        return datetime(year, month, day, hour, minute, second, _microseconds(match.group(7)), tzinfo=zone)
    except ValueError:
        return None


def _offset(text: str) -> tzinfo | None:
    if text == "Z":
        return UTC
    hours, minutes = int(text[1:3]), int(text[4:6])
    if hours > 23 or minutes > 59:
        return None
    delta = timedelta(hours=hours, minutes=minutes)
    return timezone(-delta if text[0] == "-" else delta)


def _microseconds(fraction: str | None) -> int:
    return int((fraction or "0")[:6].ljust(6, "0"))


def _not_syslog(reason: str) -> EventDecodeError:
    return EventDecodeError("not_syslog", reason)


def _quote(raw: bytes) -> str:
    head = raw[:_QUOTE_LIMIT].decode("utf-8", "replace")
    return repr(head + ("…" if len(raw) > _QUOTE_LIMIT else ""))


_MAX_LENGTH_DIGITS = 10


class Framer:
    """Cuts a TCP byte stream into syslog messages per RFC 6587, one chunk at a time.

    Each frame says how it is framed: one that starts with a digit is octet-counted ("LEN SP MSG"), any
    other runs to the next LF. Memory stays bounded by max_frame: an oversize frame is reported and
    skipped as it streams past, never held whole.
    """

    def __init__(self, max_frame: int = 64 * 1024) -> None:
        self.max_frame = max_frame
        self._reset()

    def _reset(self) -> None:
        self._buf = bytearray()
        self._scanned = 0  # bytes of the pending LF frame already searched, so a slow line costs O(n)
        self._skip_octets = 0
        self._skip_line = False

    def feed(self, data: bytes) -> list[bytes | EventDecodeError]:
        """Frames this chunk completes, in order, with an EventDecodeError standing in for each bad one."""
        self._buf += data
        out: list[bytes | EventDecodeError] = []
        pos = 0
        while (step := self._step(pos, out)) is not None:
            pos = step
        del self._buf[:pos]
        return out

    def close(self) -> list[bytes | EventDecodeError]:
        """What the end of the stream completes: an unterminated last line, or a truncated frame's error."""
        out: list[bytes | EventDecodeError] = []
        buf = bytes(self._buf)
        if buf and not self._skip_octets and not self._skip_line:
            if buf[:1].isdigit():
                reason = f"the stream ended {len(buf)} bytes into an octet-counted frame"
                out.append(EventDecodeError("bad_framing", reason))
            elif line := buf.removesuffix(b"\r"):
                out.append(line)
        self._reset()
        return out

    def _step(self, pos: int, out: list[bytes | EventDecodeError]) -> int | None:
        """Advance past one frame or skipped stretch; None when more bytes are needed."""
        buf = self._buf
        if self._skip_octets:
            take = min(self._skip_octets, len(buf) - pos)
            self._skip_octets -= take
            return pos + take if take else None
        if self._skip_line:
            lf = buf.find(b"\n", pos)
            if lf >= 0:
                self._skip_line = False
                return lf + 1
            return len(buf) if len(buf) > pos else None
        if pos >= len(buf):
            return None
        if 0x30 <= buf[pos] <= 0x39:
            return self._octet_counted(pos, out)
        return self._lf_framed(pos, out)

    def _octet_counted(self, pos: int, out: list[bytes | EventDecodeError]) -> int | None:
        buf = self._buf
        end = min(len(buf), pos + _MAX_LENGTH_DIGITS + 1)
        i = pos
        while i < end and 0x30 <= buf[i] <= 0x39:
            i += 1
        digits = i - pos
        if i == len(buf) and digits <= _MAX_LENGTH_DIGITS:
            return None
        if i < len(buf) and buf[i] == 0x20 and digits <= _MAX_LENGTH_DIGITS and buf[pos] != 0x30:
            return self._octet_body(i + 1, int(buf[pos:i]), out)
        found = bytes(buf[pos : min(i + 1, end)])
        out.append(
            EventDecodeError(
                "bad_framing",
                f"expected an octet count (1-{_MAX_LENGTH_DIGITS} digits, no leading zero, then a space) "
                f"to open the frame, found {found!r}; skipped to the next LF",
            )
        )
        self._skip_line = True
        return pos

    def _octet_body(self, body: int, length: int, out: list[bytes | EventDecodeError]) -> int | None:
        if length > self.max_frame:
            out.append(
                EventDecodeError(
                    "too_large",
                    f"octet-counted frame of {length} bytes exceeds the {self.max_frame}-byte limit; skipped",
                )
            )
            self._skip_octets = length
            return body
        if len(self._buf) - body < length:
            return None
        out.append(bytes(self._buf[body : body + length]))
        return body + length

    def _lf_framed(self, pos: int, out: list[bytes | EventDecodeError]) -> int | None:
        buf = self._buf
        lf = buf.find(b"\n", pos + self._scanned)
        if lf < 0:
            pending = len(buf) - pos
            if pending <= self.max_frame:
                self._scanned = pending
                return None
            self._skip_line = True
            lf = len(buf)
        self._scanned = 0
        if lf - pos > self.max_frame:
            out.append(
                EventDecodeError(
                    "too_large", f"line exceeds the {self.max_frame}-byte limit; discarded up to the next LF"
                )
            )
            return lf if self._skip_line else lf + 1
        if line := bytes(buf[pos:lf]).removesuffix(b"\r"):
            out.append(line)
        return lf + 1
