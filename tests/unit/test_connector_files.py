"""The file source's replay: order, pacing, checkpoints and resumption, with Kafka replaced.

Against a real broker, with a SIGKILL mid-file: tests/integration/test_connector_files.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest

from connectors.config import load_connector
from connectors.edge import Edge
from connectors.sources.files import Checkpoint, FileSource, _Replay
from connectors.translate import Mapped, Outcome

CONFIGS = Path(__file__).resolve().parents[2] / "connectors" / "configs"


def reading(n: int, minute: int) -> bytes:
    return orjson.dumps({
        "dataId": f"r{n}", "enterpriseName": "乌海市某焦化有限公司", "hazardCode": "150303-0012",
        "equipCode": "T-1", "quotaType": "pressure", "value": 0.4, "unit": "MPa",
        "collectTime": f"2026-11-28 09:{minute:02d}:00",
    })


class Kafka:
    """Records what it is given and when; can stop the connector after a number of batches."""

    ready = True

    def __init__(self, edge_stops_after: int | None = None) -> None:
        self.batches: list[list[str]] = []
        self.times: list[float] = []
        self.stops_after = edge_stops_after
        self.edge: Edge | None = None

    async def deliver(self, outcomes: Sequence[Outcome]) -> None:
        if not outcomes:
            return
        self.batches.append([o.event.event_id for o in outcomes if isinstance(o, Mapped)])
        self.times.append(asyncio.get_running_loop().time())
        if self.stops_after is not None and len(self.batches) >= self.stops_after and self.edge:
            self.edge.stopping.set()

    @property
    def ids(self) -> list[str]:
        return [i for batch in self.batches for i in batch]


def connector(tmp_path: Path, kafka: Kafka, **source: Any) -> tuple[Edge, FileSource]:
    config = load_connector(CONFIGS / "file-safety-jsonl.yaml")
    spec = config.source.model_copy(update={"path": tmp_path / "in", "checkpoint": tmp_path / "cp.json",
                                            **source})
    assert isinstance(spec, FileSource)
    edge = Edge(config, kafka)  # type: ignore[arg-type]
    edge.connected.set()
    kafka.edge = edge
    return edge, spec


@pytest.fixture
def exports(tmp_path: Path) -> Path:
    (tmp_path / "in").mkdir()
    return tmp_path / "in"


async def test_fast_replay_sends_in_file_order_and_a_rerun_sends_nothing(tmp_path: Path,
                                                                         exports: Path) -> None:
    (exports / "safety-1.jsonl").write_bytes(b"\n".join(reading(n, 60 - n) for n in range(1, 6)) + b"\n")
    kafka = Kafka()
    edge, spec = connector(tmp_path, kafka, batch=2)
    await spec.run(edge)
    assert kafka.batches == [["r1", "r2"], ["r3", "r4"], ["r5"]]
    await spec.run(edge)
    assert kafka.ids == ["r1", "r2", "r3", "r4", "r5"]


async def test_event_time_replay_sends_each_file_sorted_by_event_time(tmp_path: Path, exports: Path) -> None:
    (exports / "safety-1.jsonl").write_bytes(b"\n".join([reading(1, 30), reading(2, 10), reading(3, 20)]))
    kafka = Kafka()
    edge, spec = connector(tmp_path, kafka, replay="event_time")
    await spec.run(edge)
    assert kafka.ids == ["r2", "r3", "r1"]


async def test_event_time_replay_paces_records_by_their_time_gaps_at_speed(tmp_path: Path,
                                                                           exports: Path) -> None:
    (exports / "safety-1.jsonl").write_bytes(b"\n".join([reading(1, 0), reading(2, 1)]) + b"\n")
    kafka = Kafka()
    edge, spec = connector(tmp_path, kafka, replay="event_time", speed=1200)  # a minute in 50 ms
    await spec.run(edge)
    assert kafka.batches == [["r1"], ["r2"]]
    assert kafka.times[1] - kafka.times[0] >= 0.045


async def test_an_event_time_replay_stopped_part_way_resumes_with_the_records_not_yet_sent(
        tmp_path: Path, exports: Path) -> None:
    (exports / "safety-1.jsonl").write_bytes(b"\n".join(reading(n, 59 - n) for n in range(1, 7)) + b"\n")
    first = Kafka(edge_stops_after=1)
    edge, spec = connector(tmp_path, first, replay="event_time", batch=2)
    await spec.run(edge)
    with (exports / "safety-1.jsonl").open("ab") as f:
        f.write(reading(7, 0) + b"\n")  # arrives while stopped: the interrupted chunk must not change
    second = Kafka()
    edge, spec = connector(tmp_path, second, replay="event_time", batch=2)
    await spec.run(edge)
    assert first.ids == ["r6", "r5"]
    assert second.ids == ["r4", "r3", "r2", "r1", "r7"]


async def test_a_growing_file_is_read_from_where_it_ended_and_waits_for_a_whole_last_line(
        tmp_path: Path, exports: Path) -> None:
    path = exports / "safety-1.jsonl"
    path.write_bytes(reading(1, 0) + b"\n" + reading(2, 1)[:20])
    kafka = Kafka()
    edge, spec = connector(tmp_path, kafka)
    replay = _Replay(spec, edge, Checkpoint(tmp_path / "cp.json"))
    await replay.file(path, final=False)
    assert kafka.ids == ["r1"]
    with path.open("ab") as f:
        f.write(reading(2, 1)[20:] + b"\n" + reading(3, 2) + b"\n")
    await replay.file(path, final=False)
    assert kafka.ids == ["r1", "r2", "r3"]


async def test_a_csv_cell_quoted_across_lines_is_one_record_with_its_line_number(tmp_path: Path) -> None:
    config = load_connector(CONFIGS / "file-hotline-csv.yaml")
    (tmp_path / "in").mkdir()
    source = (CONFIGS.parent / "samples" / "hotline-12345.csv").read_bytes()
    (tmp_path / "in" / "hotline-1.csv").write_bytes(source)
    spec = config.source.model_copy(update={"path": tmp_path / "in", "checkpoint": tmp_path / "cp.json",
                                            "replay": "fast"})
    assert isinstance(spec, FileSource)
    kafka = Kafka()
    edge = Edge(config, kafka)  # type: ignore[arg-type]
    edge.connected.set()
    await spec.run(edge)
    assert kafka.ids == [f"12345-20261128-00010{n}" for n in range(1, 6)]  # the 6th is a dead letter
