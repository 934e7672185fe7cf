"""The rules a worker runs, reloaded when their files change; a broken edit never replaces good rules."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from rules.compiler import RuleSet, load_ruleset, pack_files
from rules.engine import Engine
from rules.errors import RiskstreamError
from rules.lifecycle import Dispatcher
from rules.routing import load_routing
from rules.stateful import WindowJudge
from streams import metrics
from streams.settings import Settings

log = logging.getLogger(__name__)


def _eval_error(rule_id: str, message: str) -> None:
    metrics.RULE_EVAL_ERRORS.labels(rule_id).inc()
    log.debug("rule %s could not be evaluated: %s", rule_id, message)


@dataclass
class LiveRules:
    settings: Settings
    ruleset: RuleSet
    engine: Engine
    judge: WindowJudge
    dispatcher: Dispatcher
    _stamp: tuple[tuple[str, float], ...] = ()
    generation: int = 0
    """Counts reloads, so stages know to pick up the new rules."""

    @classmethod
    def load(cls, settings: Settings) -> LiveRules:
        """Load or raise: a worker must not start on broken rules."""
        ruleset = _load(settings)
        live = cls(
            settings,
            ruleset,
            Engine(ruleset.rules, _eval_error),
            WindowJudge(ruleset.rules, _eval_error),
            ruleset.dispatcher(),
        )
        live._stamp = live._files_stamp()
        metrics.RULES_LOADED.set(len(live.engine.rules))
        return live

    def _files_stamp(self) -> tuple[tuple[str, float], ...]:
        files = [*pack_files(self.settings.rules_path), self.settings.routing_path]
        out = []
        for f in files:
            try:
                out.append((str(f), f.stat().st_mtime))
            except OSError:  # gone or unreadable: loading says which, with the file
                out.append((str(f), -1.0))
        return tuple(out)

    def maybe_reload(self) -> bool:
        """Swap in changed rules if they load cleanly; otherwise log every error and keep the old."""
        stamp = self._files_stamp()
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            ruleset = _load(self.settings)
        except RiskstreamError as exc:
            metrics.RULE_RELOADS.labels("refused").inc()
            log.error(
                "rule change refused, still running the previous %d rules:\n%s", len(self.engine.rules), exc
            )
            return False
        except Exception:  # a bug met loading them must not stop a running worker either
            metrics.RULE_RELOADS.labels("refused").inc()
            log.exception(
                "rule change refused (an error in riskstream, please report it), still running the "
                "previous %d rules", len(self.engine.rules)
            )
            return False
        self.ruleset = ruleset
        self.engine = Engine(ruleset.rules, _eval_error)
        self.judge = WindowJudge(ruleset.rules, _eval_error)
        self.dispatcher = ruleset.dispatcher()
        self.generation += 1
        metrics.RULE_RELOADS.labels("ok").inc()
        metrics.RULES_LOADED.set(len(self.engine.rules))
        log.info("rules reloaded: %d rules from %d files", len(self.engine.rules), len(ruleset.files))
        return True


def _load(settings: Settings) -> RuleSet:
    router = load_routing(Path(settings.routing_path))
    ruleset = load_ruleset(settings.rules_path, router)
    for warning in ruleset.warnings:
        log.warning("rule warning (the rule runs as written): %s", warning)
    return ruleset
