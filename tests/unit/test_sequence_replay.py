"""A sequence judges an event that cannot end a match without replaying its window, and that
shortcut never changes an answer."""

from __future__ import annotations

from bisect import insort

from hypothesis import given, settings
from hypothesis import strategies as st

from rules.forms.sequence import SequenceForm, Step
from rules.window_state import Entry, GroupWindow

FORM = SequenceForm((Step(("a",), None, at_least=3, within=20.0), Step(("b",), None)), within=60.0)

entry_steps = st.sampled_from([(), (0,), (1,), (0, 1)])
entries = st.lists(st.tuples(st.integers(0, 100), entry_steps), max_size=30)


@settings(max_examples=500, deadline=None)
@given(window=entries, new_time=st.integers(0, 100), new_steps=entry_steps)
def test_judging_gives_the_full_replays_answer(
    window: list[tuple[int, tuple[int, ...]]], new_time: int, new_steps: tuple[int, ...]
) -> None:
    w = GroupWindow(rule_version=1)
    for i, (time, steps) in enumerate(window):
        insort(w.entries, Entry(float(time), f"e{i}", steps=steps))
    new = Entry(float(new_time), "new", steps=new_steps)
    insort(w.entries, new)
    assert FORM.judge(w, new) == FORM._replay(w, new)


def test_the_newest_event_that_is_no_last_step_is_judged_without_a_replay() -> None:
    w = GroupWindow(rule_version=1)
    for i in range(3):
        w.entries.append(Entry(float(i), f"a{i}", steps=(0,)))
    replays = []
    form = SequenceForm(FORM.steps, FORM.within)
    object.__setattr__(form, "_replay", lambda w, new: replays.append(new) or None)
    assert form.judge(w, w.entries[-1]) is None and replays == []
    w.entries.append(Entry(3.0, "b", steps=(1,)))
    form.judge(w, w.entries[-1])
    assert [e.event_id for e in replays] == ["b"]
