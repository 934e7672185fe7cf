"""The domain's fixed vocabularies: the five risks and the four warning tiers."""

from __future__ import annotations

from enum import StrEnum


class Risk(StrEnum):
    """The five risks (五类风险) a city-level governance centre must prevent."""

    political_security = "political_security"
    public_order = "public_order"
    social_conflict = "social_conflict"
    public_safety = "public_safety"
    cyber_security = "cyber_security"


class Tier(StrEnum):
    """Warning tiers of the Emergency Response Law: red I is the highest, blue IV the lowest."""

    blue = "blue"
    yellow = "yellow"
    orange = "orange"
    red = "red"

    @property
    def rank(self) -> int:
        """1 for blue up to 4 for red, so tiers compare by urgency."""
        return _RANK[self]

    @property
    def level(self) -> str:
        """The statutory level: IV for blue up to I for red."""
        return _LEVEL[self]

    @property
    def label(self) -> str:
        return f"{self.value} {self.level}"


_RANK = {Tier.blue: 1, Tier.yellow: 2, Tier.orange: 3, Tier.red: 4}
_LEVEL = {Tier.blue: "IV", Tier.yellow: "III", Tier.orange: "II", Tier.red: "I"}
TIERS_HIGH_FIRST: tuple[Tier, ...] = (Tier.red, Tier.orange, Tier.yellow, Tier.blue)
