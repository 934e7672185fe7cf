"""Published rule versions: the record format of the rules topic, its checksum, and reading it back.

A version holds the text of every pack and of the routing file, so a worker compiles exactly what
the author linted and tested, wherever its disk is. The topic is compacted and keeps every
version under its own key (its number) next to one pointer record (key ``current``) naming the
version workers run: a rollback rewrites only the pointer, and the history stays readable.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from rules.compiler import RuleSet, load_ruleset
from rules.errors import RiskstreamError
from rules.routing import load_routing

CURRENT_KEY = b"current"


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RuleFile(_Record):
    """One file as published: the name its author's checkout has (errors name it) and its text."""

    name: str = Field(min_length=1)
    text: str


class RuleVersion(_Record):
    """Every pack and the routing file, as one published version."""

    format: Literal[1] = 1
    version: int = Field(ge=1)
    author: str = Field(min_length=1)
    message: str = Field(min_length=1)
    published_at: AwareDatetime
    checksum: str = Field(pattern=r"^[0-9a-f]{64}$")
    routing: RuleFile
    packs: tuple[RuleFile, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _content_is_what_was_published(self) -> RuleVersion:
        names = [p.name for p in self.packs]
        if len(set(names)) != len(names):
            raise ValueError("two packs have the same name")
        if self.checksum != content_checksum(self.packs, self.routing):
            raise ValueError("the checksum does not match the files: the record was altered or damaged")
        return self

    @classmethod
    def create(
        cls,
        version: int,
        packs: Sequence[RuleFile],
        routing: RuleFile,
        author: str,
        message: str,
        at: datetime,
    ) -> RuleVersion:
        return cls(
            version=version,
            author=author,
            message=message,
            published_at=at,
            checksum=content_checksum(packs, routing),
            routing=routing,
            packs=tuple(packs),
        )

    @property
    def key(self) -> bytes:
        return version_key(self.version)

    def encode(self) -> bytes:
        return self.model_dump_json().encode()

    def compile(self, zone: tzinfo) -> RuleSet:
        """The rules this version describes, checked as `riskstream rules lint` checks files, with
        local time read in ``zone`` (the city's); raises RuleSetError (or RuleError) naming the
        published files and lines."""
        router = load_routing(Path(self.routing.name), self.routing.text)
        return load_ruleset([], router, {Path(p.name): p.text for p in self.packs}, zone=zone)


class CurrentPointer(_Record):
    """Which version workers run, and who made it so (a publish, or a rollback to an older one)."""

    format: Literal[1] = 1
    version: int = Field(ge=1)
    checksum: str = Field(pattern=r"^[0-9a-f]{64}$")
    action: Literal["publish", "rollback"]
    by: str = Field(min_length=1)
    at: AwareDatetime

    @classmethod
    def to(
        cls, target: RuleVersion, action: Literal["publish", "rollback"], by: str, at: datetime
    ) -> CurrentPointer:
        return cls(version=target.version, checksum=target.checksum, action=action, by=by, at=at)

    def encode(self) -> bytes:
        return self.model_dump_json().encode()


def version_key(version: int) -> bytes:
    return str(version).encode()


def content_checksum(packs: Sequence[RuleFile], routing: RuleFile) -> str:
    """sha256 of the files' names and texts, each length-prefixed (so no two contents collide by
    shifting bytes between fields); who published, when and why are not part of it."""
    digest = hashlib.sha256()
    for role, f in [("routing", routing), *(("pack", p) for p in packs)]:
        for part in (role, f.name, f.text):
            data = part.encode()
            digest.update(len(data).to_bytes(8, "big"))
            digest.update(data)
    return digest.hexdigest()


class RecordError(RiskstreamError):
    """A record on the rules topic that is not a version or pointer this riskstream can read."""


@dataclass
class RuleHistory:
    """The rules topic as read so far: every version kept, and the pointer."""

    versions: dict[int, RuleVersion] = field(default_factory=dict)
    current: CurrentPointer | None = None

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """One record, in topic order; a tombstone forgets a version. Raises RecordError, and the
        history stays as it was, for a record that cannot be read."""
        if key == CURRENT_KEY:
            if value is not None:
                self.current = _parse(CurrentPointer, value, "pointer")
            return
        text = (key or b"").decode(errors="replace")
        if not text.isdigit():
            raise RecordError(f"unknown key {text!r} (expected a version number or 'current')")
        number = int(text)
        if value is None:
            self.versions.pop(number, None)
            return
        version = _parse(RuleVersion, value, f"version {number}")
        if version.version != number:
            raise RecordError(f"the record under key {number} holds version {version.version}")
        self.versions[number] = version

    @property
    def wanted(self) -> RuleVersion | None:
        """The version the pointer names (None: no pointer, or it names a version not held)."""
        return None if self.current is None else self.versions.get(self.current.version)

    def next_version(self) -> int:
        """One above every version ever seen, the pointer's included, so numbers only grow."""
        seen = [*self.versions, *([self.current.version] if self.current is not None else [])]
        return max(seen, default=0) + 1

    def listing(self) -> list[RuleVersion]:
        """Every version held, newest first."""
        return [self.versions[n] for n in sorted(self.versions, reverse=True)]

    def older_than(self, version: int) -> list[RuleVersion]:
        """The versions before ``version``, newest first: what a worker falls back to."""
        return [v for v in self.listing() if v.version < version]


_M = TypeVar("_M", bound=_Record)


def _parse(model: type[_M], value: bytes, what: str) -> _M:
    try:
        return model.model_validate_json(value)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'record'}: {e['msg']}" for e in exc.errors(include_url=False)
        )
        raise RecordError(f"{what} cannot be read ({problems})") from None
