"""Silences and maintenance windows: time-bounded matchers that withhold notices, never alerts.

A silenced alert is still tracked, counted and audited; only its notices to agencies are held
back while a silence matches it. A silence is one-off (``starts_at`` to ``ends_at``) or recurring
inside that span (``every: [sun]`` from ``02:00`` to ``04:00`` local time), and expires by itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_TZ = "Asia/Shanghai"
MATCH_KEYS = ("rule", "risk", "tier", "family", "kind", "city", "district", "street", "community", "grid")
"""Matcher keys besides group fields (written as the rule's group_by paths, e.g. source_id)."""


class Recurrence(BaseModel):
    """A weekly maintenance window in local time; ``to`` before ``from`` runs past midnight."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    every: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS), min_length=1)
    start: time = Field(alias="from")
    end: time = Field(alias="to")
    tz: str = DEFAULT_TZ

    @model_validator(mode="after")
    def _known_zone(self) -> Recurrence:
        try:
            ZoneInfo(self.tz)
        except Exception:
            raise ValueError(
                f"unknown time zone {self.tz!r}; use an IANA name such as Asia/Shanghai"
            ) from None
        if self.start == self.end:
            raise ValueError("a maintenance window needs 'from' and 'to' to differ")
        return self

    def covers(self, at: datetime) -> bool:
        local = at.astimezone(ZoneInfo(self.tz))
        t = local.time().replace(tzinfo=None)
        day = WEEKDAYS[local.weekday()]
        if self.start < self.end:
            return day in self.every and self.start <= t < self.end
        if t >= self.start:
            return day in self.every
        yesterday = WEEKDAYS[(local - timedelta(days=1)).weekday()]
        return t < self.end and yesterday in self.every


class Silence(BaseModel):
    """Who silenced what, why, and for how long."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(default_factory=lambda: uuid.uuid4().hex[:12], min_length=1, max_length=64)
    matchers: dict[str, str | list[str]] = Field(
        min_length=1, description="All must hold; a list means any of its values"
    )
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    recurring: Recurrence | None = None
    author: str = Field(min_length=1, max_length=100)
    reason: str = Field(min_length=1, max_length=500)
    created_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _ends_after_start(self) -> Silence:
        if self.ends_at <= self.starts_at:
            raise ValueError("a silence must end after it starts")
        return self

    def active(self, at: datetime) -> bool:
        if not self.starts_at <= at < self.ends_at:
            return False
        return self.recurring is None or self.recurring.covers(at)

    def matches(self, labels: Mapping[str, str]) -> bool:
        for key, want in self.matchers.items():
            have = labels.get(key)
            if have is None:
                return False
            if isinstance(want, list) and have not in want:
                return False
            if isinstance(want, str) and have != want:
                return False
        return True

    def describe(self) -> str:
        return f"silence {self.id} by {self.author}: {self.reason}"


class SilenceFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1]
    silences: list[Silence] = Field(min_length=1)


class SilenceBook:
    """The silences a worker knows (all of them: every worker reads the whole silences topic)."""

    def __init__(self, silences: Iterable[Silence] = ()):
        self._by_id: dict[str, Silence] = {s.id: s for s in silences}

    def put(self, silence: Silence) -> None:
        self._by_id[silence.id] = silence

    def drop(self, silence_id: str) -> None:
        self._by_id.pop(silence_id, None)

    def get(self, silence_id: str) -> Silence | None:
        return self._by_id.get(silence_id)

    def all(self) -> list[Silence]:
        return sorted(self._by_id.values(), key=lambda s: (s.starts_at, s.id))

    def matching(self, labels: Mapping[str, str], at: datetime) -> Silence | None:
        for s in self._by_id.values():
            if s.active(at) and s.matches(labels):
                return s
        return None

    def forget_ended(self, before: datetime) -> None:
        for sid in [s.id for s in self._by_id.values() if s.ends_at < before]:
            del self._by_id[sid]
