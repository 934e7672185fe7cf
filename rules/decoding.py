"""Bytes from an input topic to a validated event, or a reason it belongs on the dead-letter topic."""

from __future__ import annotations

import contextlib
from typing import Any

import orjson
from pydantic import ValidationError

from rules.errors import EventDecodeError
from rules.events import EVENT_ADAPTER, MODELS, EventBase, Family

DEFAULT_MAX_BYTES = 64 * 1024


def describe_validation_error(exc: ValidationError) -> str:
    """Pydantic's first few errors as one line, short enough for a dead letter's header."""
    parts = []
    for err in exc.errors(include_url=False)[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "(event)"
        parts.append(f"{where}: {err['msg']}")
    more = exc.error_count() - len(parts)
    if more > 0:
        parts.append(f"... and {more} more")
    return "; ".join(parts)


def decode_event(
    raw: bytes | None, family: Family | None = None, max_bytes: int = DEFAULT_MAX_BYTES
) -> EventBase:
    """Decode and validate one message.

    ``family`` is the family the topic carries; an event without a ``family`` field takes it,
    and an event claiming another family is refused rather than silently routed elsewhere.

    A valid event is validated straight from its bytes, in one step; only a message that fails
    is taken apart step by step, to say exactly what is wrong with it.
    """
    if raw is not None and 0 < len(raw) <= max_bytes:
        with contextlib.suppress(ValidationError):  # refused below, with the exact reason
            if family is not None:
                return MODELS[family].model_validate_json(raw)
            return EVENT_ADAPTER.validate_json(raw)
    return _refuse(raw, family, max_bytes)


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
        raise EventDecodeError("not_json", f"payload is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise EventDecodeError("not_object", f"payload is a JSON {type(data).__name__}, not an object")
    if family is not None:
        claimed = data.setdefault("family", family.value)
        if claimed != family.value:
            raise EventDecodeError(
                "wrong_family", f"event says family {claimed!r} but arrived on the {family.value} topic"
            )
    try:
        return EVENT_ADAPTER.validate_python(data)
    except ValidationError as exc:
        raise EventDecodeError("invalid", describe_validation_error(exc)) from None
