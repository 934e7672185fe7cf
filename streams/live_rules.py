"""The rules a worker runs, replaced when a change arrives; a change that does not compile never
replaces good rules.

Where changes come from is a small source class (``SOURCES``, chosen by RISKSTREAM_RULES_SOURCE):
the rule files on this machine's disk, re-read when they change, or the version the rules topic
names current, switched to as its record arrives (``streams.rule_publish``). Either way the
source only offers rules; compiling them, refusing them and swapping them in is done here once.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from rules.compiler import RuleSet, load_ruleset, pack_files
from rules.engine import Engine
from rules.errors import ConfigError, RiskstreamError
from rules.lifecycle import Dispatcher
from rules.routing import load_routing
from rules.rule_bundle import RuleHistory, RuleVersion
from rules.stateful import WindowJudge
from streams import metrics, rule_publish
from streams.settings import Settings
from streams.topics import rules_topic

log = logging.getLogger(__name__)

RETRY = 2.0


def _eval_error(rule_id: str, message: str) -> None:
    metrics.RULE_EVAL_ERRORS.labels(rule_id).inc()
    log.debug("rule %s could not be evaluated: %s", rule_id, message)


@dataclass(frozen=True)
class Offer:
    """Rules a source offers, compiled only when taken (``load`` raises what is wrong with them)."""

    label: str
    """What they are, for log lines: 'the rule files', 'version 8 (by ...: message)'."""
    load: Callable[[], RuleSet]
    version: int = 0
    """The published version; 0 for files."""


class RuleSource(ABC):
    """Where a worker's rules come from."""

    name: ClassVar[str]

    def __init__(self, settings: Settings):
        self.settings = settings

    @abstractmethod
    def first(self) -> list[Offer]:
        """What to start on, in order of preference: the first that compiles runs."""

    @abstractmethod
    def poll(self) -> Offer | None:
        """A change not offered before, or None."""

    @abstractmethod
    async def follow(self, changed: Callable[[], object]) -> None:
        """Watch for changes and call ``changed`` as each arrives."""

    def wanted_version(self) -> int:
        return 0


class FileRules(RuleSource):
    """RISKSTREAM_RULES_PATH and RISKSTREAM_ROUTING_PATH, offered again whenever a file's time changes."""

    name = "files"

    def __init__(self, settings: Settings):
        super().__init__(settings)
        self._stamp = self._files_stamp()

    def first(self) -> list[Offer]:
        return [Offer("the rule files", lambda: _load(self.settings))]

    def poll(self) -> Offer | None:
        stamp = self._files_stamp()
        if stamp == self._stamp:
            return None
        self._stamp = stamp
        return Offer("edited rule files", lambda: _load(self.settings))

    async def follow(self, changed: Callable[[], object]) -> None:
        """Nothing to watch: the worker's reload timer polls the files."""

    def _files_stamp(self) -> tuple[tuple[str, float], ...]:
        files = [*pack_files(self.settings.rules_path), self.settings.routing_path]
        out = []
        for f in files:
            try:
                out.append((str(f), f.stat().st_mtime))
            except OSError:  # gone or unreadable: loading says which, with the file
                out.append((str(f), -1.0))
        return tuple(out)


class TopicRules(RuleSource):
    """The version the rules topic names current. Each worker reads the topic whole with a consumer
    of its own (no group), so every worker meets a new pointer as it is committed and switches then."""

    name = "topic"

    def __init__(self, settings: Settings):
        super().__init__(settings)
        self.history = RuleHistory()
        self._offered: int | None = None

    def first(self) -> list[Offer]:
        self.adopt(asyncio.run(rule_publish.read_history(self.settings)))
        return self.starting_offers()

    def starting_offers(self) -> list[Offer]:
        """The current version, then the ones before it, newest first: a worker that cannot compile
        the current version starts on the newest it can, and shows as lagging."""
        current = self.history.current
        if current is None:
            raise ConfigError(
                f"no rule version is current on {rules_topic(self.settings)}: publish one with "
                "`riskstream rules publish`, or set RISKSTREAM_RULES_SOURCE=files to run the rule files"
            )
        self._offered = current.version
        wanted = self._offer(current.version)
        return [wanted, *(self._offer(v.version) for v in self.history.older_than(current.version))]

    def adopt(self, history: RuleHistory) -> None:
        """The topic as now read (the follower hands it over after each batch)."""
        self.history = history
        metrics.RULES_VERSION.labels("wanted").set(self.wanted_version())

    def poll(self) -> Offer | None:
        current = self.history.current
        if current is None or current.version == self._offered:
            return None
        self._offered = current.version
        return self._offer(current.version)

    async def follow(self, changed: Callable[[], object]) -> None:
        def arrived(history: RuleHistory) -> None:
            self.adopt(history)
            changed()

        while True:
            try:
                await rule_publish.follow(self.settings, arrived)
            except Exception:  # a broker hiccup must not leave the worker deaf to new versions
                log.exception("following %s failed; retrying in %.0f s", rules_topic(self.settings), RETRY)
                await asyncio.sleep(RETRY)

    def wanted_version(self) -> int:
        return 0 if self.history.current is None else self.history.current.version

    def _offer(self, number: int) -> Offer:
        found = self.history.versions.get(number)
        if found is None:
            return Offer(f"version {number}", lambda: self._missing(number), number)
        version: RuleVersion = found
        label = f"version {number} ({version.checksum[:12]}, by {version.author}: {version.message})"
        return Offer(label, lambda: version.compile(self.settings.city_tz), number)

    def _missing(self, number: int) -> RuleSet:
        raise RiskstreamError(
            f"the pointer names version {number}, which {rules_topic(self.settings)} does not hold: "
            "roll back to one `riskstream rules history` lists"
        )


SOURCES: dict[str, type[RuleSource]] = {s.name: s for s in (FileRules, TopicRules)}


@dataclass
class LiveRules:
    settings: Settings
    ruleset: RuleSet
    engine: Engine
    judge: WindowJudge
    dispatcher: Dispatcher
    source: RuleSource
    version: int = 0
    """The published version running (0: the rule files)."""
    label: str = ""
    generation: int = 0
    """Counts reloads, so stages know to pick up the new rules."""

    @classmethod
    def load(cls, settings: Settings) -> LiveRules:
        """Load or raise: a worker must not start on broken rules."""
        source = SOURCES[settings.rules_source](settings)
        return cls.start(settings, source, source.first())

    @classmethod
    def start(cls, settings: Settings, source: RuleSource, offers: list[Offer]) -> LiveRules:
        """On the first offer that compiles; each one refused before it is logged and counted.
        Raises the first offer's error if none compiles."""
        first_error: RiskstreamError | None = None
        for offer in offers:
            try:
                ruleset = offer.load()
            except RiskstreamError as exc:
                first_error = first_error or exc
                if len(offers) > 1:
                    _refused(offer, "starting on the one before it if that compiles", exc)
                continue
            live = cls(settings, ruleset, *_compiled(ruleset), source)
            live._took(offer)
            return live
        raise first_error or ConfigError("no rules to start on")

    async def follow(self) -> None:
        """Switch to each change the source announces, as it arrives (runs as a worker task)."""
        await self.source.follow(self.maybe_reload)

    def maybe_reload(self) -> bool:
        """Swap in offered rules if they compile; otherwise log every error and keep the old."""
        offer = self.source.poll()
        if offer is None or (offer.version and offer.version == self.version):
            return False
        running = f"the previous {len(self.engine.rules)} rules: {self.label}"
        try:
            ruleset = offer.load()
        except RiskstreamError as exc:
            _refused(offer, f"still running {running}", exc)
            return False
        except Exception:  # a bug met loading them must not stop a running worker either
            metrics.RULE_RELOADS.labels("refused").inc()
            log.exception(
                "rule change refused: %s (an error in riskstream, please report it); still running %s",
                offer.label,
                running,
            )
            return False
        self.ruleset = ruleset
        self.engine, self.judge, self.dispatcher = _compiled(ruleset)
        self.generation += 1
        metrics.RULE_RELOADS.labels("ok").inc()
        self._took(offer)
        return True

    def _took(self, offer: Offer) -> None:
        self.version, self.label = offer.version, offer.label
        metrics.RULES_LOADED.set(len(self.engine.rules))
        metrics.RULES_VERSION.labels("running").set(offer.version)
        metrics.RULES_VERSION.labels("wanted").set(self.source.wanted_version())
        for warning in self.ruleset.warnings:
            log.warning("rule warning (the rule runs as written): %s", warning)
        log.info(
            "running %d rules from %d files: %s", len(self.engine.rules), len(self.ruleset.files), offer.label
        )


def _compiled(ruleset: RuleSet) -> tuple[Engine, WindowJudge, Dispatcher]:
    return Engine(ruleset.rules, _eval_error), WindowJudge(ruleset.rules, _eval_error), ruleset.dispatcher()


def _refused(offer: Offer, then: str, exc: RiskstreamError) -> None:
    metrics.RULE_RELOADS.labels("refused").inc()
    log.error("rule change refused: %s; %s:\n%s", offer.label, then, exc)


def _load(settings: Settings) -> RuleSet:
    router = load_routing(Path(settings.routing_path))
    return load_ruleset(settings.rules_path, router, zone=settings.city_tz)
