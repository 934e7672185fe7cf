"""A notice: what a duty officer reads, and whether it may reach them now.

Built from an alert's state and its latest match. A notice is withheld from agencies (sent to the
audit topic only, and counted) while storm control holds the alert, a silence matches it, or a
firing alert at a higher tier inhibits it. A shadow rule's notice is decided exactly like a live
one's and marked ``shadow``: dispatch sends it to the audit topic only.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from rules.alert_state import AlertState, active_entry, labels, route_input
from rules.alerts import Alert, AlertCandidate, Change, InhibitedNote, StormSummary
from rules.durations import format_duration
from rules.routing import Router
from rules.world import World


def suppressor(
    router: Router, s: AlertState, c: AlertCandidate, now: datetime, world: World
) -> tuple[str, InhibitedNote | None] | None:
    """Why a notice of this alert must be withheld now, if it must.

    A shadow alert may be held back as its live twin would be, but is listed only in a shadow
    alert that inhibits it, never in a live one: duty officers must not read of shadow rules.
    """
    if s.storm_held:
        return f"storm control: {c.rule_id} fired for many groups at once", None
    silence = world.silences.matching(labels(s, c), now)
    if silence is not None:
        return silence.describe(), None
    if router.spec.inhibit:
        found = world.active.inhibitor(active_entry(s), router.spec.inhibit)
        if found is not None:
            src, rule = found
            note = None
            if src.shadow or not c.shadow:
                note = InhibitedNote(
                    fingerprint=src.fingerprint, alert_id=s.alert_id, rule_id=c.rule_id, group_key=c.group_key
                )
            return (
                f"inhibited by {src.tier.label} alert {src.alert_id} ({src.rule_id}) under '{rule.name}'",
                note,
            )
    return None


def recipients(router: Router, s: AlertState, c: AlertCandidate, change: Change) -> dict[str, str]:
    """Who a notice of ``change`` in this state goes to, agency id to why, in a stable order."""
    routed = router.resolve(route_input(c, s.tier))
    for agency, why in s.escalated_because.items():
        routed.setdefault(agency, why)
    if change in ("tier_lowered", "acknowledged", "resolved"):
        # Whoever heard it at a higher tier hears it come down, taken in hand, and end.
        for agency, why in s.heard.items():
            routed.setdefault(agency, why)
    return routed


def build_alert(
    router: Router,
    s: AlertState,
    c: AlertCandidate,
    now: datetime,
    change: Change,
    withheld: str | None,
    because: Mapping[str, str] | None = None,
) -> Alert:
    """The notice for this state: what, where, since when, how often, who hears it and why.

    ``because``: reasons that replace the standing ones of those agencies for this notice (an
    escalation step re-notifying agencies that heard of it already says so).
    """
    loc = c.location
    routed = recipients(router, s, c, change)
    routed.update(because or {})
    storm = None
    if s.storm_members:
        top = sorted(s.storm_members.items(), key=lambda kv: (-kv[1], kv[0]))
        n = router.spec.storm.top if router.spec.storm else 10
        storm = StormSummary(groups=len(top), top=top[:n])
    summary = c.summary
    if storm is not None:
        summary = f"{c.title}: {storm.groups} groups within {_storm_window(router)}"
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
        resolved_by=s.resolved_by,
        resolved_at=s.resolved_at,
        resolve_note=s.resolve_note,
        inhibited=list(s.inhibited),
        inhibited_count=s.inhibited_count,
        storm=storm,
        withheld_by=withheld,
        shadow=c.shadow,
        replaces=c.replaces,
    )


def _storm_window(router: Router) -> str:
    storm = router.spec.storm
    return format_duration(storm.within) if storm else "?"
