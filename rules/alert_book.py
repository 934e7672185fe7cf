"""Every alert's state and the world in one process, with each decision's effects applied at once.

The worker spreads this over a Faust table and Kafka topics, where a forwarded message (an
inhibition note, a storm member) travels to its alert's partition. Rule tests, backtests and unit
specs keep it all here instead, so they decide with the worker's own code and the same effects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from rules.alerts import AlertCandidate, InhibitedNote
from rules.lifecycle import AlertState, Decision, Dispatcher, Publish
from rules.world import World

OnDecision = Callable[[str, Decision], None]
"""Told of every decision applied (forwarded ones included): its fingerprint and the decision."""


def _ignore(fingerprint: str, decision: Decision) -> None:
    return None


@dataclass
class AlertBook:
    dispatcher: Dispatcher
    world: World = field(default_factory=World)
    states: dict[str, AlertState] = field(default_factory=dict)
    on_decision: OnDecision = _ignore

    def handle(self, c: AlertCandidate, now: datetime) -> Decision:
        fp = c.fingerprint
        return self.apply(fp, self.dispatcher.handle(self.states.get(fp), c, now, self.world), now)

    def tick(self, fp: str, now: datetime) -> Decision:
        return self.apply(fp, self.dispatcher.tick(self.states[fp], now, self.world), now)

    def apply(self, fp: str, decision: Decision, now: datetime) -> Decision:
        """Keep the decision's state, tell ``on_decision``, then carry out its effects in order."""
        if decision.state is None:
            self.states.pop(fp, None)
        else:
            self.states[fp] = decision.state
        self.on_decision(fp, decision)
        for effect in decision.effects:
            if isinstance(effect, Publish):
                if effect.alert is None:
                    self.world.active.drop(effect.fingerprint)
                else:
                    self.world.active.put(effect.alert)
            elif isinstance(effect.message, InhibitedNote):
                note = effect.message
                held = self.states.get(note.fingerprint)
                self.apply(note.fingerprint, self.dispatcher.note_inhibited(held, note), now)
            else:
                self.handle(effect.message, now)
        return decision
