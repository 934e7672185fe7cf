"""One alert's history from its notices: each notice once, who heard it and why, and its evidence.

The notices come from the audit topic (every notice, delivered or withheld) or from a file of
recorded notices (``rules backtest --notices``, or the audit topic's records saved as JSON Lines).
Delivery is at least once, so a notice may be read twice; its ``notice_seq`` names it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from rules.alerts import Alert, CloudEvent


@dataclass(frozen=True)
class AlertHistory:
    alert_id: str
    notices: tuple[Alert, ...]
    """Each notice once, in the order it was decided (``notice_seq``)."""
    copies: int = 0
    """Notices read more than once (a redelivery), left out of ``notices``."""

    @property
    def first(self) -> Alert:
        return self.notices[0]

    @property
    def last(self) -> Alert:
        return self.notices[-1]

    @property
    def evidence(self) -> tuple[str, ...]:
        """Every event id any notice named as evidence, in the order first named.

        Each notice carries its latest evidence only (at most ``MAX_EVIDENCE`` ids), so the
        union over the notices keeps what later notices no longer list."""
        return tuple(dict.fromkeys(e for n in self.notices for e in n.evidence))

    def added_evidence(self) -> list[tuple[Alert, tuple[str, ...]]]:
        """Each notice with the event ids it names that no notice before it did: what happened since."""
        seen: set[str] = set()
        out = []
        for n in self.notices:
            added = tuple(e for e in n.evidence if e not in seen)
            seen.update(added)
            out.append((n, added))
        return out

    @property
    def heard(self) -> dict[str, list[str]]:
        """Agency to the reasons of the notices delivered to it, in order, each reason once."""
        out: dict[str, list[str]] = {}
        for n in self.notices:
            if n.withheld_by is None:
                for agency, why in n.routed_because.items():
                    reasons = out.setdefault(agency, [])
                    if why not in reasons:
                        reasons.append(why)
        return out


def notice_of(data: Any) -> Alert:
    """An alert notice from what a recording holds: a CloudEvent (the audit and agency topics), a
    row of ``rules backtest --notices`` (``{"at", "decided", "alert"}``), or a bare alert."""
    if isinstance(data, dict) and "specversion" in data:
        return CloudEvent.model_validate(data).data
    if isinstance(data, dict) and isinstance(data.get("alert"), dict):
        return Alert.model_validate(data["alert"])
    return Alert.model_validate(data)


def read_notices(lines: Iterable[bytes | str], source: str) -> tuple[list[Alert], list[str]]:
    """The notices of JSON Lines, and a ``source:line: why`` for each line that is not one."""
    notices: list[Alert] = []
    problems: list[str] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            notices.append(notice_of(json.loads(line)))
        except json.JSONDecodeError as exc:
            problems.append(f"{source}:{number}: not JSON ({exc.msg})")
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(map(str, first["loc"])) or "(top)"
            problems.append(f"{source}:{number}: not an alert notice: {where}: {first['msg']}")
    return notices, problems


def history_of(alert_id: str, notices: Iterable[Alert]) -> AlertHistory:
    """The alert's notices among ``notices``; LookupError if there is none."""
    kept: dict[int, Alert] = {}
    copies = 0
    for n in notices:
        if n.alert_id != alert_id:
            continue
        if n.notice_seq in kept:
            copies += 1
        else:
            kept[n.notice_seq] = n
    if not kept:
        raise LookupError(f"no notice of alert {alert_id}")
    return AlertHistory(alert_id, tuple(kept[s] for s in sorted(kept)), copies)
