"""Fixtures for the pure core: a routing file, small rule packs and events, all built in tmp_path.

Nothing here reads the shipped packs, so a change to a shipped rule never breaks these tests.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from rules.compiler import RuleSet, load_ruleset
from rules.events import EVENT_ADAPTER, EventBase
from rules.routing import Router, load_routing

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone(timedelta(hours=8)))
"""The start of every test's virtual clock."""

ROUTING_YAML = """\
version: 1
default_agency: governance
agencies:
  police:       {topic: alerts.police,     name: police 110}
  fire:         {topic: alerts.fire,       name: fire and rescue 119}
  emergency:    {topic: alerts.emergency,  name: emergency management bureau}
  cyber_center: {topic: alerts.cyber,      name: cyber-security emergency centre}
  hotline:      {topic: alerts.hotline,    name: 12345 citizen hotline}
  governance:   {topic: alerts.governance, name: city governance centre}
routes:
  - name: police-matters
    match: {risk: [public_order, political_security]}
    agencies: [police]
  - name: citizen-requests-to-12345
    match: {family: [hotline], risk: [social_conflict, public_safety]}
    agencies: [hotline]
  - name: cyber-incidents
    match: {risk: [cyber_security]}
    agencies: [cyber_center]
escalation:
  orange: [governance]
  red: [governance]
"""

WriteYaml = Callable[[str, str], Path]
LoadRules = Callable[..., RuleSet]
MakeEvent = Callable[..., EventBase]


@pytest.fixture
def write_yaml(tmp_path: Path) -> WriteYaml:
    """Write dedented YAML text to tmp_path/name and return its path."""

    def write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


@pytest.fixture(scope="session")
def routing_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The routing file of these tests; written once, since no test may change it."""
    path = tmp_path_factory.mktemp("routing") / "routing.yaml"
    path.write_text(ROUTING_YAML, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def router(routing_file: Path) -> Router:
    """Routers are immutable, so one serves every test."""
    return load_routing(routing_file)


def pack_text(rules: str, tests: str = "", pack: str = "test") -> str:
    """A pack file around rule (and optional test case) YAML written at column 0."""
    out = f"version: 1\npack: {pack}\nrules:\n{textwrap.indent(textwrap.dedent(rules), '  ')}"
    if tests:
        out += f"tests:\n{textwrap.indent(textwrap.dedent(tests), '  ')}"
    return out


@pytest.fixture
def load_rules(write_yaml: WriteYaml, router: Router) -> LoadRules:
    """Compile one pack written from rule YAML; raises RuleSetError like the worker would."""

    def load(rules: str, tests: str = "", name: str = "packs/test.yaml") -> RuleSet:
        path = write_yaml(name, pack_text(rules, tests))
        return load_ruleset([path], router)

    return load


@pytest.fixture
def make_event() -> MakeEvent:
    """A valid event of any family; keyword arguments override or add fields."""
    counter = iter(range(1, 1_000_000))

    def make(
        family: str = "sensor", kind: str = "combustible_gas", at: float = 0, **fields: Any
    ) -> EventBase:
        data: dict[str, Any] = {
            "event_id": f"ev-{next(counter)}",
            "family": family,
            "kind": kind,
            "time": T0 + timedelta(seconds=at),
            "source_id": "dev-1",
            "location": {"city": "C", "district": "D1", "grid": "G-07"},
        }
        if family == "safety":
            data["site_id"] = "site-1"
        if family == "hotline":
            data["ticket_id"] = "T-1"
        data.update(fields)
        return EVENT_ADAPTER.validate_python(data)

    return make
