"""The alert lifecycle: when a duty officer hears of an alert, and when not.

One alert per fingerprint (rule + group) at a time. It opens on a match and notifies; later
matches merge into it. It notifies again only when its tier goes up (at once), when a lower tier
has held for ``tier_down_after``, after ``repeat_interval`` while it keeps firing, when it is
escalated for want of an acknowledgement, when it is acknowledged, and when it resolves (no match
for ``cooldown``, an absent group reporting again, or a duty officer's resolve). Never in between.

A notice may be withheld from agencies (still audited and counted) by a silence, by a higher alert
that inhibits it, or by storm control. A shadow rule's alert lives exactly this life (escalations
included, as nobody can acknowledge it) and its notices are marked ``shadow``: dispatch sends them
to the audit topic only, and no live alert is held back or changed by it. State is per fingerprint
and carried by the caller (a Faust table in the worker, a dict in rule tests); time is passed in, so
replays decide exactly as live.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from rules.alert_state import (
    MAX_STORM_GROUPS,
    RESOLVED_RETENTION,
    STORM_GROUP,
    AlertState,
    active_entry,
    route_input,
    storm_fingerprint,
)
from rules.alerts import (
    MAX_EVIDENCE,
    Alert,
    AlertCandidate,
    Change,
    InhibitedNote,
    alert_id,
)
from rules.notices import build_alert, recipients, suppressor
from rules.routing import Router
from rules.world import Ack, ActiveAlert, World

__all__ = [
    "RESOLVED_RETENTION",
    "STORM_GROUP",
    "AlertState",
    "Decision",
    "Dispatcher",
    "Forward",
    "Notice",
    "Publish",
    "storm_fingerprint",
]


@dataclass(frozen=True)
class Notice:
    """A notice to send: to its agencies, or (``withheld_by`` set, or a shadow rule's) to the audit
    topic only."""

    alert: Alert

    @property
    def withheld_by(self) -> str | None:
        return self.alert.withheld_by

    @property
    def shadow(self) -> bool:
        """A shadow rule's would-be notice: decided as if live, sent to no agency."""
        return self.alert.shadow

    @property
    def delivered(self) -> bool:
        """It goes to agencies."""
        return self.alert.withheld_by is None and not self.alert.shadow


@dataclass(frozen=True)
class Publish:
    """Effect: record (or, with ``alert`` None, remove) an open alert in every worker's index."""

    fingerprint: str
    alert: ActiveAlert | None


@dataclass(frozen=True)
class Forward:
    """Effect: a message for another alert's dispatch (its fingerprint is the key)."""

    message: AlertCandidate | InhibitedNote


Effect = Publish | Forward


@dataclass
class Decision:
    state: AlertState | None
    notices: list[Notice] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    reason: str = ""

    @property
    def alert(self) -> Alert | None:
        """The last notice delivered to agencies (None if there was none)."""
        sent = [n.alert for n in self.notices if n.delivered]
        return sent[-1] if sent else None

    def then(self, later: Decision) -> Decision:
        """This decision followed by ``later``: its state, both notices and effects in order."""
        return Decision(
            later.state, [*self.notices, *later.notices], [*self.effects, *later.effects], later.reason
        )


def _acknowledged(state: AlertState, ack: Ack) -> AlertState:
    return state.model_copy(
        update={"status": "acknowledged", "acked_by": ack.by, "acked_at": ack.at, "ack_note": ack.note}
    )


def _evidence(old: tuple[str, ...], c: AlertCandidate) -> tuple[str, ...]:
    new = [e for e in (*c.evidence, c.event_id) if e not in old]
    return (*old, *dict.fromkeys(new))[-MAX_EVIDENCE:]


class Dispatcher:
    """Turns candidates, ticks and notes into notices; one instance serves every alert."""

    def __init__(self, router: Router, rule_ids: Collection[str] | None = None):
        self.router = router
        self.rule_ids = None if rule_ids is None else frozenset(rule_ids)
        """The rules that still run (None: any). An absence of a removed or disabled rule can no
        longer end by itself, so it stops reminding and waits for a duty officer's resolve."""

    # -- messages ---------------------------------------------------------------------------

    def handle(
        self,
        state: AlertState | None,
        c: AlertCandidate,
        now: datetime | None = None,
        world: World | None = None,
    ) -> Decision:
        """Decide for one candidate; ``now`` is the clock (default: the event time).

        A redelivered event (same id) changes nothing. The worker hands notices to the producer
        before it stores the new state, so a crash in between re-opens the alert on replay with
        the same id rather than losing the notice.
        """
        now = now or c.event_time
        world = world or World()
        if state is not None and (c.event_id == state.opened_by or c.event_id in state.evidence):
            return Decision(state, reason="duplicate")
        if c.status == "resolved":
            if state is None or not state.open:
                return Decision(state, reason="nothing_to_resolve")
            return self._resolve(state, now, event=c)
        out = Decision(state)
        quiet = state is not None and self._quiet(state, c.event_time)
        if state is not None and state.open and (quiet or state.candidate.shadow != c.shadow):
            # A rule promoted from shadow to live (or back) ends its open alert, so the next match
            # opens one that agencies hear of from its start.
            out = self._resolve(state, now)
            state = out.state
        if state is None or not state.open:
            out = out.then(self._open(c, now, world))
            out.reason = "resolved_and_opened" if out.notices[:-1] else "opened"
            return out
        return self._merge(state, c, now, world)

    def tick(self, state: AlertState, now: datetime, world: World | None = None) -> Decision:
        """Let the clock act: acknowledgement, resolution after quiet time, escalation, release,
        and the reminders of an absence."""
        world = world or World()
        if not state.open:
            assert state.resolved_clock is not None
            if now >= state.resolved_clock + timedelta(seconds=RESOLVED_RETENTION):
                return Decision(None, reason="forgotten")
            return Decision(state, reason="waiting")
        c = state.candidate
        ack = world.acks.get(state.alert_id)
        if ack is not None and state.acked_by is not None:
            ack = None  # applied already
        resolve = world.resolves.get(state.alert_id)
        if resolve is not None:
            # An acknowledgement not yet applied is told with the resolve, each with its own who and why.
            return self._resolve(_acknowledged(state, ack) if ack else state, now, by=resolve)
        if self._quiet(state, now):
            return self._resolve(state, now)
        if ack is not None:
            return self._notify(_acknowledged(state, ack), c, now, world, "acknowledged")
        step = self._escalation_due(state, now)
        if step:
            return self._escalate(state, now, world, step)
        if state.withheld and not state.storm_held and suppressor(self.router, state, c, now, world) is None:
            return self._notify(state, c, now, world, "released")
        if self._absence_repeat_due(state, now):
            if c.group_key == STORM_GROUP and not world.active.open_of_rule(c.rule_id, c.fingerprint):
                # Nothing resolves a storm summary of absences but this: none of them is open.
                return self._resolve(state, now)
            return self._notify(state, c, now, world, "repeat")
        return Decision(state, reason="waiting")

    def note_inhibited(self, state: AlertState | None, note: InhibitedNote) -> Decision:
        if state is None or not state.open or note.alert_id in state.inhibited:
            return Decision(state, reason="ignored")
        held = state.model_copy(
            update={
                "inhibited": (*state.inhibited, note.alert_id)[-MAX_EVIDENCE:],
                "inhibited_count": state.inhibited_count + 1,
            }
        )
        return Decision(held, reason="inhibited_listed")

    def next_due(self, state: AlertState) -> datetime:
        """When ``tick`` would next change this alert, on the clock."""
        if not state.open:
            assert state.resolved_clock is not None
            return state.resolved_clock + timedelta(seconds=RESOLVED_RETENTION)
        due = state.last_seen + timedelta(seconds=state.candidate.cooldown)
        if state.candidate.until_resolved:
            due = datetime.max.replace(tzinfo=UTC)
        found = self.router.escalation_policy(route_input(state.candidate, state.tier))
        told = state.told_clock
        waiting = state.acked_by is None and state.withheld is None
        if found is not None and told is not None and waiting and state.escalation < found[1].steps:
            due = min(due, told + timedelta(seconds=found[1].after * (state.escalation + 1)))
        repeat = self._absence_repeat_at(state)
        if repeat is not None:
            due = min(due, repeat)
        return due

    # -- transitions ------------------------------------------------------------------------

    @staticmethod
    def _quiet(state: AlertState, at: datetime) -> bool:
        """No match for the cooldown: the condition has cleared (an absence clears only by itself)."""
        c = state.candidate
        return not c.until_resolved and at >= state.last_seen + timedelta(seconds=c.cooldown)

    def _absence_repeat_at(self, state: AlertState) -> datetime | None:
        """When a firing absence repeats: no match renews it, so the clock must (None: it does not).

        A held-back one is looked at then too: released if it may go out, else held again (and
        audited). Storm-held members are told of through their summary; other alerts repeat on
        their matches.
        """
        c = state.candidate
        if not c.until_resolved or state.storm_held:
            return None
        if self.rule_ids is not None and c.rule_id not in self.rule_ids:
            return None
        # State written before notified_clock existed: its latest known notice or acknowledgement.
        known = [t for t in (state.notified_at, state.acked_at, state.opened_clock) if t is not None]
        since = state.notified_clock or max(known)
        return since + timedelta(seconds=c.repeat_interval)

    def _absence_repeat_due(self, state: AlertState, now: datetime) -> bool:
        at = self._absence_repeat_at(state)
        return at is not None and now >= at

    def _open(self, c: AlertCandidate, now: datetime, world: World) -> Decision:
        """A new alert: it notifies, unless storm control folds it into its rule's summary."""
        state = AlertState(
            alert_id=alert_id(c.fingerprint, c.event_id),
            opened_by=c.event_id,
            candidate=c,
            tier=c.tier,
            first_seen=c.event_time,
            last_seen=c.event_time,
            notified_at=c.event_time,
            opened_clock=now,
            count=1,
            notice_seq=0,
            evidence=_evidence((), c),
            storm_members={c.storm_member: 1} if c.storm_member else {},
        )
        held = Decision(state)
        storm = self.router.spec.storm
        if storm is not None and c.storm_member is None:
            since = now - timedelta(seconds=storm.within)
            opened = world.active.opened_since(
                c.rule_id, since, exclude=c.fingerprint, enough=storm.more_than
            )
            if opened >= storm.more_than:
                state = state.model_copy(update={"storm_held": True})
                held = Decision(state, effects=[Forward(self._storm_candidate(c))])
        return held.then(self._notify(state, c, now, world, "opened"))

    def _merge(self, state: AlertState, c: AlertCandidate, now: datetime, world: World) -> Decision:
        tier = c.tier
        if state.tier_floor is not None and state.tier_floor.rank > tier.rank:
            tier = state.tier_floor
        members = dict(state.storm_members)
        if c.storm_member:
            members[c.storm_member] = members.get(c.storm_member, 0) + 1
            if len(members) > MAX_STORM_GROUPS:
                del members[min(members, key=lambda k: members[k])]
        merged = state.model_copy(
            update={
                "candidate": c,
                "first_seen": min(state.first_seen, c.event_time),
                "last_seen": max(state.last_seen, c.event_time),
                "count": state.count + 1,
                "evidence": _evidence(state.evidence, c),
                "storm_members": members,
            }
        )
        out = Decision(merged)
        if state.storm_held:
            # Every match of a group folded into the storm summary counts there (its top groups).
            out = Decision(merged, effects=[Forward(self._storm_candidate(c))])
        change: Change | None = None
        if tier.rank > state.tier.rank:
            merged = merged.model_copy(update={"tier": tier, "lower_since": None, "lower_tier": None})
            change = "tier_raised"
        elif tier.rank < state.tier.rank:
            since = state.lower_since or c.event_time
            lower = (
                tier if state.lower_tier is None or tier.rank > state.lower_tier.rank else state.lower_tier
            )
            merged = merged.model_copy(update={"lower_since": since, "lower_tier": lower})
            if c.event_time - since >= timedelta(seconds=c.tier_down_after):
                merged = merged.model_copy(update={"tier": lower, "lower_since": None, "lower_tier": None})
                change = "tier_lowered"
        else:
            merged = merged.model_copy(update={"lower_since": None, "lower_tier": None})
        if change is None and c.event_time >= state.notified_at + timedelta(seconds=c.repeat_interval):
            change = "repeat"
        held = change is None and state.withheld is not None and not state.storm_held
        if held and suppressor(self.router, merged, c, now, world) is None:
            change = "released"
        if change is None:
            out.state, out.reason = merged, "in_cooldown"
            return out
        return out.then(self._notify(merged, c, now, world, change))

    def _resolve(
        self,
        state: AlertState,
        now: datetime,
        event: AlertCandidate | None = None,
        by: Ack | None = None,
    ) -> Decision:
        """The condition ended: tell whoever heard it fire (the same agencies), then forget it soon.

        ``event`` is the match that ended it (an absent group reporting again), if any; ``by`` the
        duty officer's resolve, if it was closed by hand. Who acknowledged it stays as it was.
        """
        update: dict[str, object] = {
            "status": "resolved",
            "resolved_clock": now,
            "resolved_at": now if by is None else by.at,
            "resolved_by": None if by is None else by.by,
            "resolve_note": None if by is None else by.note,
        }
        if event is not None:
            update["last_seen"] = max(state.last_seen, event.event_time)
            update["evidence"] = _evidence(state.evidence, event)
        done = state.model_copy(update=update)
        told = self._notify(done, event or state.candidate, now, World(), "resolved")
        told.effects.append(Publish(state.candidate.fingerprint, None))
        return told

    def _escalation_due(self, state: AlertState, now: datetime) -> int:
        """Nobody can acknowledge what nobody was told: a withheld alert does not escalate."""
        if state.acked_by is not None or state.withheld is not None:
            return 0
        found = self.router.escalation_policy(route_input(state.candidate, state.tier))
        if found is None:
            return 0
        policy = found[1]
        step = state.escalation + 1
        told = state.told_clock
        if told is None or step > policy.steps or now < told + timedelta(seconds=policy.after * step):
            return 0
        return step

    def _escalate(self, state: AlertState, now: datetime, world: World, step: int) -> Decision:
        """Take escalation step ``step``: a notice if it reaches an agency that has not heard of the
        alert yet or raises its tier; otherwise one only if the policy says to re-notify, and then
        saying so. The step is taken either way, so the next one follows on time."""
        c = state.candidate
        base = route_input(c, state.tier)
        added, _ = self.router.escalation_step(base, step)
        _, raised = self.router.escalation_step(base, 1)
        tier = raised if raised.rank > state.tier.rank else state.tier
        up = state.model_copy(
            update={
                "escalation": step,
                "escalated_because": added,
                "tier": tier,
                "tier_floor": tier if tier != state.tier else state.tier_floor,
                "status": "escalated",
            }
        )
        told = recipients(self.router, up, c, "escalated")
        if tier != state.tier or any(agency not in state.heard for agency in told):
            return self._notify(up, c, now, world, "escalated")
        again = self.router.escalation_renotice(base, step)
        if again:
            return self._notify(up, c, now, world, "escalated", because=again)
        return Decision(up, reason="escalated_no_one_new")

    # -- notices ----------------------------------------------------------------------------

    def _notify(
        self,
        s: AlertState,
        c: AlertCandidate,
        now: datetime,
        world: World,
        change: Change,
        because: dict[str, str] | None = None,
    ) -> Decision:
        """One notice of ``change``: to its agencies, or withheld (audited) and why; the state after it.

        ``because``: reasons that replace the standing ones of those agencies in this notice."""
        effects: list[Effect] = []
        withheld = None
        if change in ("resolved", "acknowledged"):
            # Whoever heard the alert hears how it ended; if nobody did, nobody hears this either.
            withheld = None if s.delivered else s.withheld
        else:
            found = suppressor(self.router, s, c, now, world)
            if found is not None:
                withheld, note = found
                if note is not None and s.withheld != withheld:
                    effects.append(Forward(note))
        s = s.model_copy(
            update={
                "notice_seq": s.notice_seq + 1,
                "notified_at": c.event_time if change != "resolved" else s.notified_at,
                "withheld": withheld,
                "told_clock": s.told_clock or (now if withheld is None else None),
                "notified_clock": now if change != "resolved" else s.notified_clock,
            }
        )
        alert = build_alert(self.router, s, c, now, change, withheld, because)
        if withheld is None:
            heard = dict(s.heard)
            for agency, why in alert.routed_because.items():
                heard.setdefault(agency, why)
            s = s.model_copy(update={"heard": heard})
        if change not in ("resolved", "acknowledged"):
            # Every other notice may change what the index holds: tier, or whether it is withheld.
            effects.append(Publish(c.fingerprint, active_entry(s)))
        return Decision(s, [Notice(alert)], effects, change)

    def _storm_candidate(self, c: AlertCandidate) -> AlertCandidate:
        return c.model_copy(
            update={
                "fingerprint": storm_fingerprint(c.rule_id),
                "group": {},
                "group_key": STORM_GROUP,
                "storm_member": c.group_key,
                "evidence": (),
            }
        )
