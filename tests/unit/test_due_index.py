"""The due index hands the timer exactly the groups whose time has come, once each."""

from __future__ import annotations

from rules.due_index import DueIndex


def test_only_groups_due_by_now_are_popped_in_due_order() -> None:
    index = DueIndex()
    index.set("b", 20.0, "r")
    index.set("a", 10.0, "r")
    index.set("c", 30.0, "r")
    assert index.pop_due(25.0) == [("a", "r"), ("b", "r")]
    assert len(index) == 1


def test_a_popped_group_is_not_popped_again_until_set_again() -> None:
    index = DueIndex()
    index.set("a", 10.0, "r")
    assert index.pop_due(10.0) == [("a", "r")]
    assert index.pop_due(100.0) == []


def test_a_later_due_time_replaces_the_earlier_one() -> None:
    index = DueIndex()
    index.set("a", 10.0, "r")
    index.set("a", 50.0, "r")
    assert index.pop_due(20.0) == []
    assert index.pop_due(50.0) == [("a", "r")]


def test_a_discarded_group_is_never_due() -> None:
    index = DueIndex()
    index.set("a", 10.0, "r")
    index.discard("a")
    assert index.pop_due(100.0) == []
    assert len(index) == 0


def test_rewriting_many_times_keeps_the_heap_bounded() -> None:
    index = DueIndex()
    for i in range(20_000):
        index.set("a", float(i), "r")
    assert len(index._heap) < 5_000
    assert index.pop_due(1e9) == [("a", "r")]


def test_turns_beyond_the_limit_stay_due_for_the_next_step() -> None:
    due: DueIndex[None] = DueIndex()
    for i in range(5):
        due.set(f"g{i}", float(i), None)
    first = due.take_turns(10.0, lambda key: key, limit=3)
    assert first == ["g0", "g1", "g2"]
    assert due.is_due(10.0)
    assert due.take_turns(10.0, lambda key: key, limit=3) == ["g3", "g4"]
    assert not due.is_due(10.0)


def test_nothing_is_due_before_its_time() -> None:
    due: DueIndex[None] = DueIndex()
    due.set("g", 5.0, None)
    assert not due.is_due(4.9)
    assert due.is_due(5.0)
