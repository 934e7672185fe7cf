"""What a dead letter carries: the original bytes, or a bounded prefix of them, and headers saying why.

Shared by the worker (``streams/dead_letters.py``) and the connectors (``connectors/delivery.py``),
so a dead letter always fits in one produce request whoever sends it. A message may pass the
broker and still be refused (too large for the worker, say): its dead letter must not be refused
in turn, or the message would be lost and its partition stalled.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from rules.errors import EventDecodeError

Header = tuple[str, bytes]

DEAD_LETTER_MAX_BYTES = 900 * 1024
"""The most of the original key and value a dead letter keeps; beyond it, a prefix with the size
and digest of the whole. Input up to this size is always dead-lettered whole."""

HEADER_ALLOWANCE = 8 * 1024
"""Room a dead letter's headers and the record's framing may take beyond its key and value: the
headers written here are clipped well within it (reason 2,000 bytes, origin 1,000, topic 249)."""

REASON_MAX_BYTES = 2000
CATEGORY_MAX_BYTES = 64
ORIGIN_MAX_BYTES = 1000


def clip(text: str, limit: int) -> bytes:
    """``text`` as UTF-8 in at most ``limit`` bytes, cut on a character boundary."""
    raw = text.encode("utf-8", "backslashreplace")
    if len(raw) <= limit:
        return raw
    return raw[:limit].decode("utf-8", "ignore").encode("utf-8")


def reason_headers(error: EventDecodeError) -> list[Header]:
    """Why: the category (``riskstream.dlq.error``) and the reason in words, both bounded."""
    return [
        ("riskstream.dlq.reason", clip(error.reason, REASON_MAX_BYTES)),
        ("riskstream.dlq.error", clip(error.category, CATEGORY_MAX_BYTES)),
    ]


@dataclass(frozen=True)
class DeadLetter:
    key: bytes | None
    value: bytes | None
    headers: list[Header]


def _digest_headers(prefix: str, whole: bytes) -> list[Header]:
    return [
        (f"{prefix}truncated", b"true"),
        (f"{prefix}size", str(len(whole)).encode()),
        (f"{prefix}sha256", hashlib.sha256(whole).hexdigest().encode()),
    ]


def fit(
    key: bytes | None, value: bytes | None, headers: Sequence[Header], max_bytes: int = DEAD_LETTER_MAX_BYTES
) -> DeadLetter:
    """The original key and value if together they take at most ``max_bytes``; otherwise the value's
    prefix that fits (headers ``riskstream.dlq.truncated``, ``.size``, ``.sha256`` describe the
    whole). A key longer than half the room is cut the same way (``riskstream.dlq.key_truncated``,
    ``.key_size``, ``.key_sha256``). A null value stays null: a tombstone is not an empty message.
    """
    out = list(headers)
    key_size = len(key) if key is not None else 0
    value_size = len(value) if value is not None else 0
    if key_size + value_size <= max_bytes:
        return DeadLetter(key, value, out)
    if key is not None and key_size > max_bytes // 2:
        out += _digest_headers("riskstream.dlq.key_", key)
        key = key[: max_bytes // 2]
    room = max_bytes - (len(key) if key is not None else 0)
    if value is not None and value_size > room:
        out += _digest_headers("riskstream.dlq.", value)
        value = value[:room]
    return DeadLetter(key, value, out)
