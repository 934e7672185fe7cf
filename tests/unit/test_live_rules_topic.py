"""A worker following the rules topic: it starts on the current version, switches when the pointer
moves, refuses a version it cannot compile (keeping the previous one, and showing it in the metrics
and the log), and falls back at start to the newest version it can run.

The history is fed the records exactly as the topic carries them; only the consumer is absent.
"""

from __future__ import annotations

import logging
import re
import typing
from datetime import UTC, datetime

import pytest

from rules.errors import ConfigError, RuleSetError
from rules.rule_bundle import CURRENT_KEY, CurrentPointer, RuleFile, RuleHistory, RuleVersion
from streams import metrics
from streams.live_rules import SOURCES, LiveRules, TopicRules
from streams.settings import Settings
from tests.unit.conftest import ROUTING_YAML, pack_text

AT = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)
ROUTING = RuleFile(name="rules/routing.yaml", text=ROUTING_YAML)


def gas_rule(rule_id: str, threshold: str = "20.0") -> str:
    return f"""\
- id: {rule_id}
  title: Gas
  risk: public_safety
  on: sensor
  kind: combustible_gas
  when: value != null && value >= {threshold}
  tier: yellow
  group_by: [source_id]
  route: [fire]
"""


BROKEN = gas_rule("gas-broken", threshold="")


class Topic:
    """The rules topic's records, and a worker's source reading them."""

    def __init__(self) -> None:
        self.history = RuleHistory()
        self.source = TopicRules(Settings(rules_source="topic"))

    def publish(self, number: int, rules: str, author: str = "alice") -> RuleVersion:
        v = RuleVersion.create(
            number, [RuleFile(name="rules/packs/gas.yaml", text=pack_text(rules))], ROUTING, author,
            f"change {number}", AT,
        )
        self.history.apply(v.key, v.encode())
        self.point(v, "publish")
        return v

    def point(self, v: RuleVersion, action: typing.Literal["publish", "rollback"]) -> None:
        self.history.apply(CURRENT_KEY, CurrentPointer.to(v, action, "alice", AT).encode())
        self.source.adopt(self.history)

    def worker(self) -> LiveRules:
        return LiveRules.start(self.source.settings, self.source, self.source.starting_offers())


def running() -> float:
    return float(metrics.RULES_VERSION.labels("running")._value.get())


def wanted() -> float:
    return float(metrics.RULES_VERSION.labels("wanted")._value.get())


def refused() -> float:
    return float(metrics.RULE_RELOADS.labels("refused")._value.get())


def ids(live: LiveRules) -> list[str]:
    return [r.id for r in live.engine.rules]


def test_every_rules_source_setting_names_a_registered_source() -> None:
    choices = typing.get_args(Settings.model_fields["rules_source"].annotation)
    assert set(choices) == set(SOURCES)


def test_a_worker_starts_on_the_current_version() -> None:
    topic = Topic()
    topic.publish(1, gas_rule("gas-v1"))
    topic.publish(2, gas_rule("gas-v2"))
    live = topic.worker()
    assert ids(live) == ["gas-v2"]
    assert live.version == 2
    assert running() == 2 and wanted() == 2


def test_a_worker_switches_when_a_new_version_becomes_current() -> None:
    topic = Topic()
    topic.publish(1, gas_rule("gas-v1"))
    live = topic.worker()
    generation = live.generation
    topic.publish(2, gas_rule("gas-v2"))
    assert live.maybe_reload() is True
    assert ids(live) == ["gas-v2"] and live.generation == generation + 1
    assert running() == 2 and wanted() == 2


def test_nothing_changes_until_the_pointer_moves() -> None:
    topic = Topic()
    topic.publish(1, gas_rule("gas-v1"))
    live = topic.worker()
    assert live.maybe_reload() is False
    assert ids(live) == ["gas-v1"]


def test_a_version_that_does_not_compile_is_refused_and_the_previous_one_keeps_running(
    caplog: pytest.LogCaptureFixture,
) -> None:
    topic = Topic()
    topic.publish(1, gas_rule("gas-v1"))
    live = topic.worker()
    engine, before = live.engine, refused()
    topic.publish(2, gas_rule("gas-v1") + BROKEN, author="bob")
    with caplog.at_level(logging.ERROR, "streams.live_rules"):
        assert live.maybe_reload() is False
    assert live.engine is engine and ids(live) == ["gas-v1"]
    assert running() == 1 and wanted() == 2
    assert refused() == before + 1
    assert "version 2" in caplog.text and "by bob" in caplog.text
    assert "rules/packs/gas.yaml:18:" in caplog.text
    assert "still running the previous 1 rules: version 1" in caplog.text


def test_a_refused_version_is_not_tried_again_on_every_reload() -> None:
    topic = Topic()
    topic.publish(1, gas_rule("gas-v1"))
    live = topic.worker()
    topic.publish(2, BROKEN)
    live.maybe_reload()
    before = refused()
    assert live.maybe_reload() is False
    assert refused() == before


def test_a_worker_lagging_on_a_refused_version_catches_up_with_the_next_good_one() -> None:
    topic = Topic()
    topic.publish(1, gas_rule("gas-v1"))
    live = topic.worker()
    topic.publish(2, BROKEN)
    live.maybe_reload()
    topic.publish(3, gas_rule("gas-v3"))
    assert live.maybe_reload() is True
    assert ids(live) == ["gas-v3"] and running() == 3 and wanted() == 3


def test_a_rollback_switches_workers_back_to_the_earlier_version() -> None:
    topic = Topic()
    first = topic.publish(1, gas_rule("gas-v1"))
    topic.publish(2, gas_rule("gas-v2"))
    live = topic.worker()
    topic.point(first, "rollback")
    assert live.maybe_reload() is True
    assert ids(live) == ["gas-v1"] and running() == 1 and wanted() == 1


def test_a_rollback_to_the_version_a_lagging_worker_still_runs_changes_nothing_there() -> None:
    topic = Topic()
    first = topic.publish(1, gas_rule("gas-v1"))
    live = topic.worker()
    topic.publish(2, BROKEN)
    live.maybe_reload()
    generation = live.generation
    topic.point(first, "rollback")
    assert live.maybe_reload() is False
    assert live.generation == generation and running() == 1 and wanted() == 1


def test_a_worker_that_cannot_compile_the_current_version_starts_on_the_newest_it_can(
    caplog: pytest.LogCaptureFixture,
) -> None:
    topic = Topic()
    topic.publish(1, gas_rule("gas-v1"))
    topic.publish(2, gas_rule("gas-v2"))
    topic.publish(3, BROKEN)
    with caplog.at_level(logging.ERROR, "streams.live_rules"):
        live = topic.worker()
    assert ids(live) == ["gas-v2"]
    assert running() == 2 and wanted() == 3
    assert "version 3" in caplog.text
    assert live.maybe_reload() is False


def test_a_worker_does_not_start_when_no_version_compiles() -> None:
    topic = Topic()
    topic.publish(1, BROKEN)
    with pytest.raises(RuleSetError, match=re.escape("rules/packs/gas.yaml:9:")):
        topic.worker()


def test_a_worker_does_not_start_when_nothing_was_published() -> None:
    with pytest.raises(ConfigError, match="rules publish"):
        Topic().worker()


def test_a_pointer_to_a_version_the_topic_does_not_hold_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    topic = Topic()
    topic.publish(1, gas_rule("gas-v1"))
    live = topic.worker()
    gone = topic.publish(2, gas_rule("gas-v2"))
    topic.history.apply(gone.key, None)
    topic.source.adopt(topic.history)
    with caplog.at_level(logging.ERROR, "streams.live_rules"):
        assert live.maybe_reload() is False
    assert "does not hold" in caplog.text and ids(live) == ["gas-v1"]


def test_a_worker_on_rule_files_reports_version_0(tmp_path: typing.Any) -> None:
    routing = tmp_path / "routing.yaml"
    routing.write_text(ROUTING_YAML, encoding="utf-8")
    pack = tmp_path / "packs" / "gas.yaml"
    pack.parent.mkdir()
    pack.write_text(pack_text(gas_rule("gas-file")), encoding="utf-8")
    live = LiveRules.load(Settings(rules_path=[pack.parent], routing_path=routing))
    assert ids(live) == ["gas-file"] and live.version == 0
    assert running() == 0 and wanted() == 0
