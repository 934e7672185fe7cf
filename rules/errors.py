"""Every error riskstream raises on purpose, under one root so callers can catch them together."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class RiskstreamError(Exception):
    """Root of all riskstream errors."""


class ConfigError(RiskstreamError):
    """A setting or a file the operator supplies is wrong."""


class AlertNotOpenError(RiskstreamError):
    """A duty officer named an alert that is not open (resolved, mistyped, or ambiguous)."""


@dataclass(frozen=True)
class Location:
    """Where in a YAML file a problem is, 1-based as editors count."""

    file: Path | str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        out = str(self.file)
        if self.line is not None:
            out += f":{self.line}"
            if self.column is not None:
                out += f":{self.column}"
        return out


class RuleError(RiskstreamError):
    """A rule, pack or routing file is wrong; the message says where and what to change."""

    def __init__(self, message: str, location: Location | None = None, rule_id: str | None = None):
        self.message = message
        self.location = location
        self.rule_id = rule_id
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        rule = f"rule '{self.rule_id}': " if self.rule_id else ""
        return f"{where}{rule}{self.message}"


@dataclass(frozen=True)
class RuleWarning:
    """A rule that loads and runs but is almost certainly not what its author meant.

    ``riskstream rules lint`` prints it with file and line and still exits 0 (``--strict`` makes it
    an error); a worker logs it and runs the rule.
    """

    message: str
    location: Location | None = None
    rule_id: str | None = None

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        rule = f"rule '{self.rule_id}': " if self.rule_id else ""
        return f"{where}{rule}{self.message}"


class RuleSetError(RiskstreamError):
    """One or more rule errors, collected so an author sees them all in one run."""

    def __init__(self, errors: list[RuleError]):
        self.errors = errors
        lines = "\n".join(f"  {e}" for e in errors)
        super().__init__(f"{len(errors)} error(s) in rules:\n{lines}")


class EventDecodeError(RiskstreamError):
    """An input message is not a valid event; it belongs on the dead-letter topic."""

    def __init__(self, category: str, reason: str):
        self.category = category
        self.reason = reason
        super().__init__(f"{category}: {reason}")


class DurationError(ValueError):
    """A duration string such as '10m' could not be read."""
