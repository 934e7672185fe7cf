"""Scripted incidents: load and check them, put them on the wire per run, and record their ground truth."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError

from connectors.city import CITY, Event, utc_now
from rules.errors import Location, RuleError, RuleSetError
from rules.events import EVENT_ADAPTER
from rules.model import Risk
from rules.schema import ExpectedAlert, ScenarioFile, ScenarioSpec
from rules.yaml_source import load_yaml, locate, to_plain

SCENARIOS_FILE = Path(__file__).resolve().with_name("scenarios.yaml")
UNIQUE_FIELDS: tuple[str, ...] = (
    "source_id", "site_id", "ticket_id", "caller_hash", "employer", "asset", "src_ip", "dst_ip",
    "location.grid",
)
"""What rules group alerts by, suffixed with ``~run_id`` in scenario events so that re-injecting a
scenario opens new alerts instead of merging into the previous injection's, still cooling down.
A suffix keeps substring conditions (``asset.matches('政务')``) true; exact-value tests would not."""
DEFAULT_SOURCE_ID = "test-source"  # the rule test runner's default, so expectations carry over


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
    for i, scenario in enumerate(spec.scenarios):
        where = locate(node, ["scenarios", i, "name"], path)
        if scenario.name in seen:
            errors.append(RuleError(f"duplicate scenario name '{scenario.name}' (first is "
                                    f"scenario {seen[scenario.name] + 1})", where))
        seen.setdefault(scenario.name, i)
        for j, ev in enumerate(scenario.events):
            try:
                _event_dict(scenario, j, ev.model_extra or {}, "check", utc_now())
            except ValueError as exc:
                where = locate(node, ["scenarios", i, "events", j], path)
                errors.append(RuleError(str(exc), where))
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


def _suffix(value: Any, run_id: str) -> str:
    return f"{value}~{run_id}"


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")[:48] or "scenario"


def _event_dict(
    scenario: ScenarioSpec, index: int, fields: dict[str, Any], run_id: str, start: datetime
) -> Event:
    ev = scenario.events[index]
    data = dict(fields)
    data["family"] = ev.on.value
    data["event_id"] = f"scn-{run_id}-{_slug(scenario.name)}-{index + 1}"
    data.setdefault("source_id", DEFAULT_SOURCE_ID)
    data["time"] = start + timedelta(seconds=ev.at)
    data["location"] = dict(data.get("location") or {})
    data["location"].setdefault("city", CITY)
    for path in UNIQUE_FIELDS:
        *parents, key = path.split(".")
        holder = data
        for p in parents:
            holder = holder.get(p) or {}
        if holder.get(key) is not None:
            holder[key] = _suffix(holder[key], run_id)
    try:
        event = EVENT_ADAPTER.validate_python(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(map(str, first["loc"][1:] or first["loc"]))
        raise ValueError(f"scenario '{scenario.name}': event {index + 1} (at {ev.at:g}s) is not a "
                         f"valid {ev.on.value} event: {where}: {first['msg']}") from None
    out: Event = event.model_dump(mode="json", exclude_none=True)
    return out


def materialise(scenario: ScenarioSpec, run_id: str, start: datetime) -> list[tuple[float, Event]]:
    """The scenario's events, in time order, as they go on the wire for one injection.

    Times are ``start + at``; event ids and the UNIQUE_FIELDS get the run id, so two injections
    never share an alert (see ``expected_alerts`` for the matching expectations).
    """
    out = [(ev.at, _event_dict(scenario, i, ev.model_extra or {}, run_id, start))
           for i, ev in enumerate(scenario.events)]
    return sorted(out, key=lambda p: p[0])


def expected_alerts(scenario: ScenarioSpec, run_id: str) -> list[ExpectedAlert]:
    """The scenario's expectations with group values rewritten exactly as ``materialise`` does."""
    out = []
    for exp in scenario.expect:
        if exp.group is None:
            out.append(exp)
            continue
        group = {k: _suffix(v, run_id) if k in UNIQUE_FIELDS else v for k, v in exp.group.items()}
        out.append(exp.model_copy(update={"group": group}))
    return out


class GroundTruth(BaseModel):
    """One injected scenario: what was sent and which alerts it must raise, one JSON line each."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scenario: str
    risk: Risk
    run_id: str
    injected_at: AwareDatetime
    """Event-time origin: expected ``at`` offsets and event times count from here."""
    event_ids: list[str]
    expected: list[ExpectedAlert]
    complete: bool = True
    """False when the run stopped before all of the scenario's events were sent."""


def ground_truth(
    scenario: ScenarioSpec, run_id: str, start: datetime, sent: Sequence[str], complete: bool = True
) -> GroundTruth:
    return GroundTruth(scenario=scenario.name, risk=scenario.risk, run_id=run_id,
                       injected_at=start, event_ids=list(sent),
                       expected=expected_alerts(scenario, run_id), complete=complete)


class GroundTruthLog:
    """Appends records, so the truth of several runs (distinct run ids) can be scored together."""

    def __init__(self, path: Path):
        self.path = path

    def write(self, truth: GroundTruth) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(truth.model_dump_json() + "\n")


def read_ground_truth(path: Path) -> list[GroundTruth]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [GroundTruth.model_validate_json(line) for line in lines if line.strip()]

