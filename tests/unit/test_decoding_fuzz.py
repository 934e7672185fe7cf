"""Bad input at scale: over 100,000 generated bad messages, mixed into valid ones, at the decoder.

Hypothesis draws valid events of every family (and pools of junk values and texts); each drawn
event is expanded into a few hundred messages by mutations whose outcome is known by construction:
valid variants must decode to the event, bad ones must be refused with an EventDecodeError in one
of the expected categories, and a blind mutation (a byte flipped, dropped or inserted) may go
either way but must not raise anything else or decode to an event that would fail later. Nothing
is timed per message; the last tests bound the pathological shapes structurally (a parser that
recursed or went quadratic on them would take minutes, not a second).
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import annotated_types
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules.decoding import (
    DEFAULT_MAX_BYTES,
    EARLIEST_TIME,
    INT64_MAX,
    INT64_MIN,
    MAX_AHEAD,
    REASON_MAX_CHARS,
    decode_event,
)
from rules.errors import EventDecodeError
from rules.events import KINDS, MODELS, EventBase, Family, Location

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
"""The worker's clock for every decode here."""

CATEGORIES = frozenset({
    "empty", "too_large", "not_utf8", "not_json", "not_object", "wrong_family", "invalid",
    "unknown_kind", "bad_time",
})

EXAMPLES = 200
MESSAGES_PER_EXAMPLE = 616
BAD_WANTED = 100_000

# ------------------------------------------------------------------------------ valid events

zones = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
times = st.datetimes(
    min_value=datetime(2000, 1, 2), max_value=datetime(2026, 11, 28), timezones=zones
)
finite = st.floats(allow_nan=False, allow_infinity=False)
ints64 = st.integers(INT64_MIN, INT64_MAX)
scalars = st.one_of(st.text(max_size=20), ints64, finite, st.booleans())


def text(n: int, min_size: int = 0) -> st.SearchStrategy[str]:
    return st.text(min_size=min_size, max_size=n)


locations = st.fixed_dictionaries(
    {"city": text(20, 1)},
    optional={
        "district": text(20), "street": text(20), "community": text(20), "grid": text(20),
        "name": text(40), "lon": st.floats(-180, 180), "lat": st.floats(-90, 90),
    },
)

OWN: dict[Family, tuple[dict[str, Any], dict[str, Any]]] = {
    Family.sensor: ({}, {
        "value": finite, "unit": text(16), "status": st.sampled_from(["normal", "alarm", "fault", "offline"]),
        "battery": st.floats(0, 100),
    }),
    Family.camera: ({}, {
        "channel": st.integers(0, INT64_MAX), "state": st.sampled_from(["start", "stop", "pulse"]),
        "people": st.integers(0, 10**9), "density": st.floats(0, 1e6), "confidence": st.floats(0, 1),
        "vendor_code": text(64), "snapshot_url": text(80),
    }),
    Family.safety: ({"site_id": text(30, 1)}, {
        "enterprise": text(40), "tank_id": text(20), "value": finite, "unit": text(16),
        "hazard_level": st.integers(1, 4),
    }),
    Family.cyber: ({}, {
        "src_ip": text(20), "dst_ip": text(20), "dst_port": st.integers(0, 65535), "protocol": text(16),
        "user": text(30), "asset": text(40), "category": text(32), "severity": st.integers(1, 5),
        "signature": text(60),
    }),
    Family.hotline: ({"ticket_id": text(30, 1)}, {
        "channel": st.sampled_from(["12345", "110", "app"]), "caller_hash": text(30), "address": text(40),
        "employer": text(40), "text": text(120), "people_involved": st.integers(0, 10**6),
    }),
}


@st.composite
def events(draw: st.DrawFn, families: tuple[Family, ...] = tuple(Family)) -> tuple[Family, dict[str, Any]]:
    family = draw(st.sampled_from(families))
    required, optional = OWN[family]
    body = draw(st.fixed_dictionaries(
        {
            "event_id": text(40, 1),
            "family": st.just(family.value),
            "kind": st.sampled_from(sorted(KINDS[family])),
            "time": times.map(lambda t: t.isoformat()),
            "source_id": text(40, 1),
            "location": locations,
            **required,
        },
        optional={**optional, "attributes": st.dictionaries(text(10), scalars, max_size=4)},
    ))
    return family, body


class Pools:
    """Junk drawn by Hypothesis for one example, picked from by the example's seeded mutations."""

    def __init__(self, texts: list[str], values: list[Any], blobs: list[bytes]):
        self.texts = texts
        self.values = values  # JSON values that are not strings
        self.blobs = blobs


pools = st.builds(
    Pools,
    st.lists(st.text(max_size=30), min_size=6, max_size=6),
    st.lists(
        st.one_of(
            ints64, finite, st.booleans(), st.lists(ints64, max_size=3),
            st.dictionaries(st.text(max_size=5), ints64, max_size=2),
        ),
        min_size=6, max_size=6,
    ),
    st.lists(st.binary(min_size=1, max_size=40), min_size=4, max_size=4),
)

# ------------------------------------------------------------------------------ mutations

Case = tuple[bytes | None, frozenset[str] | None, int]
"""(message, expected refusal categories (empty: it must decode; None: either way), max_bytes)."""

VALID: frozenset[str] = frozenset()
SENTINEL = "@@raw@@"
SENTINEL_JSON = orjson.dumps(SENTINEL)


def _max_len(model: type[Any], name: str) -> int | None:
    for meta in model.model_fields[name].metadata:
        if isinstance(meta, annotated_types.MaxLen):
            return int(meta.max_length)
    return None


def _required(model: type[Any]) -> list[str]:
    return [n for n, f in model.model_fields.items() if f.is_required()]


NUMERIC = {
    Family.sensor: ["value", "battery"], Family.camera: ["channel", "people", "density", "confidence"],
    Family.safety: ["value"], Family.cyber: ["dst_port", "severity"], Family.hotline: ["people_involved"],
}
INTEGER = {
    Family.sensor: [], Family.camera: ["channel", "people"], Family.safety: [],
    Family.cyber: [], Family.hotline: ["people_involved"],
}
CHOICE = {
    Family.sensor: ["status"], Family.camera: ["state"], Family.safety: ["hazard_level"],
    Family.cyber: [], Family.hotline: ["channel"],
}
STRINGS = {
    f: [n for n, fi in m.model_fields.items() if fi.annotation in (str, str | None) and n not in CHOICE[f]]
    for f, m in MODELS.items()
}
LIMITED = {f: [(n, _max_len(m, n)) for n in STRINGS[f] if _max_len(m, n)] for f, m in MODELS.items()}
LOCATION_LIMITED = [
    (n, _max_len(Location, n)) for n in ("city", "district", "street", "community", "grid", "name")
]
NEVER_UTF8 = [b"\xff", b"\xfe", b"\xc0\x80", b"\xed\xa0\x80", b"\xf5\x80\x80\x80", b"\xc1\xbf"]
NOT_A_NUMBER = [b"NaN", b"-NaN", b"Infinity", b"-Infinity", b"inf", b"1e999", b"-1e400", b"nan"]


def _nested(depth: int, kind: str, closed: bool) -> bytes:
    opening, closing = (b'{"a":', b"}") if kind == "object" else (b"[", b"]")
    inner = b"1" if kind == "object" else b""
    return opening * depth + inner + (closing * depth if closed else b"")


NESTED = [
    (depth, _nested(depth, kind, closed))
    for depth in (2, 64, 1000, 1024, 1025, 5000, 10_000)
    for kind in ("object", "array")
    for closed in (True, False)
]


def valid(raw: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> Case:
    return raw, VALID, max_bytes


def refused(raw: bytes | None, *categories: str, max_bytes: int = DEFAULT_MAX_BYTES) -> Case:
    return raw, frozenset(categories), max_bytes


def either(raw: bytes) -> Case:
    return raw, None, DEFAULT_MAX_BYTES


def dumps(data: dict[str, Any]) -> bytes:
    return orjson.dumps(data)


def with_raw(data: dict[str, Any], raw: bytes) -> bytes:
    """``data`` as JSON with the sentinel string replaced by ``raw`` (JSON that orjson would not write)."""
    return dumps(data).replace(SENTINEL_JSON, raw, 1)


class Mutator:
    """Turns one valid event into messages of known outcome."""

    def __init__(
        self, family: Family, event: dict[str, Any], pools: Pools, rng: random.Random, now: datetime = NOW
    ):
        self.f, self.ev, self.p, self.rng, self.now = family, event, pools, rng, now
        self.raw = dumps(event)
        self.model = MODELS[family]

    # --- helpers
    def pick(self, seq: list[Any]) -> Any:
        return seq[self.rng.randrange(len(seq))]

    def set_field(self, name: str, value: Any) -> dict[str, Any]:
        if name.startswith("location."):
            return {**self.ev, "location": {**self.ev["location"], name[9:]: value}}
        return {**self.ev, name: value}

    def numeric_field(self) -> str:
        names = NUMERIC[self.f] + ["location.lon", "location.lat"]
        return str(self.pick(names))

    def bad_text(self) -> str:
        """A text no field's type (number, time, choice) would take: it starts with a letter."""
        return "x" + str(self.pick(self.p.texts))

    # --- valid variants
    def as_is(self) -> Case:
        return valid(self.raw)

    def family_from_topic(self) -> Case:
        return valid(dumps({k: v for k, v in self.ev.items() if k != "family"}))

    def reordered_and_spaced(self) -> Case:
        items = list(self.ev.items())
        self.rng.shuffle(items)
        spaced = orjson.dumps(dict(items), option=orjson.OPT_INDENT_2)
        return valid(b" \n" + spaced + b"\t")

    def at_the_limit(self) -> Case:
        return valid(self.raw, max_bytes=len(self.raw))

    def edge_times(self) -> Case:
        edge = EARLIEST_TIME if self.rng.random() < 0.5 else self.now + MAX_AHEAD
        return valid(dumps(self.set_field("time", edge.isoformat())))

    def big_attribute(self) -> Case:
        pad = "p" * self.rng.randrange(1000, 20_000)
        return valid(dumps({**self.ev, "attributes": {"pad": pad}}))

    # --- bad, outcome known
    def truncated(self) -> Case:
        return refused(self.raw[: self.rng.randrange(len(self.raw))], "empty", "not_json", "not_utf8")

    def broken_json(self) -> Case:
        raw = self.raw
        choice = self.rng.randrange(4)
        if choice == 0:
            raw = raw + self.pick([b"x", b"}", b",", b"{}", b"]", b"\x00"])
        elif choice == 1:
            raw = raw.replace(b":", b"=", 1)
        elif choice == 2:
            raw = raw.replace(b"{", b"[", 1)
        else:
            raw = raw[:-1] + b',"' + b"}"
        return refused(raw, "not_json")

    def not_utf8(self) -> Case:
        at = self.rng.randrange(len(self.raw) + 1)
        return refused(self.raw[:at] + self.pick(NEVER_UTF8) + self.raw[at:], "not_utf8")

    def wrong_type(self) -> Case:
        pick = self.rng.randrange(5)
        if pick == 0:  # a string field given a non-string
            name = self.pick([*STRINGS[self.f], "location.city"])
            return refused(dumps(self.set_field(name, self.pick(self.p.values))), "invalid")
        if pick == 1:  # a number given text or a container
            value = self.pick([self.bad_text(), [1], {"v": 1}])
            return refused(dumps(self.set_field(self.numeric_field(), value)), "invalid")
        if pick == 2:  # a time that is not one
            value = self.pick([self.bad_text(), True, [2026], {"t": 1}, ""])
            return refused(dumps(self.set_field("time", value)), "invalid")
        if pick == 3:  # location, attributes of the wrong shape
            name = self.pick(["location", "attributes"])
            value = self.pick([self.bad_text(), 7, [], True])
            return refused(dumps(self.set_field(name, value)), "invalid")
        value = self.pick([[1], {"a": 1}, None])  # an attribute that is not a scalar
        return refused(dumps({**self.ev, "attributes": {"k": value}}), "invalid")

    def out_of_range(self) -> Case:
        choices: list[tuple[str, Any]] = [("location.lat", 91.5), ("location.lon", -181.0)]
        by_family: dict[Family, list[tuple[str, Any]]] = {
            Family.sensor: [("battery", 100.5), ("battery", -1), ("status", "burning")],
            Family.camera: [("confidence", 1.01), ("people", -1), ("density", -0.1), ("state", "x")],
            Family.safety: [("hazard_level", 5), ("hazard_level", 0)],
            Family.cyber: [("dst_port", 65536), ("severity", 0), ("severity", 6)],
            Family.hotline: [("channel", "119"), ("people_involved", -3)],
        }
        name, value = self.pick(choices + by_family[self.f])
        return refused(dumps(self.set_field(name, value)), "invalid")

    def missing(self) -> Case:
        names = [n for n in _required(self.model) if n != "family"]
        name = self.pick([*names, "location.city"])
        if name == "location.city":
            data = {**self.ev, "location": {k: v for k, v in self.ev["location"].items() if k != "city"}}
        else:
            data = {k: v for k, v in self.ev.items() if k != name}
        return refused(dumps(data), "invalid")

    def extra(self) -> Case:
        key = "zz_" + str(self.pick(self.p.texts))
        value = self.pick([*self.p.values, str(self.pick(self.p.texts))])
        where = self.pick(["", "location."])
        return refused(dumps(self.set_field(where + key, value)), "invalid")

    def not_a_number(self) -> Case:
        name = self.pick([self.numeric_field(), "attributes"])
        literal = self.pick(NOT_A_NUMBER)
        if name == "attributes":
            return refused(with_raw({**self.ev, "attributes": {"x": SENTINEL}}, literal), "not_json")
        return refused(with_raw(self.set_field(name, SENTINEL), literal), "not_json")

    def huge_string(self) -> Case:
        limited = [(n, m) for n, m in LIMITED[self.f]] + [(f"location.{n}", m) for n, m in LOCATION_LIMITED]
        name, limit = self.pick(limited)
        rng = self.rng
        size = self.pick([limit + 1, limit + rng.randrange(1, 5000), rng.randrange(70_000, 200_000)])
        return refused(dumps(self.set_field(name, "s" * size)), "invalid", "too_large")

    def huge_number(self) -> Case:
        if self.rng.random() < 0.5 and INTEGER[self.f]:  # beyond 64 bits, within a double
            digits = b"9" * self.rng.randrange(20, 300)
            name = self.pick(INTEGER[self.f])
            return refused(with_raw(self.set_field(name, SENTINEL), digits), "invalid")
        if self.rng.random() < 0.3:
            digits = b"-" * self.rng.randrange(2) + b"1" * self.rng.randrange(20, 300)
            data = {**self.ev, "attributes": {"n": SENTINEL}}
            return refused(with_raw(data, digits), "invalid")
        rng = self.rng
        digits = self.pick([b"9" * rng.randrange(310, 60_000), b"1e" + b"9" * rng.randrange(4, 5000)])
        name = self.pick([self.numeric_field(), "attributes"])
        data = self.set_field(name, {"n": SENTINEL} if name == "attributes" else SENTINEL)
        # jiter takes integers of up to ~4,300 digits (refused past 64 bits), orjson none past a double
        return refused(with_raw(data, digits), "not_json", "invalid", "too_large")

    def deeply_nested(self) -> Case:
        depth, blob = self.pick(NESTED)
        where = self.rng.randrange(4)
        if where == 0:  # the whole message
            if depth > 1025 or blob[-1:] not in b"}]":
                return refused(blob, "not_json")
            return refused(blob, "not_json", "not_object", "invalid")
        if where == 1:  # the family: named in the reason, so it must not be printed
            return refused(with_raw(self.set_field("family", SENTINEL), blob), "not_json", "wrong_family")
        data = self.set_field(*(("attributes", {"x": SENTINEL}) if where == 2 else ("location", SENTINEL)))
        return refused(with_raw(data, blob), "not_json", "invalid", "too_large")

    def not_an_object(self) -> Case:
        raw = self.pick([
            b"[" + self.raw + b"]", orjson.dumps([self.ev, self.ev]), b"42", b"-1.5e3", b'"event"', b"null",
            b"true", b"false", b"[]", orjson.dumps(str(self.pick(self.p.texts))),
            orjson.dumps(self.pick(self.p.values)),
        ])
        return refused(raw, "invalid") if raw.startswith(b"{") else refused(raw, "not_object")

    def empty(self) -> Case:
        pick = self.rng.randrange(4)
        if pick == 0:
            return refused(self.pick([None, b""]), "empty")
        if pick == 1:
            return refused(self.pick([b" ", b"\n", b"\t \r\n"]), "not_json")
        if pick == 2:
            return refused(b"{}", "invalid")
        name = self.pick(["event_id", "source_id", "kind", "location.city"])
        return refused(dumps(self.set_field(name, "")), "invalid")

    def over_the_limit(self) -> Case:
        limit = len(self.raw) - self.rng.randrange(1, min(len(self.raw), 300))
        return refused(self.raw, "too_large", max_bytes=limit)

    def unknown_kind(self) -> Case:
        other = sorted(k for f in Family for k in KINDS[f] if k not in KINDS[self.f])
        kind = self.pick([*other, "zz_" + str(self.rng.randrange(10**6)), "x" * 64])
        return refused(dumps(self.set_field("kind", kind)), "unknown_kind")

    def far_time(self) -> Case:
        zone = timezone(timedelta(minutes=self.rng.randrange(-14 * 60, 14 * 60)))
        if self.rng.random() < 0.5:
            year = self.pick([1, 1970, 1999, self.rng.randrange(2, 1999)])
            at = datetime(year, 1 + self.rng.randrange(12), 1 + self.rng.randrange(28), tzinfo=zone)
            if year == 1999:
                at = datetime(1999, 12, 31, 9, 59, tzinfo=zone)  # still 1999 in UTC for every zone
        else:
            # an hour past the bound at least, so a real worker's clock moving on cannot make it valid
            ahead = MAX_AHEAD + timedelta(seconds=3600 + self.rng.randrange(50_000 * 86_400))
            at = (self.now + ahead).astimezone(zone)
        return refused(dumps(self.set_field("time", at.isoformat())), "bad_time", "invalid")

    def wrong_family(self) -> Case:
        others = [f.value for f in Family if f != self.f]
        value = self.pick([*others, self.bad_text(), "f" * 5000, *self.p.values, None])
        return refused(dumps({**self.ev, "family": value}), "wrong_family")

    # --- blind: either way, but only ever an event or an EventDecodeError
    def flipped(self) -> Case:
        raw = bytearray(self.raw)
        for _ in range(1 + self.rng.randrange(3)):
            op, at = self.rng.randrange(3), self.rng.randrange(len(raw))
            if op == 0:
                raw[at] = self.rng.randrange(256)
            elif op == 1:
                del raw[at]
            else:
                raw[at:at] = self.pick(self.p.blobs)
        return either(bytes(raw))

    def spliced(self) -> Case:
        cut = self.rng.randrange(len(self.raw))
        return either(self.raw[:cut] + self.pick(self.p.blobs) + self.raw[cut:])


VALID_OPS: list[Callable[[Mutator], Case]] = [
    Mutator.as_is, Mutator.family_from_topic, Mutator.reordered_and_spaced, Mutator.at_the_limit,
    Mutator.edge_times, Mutator.big_attribute,
]
BAD_OPS: list[Callable[[Mutator], Case]] = [
    Mutator.truncated, Mutator.truncated, Mutator.broken_json, Mutator.not_utf8, Mutator.wrong_type,
    Mutator.wrong_type, Mutator.out_of_range, Mutator.missing, Mutator.extra, Mutator.not_a_number,
    Mutator.huge_string, Mutator.huge_number, Mutator.deeply_nested, Mutator.not_an_object, Mutator.empty,
    Mutator.over_the_limit, Mutator.unknown_kind, Mutator.far_time, Mutator.wrong_family,
]
BLIND_OPS: list[Callable[[Mutator], Case]] = [Mutator.flipped, Mutator.spliced]
ROUND = [*VALID_OPS, *VALID_OPS, *BAD_OPS, *BAD_OPS, *BAD_OPS, *BAD_OPS, *BLIND_OPS]
"""Seven in eight messages bad (76 of 88), one in eight valid, two blind."""


def check_decoded(event: EventBase, family: Family) -> str | None:
    """What is wrong with an event the decoder let through (None: nothing)."""
    if event.family != family:
        return f"family {event.family} on the {family} topic"
    if event.kind not in KINDS[family]:
        return f"unknown kind {event.kind!r}"
    if not EARLIEST_TIME <= event.time <= NOW + MAX_AHEAD:
        return f"time {event.time} out of bounds"
    try:
        orjson.dumps(event.model_dump(mode="json"))  # what the worker's state and outputs need
    except (TypeError, orjson.JSONEncodeError) as exc:
        return f"not serialisable: {exc}"
    return None


def test_over_100_000_bad_messages_are_each_refused_with_a_reason_and_valid_ones_decode() -> None:
    tally: Counter[str] = Counter()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(case=events(), junk=pools, seed=st.integers(0, 2**32 - 1))
    def run(case: tuple[Family, dict[str, Any]], junk: Pools, seed: int) -> None:
        family, event = case
        rng = random.Random(seed)
        mutator = Mutator(family, event, junk, rng)
        problems: list[str] = []
        for i in range(MESSAGES_PER_EXAMPLE):
            op = ROUND[i % len(ROUND)]
            raw, expected, max_bytes = op(mutator)
            try:
                got = decode_event(raw, family, max_bytes, now=NOW)
            except EventDecodeError as exc:
                tally["refused"] += 1
                tally[exc.category] += 1
                if expected == VALID:
                    problems.append(f"{op.__name__}: valid message refused: {exc}; {raw!r:.300}")
                elif expected is not None and exc.category not in expected:
                    problems.append(f"{op.__name__}: {exc.category} not in {sorted(expected)}: {exc.reason}")
                if exc.category not in CATEGORIES or not exc.reason or len(exc.reason) > REASON_MAX_CHARS:
                    problems.append(f"{op.__name__}: bad refusal {exc.category!r}: {exc.reason[:200]!r}")
                if expected is not None and expected != VALID:
                    tally["bad"] += 1
                continue
            except Exception as exc:  # the point of the test: nothing else leaves the decoder
                problems.append(f"{op.__name__}: {type(exc).__name__} escaped: {exc}; {raw!r:.300}")
                continue
            tally["decoded"] += 1
            if expected is not None and expected != VALID:
                problems.append(f"{op.__name__}: bad message decoded ({sorted(expected)}): {raw!r:.300}")
            elif expected == VALID and (got.event_id != event["event_id"] or got.kind != event["kind"]):
                problems.append(f"{op.__name__}: decoded to another event: {got!r:.300}")
            elif (wrong := check_decoded(got, family)) is not None:
                problems.append(f"{op.__name__}: decoded an event that will fail later: {wrong}")
        assert not problems, "\n".join(problems[:10])

    run()
    assert tally["bad"] >= BAD_WANTED, tally
    assert tally["decoded"] >= EXAMPLES * MESSAGES_PER_EXAMPLE // 10, tally
    assert set(tally) >= CATEGORIES, f"categories never seen: {sorted(CATEGORIES - set(tally))}"


# ------------------------------------------------------------------------------ pathological shapes

SENSOR = {
    "event_id": "e-1", "kind": "combustible_gas", "time": "2026-11-29T09:00:00+08:00", "source_id": "dev-1",
    "location": {"city": "C"},
}


def refused_category(raw: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    with pytest.raises(EventDecodeError) as info:
        decode_event(raw, Family.sensor, max_bytes, now=NOW)
    return info.value.category


@pytest.mark.parametrize("kind", ["object", "array"])
def test_nesting_ten_thousand_or_a_million_levels_deep_is_refused_without_recursing(kind: str) -> None:
    """The parser stops at its depth limit: a million levels (6 MB, allowed in here) cost what ten
    thousand do, and nothing recurses (a recursive walk would hit Python's limit at about 1,000)."""
    assert refused_category(_nested(10_000, kind, True)) == "not_json"
    deep = _nested(1_000_000, kind, True)
    started = time.perf_counter()
    assert refused_category(deep, max_bytes=len(deep)) == "not_json"
    assert time.perf_counter() - started < 1.0  # ~0.1 ms; a walk of a million levels takes seconds


def test_nesting_just_within_the_parsers_limit_is_refused_as_invalid_with_a_short_reason() -> None:
    raw = with_raw({**SENSOR, "attributes": {"x": SENTINEL}}, _nested(1000, "array", True))
    with pytest.raises(EventDecodeError) as info:
        decode_event(raw, Family.sensor, now=NOW)
    assert info.value.category == "invalid"
    assert len(info.value.reason) <= REASON_MAX_CHARS


def test_a_family_nested_a_thousand_levels_deep_is_named_by_its_type_not_printed() -> None:
    raw = b'{"family":' + _nested(1000, "array", True) + b"}"
    with pytest.raises(EventDecodeError) as info:
        decode_event(raw, Family.sensor)
    assert info.value.category == "wrong_family"
    assert "a JSON array" in info.value.reason


def test_a_message_of_the_largest_size_decodes_and_one_byte_more_is_refused_before_parsing() -> None:
    """Size costs linear time: a 64 KiB event decodes in well under a millisecond, and a 50 MB
    message is refused on its length alone."""
    pad = "p" * (DEFAULT_MAX_BYTES - len(dumps({**SENSOR, "attributes": {"pad": ""}})))
    raw = dumps({**SENSOR, "attributes": {"pad": pad}})
    assert len(raw) == DEFAULT_MAX_BYTES
    started = time.perf_counter()
    assert decode_event(raw, Family.sensor, now=NOW).attributes["pad"] == pad
    huge = raw + b" " * 50_000_000
    assert refused_category(raw + b" ") == "too_large"
    assert refused_category(huge) == "too_large"
    assert time.perf_counter() - started < 1.0


def test_the_worst_refusal_at_the_size_limit_stays_linear() -> None:
    """Thousands of unknown fields, each an error: pydantic lists them all, the reason keeps five."""
    fields = {f"k{i}": 0 for i in range(6000)}
    raw = dumps({**SENSOR, **fields})
    assert len(raw) < DEFAULT_MAX_BYTES
    started = time.perf_counter()
    with pytest.raises(EventDecodeError) as info:
        decode_event(raw, Family.sensor, now=NOW)
    assert time.perf_counter() - started < 1.0  # ~15 ms
    assert info.value.category == "invalid"
    assert "and 5995 more" in info.value.reason


def test_integers_beyond_64_bits_are_refused_where_pydantic_would_take_them() -> None:
    camera = {**SENSOR, "kind": "crowd_density", "people": SENTINEL}
    with pytest.raises(EventDecodeError) as info:
        decode_event(with_raw(camera, b"9" * 25), Family.camera, now=NOW)
    assert info.value.category == "invalid" and "people" in info.value.reason
    attrs = {**SENSOR, "attributes": {"n": SENTINEL}}
    assert refused_category(with_raw(attrs, b"-" + b"9" * 19)) == "invalid"
    lowest = decode_event(with_raw(attrs, str(INT64_MIN).encode()), Family.sensor, now=NOW)
    assert lowest.attributes["n"] == INT64_MIN


@pytest.mark.parametrize(
    ("at", "category"),
    [
        ("1999-12-31T23:59:59Z", "bad_time"),
        ("2000-01-01T00:00:00Z", None),
        ("1970-01-01T00:00:00Z", "bad_time"),
        ("0001-01-01T00:00:00+14:00", "bad_time"),
        ("2026-11-30T12:00:00Z", None),
        ("2026-11-30T12:00:01Z", "bad_time"),
        ("9999-12-31T23:59:59-23:59", "bad_time"),
    ],
)
def test_event_times_before_2000_or_over_a_day_ahead_are_bad_time(at: str, category: str | None) -> None:
    raw = dumps({**SENSOR, "time": at})
    if category is None:
        assert decode_event(raw, Family.sensor, now=NOW).time == datetime.fromisoformat(at)
    else:
        assert refused_category(raw) == category


def test_without_a_clock_only_the_earliest_time_is_checked() -> None:
    """Backtests and tools that pass no clock accept recorded events from any time after 2000."""
    raw = dumps({**SENSOR, "time": "2090-01-01T00:00:00Z"})
    assert decode_event(raw, Family.sensor).time.year == 2090


@pytest.mark.parametrize("family", ["weather", "", "SENSOR", "sensor "])
def test_an_unknown_family_is_refused_with_or_without_a_topic(family: str) -> None:
    raw = dumps({**SENSOR, "family": family})
    assert refused_category(raw) == "wrong_family"
    with pytest.raises(EventDecodeError) as info:
        decode_event(raw, None, now=NOW)
    assert info.value.category == "invalid" and "family" in info.value.reason
