"""Storm control: one rule firing for many groups at once sends one summary, not N alerts.

With ``storm: {more_than: N, within: T, top: K}``, the first N groups of a rule opened within T
are notified as usual; every further group's alert is withheld (audited) and folded into one
summary alert of the rule (fingerprint ``storm_fingerprint(rule)``), which lists the K groups
with the most matches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from rules.alerts import AlertCandidate
from rules.lifecycle import STORM_GROUP, Forward, storm_fingerprint
from rules.routing import Router
from tests.unit.dispatch_kit import Desk, at, cand, routing

if TYPE_CHECKING:
    from tests.unit.conftest import WriteYaml

RULES = """\
routes:
  - name: all
    agencies: [fire]
storm:
  more_than: 3
  within: 10m
  top: 2
"""
STORM = storm_fingerprint("gas")
HELD = "storm control: gas fired for many groups at once"


@pytest.fixture
def router(write_yaml: WriteYaml) -> Router:
    return routing(write_yaml, RULES)


def grid(n: int, seconds: float, event_id: str | None = None, **kw: Any) -> AlertCandidate:
    return cand(event_id or f"g{n}-{seconds:g}", seconds, grid=f"G-{n:02d}", **kw)


def test_up_to_more_than_groups_are_notified_as_usual(router: Router) -> None:
    desk = Desk(router)
    for n in range(1, 4):
        (notice,) = desk.send(grid(n, n)).notices
        assert notice.withheld_by is None
    assert STORM not in desk.states


def test_the_next_group_is_withheld_and_folded_into_a_summary(router: Router) -> None:
    desk = Desk(router)
    for n in range(1, 4):
        desk.send(grid(n, n))
    d = desk.send(grid(4, 4))
    (held,) = d.notices
    assert held.withheld_by == HELD and held.alert.group_key == "location.grid=G-04"
    (fwd,) = [e.message for e in d.effects if isinstance(e, Forward)]
    assert isinstance(fwd, AlertCandidate)
    assert (fwd.fingerprint, fwd.group, fwd.group_key, fwd.storm_member) == (
        STORM,
        {},
        STORM_GROUP,
        "location.grid=G-04",
    )
    summary = desk.notices[-1]
    assert summary.fingerprint == STORM and summary.withheld_by is None
    assert (summary.change, summary.group_key, summary.agencies) == ("opened", STORM_GROUP, ["fire"])
    assert summary.summary == "Gas: 1 groups within 10m"
    assert summary.storm is not None
    assert (summary.storm.groups, summary.storm.top) == (1, [("location.grid=G-04", 1)])


def test_further_groups_merge_into_the_summary_without_notices(router: Router) -> None:
    desk = Desk(router)
    for n in range(1, 8):
        desk.send(grid(n, n))
    assert [a.fingerprint == STORM for a in desk.notices].count(True) == 1
    assert [a.withheld_by for a in desk.notices].count(HELD) == 4
    summary = desk.state(STORM)
    assert summary.storm_members == {f"location.grid=G-0{n}": 1 for n in range(4, 8)}
    assert summary.count == 4


def test_matches_of_held_groups_count_in_the_summary_top(router: Router) -> None:
    kw: dict[str, Any] = {"repeat_interval": 300.0}
    desk = Desk(router)
    for n in range(1, 7):
        desk.send(grid(n, n, **kw))
    for s in (60, 120, 180):
        assert desk.send(grid(5, s, **kw)).notices == []
    desk.send(grid(6, 200, **kw))
    assert desk.state(STORM).storm_members == {
        "location.grid=G-04": 1,
        "location.grid=G-05": 4,
        "location.grid=G-06": 2,
    }
    # The summary's next notice (its repeat) lists the top two, most matches first.
    desk.send(grid(4, 400, **kw))
    summary = desk.notices[-1]
    assert (summary.fingerprint, summary.change) == (STORM, "repeat")
    assert summary.storm is not None
    assert summary.storm.groups == 3
    assert summary.storm.top == [("location.grid=G-05", 4), ("location.grid=G-04", 2)]
    assert summary.summary == "Gas: 3 groups within 10m"


def test_groups_opened_longer_ago_than_within_do_not_count(router: Router) -> None:
    # The window is closed, like rule windows: a group opened exactly 10m before still counts.
    for seconds, held in ((600.0, True), (600.001, False)):
        desk = Desk(router)
        for n in range(1, 4):
            desk.send(grid(n, 0))
        (notice,) = desk.send(grid(4, seconds)).notices
        assert (notice.withheld_by == HELD) == held, seconds


def test_other_rules_do_not_count(router: Router) -> None:
    desk = Desk(router)
    for n in range(1, 4):
        desk.send(cand(f"s{n}", n, grid=f"G-0{n}", rule="smoke"))
    (notice,) = desk.send(grid(4, 4)).notices
    assert notice.withheld_by is None


def test_a_held_alert_stays_held_after_the_storm(router: Router) -> None:
    desk = Desk(router)
    for n in range(1, 5):
        desk.send(grid(n, n))
    for n in range(1, 4):
        desk.act(grid(n, 0).fingerprint, at(100), action="resolve")
    d = desk.send(grid(4, 700, repeat_interval=600.0))
    assert d.reason == "repeat"
    assert d.notices[0].withheld_by == HELD


def test_without_storm_control_every_group_is_notified(write_yaml: WriteYaml) -> None:
    desk = Desk(routing(write_yaml, "routes:\n  - name: all\n    agencies: [fire]\n"))
    for n in range(1, 20):
        (notice,) = desk.send(grid(n, n)).notices
        assert notice.withheld_by is None


def test_a_storm_of_absences_reminds_while_any_is_open_and_resolves_when_none_is(router: Router) -> None:
    desk = Desk(router)
    silent = {"until_resolved": True, "repeat_interval": 600.0}
    for n in range(1, 6):
        desk.send(grid(n, n, **silent))
    assert desk.states[STORM].storm_members
    reminded = desk.tick(STORM, at(700))
    assert [n.alert.change for n in reminded.notices] == ["repeat"]
    for n in range(1, 6):
        desk.send(grid(n, 800, event_id=f"back-{n}", status="resolved", **silent))
    ended = desk.tick(STORM, at(1400))
    assert [n.alert.change for n in ended.notices] == ["resolved"]
