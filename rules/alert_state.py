"""One alert's remembered state, and the facts about it that routing, silences and inhibition read."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict

from rules.alerts import AlertCandidate, Status, fingerprint
from rules.model import Tier
from rules.routing import RouteInput
from rules.world import ActiveAlert

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
    """Clock time agencies first heard of it (None: never): escalation counts from here."""
    notified_clock: AwareDatetime | None = None
    """Clock time of the last notice: an absence, which no match renews, repeats from here."""
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
    resolved_by: str | None = None
    """Who resolved it by hand (None: it ended by itself, or has not ended)."""
    resolved_at: AwareDatetime | None = None
    resolve_note: str | None = None
    resolved_clock: AwareDatetime | None = None
    withheld: str | None = None
    """Why the last notice was held back from agencies (None: it was delivered)."""
    storm_held: bool = False
    inhibited: tuple[str, ...] = ()
    inhibited_count: int = 0
    storm_members: dict[str, int] = {}

    @property
    def delivered(self) -> bool:
        """Some notice of it reached agencies."""
        return self.told_clock is not None

    @property
    def open(self) -> bool:
        return self.status != "resolved"


def route_input(c: AlertCandidate, tier: Tier) -> RouteInput:
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


def active_entry(s: AlertState) -> ActiveAlert:
    """The alert as other alerts' decisions see it."""
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
        shadow=c.shadow,
    )


def labels(s: AlertState, c: AlertCandidate) -> dict[str, str]:
    """What a silence matches on: rule, risk, tier, family, kind, place levels and group fields."""
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
