"""ArcSight Common Event Format (CEF), the lingua franca firewalls and IDSs use to ship alerts.

Hand-written because the published Python parsers are unmaintained, and splitting the extension on
spaces, the easy shortcut, breaks on values real devices send ("cs5Label=Policy Id").
The rules kept here are the spec's: the header is seven '|'-separated fields in which only '\\|' and
'\\\\' are escapes; in the extension a value runs until the next ' key=' and '\\=', '\\\\', '\\n', '\\r'
are escapes. Every pattern is linear, so a hostile megabyte line costs milliseconds, not minutes.
"""

from __future__ import annotations

import re
from typing import Any

from rules.errors import EventDecodeError

HEADER_FIELDS = ("version", "device_vendor", "device_product", "device_version", "signature_id", "name")

_HEADER_FIELD = re.compile(r"([^|\\]*(?:\\.[^|\\]*)*)\|", re.DOTALL)
_LAST_HEADER_FIELD = re.compile(r"([^|\\]*(?:\\.[^|\\]*)*)(?:\||\Z)", re.DOTALL)
_HEADER_ESCAPE = re.compile(r"\\([|\\])")
_VERSION = re.compile(r"[\ufeff ]*CEF: *([0-9]{1,9}) *")
_EXTENSION_KEY = re.compile(r"(?<![^ ])([A-Za-z0-9_.\[\]-]+)=")
_EXTENSION_ESCAPE = re.compile(r"\\([=\\nr])")
_EXTENSION_UNESCAPED = {"=": "=", "\\": "\\", "n": "\n", "r": "\r"}
_LABELLED_KEY = re.compile(r"(.*[0-9])Label")
_SEVERITY_NUMBER = re.compile(r"[0-9]{1,2}")

SEVERITY_WORDS = {"low": 3, "medium": 6, "high": 8, "very-high": 10}
"""The spec's named severities, each mapped to the top of the numeric band it names."""


def parse_cef(text: str) -> dict[str, Any]:
    """Read one CEF event; a caller that wants syslog around it uses connectors.formats.syslog.

    Raises EventDecodeError("bad_cef") only for a broken header: an extension that is odd is read as far
    as it makes sense, since dropping a whole alert over one strange key would hide the alert.
    """
    fields, extension_start = _split_header(text)
    version = _VERSION.fullmatch(fields[0])
    if version is None:
        reason = f"expected 'CEF:<integer version>' to open the header, found {_quote(fields[0])}"
        raise EventDecodeError("bad_cef", reason)
    unescaped = [_HEADER_ESCAPE.sub(r"\1", field) for field in fields[1:]]
    header = dict(zip(HEADER_FIELDS[1:], unescaped[:5], strict=True))
    severity = unescaped[5]
    extensions = parse_extension(text[extension_start:])
    return {
        "version": int(version.group(1)),
        **header,
        "severity": severity,
        "severity_level": severity_level(severity),
        "extensions": extensions,
        "labels": labels(extensions),
    }


def _split_header(text: str) -> tuple[list[str], int]:
    """The seven header fields, still escaped, and where the extension starts."""
    fields: list[str] = []
    pos = 0
    for _ in range(6):
        match = _HEADER_FIELD.match(text, pos)
        if match is None:
            raise EventDecodeError(
                "bad_cef",
                f"a CEF header has 7 '|'-separated fields, found {len(fields) + 1} in {_quote(text)}",
            )
        fields.append(match.group(1))
        pos = match.end()
    last = _LAST_HEADER_FIELD.match(text, pos)
    if last is None:  # only a lone trailing backslash can stop the severity field
        raise EventDecodeError("bad_cef", f"the severity field ends in a lone backslash in {_quote(text)}")
    fields.append(last.group(1))
    return fields, last.end()


def parse_extension(extension: str) -> dict[str, str]:
    """Key=value pairs whose values may hold spaces; any text before the first key is dropped."""
    keys = list(_EXTENSION_KEY.finditer(extension))
    out: dict[str, str] = {}
    for index, key in enumerate(keys):
        end = keys[index + 1].start() if index + 1 < len(keys) else len(extension)
        raw = extension[key.end() : end].rstrip(" ")
        out[key.group(1)] = _EXTENSION_ESCAPE.sub(lambda m: _EXTENSION_UNESCAPED[m.group(1)], raw)
    return out


def severity_level(severity: str) -> int | None:
    """A 0..10 number whichever way the device wrote it, so rules can compare vendors on one scale."""
    word = severity.strip().lower().replace(" ", "-").replace("_", "-")
    if _SEVERITY_NUMBER.fullmatch(word) and int(word) <= 10:
        return int(word)
    return SEVERITY_WORDS.get(word)


def labels(extensions: dict[str, str]) -> dict[str, str]:
    """Custom fields by their human label: cs1 means nothing across vendors, 'Rule' does."""
    out: dict[str, str] = {}
    for key, label in extensions.items():
        match = _LABELLED_KEY.fullmatch(key)
        if match is not None and label and match.group(1) in extensions:
            out[label] = extensions[match.group(1)]
    return out


def _quote(text: str, limit: int = 40) -> str:
    return repr(text[:limit] + ("…" if len(text) > limit else ""))
