"""`riskstream tail`: which agency a duty officer means, and the order older alerts are replayed in.

An agency is named by its id or by its topic's short name (`cyber` for `alerts.cyber`). With
`--from-beginning` the notices already on the topics are read up to their end offsets at start,
shown in the order they were raised across partitions, and then new ones follow as they come.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from aiokafka import TopicPartition
from typer.testing import CliRunner

from rules.alerts import CloudEvent, to_cloudevent
from rules.routing import Router, load_routing
from streams.cli import app
from streams.settings import get_settings
from streams.tail import agency_list, find_agency, follow
from tests.unit.test_tail_render import NOW, alert

if TYPE_CHECKING:
    from pathlib import Path

    from tests.unit.conftest import WriteYaml

ROUTING = """\
version: 1
default_agency: police
agencies:
  police:       {topic: alerts.police,     name: police 110}
  cyber_center: {topic: alerts.cyber,      name: cyber-security centre}
  grid_desk:    {topic: alerts.level.grid, name: grid desk}
"""


@pytest.fixture
def routing_path(write_yaml: WriteYaml) -> Path:
    return write_yaml("routing.yaml", ROUTING)


@pytest.fixture
def router(routing_path: Path) -> Router:
    return load_routing(routing_path)


# --- naming an agency -----------------------------------------------------------------------------


def test_an_agency_is_found_by_its_id(router: Router) -> None:
    assert find_agency(router, "cyber_center") == "cyber_center"


def test_an_agency_is_found_by_its_topics_short_name(router: Router) -> None:
    assert (find_agency(router, "cyber"), find_agency(router, "grid")) == ("cyber_center", "grid_desk")


def test_an_agency_is_found_by_its_whole_topic(router: Router) -> None:
    assert find_agency(router, "alerts.level.grid") == "grid_desk"


def test_an_unknown_name_is_refused(router: Router) -> None:
    with pytest.raises(ValueError, match="unknown agency cyberr"):
        find_agency(router, "cyberr")


def test_a_short_name_that_several_topics_share_is_refused_asking_for_the_id(write_yaml: WriteYaml) -> None:
    text = ROUTING + "  fire_a: {topic: alerts.a.fire, name: A}\n  fire_b: {topic: alerts.b.fire, name: B}\n"
    router = load_routing(write_yaml("routing.yaml", text))
    with pytest.raises(ValueError, match=r"fire is the topic name of several agencies \(fire_a, fire_b\)"):
        find_agency(router, "fire")


def test_the_list_of_agencies_gives_the_id_and_the_topic_name_of_each(router: Router) -> None:
    assert agency_list(router) == "police, cyber_center (cyber), grid_desk (grid)"


@pytest.fixture
def settings_from_env(monkeypatch: pytest.MonkeyPatch, routing_path: Path) -> Iterator[None]:
    monkeypatch.setenv("RISKSTREAM_ROUTING_PATH", str(routing_path))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.usefixtures("settings_from_env")
def test_the_command_refuses_an_unknown_agency_and_lists_both_names_of_each() -> None:
    result = CliRunner().invoke(app, ["tail", "--agency", "polise"], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "unknown agency polise; agencies by id (topic name): police, cyber_center (cyber)" in result.output


# --- replaying older alerts -----------------------------------------------------------------------


@dataclass
class Record:
    topic: str
    offset: int
    value: bytes


class FakeConsumer:
    """Partitions as lists of records; ``live`` notices are appended, one per fetch, once a fetch
    finds nothing left to read. A fetch with nothing at all to give fails the spec (it would wait)."""

    def __init__(
        self, logs: dict[TopicPartition, list[CloudEvent]], live: list[tuple[TopicPartition, CloudEvent]]
    ):
        self.logs = {tp: [self._record(tp, i, ce) for i, ce in enumerate(ces)] for tp, ces in logs.items()}
        self.live = list(live)
        self.pos: dict[TopicPartition, int] = {}

    @staticmethod
    def _record(tp: TopicPartition, offset: int, ce: CloudEvent) -> Record:
        return Record(tp.topic, offset, ce.model_dump_json().encode())

    async def seek_to_beginning(self, *parts: TopicPartition) -> None:
        self.pos.update({tp: 0 for tp in parts})

    async def seek_to_end(self, *parts: TopicPartition) -> None:
        self.pos.update({tp: len(self.logs[tp]) for tp in parts})

    async def end_offsets(self, parts: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: len(self.logs[tp]) for tp in parts}

    async def position(self, tp: TopicPartition) -> int:
        return self.pos[tp]

    async def getmany(self, *parts: TopicPartition, timeout_ms: int = 0) -> dict[TopicPartition, list[Any]]:
        parts = parts or tuple(self.pos)
        if all(self.pos[tp] >= len(self.logs[tp]) for tp in parts):
            assert self.live, "the spec's consumer has nothing more to give"
            tp, ce = self.live.pop(0)
            self.logs[tp].append(self._record(tp, len(self.logs[tp]), ce))
        batch = {}
        for tp in parts:
            records = self.logs[tp][self.pos[tp] : self.pos[tp] + 2]  # a fetch brings a little at a time
            if records:
                batch[tp] = records
                self.pos[tp] += len(records)
        return batch


P0, P1 = TopicPartition("alerts.police", 0), TopicPartition("alerts.police", 1)


def notice(name: str, minutes: float) -> CloudEvent:
    return to_cloudevent(alert(alert_id=name, raised_at=NOW + timedelta(minutes=minutes)))


def shown_by(consumer: FakeConsumer, from_beginning: bool, limit: int) -> list[str]:
    shown: list[str] = []

    def show(ce: CloudEvent) -> bool:
        shown.append(ce.data.alert_id)
        return len(shown) >= limit

    asyncio.run(follow(consumer, [P0, P1], from_beginning, show))
    return shown


def test_from_the_beginning_notices_are_shown_in_the_order_raised_across_partitions() -> None:
    logs = {P0: [notice("a", 1), notice("c", 3), notice("e", 5)], P1: [notice("b", 2), notice("d", 4)]}
    assert shown_by(FakeConsumer(logs, []), from_beginning=True, limit=5) == ["a", "b", "c", "d", "e"]


def test_after_the_older_notices_new_ones_follow_as_they_come() -> None:
    logs = {P0: [notice("b", 2)], P1: [notice("a", 1)]}
    live = [(P1, notice("late", 0)), (P0, notice("next", 9))]
    assert shown_by(FakeConsumer(logs, live), from_beginning=True, limit=4) == ["a", "b", "late", "next"]


def test_notices_raised_at_the_same_moment_keep_their_partition_order() -> None:
    logs = {P0: [notice("resolved", 1), notice("reopened", 1)], P1: []}
    assert shown_by(FakeConsumer(logs, []), from_beginning=True, limit=2) == ["resolved", "reopened"]


def test_without_from_beginning_only_new_notices_are_shown() -> None:
    logs = {P0: [notice("old", 1)], P1: [notice("older", 0)]}
    assert shown_by(FakeConsumer(logs, [(P1, notice("new", 5))]), from_beginning=False, limit=1) == ["new"]
