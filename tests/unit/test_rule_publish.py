"""Rule versions on the rules topic: the record format, its checksum, numbering, the rollback pointer,
compiling a version from its text, and `rules publish` refusing rules that do not lint or test."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest
from typer.testing import CliRunner

from rules.compiler import load_ruleset
from rules.errors import RuleSetError
from rules.routing import load_routing
from rules.rule_bundle import (
    CURRENT_KEY,
    CurrentPointer,
    RecordError,
    RuleFile,
    RuleHistory,
    RuleVersion,
    content_checksum,
)
from streams.cli import app
from streams.rule_publish import read_rule_files
from streams.settings import Settings, get_settings
from tests.unit.conftest import ROUTING_YAML, WriteYaml, pack_text

AT = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)
ZONE = ZoneInfo("Asia/Shanghai")

GAS = """\
- id: gas
  title: Gas
  risk: public_safety
  on: sensor
  kind: combustible_gas
  when: value != null && value >= 20.0
  tier: yellow
  group_by: [source_id]
  route: [fire]
"""
GAS_CASE = """\
- name: a leak is one yellow alert
  events:
    - {at: 0s, on: sensor, kind: combustible_gas, source_id: G1, value: 25}
  expect:
    - {rule: gas, tier: yellow}
"""
ROUTING = RuleFile(name="rules/routing.yaml", text=ROUTING_YAML)


def pack(text: str = GAS, name: str = "rules/packs/gas.yaml") -> RuleFile:
    return RuleFile(name=name, text=pack_text(text))


def version(number: int, packs: list[RuleFile] | None = None, **who: str) -> RuleVersion:
    author, message = who.get("author", "alice"), who.get("message", f"change {number}")
    return RuleVersion.create(number, packs or [pack()], ROUTING, author, message, AT)


def history_of(*records: RuleVersion | CurrentPointer) -> RuleHistory:
    """A history read from these records, in order, as they sit on the topic."""
    history = RuleHistory()
    for r in records:
        history.apply(r.key if isinstance(r, RuleVersion) else CURRENT_KEY, r.encode())
    return history


def published(number: int) -> tuple[RuleVersion, CurrentPointer]:
    v = version(number, [pack(GAS.replace("20.0", f"{20 + number}.0"))])
    return v, CurrentPointer.to(v, "publish", "alice", AT)


# --- the record format ----------------------------------------------------------------------------


def test_a_version_record_is_keyed_by_its_number_and_reads_back_whole() -> None:
    v = version(3, author="王工", message="燃气阈值调整")
    assert v.key == b"3"
    history = history_of(v)
    assert history.versions == {3: v}
    assert history.versions[3].packs[0].text == pack().text


def test_a_version_record_carries_version_author_time_checksum_message_and_files() -> None:
    record = orjson.loads(version(1).encode())
    assert set(record) == {
        "format", "version", "author", "message", "published_at", "checksum", "routing", "packs",
    }
    assert record["routing"] == {"name": "rules/routing.yaml", "text": ROUTING_YAML}
    assert record["packs"] == [{"name": "rules/packs/gas.yaml", "text": pack().text}]


def test_the_pointer_record_names_the_version_its_checksum_and_who_moved_it() -> None:
    v = version(2)
    record = orjson.loads(CurrentPointer.to(v, "rollback", "bob", AT).encode())
    assert record["version"] == 2 and record["checksum"] == v.checksum
    assert record["action"] == "rollback" and record["by"] == "bob"


# --- the checksum ---------------------------------------------------------------------------------


def test_the_checksum_is_a_sha256_of_the_files_not_of_who_published_them_or_when() -> None:
    a = RuleVersion.create(1, [pack()], ROUTING, "alice", "first", AT)
    b = RuleVersion.create(7, [pack()], ROUTING, "bob", "again", AT + timedelta(days=3))
    assert a.checksum == b.checksum
    assert len(a.checksum) == 64 and int(a.checksum, 16) >= 0


def test_any_change_to_a_file_changes_the_checksum() -> None:
    base = content_checksum([pack()], ROUTING)
    assert content_checksum([pack(GAS.replace("20.0", "25.0"))], ROUTING) != base
    assert content_checksum([pack(name="rules/packs/other.yaml")], ROUTING) != base
    assert content_checksum([pack()], RuleFile(name=ROUTING.name, text=ROUTING.text + "\n")) != base
    assert content_checksum([pack(), pack(name="rules/packs/copy.yaml")], ROUTING) != base


def test_moving_text_between_a_files_name_and_its_content_changes_the_checksum() -> None:
    one = content_checksum([RuleFile(name="a.yaml", text="bc")], ROUTING)
    other = content_checksum([RuleFile(name="a.yamlb", text="c")], ROUTING)
    assert one != other


def test_a_record_whose_files_do_not_match_its_checksum_is_refused() -> None:
    v = version(1)
    damaged = v.encode().replace(b"value >= 20.0", b"value >= 90.0")
    history = RuleHistory()
    with pytest.raises(RecordError, match="altered or damaged"):
        history.apply(b"1", damaged)
    assert history.versions == {}


def test_a_record_under_another_versions_key_is_refused() -> None:
    with pytest.raises(RecordError, match="under key 2 holds version 1"):
        RuleHistory().apply(b"2", version(1).encode())


def test_a_record_under_an_unknown_key_is_refused() -> None:
    with pytest.raises(RecordError, match="unknown key 'latest'"):
        RuleHistory().apply(b"latest", version(1).encode())


# --- versions and the pointer ---------------------------------------------------------------------


def test_the_first_version_is_1() -> None:
    assert RuleHistory().next_version() == 1


def test_versions_are_numbered_one_above_every_version_seen() -> None:
    (v1, p1), (v2, p2), (v3, p3) = published(1), published(2), published(3)
    history = history_of(v1, p1, v2, p2, v3, p3)
    assert history.next_version() == 4


def test_a_rollback_does_not_make_version_numbers_go_back() -> None:
    (v1, p1), (v2, p2) = published(1), published(2)
    history = history_of(v1, p1, v2, p2, CurrentPointer.to(v1, "rollback", "bob", AT))
    assert history.next_version() == 3


def test_a_rollback_moves_only_the_pointer_and_every_version_stays() -> None:
    (v1, p1), (v2, p2) = published(1), published(2)
    history = history_of(v1, p1, v2, p2, CurrentPointer.to(v1, "rollback", "bob", AT))
    assert history.wanted == v1
    assert history.current is not None and history.current.action == "rollback"
    assert [v.version for v in history.listing()] == [2, 1]


def test_the_latest_pointer_wins_whatever_compaction_left_of_earlier_ones() -> None:
    (v1, p1), (v2, p2) = published(1), published(2)
    assert history_of(v1, v2, p2).wanted == v2
    assert history_of(v1, p1, v2, p2).wanted == v2


def test_a_tombstone_forgets_a_version() -> None:
    (v1, p1), (v2, p2) = published(1), published(2)
    history = history_of(v1, p1, v2, p2)
    history.apply(b"1", None)
    assert [v.version for v in history.listing()] == [2]


def test_a_pointer_to_a_version_not_held_wants_nothing() -> None:
    v1, p1 = published(1)
    history = history_of(p1)
    assert history.current == p1 and history.wanted is None
    assert history_of(v1, p1).wanted == v1


def test_the_versions_a_worker_falls_back_to_are_the_earlier_ones_newest_first() -> None:
    (v1, _), (v2, _), (v3, _) = published(1), published(2), published(3)
    assert [v.version for v in history_of(v1, v2, v3).older_than(3)] == [2, 1]


# --- compiling a version from its text -----------------------------------------------------------


def test_a_version_compiles_to_the_rules_its_files_compile_to(
    write_yaml: WriteYaml, routing_file: Path
) -> None:
    path = write_yaml("packs/gas.yaml", pack_text(GAS, GAS_CASE))
    from_files = load_ruleset([path], load_routing(routing_file))
    packs, routing = read_rule_files([path], routing_file)
    from_topic = RuleVersion.create(1, packs, routing, "alice", "first", AT).compile(ZONE)
    assert [r.id for r in from_topic.rules] == [r.id for r in from_files.rules]
    assert [c.spec.name for c in from_topic.cases] == [c.spec.name for c in from_files.cases]
    assert set(from_topic.router.agencies) == set(from_files.router.agencies)


def test_the_shipped_packs_compile_from_their_published_text_as_from_disk() -> None:
    settings = Settings()
    from_files = load_ruleset(settings.rules_path, load_routing(settings.routing_path), zone=ZONE)
    packs, routing = read_rule_files(settings.rules_path, settings.routing_path)
    from_topic = RuleVersion.create(1, packs, routing, "alice", "first", AT).compile(ZONE)
    assert [r.id for r in from_topic.rules] == [r.id for r in from_files.rules]
    assert len(from_topic.cases) == len(from_files.cases)


def test_a_version_that_does_not_compile_names_the_published_file_and_line() -> None:
    broken = version(1, [pack(GAS.replace("value >= 20.0", "value >="), name="rules/packs/gas.yaml")])
    with pytest.raises(RuleSetError) as raised:
        broken.compile(ZONE)
    assert "rules/packs/gas.yaml:9:" in str(raised.value)
    assert "gas" in str(raised.value)


def test_a_version_with_a_broken_routing_file_names_it() -> None:
    text = ROUTING_YAML.replace("default_agency: governance", "default_agency: nobody")
    broken = RuleVersion.create(1, [pack()], RuleFile(name="rules/routing.yaml", text=text), "al", "x", AT)
    with pytest.raises(RuleSetError, match=re.escape("rules/routing.yaml:2:")):
        broken.compile(ZONE)


def test_published_files_are_named_as_the_checkout_names_them(
    write_yaml: WriteYaml, routing_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_yaml("rules/packs/gas.yaml", pack_text(GAS))
    write_yaml("rules/routing.yaml", routing_file.read_text(encoding="utf-8"))
    monkeypatch.chdir(tmp_path)
    packs, routing = read_rule_files([Path("rules/packs")], Path("rules/routing.yaml"))
    assert [p.name for p in packs] == ["rules/packs/gas.yaml"]
    assert routing.name == "rules/routing.yaml"
    assert packs[0].text == (tmp_path / "rules/packs/gas.yaml").read_text(encoding="utf-8")


def test_the_checksum_of_published_files_is_reproducible_from_them(
    write_yaml: WriteYaml, routing_file: Path
) -> None:
    path = write_yaml("packs/gas.yaml", pack_text(GAS))
    packs, routing = read_rule_files([path], routing_file)
    digest = hashlib.sha256()
    for role, f in [("routing", routing), ("pack", packs[0])]:
        for part in (role, f.name, f.text):
            digest.update(len(part.encode()).to_bytes(8, "big") + part.encode())
    assert content_checksum(packs, routing) == digest.hexdigest()


# --- `rules publish` refuses what does not lint or test ---------------------------------------------


@pytest.fixture
def no_broker(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Settings pointing at a port nothing listens on: a command that tried Kafka would say so."""
    monkeypatch.setenv("RISKSTREAM_KAFKA_BOOTSTRAP", "127.0.0.1:1")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def publish(pack_path: Path, routing: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        app, ["rules", "publish", str(pack_path), "--routing", str(routing), "--author", "alice", *args]
    )
    return result.exit_code, result.output


def test_publish_refuses_rules_that_do_not_lint_with_their_file_and_line(
    no_broker: None, write_yaml: WriteYaml, routing_file: Path
) -> None:
    path = write_yaml("packs/gas.yaml", pack_text(GAS.replace("value >= 20.0", "value >=")))
    code, output = publish(path, routing_file, "-m", "raise the threshold")
    assert code == 1
    assert f"{path}:9:" in output
    assert "not published" in output
    assert "cannot reach Kafka" not in output


def test_publish_refuses_rules_whose_pack_tests_fail(
    no_broker: None, write_yaml: WriteYaml, routing_file: Path
) -> None:
    failing = GAS_CASE.replace("tier: yellow}", "tier: red}")
    path = write_yaml("packs/gas.yaml", pack_text(GAS, failing))
    code, output = publish(path, routing_file, "-m", "raise the threshold")
    assert code == 1
    assert "FAIL" in output and "a leak is one yellow alert" in output
    assert "not published" in output
    assert "cannot reach Kafka" not in output


def test_publish_goes_to_kafka_only_once_lint_and_tests_pass(
    no_broker: None, write_yaml: WriteYaml, routing_file: Path
) -> None:
    path = write_yaml("packs/gas.yaml", pack_text(GAS, GAS_CASE))
    code, output = publish(path, routing_file, "-m", "raise the threshold")
    assert "1 passed, 0 failed" in output
    assert code == 2 and "cannot reach Kafka at 127.0.0.1:1" in output


def test_publish_wants_a_message(no_broker: None, write_yaml: WriteYaml, routing_file: Path) -> None:
    path = write_yaml("packs/gas.yaml", pack_text(GAS))
    code, output = publish(path, routing_file, "-m", "  ")
    assert code == 2 and "--message" in output
