"""Every error riskstream raises on purpose, under one root so callers can catch them together."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


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


class ErrorList:
    """Rule errors gathered one check at a time, so an author sees every problem of a rule in one
    run instead of fixing them one lint at a time.

    One error per place: a check that fails on a line where an earlier one did (a condition
    already refused for a mistyped name, compiled again) adds nothing new for the author.
    """

    def __init__(self) -> None:
        self.errors: list[RuleError] = []

    def add(self, error: RuleError) -> None:
        place = error.location
        if place is None or place.line is None or all(e.location != place for e in self.errors):
            self.errors.append(error)

    def attempt(self, check: Callable[[], T], failed: T) -> T:
        """``check()``, or ``failed`` once its error is noted."""
        try:
            return check()
        except RuleSetError as exc:
            for error in exc.errors:
                self.add(error)
        except RuleError as exc:
            self.add(exc)
        return failed

    def raise_any(self) -> None:
        """Raise what was gathered: the error itself when there is one, all of them when more."""
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise RuleSetError(list(self.errors))


class EventDecodeError(RiskstreamError):
    """An input message is not a valid event; it belongs on the dead-letter topic."""

    def __init__(self, category: str, reason: str):
        self.category = category
        self.reason = reason
        super().__init__(f"{category}: {reason}")


class DurationError(ValueError):
    """A duration string such as '10m' could not be read."""
