"""A stage decides batch after batch without waiting for the broker, and commits them in order:
a batch's state is written, and its input acked, only once the broker has the batch's output."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from faust.types import TP

import streams.stage as stage_module
from streams.sending import Outgoing
from streams.settings import Settings
from streams.stage import Stage
from tests.unit.broker_fakes import FakeProducer


class _Store:
    def __init__(self, log: list[str]):
        self.log, self.partition, self.changed = log, None, ""

    def snapshot(self) -> str:
        taken, self.changed = self.changed, ""
        return taken

    async def write(self, snapshot: str, changelogged: Any = None) -> int:
        self.log.append(f"write {snapshot}")
        return 1


class _Echo(Stage):
    name = "echo"

    def __init__(self, log: list[str]):
        self.log = log
        super().__init__(Settings(), FakeProducer(), _Store(log))  # type: ignore[arg-type]

    async def decide(self, tp: Any, records: Any, out: Outgoing) -> None:
        self.log.append(f"decide {records[0]}")
        self.store.changed += records[0]  # type: ignore[attr-defined]
        await out.send("out", None, records[0].encode())

    async def tick(self, out: Outgoing) -> bool:
        return False

    def rebuild(self) -> None:
        return None


def _batch(name: str, log: list[str]) -> Any:
    message = SimpleNamespace(tp=TP("in", 0), value=[name])
    return SimpleNamespace(message=message, ack=lambda: log.append(f"ack {name}"))


def test_a_batch_is_written_and_acked_only_after_the_broker_has_its_output() -> None:
    log: list[str] = []

    async def run() -> None:
        stage = _Echo(log)
        await stage.on_batch(_batch("a", log))
        await asyncio.sleep(0.01)
        assert log == ["decide a"]
        stage.producer.sent[0].set_result(None)
        await stage.settle()

    asyncio.run(run())
    assert log == ["decide a", "write a", "ack a"]


def test_the_next_batch_is_decided_while_the_previous_output_is_in_flight() -> None:
    log: list[str] = []

    async def run() -> None:
        stage = _Echo(log)
        await stage.on_batch(_batch("a", log))
        await stage.on_batch(_batch("b", log))
        assert log == ["decide a", "decide b"]
        for sent in stage.producer.sent:
            sent.set_result(None)
        await stage.settle()

    asyncio.run(run())
    assert log == ["decide a", "decide b", "write ab", "ack a", "ack b"]  # one group commit


def test_output_the_broker_refuses_stops_the_worker_before_any_state_or_ack(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log: list[str] = []
    monkeypatch.setattr(stage_module, "stop_for_replay", lambda name, why: log.append(f"stop {name}"))

    async def run() -> None:
        stage = _Echo(log)
        await stage.on_batch(_batch("a", log))
        stage.producer.sent[0].set_exception(RuntimeError("broker refused"))
        await stage.settle()

    asyncio.run(run())
    assert log == ["decide a", "stop echo"]
