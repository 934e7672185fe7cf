"""Every alert's state that one owner holds, the world it decides in, and when each needs the clock.

The worker keeps the alerts of the partitions it owns here, over a store backed by a Faust table,
and sends what a decision forwards to other alerts through Kafka (they may live elsewhere). Rule
tests, backtests and unit specs keep every alert here, in a dict, and decide forwarded messages
at once. Both run this code, so an alert's lifecycle is the same in both.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime

from rules.alerts import AlertCandidate, InhibitedNote
from rules.due_index import DueIndex, OnError
from rules.lifecycle import AlertState, Decision, Dispatcher, Forward, Publish
from rules.world import Ack, World

OnDecision = Callable[[str, Decision], None]
"""Told of every decision applied (forwarded ones included): its fingerprint and the decision."""
Forwarder = Callable[[AlertCandidate | InhibitedNote], None]
"""Takes a message for another alert (an inhibition note, a storm member) to send it on."""
AlertStore = MutableMapping[str, AlertState]


def _ignore(fingerprint: str, decision: Decision) -> None:
    return None


@dataclass
class AlertBook:
    dispatcher: Dispatcher
    world: World = field(default_factory=World)
    states: AlertStore = field(default_factory=dict)
    on_decision: OnDecision = _ignore
    forward: Forwarder | None = None
    """None: forwarded messages are decided here at once, as in one process that holds every alert."""
    due: DueIndex[None] = field(default_factory=DueIndex)
    fingerprint_of: dict[str, str] = field(default_factory=dict)
    """Alert id to fingerprint, for the alerts held: an acknowledgement names the alert id."""

    def handle(self, c: AlertCandidate, now: datetime) -> Decision:
        fp = c.fingerprint
        return self.apply(fp, self.dispatcher.handle(self.states.get(fp), c, now, self.world), now)

    def note(self, note: InhibitedNote, now: datetime) -> Decision:
        fp = note.fingerprint
        return self.apply(fp, self.dispatcher.note_inhibited(self.states.get(fp), note), now)

    def next_tick(self) -> tuple[float, str] | None:
        """The earliest (clock seconds, fingerprint) an alert is due at."""
        return self.due.peek()

    def tick(self, fp: str, now: datetime) -> Decision | None:
        state = self.states.get(fp)
        if state is None:
            self.due.discard(fp)
            return None
        return self.apply(fp, self.dispatcher.tick(state, now, self.world), now)

    def tick_due(
        self, now: datetime, on_error: OnError | None = None, limit: int | None = None
    ) -> list[Decision]:
        """Due alerts' turns with the clock, earliest first (see DueIndex.take_turns)."""
        return self.due.take_turns(now.timestamp(), lambda fp: self.tick(fp, now), on_error, limit)

    def acknowledge(self, ack: Ack, now: datetime) -> Decision | None:
        """A duty officer's ack or resolve; the alert acts on it at once if it is held here."""
        self.world.ack(ack)
        fp = self.fingerprint_of.get(ack.alert_id)
        return None if fp is None else self.tick(fp, now)

    def load(self, fp: str, state: AlertState, now: datetime) -> None:
        """Take over an alert found in storage (after a restart or a rebalance)."""
        self.states[fp] = state
        self._schedule(fp, state)
        if state.open and self.world.pending(state.alert_id, state.acked_by is not None):
            self.due.set(fp, now.timestamp(), None)  # acknowledged or resolved while nobody held it

    def apply(self, fp: str, decision: Decision, now: datetime) -> Decision:
        """Keep the decision's state, tell ``on_decision``, then carry out its effects in order."""
        before = self.states.get(fp)
        after = decision.state
        if after is None:
            if before is not None:
                del self.states[fp]
                self.fingerprint_of.pop(before.alert_id, None)
            self.due.discard(fp)
        else:
            if after is not before:
                self.states[fp] = after
            self._schedule(fp, after)
        self.on_decision(fp, decision)
        for effect in decision.effects:
            if isinstance(effect, Publish):
                if effect.alert is None:
                    self.world.active.drop(effect.fingerprint)
                else:
                    self.world.active.put(effect.alert)
            else:
                self._forward(effect, now)
        return decision

    def _forward(self, effect: Forward, now: datetime) -> None:
        message = effect.message
        if self.forward is not None:
            self.forward(message)
        elif isinstance(message, InhibitedNote):
            self.note(message, now)
        else:
            self.handle(message, now)

    def _schedule(self, fp: str, state: AlertState) -> None:
        self.fingerprint_of[state.alert_id] = fp
        self.due.set(fp, self.dispatcher.next_due(state).timestamp(), None)
