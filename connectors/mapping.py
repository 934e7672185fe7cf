"""A source's record (a parsed JSON object, CSV row or syslog line) to a valid event of one family.

The mapping is data, written per source in YAML (docs/connectors.md), compiled once when the
connector starts, so a typo in a field name is an error with file:line before any traffic flows,
and applying it is a few dictionary reads per record.

A value is written one of three ways:

- ``"{ipAddress}/{channelID}"``: a template; placeholders read dotted paths of the record
  (``a.b[0].c``; ``meta.*`` reads what the source knows: MQTT topic, peer, file and line, time of
  receipt). A template that is exactly one placeholder keeps the value's type.
- ``乌海市`` or ``3``: a constant (a string without braces is a constant).
- ``{from: PATH, map: {...}, default: X, convert: NAME, scale: N, offset: N, type: T, format: F,
  zone: Z}``: a read with modifiers, applied in that order. A ``map`` key with ``*``, ``?`` or ``[``
  is a shell-style pattern, tried in file order after the exact keys.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from connectors.conversions import CONVERSIONS, Conversion
from rules.decoding import check_kind, validated
from rules.errors import EventDecodeError
from rules.events import KINDS, MODELS, EventBase, Family, Location

DEFAULT_ZONE = "Asia/Shanghai"
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_PATH = re.compile(r"^[^.\[\]{}]+(\[\d+\])*(\.[^.\[\]{}]+(\[\d+\])*)*$")
_ENVELOPE = ("event_id", "time", "source_id", "kind")
_MODIFIERS = frozenset({"from", "const", "map", "default", "convert", "scale", "offset", "type", "format",
                        "zone"})
_TYPES: dict[str, Callable[[Any], Any]] = {"str": str, "int": int, "float": float, "bool": bool}
_TIME_FORMATS = ("iso8601", "epoch_s", "epoch_ms")
_GLOB = re.compile(r"[*?\[]")


class MappingSpecError(ValueError):
    """A mapping's YAML is wrong; ``path`` is where in the file, for its line number."""

    def __init__(self, message: str, path: tuple[str | int, ...]):
        self.path = path
        super().__init__(message)


# --------------------------------------------------------------------------------------- paths


@dataclass(frozen=True)
class FieldPath:
    """A dotted path into a record; a missing step reads as None, as a rule reads an absent field."""

    text: str
    steps: tuple[str | int, ...]

    @classmethod
    def parse(cls, text: str) -> FieldPath:
        text = text.strip()
        if not _PATH.match(text):
            raise ValueError(f"'{text}' is not a field path (write a.b, a.b[0] or meta.topic)")
        return cls(text, tuple(m[1] if m[1] else int(m[2]) for m in _STEP.finditer(text)))

    def read(self, record: Mapping[str, Any], meta: Mapping[str, Any]) -> Any:
        node: Any = meta if self.steps[0] == "meta" else record
        for step in self.steps[1:] if self.steps[0] == "meta" else self.steps:
            if isinstance(step, int):
                node = node[step] if isinstance(node, list) and -len(node) <= step < len(node) else None
            else:
                node = node.get(step) if isinstance(node, Mapping) else None
            if node is None:
                return None
        return node


# --------------------------------------------------------------------------------------- values

_NO_DEFAULT = object()


@dataclass(frozen=True)
class Value:
    """One compiled value: where it comes from and what is done to it."""

    where: str
    const: Any = None
    read: FieldPath | None = None
    template: tuple[str | FieldPath, ...] | None = None
    lookup: Mapping[str, Any] | None = None
    patterns: tuple[tuple[str, Any], ...] = ()
    default: Any = _NO_DEFAULT
    convert: Conversion | None = None
    scale: float | None = None
    offset: float | None = None
    as_type: Callable[[Any], Any] | None = None

    def evaluate(self, record: Mapping[str, Any], meta: Mapping[str, Any]) -> Any:
        value = self._source(record, meta)
        if value is None or value == "":
            return None if self.default is _NO_DEFAULT else self.default
        if self.lookup is not None:
            key = _lookup_key(value)
            if key in self.lookup:
                value = self.lookup[key]
            elif (match := next((v for p, v in self.patterns if fnmatchcase(key, p)), _NO_DEFAULT)) \
                    is not _NO_DEFAULT:
                value = match
            elif self.default is not _NO_DEFAULT:
                return self.default
            else:
                known = ", ".join(sorted(self.lookup)[:12])
                raise EventDecodeError("unmapped_value", f"{self.where}: no mapping for {key!r} "
                                       f"(the mapping knows {known}; add it, or a default)")
        if self.convert is not None or self.scale is not None or self.offset is not None:
            number = _number(value, self.where)
            if self.convert is not None:
                number = self.convert(number)
            number = number * (1.0 if self.scale is None else self.scale) + (self.offset or 0.0)
            value = number
        if self.as_type is not None:
            try:
                value = self.as_type(value)
            except (TypeError, ValueError):
                raise EventDecodeError("wrong_type", f"{self.where}: {value!r} is not "
                                       f"{getattr(self.as_type, '__name__', 'the declared type')}") from None
        return value

    def source(self) -> str:
        """Where the value is read from, as the mapping's author wrote it."""
        if self.read is not None:
            return self.read.text
        if self.template is not None:
            return "".join(p if isinstance(p, str) else "{" + p.text + "}" for p in self.template)
        return repr(self.const)

    def _source(self, record: Mapping[str, Any], meta: Mapping[str, Any]) -> Any:
        if self.read is not None:
            return self.read.read(record, meta)
        if self.template is not None:
            parts = []
            for part in self.template:
                if isinstance(part, str):
                    parts.append(part)
                    continue
                got = part.read(record, meta)
                if got is None:
                    return None
                parts.append(got if isinstance(got, str) else _text(got))
            return "".join(parts)
        return self.const


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _lookup_key(value: Any) -> str:
    return value if isinstance(value, str) else _text(value)


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool):
        raise EventDecodeError("wrong_type", f"{where}: {value!r} is not a number")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise EventDecodeError("wrong_type", f"{where}: {value!r} is not a number") from None


@dataclass(frozen=True)
class TimeValue:
    """The event time: a value read as ISO-8601, epoch seconds or milliseconds, or a strptime pattern."""

    value: Value
    fmt: str
    zone: ZoneInfo

    def evaluate(self, record: Mapping[str, Any], meta: Mapping[str, Any]) -> datetime | None:
        raw = self.value.evaluate(record, meta)
        if raw is None:
            return None
        try:
            if isinstance(raw, datetime):
                at = raw
            elif self.fmt == "iso8601":
                at = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
            elif self.fmt in ("epoch_s", "epoch_ms"):
                if isinstance(raw, bool):
                    raise ValueError(raw)
                seconds = float(raw) / (1000.0 if self.fmt == "epoch_ms" else 1.0)
                at = datetime.fromtimestamp(seconds, UTC)
            else:
                at = datetime.strptime(str(raw), self.fmt)
        except (ValueError, OverflowError, OSError):
            raise EventDecodeError("bad_time", f"{self.value.where}: {str(raw)[:60]!r} is not a time in "
                                   f"the format {self.fmt}") from None
        return at if at.tzinfo is not None else at.replace(tzinfo=self.zone)


# --------------------------------------------------------------------------------------- mapping


@dataclass(frozen=True)
class EventMapping:
    """A compiled mapping for one connector: record in, event out (or the reason it cannot be)."""

    connector: str
    family: Family
    time: TimeValue
    fields: Mapping[str, Value]
    location: Mapping[str, Value]
    attributes: Mapping[str, Value]
    event_id: Value | None = None
    model: type[EventBase] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "model", MODELS[self.family])

    def apply(self, record: Any, raw: bytes, meta: Mapping[str, Any]) -> EventBase:
        """Raises EventDecodeError saying which target field failed and why."""
        if not isinstance(record, Mapping):
            raise EventDecodeError("not_object", f"a record must be an object, got {type(record).__name__}")
        data: dict[str, Any] = {"family": self.family.value}
        for name, value in self.fields.items():
            got = value.evaluate(record, meta)
            if got is not None:
                data[name] = got
        at = self.time.evaluate(record, meta)
        if at is not None:
            data["time"] = at
        location = {k: v for k, v in ((k, v.evaluate(record, meta)) for k, v in self.location.items())
                    if v is not None}
        data["location"] = {k: v if isinstance(v, str | float | int) and k in ("lon", "lat") else _text(v)
                            for k, v in location.items()}
        attributes = {k: v for k, v in ((k, v.evaluate(record, meta)) for k, v in self.attributes.items())
                      if v is not None}
        data["attributes"] = {k: v if isinstance(v, str | int | float | bool) else _text(v)
                              for k, v in attributes.items()}
        event_id = self.event_id.evaluate(record, meta) if self.event_id is not None else None
        data["event_id"] = _text(event_id) if event_id is not None else self._digest(raw, meta)
        for name in ("source_id", "kind"):
            if name in data and not isinstance(data[name], str):
                data[name] = _text(data[name])
        self._require(data)
        return _validated(self.model, data)

    def _require(self, data: Mapping[str, Any]) -> None:
        for name in ("time", "source_id", "kind"):
            if name not in data:
                spec = self.time.value if name == "time" else self.fields[name]
                raise EventDecodeError("missing_field", f"{name}: the record has no value for "
                                       f"'{spec.source()}'")
        if "city" not in data["location"]:
            raise EventDecodeError("missing_field", "location.city: the record has no value for "
                                   f"'{self.location['city'].source()}'")

    def _digest(self, raw: bytes, meta: Mapping[str, Any]) -> str:
        """Stable across redeliveries of the same bytes from the same place, so alerts stay idempotent."""
        h = hashlib.blake2b(raw, digest_size=10)
        h.update(str(meta.get("origin", "")).encode())
        return f"{self.connector}-{h.hexdigest()}"


@dataclass(frozen=True)
class NativeMapping:
    """``event: native``: records already are riskstream events (docs/events.md), checked as the worker
    would check them; a missing ``family`` is the connector's, another family is refused."""

    connector: str
    family: Family

    def apply(self, record: Any, raw: bytes, meta: Mapping[str, Any]) -> EventBase:
        if not isinstance(record, Mapping):
            raise EventDecodeError("not_object", f"a record must be an object, got {type(record).__name__}")
        claimed = record.get("family", self.family.value)
        if claimed != self.family.value:
            raise EventDecodeError("wrong_family", f"event says family {claimed!r}; this connector "
                                   f"carries {self.family.value} events")
        return _validated(MODELS[self.family], {**record, "family": self.family.value})


def _validated(model: type[EventBase], data: Mapping[str, Any]) -> EventBase:
    """The event, or why not, checked as the worker checks it: a kind outside the family's
    vocabulary would match no rule, so it is refused here rather than flowing on unnoticed. Event
    times are bounded by the worker alone (its clock and settings decide)."""
    try:
        return check_kind(validated(data, model))
    except EventDecodeError as exc:
        if exc.category == "unknown_kind":
            raise EventDecodeError(exc.category, f"{exc.reason}; map the source's code to one") from None
        raise


def event_bytes(event: EventBase) -> bytes:
    """The wire form of a mapped event: JSON, nulls left out (the worker reads them as absent)."""
    return orjson.dumps(event.model_dump(mode="json", exclude_none=True))


# --------------------------------------------------------------------------------------- compile


def compile_mapping(connector: str, family: Family, spec: Any,
                    zone: str = DEFAULT_ZONE) -> EventMapping | NativeMapping:
    """Compile the ``event:`` section; every problem is collected, each with its path in the file."""
    if spec == "native":
        return NativeMapping(connector, family)
    errors: list[MappingSpecError] = []
    if not isinstance(spec, Mapping):
        raise ExceptionGroup("mapping", [MappingSpecError("event: must be 'native' or a mapping of event "
                                                          "fields to values", ("event",))])
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        errors.append(MappingSpecError(f"zone: unknown time zone {zone!r}; use an IANA name such as "
                                       f"{DEFAULT_ZONE}", ("zone",)))
        tz = ZoneInfo(DEFAULT_ZONE)
    model = MODELS[family]
    known = [n for n in model.model_fields if n != "family"]
    fields: dict[str, Value] = {}
    location: dict[str, Value] = {}
    attributes: dict[str, Value] = {}
    time: TimeValue | None = None
    event_id: Value | None = None
    for name, node in spec.items():
        at: tuple[str | int, ...] = ("event", name)
        try:
            if name == "family":
                raise MappingSpecError("family is chosen once, at the top of the file ('family:')", at)
            if name == "location":
                location = _compile_group(node, at, sorted(Location.model_fields), errors)
            elif name == "attributes":
                attributes = _compile_group(node, at, None, errors)
            elif name == "time":
                time = _compile_time(node, at, tz)
            elif name == "event_id":
                event_id = compile_value(node, at)
            elif name in known:
                fields[name] = compile_value(node, at)
                if name == "kind":
                    _check_kinds(fields[name], family, at)
            else:
                raise MappingSpecError(f"'{name}' is not a field of {family.value} events"
                                       f"{_did_you_mean(str(name), known)}; keep extra source fields "
                                       "under 'attributes'", at)
        except MappingSpecError as exc:
            errors.append(exc)
    for name in _ENVELOPE[1:]:
        if (name == "time" and time is None and "time" not in spec) or (
                name != "time" and name not in fields and name not in spec):
            hint = " (use {from: meta.received_at} for the time of receipt)" if name == "time" else ""
            errors.append(MappingSpecError(f"event: '{name}' is required{hint}", ("event",)))
    if "location" not in spec:
        errors.append(MappingSpecError("event: 'location' with at least 'city' is required", ("event",)))
    elif "city" not in location and isinstance(spec.get("location"), Mapping):
        errors.append(MappingSpecError("location: 'city' is required", ("event", "location")))
    if errors:
        raise ExceptionGroup("mapping", errors)
    assert time is not None
    return EventMapping(connector, family, time, fields, location, attributes, event_id)


def _compile_group(node: Any, at: tuple[str | int, ...], known: list[str] | None,
                   errors: list[MappingSpecError]) -> dict[str, Value]:
    if not isinstance(node, Mapping):
        raise MappingSpecError(f"{at[-1]}: must be a mapping of names to values", at)
    out: dict[str, Value] = {}
    for key, sub in node.items():
        where = (*at, key)
        try:
            if known is not None and key not in known:
                raise MappingSpecError(f"'{key}' is not a location field{_did_you_mean(str(key), known)} "
                                       f"(known: {', '.join(known)})", where)
            out[str(key)] = compile_value(sub, where)
        except MappingSpecError as exc:
            errors.append(exc)
    return out


def _compile_time(node: Any, at: tuple[str | int, ...], tz: ZoneInfo) -> TimeValue:
    fmt = "iso8601"
    if isinstance(node, Mapping):
        fmt = str(node.get("format", fmt))
        if "zone" in node:
            try:
                tz = ZoneInfo(str(node["zone"]))
            except (ZoneInfoNotFoundError, ValueError):
                raise MappingSpecError(f"zone: unknown time zone {node['zone']!r}", (*at, "zone")) from None
    if fmt not in _TIME_FORMATS and "%" not in fmt:
        raise MappingSpecError(f"format: {fmt!r} is not a time format; use one of "
                               f"{', '.join(_TIME_FORMATS)} or a strptime pattern such as "
                               "'%Y-%m-%d %H:%M:%S'", (*at, "format"))
    return TimeValue(compile_value(node, at, time=True), fmt, tz)


def _check_kinds(value: Value, family: Family, at: tuple[str | int, ...]) -> None:
    kinds = KINDS[family]
    produced: list[tuple[Any, tuple[str | int, ...]]] = []
    if value.lookup is not None:
        produced += [(v, (*at, "map", k)) for k, v in value.lookup.items()]
    elif value.read is None and value.template is None:
        produced.append((value.const, at))
    if value.default is not _NO_DEFAULT:
        produced.append((value.default, (*at, "default")))
    for kind, where in produced:
        if kind not in kinds:
            raise MappingSpecError(f"kind {kind!r} is not a {family.value} kind"
                                   f"{_did_you_mean(str(kind), sorted(kinds))} (rules only know the "
                                   f"kinds in docs/events.md)", where)


def compile_value(node: Any, at: tuple[str | int, ...], time: bool = False) -> Value:
    """One value from its YAML form (see the module docstring)."""
    where = ".".join(str(p) for p in at[1:]) or str(at[0])
    if isinstance(node, str):
        return _string_value(node, where, at)
    if node is None or isinstance(node, bool | int | float):
        return Value(where, const=node)
    if not isinstance(node, Mapping):
        raise MappingSpecError(f"{where}: a value is a string, a number or a mapping with 'from' or "
                               "'const'", at)
    unknown = [k for k in node if k not in _MODIFIERS]
    if unknown:
        hint = _did_you_mean(str(unknown[0]), sorted(_MODIFIERS))
        raise MappingSpecError(f"unknown key '{unknown[0]}'{hint}", (*at, unknown[0]))
    if ("from" in node) == ("const" in node):
        raise MappingSpecError(f"{where}: give exactly one of 'from' (a field path or template) or "
                               "'const'", at)
    if not time and ("format" in node or "zone" in node):
        key = "format" if "format" in node else "zone"
        raise MappingSpecError(f"'{key}' only applies to the event time", (*at, key))
    base = _string_value(str(node["from"]), where, (*at, "from"), reading=True) if "from" in node \
        else Value(where, const=node["const"])
    lookup = node.get("map")
    if lookup is not None and not isinstance(lookup, Mapping):
        raise MappingSpecError("map: must be a mapping from source values to target values", (*at, "map"))
    convert = None
    if "convert" in node:
        convert = CONVERSIONS.get(str(node["convert"]))
        if convert is None:
            raise MappingSpecError(f"convert: unknown conversion {node['convert']!r}"
                                   f"{_did_you_mean(str(node['convert']), sorted(CONVERSIONS))} "
                                   f"(known: {', '.join(sorted(CONVERSIONS))})", (*at, "convert"))
    as_type = None
    if "type" in node:
        as_type = _TYPES.get(str(node["type"]))
        if as_type is None:
            raise MappingSpecError(f"type: must be one of {', '.join(_TYPES)}", (*at, "type"))
    for key in ("scale", "offset"):
        if key in node and (isinstance(node[key], bool) or not isinstance(node[key], int | float)):
            raise MappingSpecError(f"{key}: must be a number", (*at, key))
    return Value(
        where, const=base.const, read=base.read, template=base.template,
        lookup={_lookup_key(k): v for k, v in lookup.items()} if lookup is not None else None,
        patterns=tuple((key, v) for key, v in ((_lookup_key(k), v) for k, v in (lookup or {}).items())
                       if _GLOB.search(key)),
        default=node.get("default", _NO_DEFAULT), convert=convert,
        scale=float(node["scale"]) if "scale" in node else None,
        offset=float(node["offset"]) if "offset" in node else None, as_type=as_type,
    )


def _string_value(text: str, where: str, at: tuple[str | int, ...], reading: bool = False) -> Value:
    """A template (or, in ``from:``, a bare path); a string without braces elsewhere is a constant."""
    if not _PLACEHOLDER.search(text):
        if "{" in text or "}" in text:
            raise MappingSpecError(f"{where}: unbalanced brace in {text!r} (a field is written {{name}})", at)
        if not reading:
            return Value(where, const=text)
        text = "{" + text + "}"
    parts: list[str | FieldPath] = []
    pos = 0
    for m in _PLACEHOLDER.finditer(text):
        if m.start() > pos:
            parts.append(text[pos:m.start()])
        try:
            parts.append(FieldPath.parse(m[1]))
        except ValueError as exc:
            raise MappingSpecError(f"{where}: {exc}", at) from None
        pos = m.end()
    if pos < len(text):
        parts.append(text[pos:])
    if any("{" in p or "}" in p for p in parts if isinstance(p, str)):
        raise MappingSpecError(f"{where}: unbalanced brace in {text!r}", at)
    if len(parts) == 1 and isinstance(parts[0], FieldPath):
        return Value(where, read=parts[0])
    return Value(where, template=tuple(parts))


def _did_you_mean(word: str, known: list[str]) -> str:
    close = difflib.get_close_matches(word, known, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""
