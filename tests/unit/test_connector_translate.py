"""The shipped connector files turn the shipped vendor samples into the events rules expect."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from connectors.config import load_connector
from connectors.edge import meta
from connectors.mapping import event_bytes
from connectors.translate import Mapped, Outcome, Refused, Translator, translate_sample
from rules.decoding import decode_event
from rules.events import CameraEvent, EventBase, Family, HotlineEvent, SafetyEvent

ROOT = Path(__file__).parents[2] / "connectors"
CONFIGS = ROOT / "configs"
SAMPLES = ROOT / "samples"


@pytest.fixture(scope="module")
def hikvision() -> Translator:
    return Translator(load_connector(CONFIGS / "http-hikvision.yaml"))


def sample(translator: Translator, name: str) -> list[Outcome]:
    return translate_sample(translator, (SAMPLES / name).read_bytes(), name)


def mapped(outcomes: list[Outcome]) -> list[EventBase]:
    return [o.event for o in outcomes if isinstance(o, Mapped)]


def refused(outcomes: list[Outcome]) -> list[Refused]:
    return [o for o in outcomes if isinstance(o, Refused)]


def camera_event(translator: Translator, name: str) -> CameraEvent:
    outcomes = sample(translator, name)
    (event,) = mapped(outcomes)
    assert not refused(outcomes)
    assert isinstance(event, CameraEvent)
    return event


# --------------------------------------------------------------------------------------- hikvision


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("hikvision-fielddetection.json", "intrusion"),
        ("hikvision-linedetection.json", "line_crossing"),
        ("hikvision-crowd.json", "crowd_density"),
        ("hikvision-fight.json", "fight"),
    ],
)
def test_each_hikvision_sample_becomes_one_camera_event_of_its_kind(
    hikvision: Translator, name: str, kind: str
) -> None:
    assert camera_event(hikvision, name).kind == kind


def test_a_hikvision_alarm_is_keyed_by_mac_and_channel(hikvision: Translator) -> None:
    event = camera_event(hikvision, "hikvision-fielddetection.json")
    assert event.source_id == "44:19:b6:00:00:01/1"
    assert event.channel == 1
    assert event.vendor_code == "fielddetection"
    assert event.state == "pulse"
    assert event.location.city == "乌海市"
    assert event.location.name == "Riverside Park North Gate"
    assert event.time.isoformat() == "2026-03-14T22:41:07+08:00"


def test_a_hikvision_density_alarm_carries_the_head_count(hikvision: Translator) -> None:
    event = camera_event(hikvision, "hikvision-crowd.json")
    assert event.people == 46
    assert event.attributes["density_level"] == 3


def test_an_alarm_without_a_count_leaves_people_and_density_out(hikvision: Translator) -> None:
    event = camera_event(hikvision, "hikvision-linedetection.json")
    assert event.people is None
    assert "density_level" not in event.attributes


def test_a_hikvision_uuid_becomes_the_event_id(hikvision: Translator) -> None:
    assert camera_event(hikvision, "hikvision-fight.json").event_id == "3f1c9a52-6d0e-4b7a-9c21-5e8d04b7a611"


def test_an_alarm_without_uuid_gets_a_digest_stable_across_redeliveries(hikvision: Translator) -> None:
    first = camera_event(hikvision, "hikvision-crowd.json")
    again = camera_event(hikvision, "hikvision-crowd.json")
    assert first.event_id == again.event_id
    assert first.event_id.startswith("hikvision-cameras-")


def test_a_hikvision_batch_becomes_one_event_per_alarm(hikvision: Translator) -> None:
    outcomes = sample(hikvision, "hikvision-batch.json")
    events = mapped(outcomes)
    assert len(events) == 3 and not refused(outcomes)
    assert [e.kind for e in events] == ["intrusion", "camera_tamper", "smoke_fire"]
    assert len({e.event_id for e in events}) == 3


def test_an_unknown_hikvision_event_type_is_dead_lettered_naming_the_code(hikvision: Translator) -> None:
    alarm = orjson.loads((SAMPLES / "hikvision-crowd.json").read_bytes())
    payload = orjson.dumps({**alarm, "eventType": "faceSnapModeling"})
    (outcome,) = hikvision.translate(payload, meta("http:192.0.2.43/hikvision/alarms"))
    assert isinstance(outcome, Refused)
    assert outcome.error.category == "unmapped_value"
    assert "'faceSnapModeling'" in outcome.error.reason
    assert outcome.raw == payload
    assert outcome.origin == "http:192.0.2.43/hikvision/alarms"


def test_a_mapped_event_is_keyed_by_its_source_and_decodes_as_the_worker_would(hikvision: Translator) -> None:
    (outcome,) = sample(hikvision, "hikvision-fight.json")
    assert isinstance(outcome, Mapped)
    assert outcome.key == b"44:19:b6:00:00:04/2"
    assert outcome.value == event_bytes(outcome.event)
    assert decode_event(outcome.value, Family.camera) == outcome.event


# --------------------------------------------------------------------------------------- files


def test_the_hotline_export_gives_five_events_and_one_dead_letter() -> None:
    translator = Translator(load_connector(CONFIGS / "file-hotline-csv.yaml"))
    outcomes = sample(translator, "hotline-12345.csv")
    events = mapped(outcomes)
    assert len(events) == 5
    (dead,) = refused(outcomes)
    assert dead.error.category == "unmapped_value"
    assert "'咨询'" in dead.error.reason
    assert "咨询" in dead.raw.decode()


def test_the_hotline_export_maps_tickets_channels_and_local_times() -> None:
    translator = Translator(load_connector(CONFIGS / "file-hotline-csv.yaml"))
    events = mapped(sample(translator, "hotline-12345.csv"))
    assert all(isinstance(e, HotlineEvent) for e in events)
    first, second, third, fourth = (e for e in events[:4] if isinstance(e, HotlineEvent))
    assert (first.kind, first.ticket_id, first.event_id) == ("gas_smell", "12345-20261128-000101",
                                                             "12345-20261128-000101")
    assert first.time.isoformat() == "2026-11-28T08:12:40+08:00"
    assert (second.kind, second.people_involved, second.employer) == ("wage_arrears", 40,
                                                                      "乌海市某建筑劳务有限公司")
    assert (third.kind, third.channel) == ("fight_report", "110")
    assert fourth.text == "人行道井盖丢失，\n已有行人险些跌落"


def test_the_safety_jsonl_sample_gives_three_events() -> None:
    translator = Translator(load_connector(CONFIGS / "file-safety-jsonl.yaml"))
    outcomes = sample(translator, "safety-monitoring.jsonl")
    events = mapped(outcomes)
    assert len(events) == 3 and not refused(outcomes)
    assert [e.kind for e in events] == ["tank_pressure", "tank_temperature", "toxic_gas"]
    first = events[0]
    assert isinstance(first, SafetyEvent)
    assert (first.site_id, first.source_id, first.hazard_level) == ("150303-0012", "150303-0012/T-101", 2)
    assert (first.location.lon, first.location.lat) == (106.88, 39.44)
    assert first.attributes["indicator"] == "储罐压力"


# --------------------------------------------------------------------------------------- samples


def write_connector(tmp_path: Path, text: str) -> Translator:
    path = tmp_path / "connector.yaml"
    path.write_text(text, encoding="utf-8")
    return Translator(load_connector(path))


SYSLOG_CONNECTOR = """\
name: firewall
family: cyber
source: {type: syslog}
event:
  time: {from: timestamp}
  source_id: "{hostname}"
  kind: auth_failure
  signature: "{message}"
  location: {city: 乌海市}
"""
TEXT_CONNECTOR = """\
name: level-gauge
family: sensor
source: {type: mqtt, topics: ["level/#"]}
format: text
event:
  time: {from: meta.received_at}
  source_id: WL-1
  kind: water_level
  value: {from: text, type: float}
  location: {city: 乌海市}
"""
READINGS = b"# readings\n12.5\n\n13\nlow\n"
"""Line 5 ("low") is not a number."""


def test_a_syslog_sample_is_one_message_per_line(tmp_path: Path) -> None:
    data = (b"<34>1 2026-01-05T09:00:00+08:00 fw01 sshd 77 - - Failed password for root\n"
            b"\n"
            b"<34>1 2026-01-05T09:00:03+08:00 fw02 sshd 78 - - Failed password for admin\n")
    events = mapped(translate_sample(write_connector(tmp_path, SYSLOG_CONNECTOR), data, "fw.log"))
    assert [e.source_id for e in events] == ["fw01", "fw02"]


def test_a_text_sample_is_one_payload_per_line_and_comments_are_skipped(tmp_path: Path) -> None:
    outcomes = translate_sample(write_connector(tmp_path, TEXT_CONNECTOR), READINGS, "wl.txt")
    assert [getattr(e, "value", None) for e in mapped(outcomes)] == [12.5, 13.0]
    (bad,) = refused(outcomes)
    assert (bad.error.category, bad.raw) == ("wrong_type", b"low")


def test_a_line_sample_names_each_line_by_its_line_number_in_the_file(tmp_path: Path) -> None:
    outcomes = translate_sample(write_connector(tmp_path, TEXT_CONNECTOR), READINGS, "wl.txt")
    assert [o.origin for o in refused(outcomes)] == ["wl.txt:5"]
