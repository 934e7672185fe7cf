"""A partition with messages waiting and no progress for a while is stalled; a busy one is not."""

from __future__ import annotations

from streams.stall_watch import StallWatch

P = ("events.sensor", 0)


def test_messages_waiting_with_no_progress_for_the_limit_is_a_stall_warned_once() -> None:
    watch = StallWatch(after=60)
    assert [watch.observe(P, 10, 5, t) for t in (0, 30, 59.9, 60, 65)] == [False, False, False, True, False]
    assert watch.stalled() == 1


def test_a_backlog_that_keeps_moving_is_not_a_stall() -> None:
    watch = StallWatch(after=60)
    assert not any(watch.observe(P, committed, 1000, t) for t, committed in enumerate(range(0, 500, 5)))
    assert watch.stalled() == 0


def test_nothing_waiting_is_never_a_stall() -> None:
    watch = StallWatch(after=60)
    assert not any(watch.observe(P, 10, 0, t) for t in (0, 100, 1000))


def test_progress_after_a_stall_clears_it() -> None:
    watch = StallWatch(after=60)
    watch.observe(P, 10, 5, 0)
    watch.observe(P, 10, 5, 61)
    assert watch.stalled() == 1
    watch.observe(P, 12, 3, 66)
    assert watch.stalled() == 0


def test_partitions_given_away_in_a_rebalance_are_forgotten() -> None:
    watch = StallWatch(after=60)
    watch.observe(P, 10, 5, 0)
    watch.observe(P, 10, 5, 61)
    watch.forget_all_but({("events.camera", 1)})
    assert watch.stalled() == 0
