"""A dead letter keeps the original bytes (bounded), with headers naming why, the connector and origin."""

from __future__ import annotations

import hashlib
from datetime import datetime

from connectors.delivery import DEAD_LETTER_MAX_BYTES, MAX_REQUEST_BYTES, dead_letter
from connectors.translate import Refused
from rules.errors import EventDecodeError


def refusal(raw: bytes, origin: str = "http:192.0.2.43/hikvision/alarms") -> Refused:
    return Refused(raw, EventDecodeError("unmapped_value", "kind: no mapping for 'faceSnap'"), origin)


def headers_of(raw: bytes) -> dict[str, bytes]:
    _, headers = dead_letter("hikvision-cameras", refusal(raw))
    return dict(headers)


def test_the_headers_name_reason_error_connector_and_origin() -> None:
    headers = headers_of(b'{"eventType": "faceSnap"}')
    assert headers["riskstream.dlq.reason"] == b"kind: no mapping for 'faceSnap'"
    assert headers["riskstream.dlq.error"] == b"unmapped_value"
    assert headers["riskstream.dlq.connector"] == b"hikvision-cameras"
    assert headers["riskstream.dlq.origin"] == b"http:192.0.2.43/hikvision/alarms"


def test_the_headers_say_when_it_was_dead_lettered() -> None:
    at = datetime.fromisoformat(headers_of(b"{}")["riskstream.dlq.at"].decode())
    assert at.utcoffset() is not None


def test_a_small_original_is_kept_whole_and_not_marked_truncated() -> None:
    raw = b'{"eventType": "faceSnap"}'
    value, headers = dead_letter("hikvision-cameras", refusal(raw))
    assert value == raw
    assert "riskstream.dlq.truncated" not in dict(headers)


def test_an_original_of_exactly_the_limit_is_kept_whole() -> None:
    raw = b"x" * DEAD_LETTER_MAX_BYTES
    value, headers = dead_letter("c", refusal(raw))
    assert value == raw
    assert "riskstream.dlq.truncated" not in dict(headers)


def test_a_large_original_is_cut_to_the_limit_with_its_size_and_digest() -> None:
    raw = bytes(range(256)) * (DEAD_LETTER_MAX_BYTES // 256 + 100)
    value, headers = dead_letter("c", refusal(raw))
    assert value == raw[:DEAD_LETTER_MAX_BYTES]
    named = dict(headers)
    assert named["riskstream.dlq.truncated"] == b"true"
    assert named["riskstream.dlq.size"] == str(len(raw)).encode()
    assert named["riskstream.dlq.sha256"] == hashlib.sha256(raw).hexdigest().encode()


def test_a_dead_letter_always_fits_in_one_request() -> None:
    raw = b"y" * (2 * MAX_REQUEST_BYTES)
    value, headers = dead_letter("c", Refused(raw, EventDecodeError("invalid", "r" * 10_000), "o" * 10_000))
    assert len(value) + sum(len(k) + len(v) for k, v in headers) < MAX_REQUEST_BYTES


def test_long_reasons_and_origins_are_bounded() -> None:
    _, headers = dead_letter("c", Refused(b"", EventDecodeError("invalid", "r" * 10_000), "o" * 10_000))
    named = dict(headers)
    assert len(named["riskstream.dlq.reason"]) == 2000
    assert len(named["riskstream.dlq.origin"]) == 1000
