"""The alert lifecycle: when a duty officer hears of an alert, and when not.

One alert per fingerprint (rule + group) at a time. It opens on a match and notifies; later
matches merge into it. It notifies again only when its tier goes up (at once), when a lower tier
has held for ``tier_down_after``, after ``repeat_interval`` while it keeps firing, when it is
escalated for want of an acknowledgement, when it is acknowledged, and when it resolves (no match
for ``cooldown``, an absent group reporting again, or a duty officer's resolve). Never in between.

A notice may be withheld from agencies (still audited and counted) by a silence, by a higher alert
that inhibits it, or by storm control. State is per fingerprint and carried by the caller (a Faust
table in the worker, a dict in rule tests); time is passed in, so replays decide exactly as live.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

from rules.alerts import (
    MAX_EVIDENCE,
    Alert,
    AlertCandidate,
    Change,
    InhibitedNote,
    Status,
    StormSummary,
    alert_id,
    fingerprint,
)
from rules.durations import format_duration
from rules.model import Tier
from rules.routing import RouteInput, Router
from rules.world import ActiveAlert, World

RESOLVED_RETENTION = 3600.0
"""A resolved alert's state is kept this long (clock), so a late redelivery is still recognised."""
MAX_STORM_GROUPS = 200
STORM_GROUP = "storm"


class AlertState(BaseModel):
    """What dispatch remembers about one fingerprint between messages."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    alert_id: str
    opened_by: str
    candidate: AlertCandidate
    """The latest match: what notices made without one (ticks) describe."""
    tier: Tier
    status: Status = "firing"
    first_seen: AwareDatetime
    last_seen: AwareDatetime
    notified_at: AwareDatetime
    """Event time of the last notice, for the repeat interval."""
    opened_clock: AwareDatetime
    """Clock time the alert opened (storm control counts these)."""
    told_clock: AwareDatetime | None = None
    """Clock time agencies first heard of it: escalation counts from here."""
    """Clock time the alert opened, for escalation."""
    count: int
    notice_seq: int
    evidence: tuple[str, ...]
    lower_since: AwareDatetime | None = None
    lower_tier: Tier | None = None
    escalation: int = 0
    escalated_because: dict[str, str] = {}
    tier_floor: Tier | None = None
    """The tier escalation raised it to: later matches at a lower tier do not take it below."""
    heard: dict[str, str] = {}
    """Agencies a notice was delivered to, with why: they hear how it goes down and how it ends."""
    acked_by: str | None = None
    acked_at: AwareDatetime | None = None
    ack_note: str | None = None
    resolved_clock: AwareDatetime | None = None
    withheld: str | None = None
    """Why the last notice was held back from agencies (None: it was delivered)."""
    delivered: bool = False
    storm_held: bool = False
    inhibited: tuple[str, ...] = ()
    inhibited_count: int = 0
    storm_members: dict[str, int] = {}

    @property
    def open(self) -> bool:
        return self.status != "resolved"


@dataclass(frozen=True)
class Notice:
    """A notice to send: to its agencies, or (``withheld_by`` set) to the audit topic only."""

    alert: Alert

    @property
    def withheld_by(self) -> str | None:
        return self.alert.withheld_by


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
        sent = [n.alert for n in self.notices if n.withheld_by is None]
        return sent[-1] if sent else None


def _evidence(old: tuple[str, ...], c: AlertCandidate) -> tuple[str, ...]:
    new = [e for e in (*c.evidence, c.event_id) if e not in old]
    return (*old, *dict.fromkeys(new))[-MAX_EVIDENCE:]


def _route_input(c: AlertCandidate, tier: Tier) -> RouteInput:
    loc = c.location
    return RouteInput(
        c.rule_id,
        c.route,
        c.risk,
        tier,
        c.family,
        c.kind,
        loc.district,
        loc.grid,
        loc.city,
        loc.street,
        loc.community,
    )


def storm_fingerprint(rule_id: str) -> str:
    return fingerprint(rule_id, f"*{STORM_GROUP}*")


class Dispatcher:
    """Turns candidates, ticks and notes into notices; one instance serves every alert."""

    def __init__(self, router: Router):
        self.router = router

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
        if state is not None and state.open and quiet:
            out = self._resolve(state, now)
            state = out.state
        if state is None or not state.open:
            self._open(c, now, world, out)
            out.reason = "resolved_and_opened" if out.notices[:-1] else "opened"
            return out
        return self._merge(state, c, now, world)

    def tick(self, state: AlertState, now: datetime, world: World | None = None) -> Decision:
        """Let the clock act: acknowledgement, resolution after quiet time, escalation, release."""
        world = world or World()
        if not state.open:
            assert state.resolved_clock is not None
            if now >= state.resolved_clock + timedelta(seconds=RESOLVED_RETENTION):
                return Decision(None, reason="forgotten")
            return Decision(state, reason="waiting")
        c = state.candidate
        ack = world.acks.get(state.alert_id)
        if ack is not None and ack.action == "resolve":
            return self._resolve(state, now, by=ack.by, note=ack.note)
        if self._quiet(state, now):
            return self._resolve(state, now)
        if ack is not None and state.acked_by is None:
            acked = state.model_copy(
                update={
                    "status": "acknowledged",
                    "acked_by": ack.by,
                    "acked_at": ack.at,
                    "ack_note": ack.note,
                }
            )
            out = Decision(acked, reason="acknowledged")
            self._notify(out, acked, c, now, world, "acknowledged")
            return out
        step = self._escalation_due(state, now)
        if step:
            return self._escalate(state, now, world, step)
        if state.withheld and not state.storm_held and self._suppressor(state, c, now, world) is None:
            out = Decision(state, reason="released")
            self._notify(out, state, c, now, world, "released")
            return out
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
        found = self.router.escalation_policy(_route_input(state.candidate, state.tier))
        told = state.told_clock
        waiting = state.acked_by is None and state.withheld is None
        if found is not None and told is not None and waiting and state.escalation < found[1].steps:
            due = min(due, told + timedelta(seconds=found[1].after * (state.escalation + 1)))
        return due

    # -- transitions ------------------------------------------------------------------------

    @staticmethod
    def _quiet(state: AlertState, at: datetime) -> bool:
        """No match for the cooldown: the condition has cleared (an absence clears only by itself)."""
        c = state.candidate
        return not c.until_resolved and at >= state.last_seen + timedelta(seconds=c.cooldown)

    def _open(self, c: AlertCandidate, now: datetime, world: World, out: Decision) -> AlertState:
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
        storm = self.router.spec.storm
        if storm is not None and c.storm_member is None:
            since = now - timedelta(seconds=storm.within)
            if world.active.opened_since(c.rule_id, since, exclude=c.fingerprint) >= storm.more_than:
                state = state.model_copy(update={"storm_held": True})
                out.effects.append(Forward(self._storm_candidate(c)))
        return self._notify(out, state, c, now, world, "opened")

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
            out.effects.append(Forward(self._storm_candidate(c)))
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
        if held and self._suppressor(merged, c, now, world) is None:
            change = "released"
        if change is None:
            out.state, out.reason = merged, "in_cooldown"
            return out
        out.reason = change
        self._notify(out, merged, c, now, world, change)
        return out

    def _resolve(
        self,
        state: AlertState,
        now: datetime,
        event: AlertCandidate | None = None,
        by: str | None = None,
        note: str | None = None,
    ) -> Decision:
        """The condition ended: tell whoever heard it fire (the same agencies), then forget it soon.

        ``event`` is the match that ended it (an absent group reporting again), if any.
        """
        update: dict[str, object] = {"status": "resolved", "resolved_clock": now}
        if event is not None:
            update["last_seen"] = max(state.last_seen, event.event_time)
            update["evidence"] = _evidence(state.evidence, event)
        if by is not None and state.acked_by is None:
            update.update(acked_by=by, ack_note=note, acked_at=now)
        done = state.model_copy(update=update)
        out = Decision(done, reason="resolved")
        self._notify(out, done, event or state.candidate, now, World(), "resolved")
        out.effects.append(Publish(state.candidate.fingerprint, None))
        return out

    def _escalation_due(self, state: AlertState, now: datetime) -> int:
        """Nobody can acknowledge what nobody was told: a withheld alert does not escalate."""
        if state.acked_by is not None or state.withheld is not None:
            return 0
        found = self.router.escalation_policy(_route_input(state.candidate, state.tier))
        if found is None:
            return 0
        policy = found[1]
        step = state.escalation + 1
        told = state.told_clock
        if told is None or step > policy.steps or now < told + timedelta(seconds=policy.after * step):
            return 0
        return step

    def _escalate(self, state: AlertState, now: datetime, world: World, step: int) -> Decision:
        base = _route_input(state.candidate, state.tier)
        added, _ = self.router.escalation_step(base, step)
        _, raised = self.router.escalation_step(_route_input(state.candidate, state.tier), 1)
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
        out = Decision(up, reason="escalated")
        self._notify(out, up, state.candidate, now, world, "escalated")
        return out

    # -- notices ----------------------------------------------------------------------------

    def _active(self, s: AlertState) -> ActiveAlert:
        c, loc = s.candidate, s.candidate.location
        return ActiveAlert(
            fingerprint=c.fingerprint,
            alert_id=s.alert_id,
            rule_id=c.rule_id,
            risk=c.risk,
            tier=s.tier,
            family=c.family,
            kind=c.kind,
            place=(loc.city, loc.district, loc.street, loc.community, loc.grid),
            opened_at=s.opened_clock,
            withheld=s.withheld is not None,
            storm=c.group_key == STORM_GROUP,
        )

    def _suppressor(
        self, s: AlertState, c: AlertCandidate, now: datetime, world: World
    ) -> tuple[str, InhibitedNote | None] | None:
        """Why a notice of this alert must be withheld now, if it must."""
        if s.storm_held:
            return f"storm control: {c.rule_id} fired for many groups at once", None
        silence = world.silences.matching(self._labels(s, c), now)
        if silence is not None:
            return silence.describe(), None
        if self.router.spec.inhibit:
            found = world.active.inhibitor(self._active(s), self.router.spec.inhibit)
            if found is not None:
                src, rule = found
                note = InhibitedNote(
                    fingerprint=src.fingerprint, alert_id=s.alert_id, rule_id=c.rule_id, group_key=c.group_key
                )
                return (
                    f"inhibited by {src.tier.label} alert {src.alert_id} ({src.rule_id}) under '{rule.name}'",
                    note,
                )
        return None

    def _labels(self, s: AlertState, c: AlertCandidate) -> dict[str, str]:
        loc = c.location
        labels = {
            "rule": c.rule_id,
            "risk": c.risk.value,
            "tier": s.tier.value,
            "family": c.family.value,
            "kind": c.kind,
            **{
                lv: v
                for lv, v in (
                    ("city", loc.city),
                    ("district", loc.district),
                    ("street", loc.street),
                    ("community", loc.community),
                    ("grid", loc.grid),
                )
                if v
            },
        }
        labels.update(c.group)
        return labels

    def _notify(
        self, out: Decision, s: AlertState, c: AlertCandidate, now: datetime, world: World, change: Change
    ) -> AlertState:
        withheld = None
        if change in ("resolved", "acknowledged"):
            # Whoever heard the alert hears how it ended; if nobody did, nobody hears this either.
            withheld = None if s.delivered else s.withheld
        else:
            found = self._suppressor(s, c, now, world)
            if found is not None:
                withheld, note = found
                if note is not None and s.withheld != withheld:
                    out.effects.append(Forward(note))
        s = s.model_copy(
            update={
                "notice_seq": s.notice_seq + 1,
                "notified_at": c.event_time if change != "resolved" else s.notified_at,
                "withheld": withheld,
                "delivered": s.delivered or withheld is None,
                "told_clock": s.told_clock or (now if withheld is None else None),
            }
        )
        alert = self._alert(s, c, now, change, withheld)
        if withheld is None:
            heard = dict(s.heard)
            for agency, why in alert.routed_because.items():
                heard.setdefault(agency, why)
            s = s.model_copy(update={"heard": heard})
        out.state = s
        out.notices.append(Notice(alert))
        if change not in ("resolved", "acknowledged"):
            # Every other notice may change what the index holds: tier, or whether it is withheld.
            out.effects.append(Publish(c.fingerprint, self._active(s)))
        return s

    def _alert(
        self, s: AlertState, c: AlertCandidate, now: datetime, change: Change, withheld: str | None
    ) -> Alert:
        loc = c.location
        routed = self.router.resolve(_route_input(c, s.tier))
        for agency, why in s.escalated_because.items():
            routed.setdefault(agency, why)
        if change in ("tier_lowered", "acknowledged", "resolved"):
            # Whoever heard it at a higher tier hears it come down, taken in hand, and end.
            for agency, why in s.heard.items():
                routed.setdefault(agency, why)
        storm = None
        if s.storm_members:
            top = sorted(s.storm_members.items(), key=lambda kv: (-kv[1], kv[0]))
            n = self.router.spec.storm.top if self.router.spec.storm else 10
            storm = StormSummary(groups=len(top), top=top[:n])
        summary = c.summary
        if storm is not None:
            summary = f"{c.title}: {storm.groups} groups within {self._storm_window()}"
        return Alert(
            alert_id=s.alert_id,
            fingerprint=c.fingerprint,
            status=s.status,
            change=change,
            notice_seq=s.notice_seq,
            rule_id=c.rule_id,
            rule_version=c.rule_version,
            risk=c.risk,
            tier=s.tier,
            tier_level=s.tier.level,
            title=c.title,
            summary=summary,
            action=c.action,
            family=c.family,
            kind=c.kind,
            group=c.group,
            group_key=c.group_key,
            location=loc,
            grid_path=loc.path(),
            first_seen=s.first_seen,
            last_seen=s.last_seen,
            count=s.count,
            window=c.window,
            evidence=list(s.evidence),
            agencies=list(routed),
            routed_because=routed,
            raised_at=now.astimezone(UTC),
            escalation=s.escalation,
            acknowledged_by=s.acked_by,
            acknowledged_at=s.acked_at,
            ack_note=s.ack_note,
            inhibited=list(s.inhibited),
            inhibited_count=s.inhibited_count,
            storm=storm,
            withheld_by=withheld,
        )

    def _storm_window(self) -> str:
        storm = self.router.spec.storm
        return format_duration(storm.within) if storm else "?"

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


Outcome = Literal[
    "duplicate",
    "opened",
    "resolved_and_opened",
    "in_cooldown",
    "tier_raised",
    "tier_lowered",
    "repeat",
    "released",
    "resolved",
    "nothing_to_resolve",
    "acknowledged",
    "escalated",
    "waiting",
    "forgotten",
]
