"""The file connector: JSON Lines and CSV exports replayed into a real Kafka broker."""

from __future__ import annotations

import time
from pathlib import Path

import orjson

from tests.integration.connector_kit import Connector, create_topics, running_connector, write_config
from tests.integration.harness import consume, unique_prefix

HEADER = ("工单编号,受理时间,受理渠道,诉求类别,诉求内容,事发地址,区县,街道,社区,网格,涉事单位,涉及人数,"
          "来电人\n")


def reading(n: int) -> bytes:
    return orjson.dumps({
        "dataId": f"it-file-{n}", "enterpriseName": "乌海市某焦化有限公司",
        "enterpriseCode": "91150300MA0N000001",
        "hazardCode": "150303-0012", "hazardLevel": 2, "equipCode": f"T-{n % 20}", "quotaName": "储罐压力",
        "quotaType": "pressure", "value": 0.4, "unit": "MPa", "collectTime": "2026-11-28 09:00:00",
        "district": "海南区", "grid": "HN-04-01",
    })


def ticket(n: int, at: str) -> str:
    return f"T-{n},{at},12345,噪音扰民,楼上装修噪音,海勃湾区滨河街道,海勃湾区,滨河街道,,HB-05-05,,,\n"


def ids(records: list) -> list[str]:  # type: ignore[type-arg]
    return [orjson.loads(r.value)["event_id"] for r in records]


def run_to_end(connector: Connector, timeout: float = 60) -> int:
    """A connector that is not watching exits once its files are delivered."""
    connector.start(wait_kafka=False)
    assert connector.proc is not None
    return connector.proc.wait(timeout=timeout)


def test_a_jsonl_export_is_replayed_with_bad_lines_dead_lettered_and_a_rerun_sends_nothing_twice(
        bootstrap: str, tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    lines = [reading(i) for i in range(100)]
    lines.insert(50, b'{"dataId": "broken", "quotaType": "pressure"')
    (exports / "safety-1.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    path = write_config(tmp_path, "file-safety-jsonl.yaml", path=str(exports))
    prefix = unique_prefix("file-rerun")
    create_topics(bootstrap, prefix)
    first = Connector("file", path, bootstrap, prefix, tmp_path / "first.log")
    assert run_to_end(first) == 0
    second = Connector("file", path, bootstrap, prefix, tmp_path / "second.log")
    assert run_to_end(second) == 0
    got = consume(bootstrap, [f"{prefix}events.safety"], lambda r: len(r) >= 100, settle=2)
    assert sorted(ids(got)) == sorted(f"it-file-{i}" for i in range(100))
    assert {r.key for r in got} == {f"150303-0012/T-{i}".encode() for i in range(20)}
    [dead] = consume(bootstrap, [f"{prefix}riskstream.dlq"], lambda r: len(r) >= 1, settle=1)
    assert dead.value == lines[50]
    assert dict(dead.headers)["riskstream.dlq.origin"] == b"file:safety-1.jsonl:51"


def test_a_connector_killed_mid_file_resumes_and_loses_no_record(bootstrap: str, tmp_path: Path) -> None:
    total = 20_000
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "safety-big.jsonl").write_bytes(b"\n".join(reading(i) for i in range(total)) + b"\n")
    path = write_config(tmp_path, "file-safety-jsonl.yaml", path=str(exports), batch=200)
    prefix = unique_prefix("file-kill")
    create_topics(bootstrap, prefix)
    connector = Connector("file", path, bootstrap, prefix, tmp_path / "kill.log")
    connector.start()
    connector.wait_until(lambda: connector.metric("riskstream_connector_produced_total") >= 2000, "producing")
    connector.stop(sig_kill=True)
    assert run_to_end(connector) == 0
    got = consume(bootstrap, [f"{prefix}events.safety"], lambda r: len(set(ids(r))) >= total, timeout=120)
    assert set(ids(got)) == {f"it-file-{i}" for i in range(total)}
    assert len(got) - total <= 200  # at most the batch in flight at the kill is sent again


def test_event_time_replay_sends_a_csv_export_in_time_order(bootstrap: str, tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    rows = [ticket(1, "2026-11-28 10:00:00"), ticket(2, "2026-11-28 08:00:00"),
            ticket(3, "2026-11-28 09:00:00")]
    (exports / "hotline-1.csv").write_text(HEADER + "".join(rows), encoding="utf-8")
    path = write_config(tmp_path, "file-hotline-csv.yaml", path=str(exports))
    prefix = unique_prefix("file-order")
    create_topics(bootstrap, prefix)
    assert run_to_end(Connector("file", path, bootstrap, prefix, tmp_path / "order.log")) == 0
    got = consume(bootstrap, [f"{prefix}events.hotline"], lambda r: len(r) >= 3)
    assert ids(got) == ["T-2", "T-3", "T-1"]  # one key, so one partition: Kafka keeps the sending order


def test_a_watched_directory_picks_up_new_files_and_appended_rows(bootstrap: str, tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    path = write_config(tmp_path, "file-hotline-csv.yaml", path=str(exports), watch=True, replay="fast")
    with running_connector("file", path, bootstrap, tmp_path) as c:
        time.sleep(1)  # the watcher starts after the connector reports Kafka is up
        export = exports / "hotline-2.csv"
        export.write_text(HEADER + ticket(10, "2026-11-28 08:00:00"), encoding="utf-8")
        consume(bootstrap, [f"{c.prefix}events.hotline"], lambda r: len(r) >= 1)
        with export.open("a", encoding="utf-8") as f:
            f.write(ticket(11, "2026-11-28 08:05:00"))
        got = consume(bootstrap, [f"{c.prefix}events.hotline"], lambda r: len(r) >= 2, settle=1)
    assert ids(got) == ["T-10", "T-11"]
