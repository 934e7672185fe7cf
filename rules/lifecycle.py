"""Dispatch decisions for one alert: open, merge into the open one, or notify a higher tier.

State is per fingerprint and carried by the caller (a Faust table in the worker, a dict in rule
tests). Time is the candidate's event time, so replays and backtests decide exactly as live.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import AwareDatetime, BaseModel, ConfigDict

from rules.alerts import MAX_EVIDENCE, Alert, AlertCandidate, alert_id
from rules.model import Tier
from rules.routing import RouteInput, Router


class AlertState(BaseModel):
    """What dispatch remembers about one fingerprint between candidates."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    alert_id: str
    opened_by: str
    tier: Tier
    first_seen: AwareDatetime
    last_seen: AwareDatetime
    notified_at: AwareDatetime
    count: int
    notice_seq: int
    evidence: tuple[str, ...]
    resolved: bool = False


@dataclass(frozen=True)
class Decision:
    state: AlertState | None
    alert: Alert | None
    reason: str


def _evidence(old: tuple[str, ...], c: AlertCandidate) -> tuple[str, ...]:
    new = [e for e in (*c.evidence, c.event_id) if e not in old]
    return (*old, *dict.fromkeys(new))[-MAX_EVIDENCE:]


def _open(c: AlertCandidate) -> AlertState:
    return AlertState(
        alert_id=alert_id(c.fingerprint, c.event_id),
        opened_by=c.event_id,
        tier=c.tier,
        first_seen=c.event_time,
        last_seen=c.event_time,
        notified_at=c.event_time,
        count=1,
        notice_seq=1,
        evidence=_evidence((), c),
    )


class Dispatcher:
    """Turns candidates into notices: one per occurrence, plus one per tier increase."""

    def __init__(self, router: Router):
        self.router = router

    def handle(self, state: AlertState | None, c: AlertCandidate, now: datetime | None = None) -> Decision:
        """Decide for one candidate; ``now`` stamps the notice (processing time), default event time.

        A redelivered event (same id) changes nothing. The worker hands notices to the producer
        before it stores the new state, so a crash between the two re-opens the alert on replay
        with the same id rather than losing the notice.
        """
        if state is not None and (c.event_id == state.opened_by or c.event_id in state.evidence):
            return Decision(state, None, "duplicate")
        if c.status == "resolved":
            return self._resolve(state, c, now)
        if (
            state is None
            or state.resolved
            or c.event_time >= state.notified_at + timedelta(seconds=c.cooldown)
        ):
            new = _open(c)
            return Decision(new, self._alert(new, c, now), "opened")
        raised = c.tier.rank > state.tier.rank
        merged = state.model_copy(
            update={
                "tier": c.tier if raised else state.tier,
                "first_seen": min(state.first_seen, c.event_time),
                "last_seen": max(state.last_seen, c.event_time),
                "count": state.count + 1,
                "evidence": _evidence(state.evidence, c),
                "notice_seq": state.notice_seq + 1 if raised else state.notice_seq,
                "notified_at": c.event_time if raised else state.notified_at,
            }
        )
        if raised:
            return Decision(merged, self._alert(merged, c, now), "tier_raised")
        return Decision(merged, None, "in_cooldown")

    def _resolve(self, state: AlertState | None, c: AlertCandidate, now: datetime | None) -> Decision:
        """The condition ended (an absent group reported again): tell whoever heard it fire."""
        if state is None or state.resolved:
            return Decision(state, None, "nothing_to_resolve")
        done = state.model_copy(
            update={
                "resolved": True,
                "last_seen": max(state.last_seen, c.event_time),
                "notice_seq": state.notice_seq + 1,
                "evidence": _evidence(state.evidence, c),
            }
        )
        return Decision(done, self._alert(done, c, now), "resolved")

    def _alert(self, s: AlertState, c: AlertCandidate, now: datetime | None) -> Alert:
        loc = c.location
        routed = self.router.resolve(
            RouteInput(c.rule_id, c.route, c.risk, s.tier, c.family, c.kind, loc.district, loc.grid)
        )
        return Alert(
            alert_id=s.alert_id,
            fingerprint=c.fingerprint,
            status="resolved" if s.resolved else "firing",
            notice_seq=s.notice_seq,
            rule_id=c.rule_id,
            rule_version=c.rule_version,
            risk=c.risk,
            tier=s.tier,
            tier_level=s.tier.level,
            title=c.title,
            summary=c.summary,
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
            raised_at=(now or c.event_time).astimezone(UTC),
        )
