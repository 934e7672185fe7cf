"""sequence: steps (an event, or N events within a window) of one group, in order, within a time bound."""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass

from rules.alerts import MAX_EVIDENCE
from rules.conditions import Condition, check_kinds, compile_condition
from rules.durations import format_duration
from rules.errors import RuleError
from rules.events import EventBase
from rules.forms.base import At, Holds, Reading, WindowedForm, window_covers_lateness
from rules.schema import RuleSpec
from rules.window_state import Entry, Firing, GroupWindow


@dataclass(frozen=True)
class Step:
    kinds: tuple[str, ...]
    when: Condition | None
    at_least: int = 1
    within: float = 0.0


@dataclass
class _Partial:
    start: float
    end_index: int


@dataclass(frozen=True)
class SequenceForm(WindowedForm):
    steps: tuple[Step, ...]
    within: float

    key = "sequence"
    ungrouped = (
        "a sequence without group_by takes its steps from any source: failures from one address and "
        "a success from another complete it. Group by who acts or what is acted on (group_by: "
        "[src_ip], [user], [source_id]); write group_by: [] if any source may take any step"
    )

    @classmethod
    def compile(cls, spec: RuleSpec, at: At) -> SequenceForm:
        assert spec.sequence is not None
        if spec.within is None:
            raise RuleError(
                "a sequence needs 'within', the most time from its first step to its last "
                "(e.g. within: 15m); without it, state would grow without bound",
                at("sequence"),
                spec.id,
            )
        window_covers_lateness(spec, spec.within, at("within"))
        steps = []
        for i, step in enumerate(spec.sequence):
            check_kinds(step.kinds, spec.on, at("sequence", i, "kind"), spec.id)
            if spec.kinds and step.kinds and not set(step.kinds) <= set(spec.kinds):
                raise RuleError(
                    f"step {i + 1} reads kinds {list(step.kinds)} that the rule's 'kind' leaves out",
                    at("sequence", i, "kind"),
                    spec.id,
                )
            when = compile_condition(step.when, spec.on, at("sequence", i, "when"), spec.id)
            if step.count is not None and step.count.within > spec.within:
                raise RuleError(
                    f"step {i + 1} counts within {format_duration(step.count.within)}, longer than the "
                    f"sequence's within ({format_duration(spec.within)})",
                    at("sequence", i, "count", "within"),
                    spec.id,
                )
            n, w = (step.count.at_least, step.count.within) if step.count else (1, 0.0)
            steps.append(Step(step.kinds or tuple(spec.kinds), when, n, w))
        return cls(tuple(steps), spec.within)

    def kinds(self, spec: RuleSpec) -> tuple[str, ...]:
        if spec.kinds:
            return spec.kinds
        if all(s.kinds for s in self.steps):
            return tuple(dict.fromkeys(k for s in self.steps for k in s.kinds))
        return ()

    @property
    def figures(self) -> tuple[str, ...]:
        return ("count", "span")

    def memory(self, lateness: float) -> float:
        return self.within + lateness

    def read(self, event: EventBase, ok: bool, holds: Holds) -> Reading | None:
        steps = tuple(
            i
            for i, step in enumerate(self.steps)
            if (not step.kinds or event.kind in step.kinds) and (step.when is None or holds(step.when))
        )
        return Reading(ok, steps=steps) if steps else None

    def judge(self, w: GroupWindow, new: Entry) -> Firing | None:
        """Replays the group's remembered events through the steps and fires if the last step completes
        at the new event or later.

        Per step it keeps the partial matches no other one beats (none started later and ended
        earlier), so starts rise with ends: the best partial to continue from is the last one that
        ended before the events completing the next step. One partial per step is not enough when a
        later step counts events: in a b a b, the first a with both b's is a match the second a hides.

        A match that fires ends at the new event or later and spans at most ``within``, so it starts
        no earlier than ``within`` before the new event: the replay begins there. (Replaying the
        whole window made each event cost as much as the window is long.)
        """
        last_step = len(self.steps) - 1
        if last_step not in new.steps and w.entries[-1].event_id == new.event_id:
            return None  # the newest event completes no last step, so nothing ends at or after it
        return self._replay(w, new)

    def _replay(self, w: GroupWindow, new: Entry) -> Firing | None:
        entries = w.entries
        steps = self.steps
        done: list[list[_Partial]] = [[] for _ in steps]
        seen_times: list[list[float]] = [[] for _ in steps]
        seen_index: list[list[int]] = [[] for _ in steps]
        first_index = bisect_left(entries, Entry(new.time - self.within, ""))
        new_index = next(
            i
            for i in range(bisect_left(entries, Entry(new.time, "")), len(entries))
            if entries[i].event_id == new.event_id
        )
        for idx in range(first_index, len(entries)):
            e = entries[idx]
            for i in sorted(set(e.steps), reverse=True):
                if not 0 <= i < len(steps):
                    continue
                step = steps[i]
                seen_times[i].append(e.time)
                seen_index[i].append(idx)
                times = seen_times[i]
                if len(times) < step.at_least:
                    continue
                first = len(times) - step.at_least  # the latest events that can complete this step
                if step.at_least > 1 and e.time - times[first] > step.within:
                    continue
                if i == 0:
                    start = times[first]
                else:
                    before = done[i - 1]
                    k = bisect_left(before, seen_index[i][first], key=lambda p: p.end_index)
                    if k == 0:
                        continue
                    start = before[k - 1].start
                if e.time - start > self.within:
                    continue
                if i == len(steps) - 1:
                    if idx >= new_index:
                        window = [x for x in entries[first_index : idx + 1] if x.time >= start and x.steps]
                        return Firing(
                            e.time,
                            {"count": len(window), "span": e.time - start},
                            tuple(x.event_id for x in window)[-MAX_EVIDENCE:],
                        )
                    continue
                if not done[i] or start > done[i][-1].start:
                    done[i].append(_Partial(start, idx))
        return None
