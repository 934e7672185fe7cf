"""From what authors wrote to what runs: validated packs become compiled, indexed rules.

CEL conditions are compiled here, once; field names, kinds, group paths, templates and agencies
are checked against the event contract and the routing file, so a typo is a load error with a
file and line, not a rule that silently never fires.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property, reduce
from operator import or_
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from rules.conditions import NOTHING, Condition, Reads, check_kinds, compile_condition, literal_guard
from rules.errors import Location, RuleError, RuleSetError, RuleWarning
from rules.events import MODELS, EventBase, field_getter, field_paths
from rules.forms import Form, SequenceForm, compile_form
from rules.lifecycle import Dispatcher
from rules.model import TIERS_HIGH_FIRST, Tier
from rules.routing import Router
from rules.schema import PackSpec, RuleCaseSpec, RuleSpec
from rules.templates import Template

__all__ = ["CompiledRule", "Condition", "PackCase", "RuleSet", "load_pack", "load_ruleset", "pack_files"]
from rules.yaml_source import load_yaml, locate, to_plain


@dataclass(frozen=True)
class CompiledRule:
    spec: RuleSpec
    location: Location
    when: Condition | None
    ladder: tuple[tuple[Tier, Condition | None], ...]
    group_by: tuple[str, ...]
    summary: Template
    form: Form | None = None
    kinds: tuple[str, ...] = ()
    """The event kinds the rule reads (for a sequence, its steps' kinds); empty means all."""
    reads: Reads = NOTHING
    """What detection evaluates on an event: its 'when', tiers and sequence steps."""
    text_reads: Reads = NOTHING
    """What must travel with a match to describe it later: the summary's fields, and for a stateful
    rule also what its tiers read (they are judged with the window's figures)."""
    guard: tuple[str, str] | None = None
    """(field path, text): the rule can only match events whose field holds this text."""
    guard_rest: Condition | None = None
    """What is left of ``when`` once the guard holds (None: nothing)."""
    warnings: tuple[RuleWarning, ...] = ()
    """What the lint warns about: the rule runs, but is almost certainly not what was meant."""

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def when_met(self) -> Condition | None:
        """The condition left to evaluate on an event that detection chose (by the guard, if any)."""
        return self.guard_rest if self.guard is not None else self.when

    @cached_property
    def group_getters(self) -> tuple[tuple[str, Callable[[EventBase], Any]], ...]:
        return tuple((path, field_getter(path)) for path in self.group_by)

    @property
    def stateful(self) -> bool:
        return self.form is not None


@dataclass(frozen=True)
class PackCase:
    """A rule test case and where it was written."""

    spec: RuleCaseSpec
    location: Location


@dataclass
class RuleSet:
    rules: list[CompiledRule]
    router: Router
    cases: list[PackCase] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    def by_id(self) -> dict[str, CompiledRule]:
        return {r.id: r for r in self.rules}

    @property
    def warnings(self) -> list[RuleWarning]:
        """Every rule's warnings, in file order."""
        return [w for r in self.rules for w in r.warnings]

    def dispatcher(self) -> Dispatcher:
        """The lifecycle for these rules: their routing, and which of them still run."""
        return Dispatcher(self.router, rule_ids={r.id for r in self.rules if r.spec.enabled})


def compile_rule(spec: RuleSpec, where: Location, router: Router | None, node: Any) -> CompiledRule:
    """Check one rule's meaning; raise the first problem found with its line."""

    def at(*path: str | int) -> Location:
        return locate(node, list(path), where.file) if node is not None else where

    family = spec.on
    check_kinds(spec.kinds, family, at("kind"), spec.id)
    form, kinds = compile_form(spec, at)
    keys = form.figures if form is not None else ()
    when = compile_condition(spec.when, family, at("when"), spec.id)
    if isinstance(spec.tier, Tier):
        ladder: tuple[tuple[Tier, Condition | None], ...] = ((spec.tier, None),)
    else:
        ladder = tuple(
            (t, compile_condition(spec.tier[t], family, at("tier", t.value), spec.id, keys))
            for t in TIERS_HIGH_FIRST
            if t in spec.tier
        )
    paths = field_paths(MODELS[family])
    for i, path in enumerate(spec.group_by):
        if path not in paths:
            raise RuleError(
                f"group_by field '{path}' is not a {family.value} event field",
                at("group_by", i),
                spec.id,
            )
    summary = Template(spec.summary or spec.title)
    allowed = paths | {f"window.{k}" for k in keys}
    for path in summary.fields:
        if path not in allowed:
            extra = f" (window figures: {', '.join(keys)})" if keys else ""
            raise RuleError(
                f"summary uses '{{{path}}}', which {family.value} events do not have{extra}",
                at("summary"),
                spec.id,
            )
    if router is not None:
        for i, agency in enumerate(spec.route):
            if agency not in router.agencies:
                raise RuleError(
                    f"route names agency '{agency}', which the routing file does not declare "
                    f"(declared: {', '.join(sorted(router.agencies))})",
                    at("route", i),
                    spec.id,
                )
    conditions = [when, *(c for _, c in ladder)]
    if isinstance(form, SequenceForm):
        conditions += [step.when for step in form.steps]
    reads = reduce(or_, (c.reads for c in conditions if c is not None), NOTHING)
    text_reads = template_reads(summary)
    if form is not None:
        text_reads |= reduce(or_, (c.reads for _, c in ladder if c is not None), NOTHING)
    guard, guard_rest = None, None
    guardable = when is not None and (form is None or not form.reads_misses)
    found = literal_guard(when.source) if when is not None and guardable else None
    if found is not None:
        path, text, rest = found
        guard = (path, text)
        guard_rest = compile_condition(rest, spec.on, at("when"), spec.id) if rest else None
    return CompiledRule(
        spec,
        where,
        when,
        ladder,
        tuple(spec.group_by),
        summary,
        form,
        kinds,
        reads,
        text_reads,
        guard,
        guard_rest,
        tuple(rule_warnings(spec, form, at)),
    )


def rule_warnings(spec: RuleSpec, form: Form | None, at: Callable[..., Location]) -> list[RuleWarning]:
    """What a rule that compiles may still get wrong: a form judged per member with no
    ``group_by`` at all (the whole kind is one group). ``group_by: []`` written out says the
    author means that, and is not warned about."""
    if form is None or form.ungrouped is None or "group_by" in spec.model_fields_set:
        return []
    return [RuleWarning(form.ungrouped, at(form.key), spec.id)]


def template_reads(template: Template) -> Reads:
    """The event fields a summary template names (window figures come from the window)."""
    roots = {path.split(".", 1)[0] for path in template.fields} - {"window"}
    location: frozenset[str] | None = frozenset()
    if "location" in roots:
        keys = [p.split(".", 1) for p in template.fields if p.split(".", 1)[0] == "location"]
        location = None if any(len(k) == 1 for k in keys) else frozenset(k[1] for k in keys)
    return Reads(frozenset(roots), location)


_UNION_TAGS = frozenset({"str", "int", "float", "bool", "dict", "list", "enum", "str-enum", "literal"})


def _is_union_tag(step: str | int) -> bool:
    """Pydantic's name for a union member in an error path ('str', 'list[str]', 'str-enum[Tier]')."""
    return isinstance(step, str) and (
        step.startswith("function-") or step.split("[", 1)[0] in _UNION_TAGS
    )


def _validation_errors(exc: ValidationError, node: Any, path: Path) -> list[RuleError]:
    out = []
    for err in exc.errors(include_url=False):
        # The last step of an unknown or missing key is the key itself, whatever it is called.
        keep_last = err["type"] in ("extra_forbidden", "missing") and bool(err["loc"])
        body = err["loc"][:-1] if keep_last else err["loc"]
        loc = [p for p in body if not _is_union_tag(p)] + list(err["loc"][-1:] if keep_last else [])
        dotted = ".".join(str(p) for p in loc)
        rule_id = None
        if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
            try:
                raw_id = node["rules"][loc[1]].get("id")
                rule_id = None if raw_id is None else str(raw_id)
            except (KeyError, IndexError, TypeError, AttributeError):
                rule_id = None
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = f"unknown key '{loc[-1]}' (check the spelling; see docs/rules.md for the keys)"
        elif err["type"] == "missing":
            msg = f"missing required key '{loc[-1]}'"
        out.append(RuleError(f"{dotted}: {msg}", locate(node, loc, path), rule_id))
    return out


def load_pack(
    path: Path, router: Router | None
) -> tuple[list[CompiledRule], list[PackCase], list[RuleError]]:
    """One pack file, collecting every error instead of stopping at the first."""
    try:
        node = load_yaml(path)
    except RuleError as exc:
        return [], [], [exc]
    if node is None:
        empty = RuleError("file is empty; a pack needs 'version: 1', 'pack' and 'rules'", Location(path, 1))
        return [], [], [empty]
    if not isinstance(node, dict):
        what = "a list" if isinstance(node, list) else "a single value"
        where = locate(node, [], path)
        return [], [], [RuleError(
            f"a pack is a mapping with 'version: 1', 'pack' and 'rules', not {what}",
            where if where.line is not None else Location(path, 1),
        )]
    try:
        pack = PackSpec.model_validate(to_plain(node))
    except ValidationError as exc:
        return [], [], _validation_errors(exc, node, path)
    rules, errors = [], []
    for i, spec in enumerate(pack.rules):
        rule_node = node["rules"][i]
        where = locate(node, ["rules", i], path)
        try:
            rules.append(compile_rule(spec, where, router, rule_node))
        except RuleError as exc:
            errors.append(exc)
    cases = [PackCase(c, locate(node, ["tests", i], path)) for i, c in enumerate(pack.tests)]
    return rules, cases, errors


def pack_files(paths: Iterable[Path]) -> list[Path]:
    """Files named directly, plus every *.yaml under directories named."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*.y*ml") if q.suffix in (".yaml", ".yml")))
        else:
            out.append(p)
    return out


def load_ruleset(paths: Sequence[Path], router: Router) -> RuleSet:
    """All packs under ``paths``; raises RuleSetError listing every problem in every file."""
    files = pack_files(paths)
    if not files:
        where = Location(", ".join(map(str, paths)))
        raise RuleSetError([RuleError("no rule files found (expected *.yaml)", where)])
    rules: list[CompiledRule] = []
    cases: list[PackCase] = []
    errors: list[RuleError] = []
    seen: dict[str, Location] = {}
    for f in files:
        r, c, e = load_pack(f, router)
        errors.extend(e)
        cases.extend(c)
        for rule in r:
            if rule.id in seen:
                errors.append(
                    RuleError(f"duplicate rule id, first defined at {seen[rule.id]}", rule.location, rule.id)
                )
                continue
            seen[rule.id] = rule.location
            rules.append(rule)
    if errors:
        raise RuleSetError(errors)
    return RuleSet(rules=rules, router=router, cases=cases, files=files)
