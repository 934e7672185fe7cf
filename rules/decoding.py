"""Bytes from an input topic to a validated event, or a reason it belongs on the dead-letter topic.

Whatever the bytes are, the answer is an event or an ``EventDecodeError`` (with a category and a
reason short enough for a header), in time linear in their size: the size limit is checked before
anything is parsed, the JSON parsers stop at a nesting depth limit (orjson's is 1,024) rather than
recursing through it, a number too large for a double is refused rather than converted, and no
part of the input is ever ``repr``-ed into a reason. ``tests/unit/test_decoding_fuzz.py`` holds
the decoder to this on a generated mix of valid and bad messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import UnionType
from typing import Any, Union, get_args, get_origin

import orjson
from pydantic import ValidationError

from rules.errors import EventDecodeError
from rules.events import EVENT_ADAPTER, KINDS, MODELS, EventBase, Family

DEFAULT_MAX_BYTES = 64 * 1024

EARLIEST_TIME = datetime(2000, 1, 1, tzinfo=UTC)
"""Event times before this are refused (``bad_time``): a device whose clock reset to 1970, or
epoch milliseconds read as seconds, not an event from then."""

MAX_AHEAD = timedelta(days=1)
"""How far an event's time may be ahead of the worker's clock: device clocks drift and a local
time sent with the wrong zone is up to 14 hours off; further ahead is a broken clock (``bad_time``)."""

REASON_MAX_CHARS = 1000
"""A reason is a header: the gist, never an echo of a huge input."""


@dataclass(frozen=True)
class TimeBounds:
    """The event times accepted: from ``earliest``, to ``ahead`` past the clock when one is given."""

    earliest: datetime = EARLIEST_TIME
    ahead: timedelta = MAX_AHEAD


DEFAULT_BOUNDS = TimeBounds()


def _clipped(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


_JSON_TYPES = {dict: "object", list: "array", str: "string", int: "number", float: "number",
               bool: "boolean", type(None): "null"}


def _shown(value: Any) -> str:
    """A value named in a reason: a string quoted and clipped, anything else by its JSON type only
    (never ``repr`` of input: a deeply nested value would exhaust the recursion limit)."""
    if isinstance(value, str):
        return repr(_clipped(value, 60))
    return f"a JSON {_JSON_TYPES.get(type(value), type(value).__name__)}"


def describe_validation_error(exc: ValidationError) -> str:
    """Pydantic's first few errors as one line, short enough for a dead letter's header."""
    parts = []
    for err in exc.errors(include_url=False, include_input=False, include_context=False)[:5]:
        where = ".".join(_clipped(str(p), 40) for p in err["loc"]) or "(event)"
        parts.append(f"{where}: {_clipped(err['msg'], 200)}")
    more = exc.error_count() - len(parts)
    if more > 0:
        parts.append(f"... and {more} more")
    return _clipped("; ".join(parts), REASON_MAX_CHARS)


def check_kind(event: EventBase) -> EventBase:
    """A kind outside the family's vocabulary (``KINDS``) would match no rule: refused as
    ``unknown_kind`` rather than flowing on unnoticed. The worker and the connectors share this."""
    if event.kind not in KINDS[event.family]:
        raise EventDecodeError(
            "unknown_kind",
            f"kind {event.kind!r} is not a {event.family.value} kind (docs/events.md lists them)",
        )
    return event


def check_time(event: EventBase, now: datetime | None, bounds: TimeBounds = DEFAULT_BOUNDS) -> EventBase:
    """An event time before ``bounds.earliest``, or more than ``bounds.ahead`` past ``now`` (when
    given), is refused as ``bad_time``: windows, cooldowns and expiry all run on event time."""
    at = event.time
    if at < bounds.earliest:
        raise EventDecodeError(
            "bad_time",
            f"time {at.isoformat()} is before {bounds.earliest.isoformat()}, the earliest accepted",
        )
    if now is not None and at - now > bounds.ahead:
        raise EventDecodeError(
            "bad_time",
            f"time {at.isoformat()} is more than {bounds.ahead} ahead of the worker's clock "
            f"({now.astimezone(UTC).isoformat(timespec='seconds')})",
        )
    return event


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _holds_int(annotation: Any) -> bool:
    union = get_origin(annotation) in (Union, UnionType)
    return annotation is int or (union and int in get_args(annotation))


_INT_FIELDS: dict[Family, tuple[str, ...]] = {
    family: tuple(name for name, info in model.model_fields.items() if _holds_int(info.annotation))
    for family, model in MODELS.items()
}
"""Integer fields per family: pydantic takes integers of any size, JSON consumers, CEL and the
worker's state codecs take 64 bits."""


def check_integers(event: EventBase) -> EventBase:
    """An integer outside 64 bits (a field's or an attribute's) is refused as ``invalid``: it would
    fail later, in a rule's evaluation or when the worker writes the event into its state."""
    for name in _INT_FIELDS[event.family]:
        _int64(getattr(event, name), name)
    for name, value in event.attributes.items():
        if type(value) is int:
            _int64(value, f"attributes.{_clipped(name, 40)}")
    return event


def _int64(value: Any, where: str) -> None:
    if type(value) is int and not INT64_MIN <= value <= INT64_MAX:
        # bit_length, not str(): converting a huge integer to text is slow, and refused past 4,300 digits
        raise EventDecodeError(
            "invalid", f"{where}: a {value.bit_length()}-bit integer is outside the signed 64-bit range"
        )


def accept(event: EventBase, now: datetime | None = None, bounds: TimeBounds = DEFAULT_BOUNDS) -> EventBase:
    """The checks past the schema: a known kind, integers within 64 bits, a plausible time."""
    return check_time(check_integers(check_kind(event)), now, bounds)


def decode_event(
    raw: bytes | None,
    family: Family | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    *,
    now: datetime | None = None,
    bounds: TimeBounds = DEFAULT_BOUNDS,
) -> EventBase:
    """Decode and validate one message; raises EventDecodeError, and nothing else, if it is not an event.

    ``family`` is the family the topic carries; an event without a ``family`` field takes it,
    and an event claiming another family is refused rather than silently routed elsewhere.
    ``now`` (aware) is the clock event times are checked against (None: only ``bounds.earliest``).

    A valid event is validated straight from its bytes, in one step; only a message that fails
    is taken apart step by step, to say exactly what is wrong with it.
    """
    if raw is not None and 0 < len(raw) <= max_bytes:
        try:
            event = (
                MODELS[family].model_validate_json(raw)
                if family is not None
                else EVENT_ADAPTER.validate_json(raw)
            )
        except ValidationError:
            pass  # refused below, with the exact reason
        else:
            return accept(event, now, bounds)
    return accept(_refuse(raw, family, max_bytes), now, bounds)


def _refuse(raw: bytes | None, family: Family | None, max_bytes: int) -> EventBase:
    """The slow path: why a message is not an event (or, rarely, the event after all)."""
    if raw is None or len(raw) == 0:
        raise EventDecodeError("empty", "message has no value (tombstone or empty payload)")
    if len(raw) > max_bytes:
        raise EventDecodeError(
            "too_large", f"payload is {len(raw)} bytes, over the {max_bytes}-byte limit"
        )
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EventDecodeError(
            "not_utf8", f"payload is not UTF-8 (bad byte at offset {exc.start})"
        ) from None
    try:
        data: Any = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise EventDecodeError("not_json", f"payload is not JSON: {_clipped(str(exc), 300)}") from None
    if not isinstance(data, dict):
        raise EventDecodeError("not_object", f"payload is a JSON {type(data).__name__}, not an object")
    if family is not None:
        claimed = data.setdefault("family", family.value)
        if claimed != family.value:
            raise EventDecodeError(
                "wrong_family", f"event says family {_shown(claimed)} but arrived on the {family.value} topic"
            )
    return validated(data)


def validated(data: Any, model: type[EventBase] | None = None) -> EventBase:
    """Plain data (parsed JSON, a mapped record) to its event, by ``model`` or by its ``family``;
    the schema's complaint as an ``invalid`` EventDecodeError."""
    try:
        if model is not None:
            return model.model_validate(data)
        return EVENT_ADAPTER.validate_python(data)
    except ValidationError as exc:
        raise EventDecodeError("invalid", describe_validation_error(exc)) from None
