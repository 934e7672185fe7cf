"""The board's picture of the alerts: the latest notice of each, from the audit topic.

The audit topic carries every notice, including the ones withheld from agencies, so the board
shows what the workers decided, not what one agency heard. An alert leaves the board a while after
it resolves, so the officer who closed it sees it close.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from rules.alerts import Alert, CloudEvent

KEEP_RESOLVED = timedelta(minutes=30)
SEEN_LIMIT = 100_000


@dataclass
class BoardView:
    """Alerts by id, each as its latest notice; ``apply`` says whether the board changed."""

    keep_resolved: timedelta = KEEP_RESOLVED
    alerts: dict[str, Alert] = field(default_factory=dict)
    _seen: OrderedDict[str, None] = field(default_factory=OrderedDict)

    def apply(self, notice: CloudEvent) -> Alert | None:
        """The alert as the board now shows it, or None for a duplicate, an older notice or a shadow
        rule's (duty officers never see those)."""
        if notice.id in self._seen or notice.data.shadow:
            return None
        self._seen[notice.id] = None
        if len(self._seen) > SEEN_LIMIT:
            self._seen.popitem(last=False)
        alert = notice.data
        known = self.alerts.get(alert.alert_id)
        if known is not None and known.notice_seq >= alert.notice_seq:
            return None
        self.alerts[alert.alert_id] = alert
        return alert

    def expire(self, now: datetime) -> list[str]:
        """Resolved alerts older than ``keep_resolved``: they leave the board."""
        gone = [a.alert_id for a in self.alerts.values()
                if a.status == "resolved" and now - a.raised_at > self.keep_resolved]
        for alert_id in gone:
            del self.alerts[alert_id]
        return gone

    def snapshot(self) -> list[dict[str, Any]]:
        return [card(a) for a in self.alerts.values()]


def card(alert: Alert) -> dict[str, Any]:
    """What the page draws for one alert: the notice itself, plus the silence an officer would add."""
    data: dict[str, Any] = alert.model_dump(mode="json")
    data["silence_matchers"] = {"rule": alert.rule_id, **alert.group}
    return data
