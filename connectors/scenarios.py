"""Scripted incidents: load and check them, cast and put them on the wire per injection, and record
their ground truth.

An injection must open alerts of its own: alerts are deduplicated by rule and group, and the previous
injection's alerts may still be cooling down. So each injection *recasts* the identifiers its
scenario names, the way a real city would have other devices, sites and companies in the same
situation: ``GAS-WD-0113`` is played as ``GAS-WD-0931``, grid ``HBW-01-01`` as ``HBW-01-37``,
``www.wuhai.gov.cn`` as ``rsj.wuhai.gov.cn`` and the ``某`` of a made-up name (``乌海市某建筑劳务有限公司``)
as a company name of its own (``乌海市鑫泰建筑劳务有限公司``). A ``Casting`` draws these so that no
identifier comes back while an earlier injection's alerts may still be open (``RESERVE``), and the
ground truth records the cast. Event ids carry the injection's run id; nothing a duty officer
reads as a place, a device or a company does.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from connectors.city import CITY, Event, local_date, utc_now
from rules.errors import Location, RuleError, RuleSetError
from rules.events import EVENT_ADAPTER
from rules.model import Risk
from rules.schema import ExpectedAlert, ScenarioFile, ScenarioSpec
from rules.yaml_source import load_yaml, locate, to_plain

SCENARIOS_FILE = Path(__file__).resolve().with_name("scenarios.yaml")
DEFAULT_SOURCE_ID = "test-source"  # the rule test runner's default, so expectations carry over

IDENTITY_FIELDS: tuple[str, ...] = ("source_id", "site_id", "location.grid", "asset", "ticket_id")
"""Where a scenario names devices, sites, grids, assets and tickets. Each identifier found there (a
token with a digit, or a web address) is recast per injection, wherever it appears in the events."""
PLATFORM_FAMILIES = frozenset({"hotline", "cyber"})
"""Families whose ``source_id`` is the reporting platform (HOTLINE-12345, a monitoring system), kept."""
MADE_UP = "某"
"""In any text of a scenario, stands for a name the injection makes up (one per injection)."""
RESERVE = timedelta(hours=48)
"""How long an identifier stays out of use after the injection that used it started: the longest
shipped scenario (22 h) plus the longest cooldown of the shipped packs (24 h), with room to spare."""
TRIES = 64
"""Random draws per identifier before taking the one whose reservation ran out first."""

_TOKEN = re.compile(r"[A-Za-z0-9]+(?:[-.][A-Za-z0-9]+)*")
_DIGITS = re.compile(r"\d+")
_DOMAIN = re.compile(r"[a-z][a-z0-9-]*(?:\.[a-z0-9-]+)+\.[a-z]{2,}")
_TICKET_DATE = re.compile(r"(?<!\d)20\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])(?!\d)")
_SITE_LABELS = (
    "rsj", "zjj", "jyj", "wjw", "gaj", "mzj", "sfj", "czj", "zrzyj", "sthjj", "jtysj", "slj",
    "nyncj", "swj", "whlyj", "yjglj", "scjgj", "tjj", "ybj", "xfj", "gxj", "fgw", "kjj", "tyj",
    "zwfw", "sjj", "qxj", "lyj", "gzw", "rfb", "xxgk", "hbwq", "wdq", "hnq",
)
"""First labels of department sites (人社局 rsj, 住建局 zjj, ...), for a recast web address."""
_NAME_CHARS = "鑫泰宏盛华源恒达兴隆丰瑞祥德福昌通永嘉润金信诚远广博利元新宇辰益联茂汇鼎佳荣晟锦顺凯"
"""Characters of made-up 字号 (company and estate names); none forms a keyword a shipped rule reads."""


def load_scenarios(path: Path) -> list[ScenarioSpec]:
    """Read and check a scenarios file; every problem is reported with its file:line."""
    node = load_yaml(path)
    if node is None:
        raise RuleError("file is empty; a scenarios file needs 'version: 1' and 'scenarios'",
                        Location(path))
    try:
        spec = ScenarioFile.model_validate(to_plain(node))
    except ValidationError as exc:
        raise RuleSetError(_shape_errors(exc, node, path)) from None
    errors: list[RuleError] = []
    seen: dict[str, int] = {}
    trial = Casting(seed="check")
    for i, scenario in enumerate(spec.scenarios):
        where = locate(node, ["scenarios", i, "name"], path)
        if scenario.name in seen:
            errors.append(RuleError(f"duplicate scenario name '{scenario.name}' (first is "
                                    f"scenario {seen[scenario.name] + 1})", where))
        seen.setdefault(scenario.name, i)
        check = Injection("check", utc_now())
        for j, ev in enumerate(scenario.events):
            try:
                _event_dict(scenario, j, ev.model_extra or {}, check)
            except ValueError as exc:
                where = locate(node, ["scenarios", i, "events", j], path)
                errors.append(RuleError(str(exc), where))
        cast = trial.cast(scenario, utc_now())
        for k, exp in enumerate(scenario.expect):
            if exp.group is not None and _recast_group(exp.group, cast) == exp.group:
                errors.append(RuleError(
                    f"scenario '{scenario.name}': expected group {exp.group} would be the same in every "
                    "injection, so a re-injection would merge into the previous one's alert: give one of "
                    f"its values an id with a number (GAS-WD-0113), a web address, or {MADE_UP} for a "
                    "made-up name", locate(node, ["scenarios", i, "expect", k, "group"], path)))
    if errors:
        raise RuleSetError(errors)
    return spec.scenarios


def _shape_errors(exc: ValidationError, node: Any, path: Path) -> list[RuleError]:
    out = []
    for err in exc.errors(include_url=False):
        loc = [p for p in err["loc"]
               if not (isinstance(p, str) and p.startswith(("function-", "str", "dict")))]
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = f"unknown key '{loc[-1]}'"
        elif err["type"] == "missing":
            msg = f"missing required key '{loc[-1]}'"
        out.append(RuleError(f"{'.'.join(map(str, loc))}: {msg}", locate(node, loc, path)))
    return out


# ------------------------------------------------------------------------------------ casting


@dataclass(frozen=True)
class Injection:
    """One play of a scenario: the run id its event ids carry, its event-time origin, and its cast
    (each identifier the scenario file names -> the one this injection uses instead)."""

    run_id: str
    start: datetime
    cast: Mapping[str, str] = field(default_factory=dict)


def identifiers(scenario: ScenarioSpec) -> list[str]:
    """What an injection of ``scenario`` recasts, in order of first appearance (``某`` last)."""
    found: dict[str, None] = {}
    made_up = False
    for ev in scenario.events:
        fields = ev.model_extra or {}
        for path in IDENTITY_FIELDS:
            if path == "source_id" and ev.on.value in PLATFORM_FAMILIES:
                continue
            value = _get(fields, path)
            if isinstance(value, str):
                found.update((t, None) for t in _TOKEN.findall(value) if _castable(t))
        made_up = made_up or any(MADE_UP in s for s in _strings(fields))
    return [*found, *([MADE_UP] if made_up else [])]


class Casting:
    """Chooses each injection's identifiers: of the same shape as the scenario's (same prefix, width
    and district code; another department site; another made-up name), at random, and never one
    that an injection started within ``RESERVE`` before used, as long as the shape has one left
    (else the one free the longest). ``reserved`` ids are never used: the city's own devices, so
    that one id always means one place.
    """

    def __init__(self, seed: int | str = 0, reserved: Iterable[str] = (), reserve: timedelta = RESERVE):
        self.rng = random.Random(seed)
        self.reserved = frozenset(reserved)
        self.reserve = reserve
        self._until: dict[str, datetime] = {}

    def remember(self, injections: Iterable[tuple[datetime, Iterable[str]]]) -> None:
        """Keep out of use what earlier injections (their start, the identifiers they used) used,
        e.g. a previous run's, read back from its ground truth."""
        for start, used in injections:
            for value in used:
                self._hold(value, start)

    def cast(self, scenario: ScenarioSpec, start: datetime) -> dict[str, str]:
        """The identifiers of one injection of ``scenario`` starting at ``start``."""
        if len(self._until) > 100_000:
            self._until = {v: t for v, t in self._until.items() if t > start}
        out: dict[str, str] = {}
        tokens = identifiers(scenario)
        taken = set(tokens)  # another device, grid or company: never the one written in the file
        for token in tokens:
            make = self._made_up_name if token == MADE_UP else partial(_variant, token, self.rng)
            out[token] = self._draw(make, start, taken)
        return out

    def injection(self, scenario: ScenarioSpec, run_id: str, start: datetime) -> Injection:
        return Injection(run_id, start, self.cast(scenario, start))

    def _draw(self, make: Callable[[], str], start: datetime, taken: set[str]) -> str:
        oldest: tuple[datetime, str] | None = None
        for _ in range(TRIES):
            value = make()
            if value in taken or value in self.reserved:
                continue
            until = self._until.get(value)
            if until is None or until <= start:
                oldest = None
                break
            if oldest is None or until < oldest[0]:
                oldest = (until, value)
        if oldest is not None:
            value = oldest[1]
        taken.add(value)
        self._hold(value, start)
        return value

    def _hold(self, value: str, start: datetime) -> None:
        until = start + self.reserve
        self._until[value] = max(until, self._until.get(value, until))

    def _made_up_name(self) -> str:
        return "".join(self.rng.sample(_NAME_CHARS, self.rng.choice((2, 2, 3))))


def _castable(token: str) -> bool:
    return any(c.isdigit() for c in token) or _DOMAIN.fullmatch(token) is not None


def _variant(token: str, rng: random.Random) -> str:
    """Another identifier of the same shape: its last number redrawn (same width), or, for a web
    address without one, another department's site on the same domain."""
    runs = list(_DIGITS.finditer(token))
    if not runs:
        return f"{rng.choice(_SITE_LABELS)}.{token.split('.', 1)[1]}"
    last = runs[-1]
    width = len(last.group())
    return f"{token[:last.start()]}{rng.randint(1, 10**width - 1):0{width}d}{token[last.end():]}"


def recast(text: str, cast: Mapping[str, str]) -> str:
    """``text`` with the cast's identifiers (whole tokens only) and made-up name put in."""
    if not cast:
        return text
    out = _TOKEN.sub(lambda m: cast.get(m.group(0), m.group(0)), text)
    if MADE_UP in cast:
        out = out.replace(MADE_UP, cast[MADE_UP])
    return out


def _recast_value(value: Any, cast: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return recast(value, cast)
    if isinstance(value, dict):
        return {k: _recast_value(v, cast) for k, v in value.items()}
    if isinstance(value, list):
        return [_recast_value(v, cast) for v in value]
    return value


def _recast_group(group: dict[str, Any], cast: Mapping[str, str]) -> dict[str, Any]:
    return {k: _recast_value(v, cast) for k, v in group.items()}


def _get(fields: Mapping[str, Any], path: str) -> Any:
    value: Any = fields
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


# ------------------------------------------------------------------------------- on the wire


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")[:48] or "scenario"


def _event_dict(
    scenario: ScenarioSpec, index: int, fields: dict[str, Any], injection: Injection
) -> Event:
    ev = scenario.events[index]
    data = _recast_value(dict(fields), injection.cast)
    data["family"] = ev.on.value
    data["event_id"] = f"scn-{injection.run_id}-{_slug(scenario.name)}-{index + 1}"
    data.setdefault("source_id", DEFAULT_SOURCE_ID)
    data["time"] = when = injection.start + timedelta(seconds=ev.at)
    data["location"] = dict(data.get("location") or {})
    data["location"].setdefault("city", CITY)
    if isinstance(data.get("ticket_id"), str):  # a ticket is numbered on the day it is opened
        data["ticket_id"] = _TICKET_DATE.sub(local_date(when), data["ticket_id"])
    try:
        event = EVENT_ADAPTER.validate_python(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(map(str, first["loc"][1:] or first["loc"]))
        raise ValueError(f"scenario '{scenario.name}': event {index + 1} (at {ev.at:g}s) is not a "
                         f"valid {ev.on.value} event: {where}: {first['msg']}") from None
    out: Event = event.model_dump(mode="json", exclude_none=True)
    return out


def materialise(scenario: ScenarioSpec, injection: Injection) -> list[tuple[float, Event]]:
    """The scenario's events, in time order, as they go on the wire for one injection.

    Times are ``injection.start + at``; event ids carry the injection's run id; identifiers are
    the injection's cast (see ``expected_alerts`` for the matching expectations).
    """
    out = [(ev.at, _event_dict(scenario, i, ev.model_extra or {}, injection))
           for i, ev in enumerate(scenario.events)]
    return sorted(out, key=lambda p: p[0])


def expected_alerts(scenario: ScenarioSpec, cast: Mapping[str, str]) -> list[ExpectedAlert]:
    """The scenario's expectations with group values recast exactly as ``materialise`` does."""
    return [exp if exp.group is None else exp.model_copy(update={"group": _recast_group(exp.group, cast)})
            for exp in scenario.expect]


# ------------------------------------------------------------------------------ ground truth


class GroundTruth(BaseModel):
    """One injected scenario: what was sent and which alerts it must raise, one JSON line each."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scenario: str
    risk: Risk
    run_id: str
    """The injection's id: its event ids are ``scn-RUN_ID-SCENARIO-N``."""
    injected_at: AwareDatetime
    """Event-time origin: expected ``at`` offsets and event times count from here."""
    event_ids: list[str]
    expected: list[ExpectedAlert]
    complete: bool = True
    """False when the run stopped before all of the scenario's events were sent."""
    cast: dict[str, str] = Field(default_factory=dict)
    """Each identifier in the scenarios file -> the one this injection used instead."""


def ground_truth(
    scenario: ScenarioSpec, injection: Injection, sent: Sequence[str], complete: bool = True
) -> GroundTruth:
    return GroundTruth(scenario=scenario.name, risk=scenario.risk, run_id=injection.run_id,
                       injected_at=injection.start, event_ids=list(sent),
                       expected=expected_alerts(scenario, injection.cast), complete=complete,
                       cast=dict(injection.cast))


class GroundTruthLog:
    """Appends records, so the truth of several runs (distinct run ids) can be scored together.

    The file exists (empty if new) as soon as the log does, so ``tail -f`` can follow a run from
    its start.
    """

    def __init__(self, path: Path):
        self.path = path
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch()

    def write(self, truth: GroundTruth) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(truth.model_dump_json() + "\n")


def read_ground_truth(path: Path) -> list[GroundTruth]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [GroundTruth.model_validate_json(line) for line in lines if line.strip()]


def recent_casts(path: Path, since: datetime) -> Iterator[tuple[datetime, Iterable[str]]]:
    """(start, identifiers used) of the injections in a ground-truth file that started since
    ``since``; lines that do not read back (cut short by a crash, hand edits) are passed over.
    Reads only those two fields of each line, so a long demo's file is read back quickly."""
    if not path.is_file():
        return
    with path.open("rb") as f:
        for line in f:
            try:
                record = orjson.loads(line)
                start = datetime.fromisoformat(record["injected_at"])
                used = [str(v) for v in record.get("cast", {}).values()]
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
                continue
            if start.tzinfo is not None and start >= since:
                yield start, used
