"""From what authors wrote to what runs: validated packs become compiled, indexed rules.

CEL conditions are compiled here, once; field names, kinds, group paths, templates and agencies
are checked against the event contract and the routing file, so a typo is a load error with a
file and line, not a rule that silently never fires.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import tzinfo
from functools import cached_property, partial, reduce
from operator import or_
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from rules.conditions import NOTHING, Condition, Reads, check_kinds, compile_condition, literal_guard
from rules.errors import ErrorList, Location, RuleError, RuleSetError, RuleWarning
from rules.events import MODELS, EventBase, field_getter, field_paths
from rules.forms import Form, SequenceForm, compile_form
from rules.lifecycle import Dispatcher
from rules.local_time import DEFAULT_CITY_ZONE, LOCAL, LOCAL_FIELDS
from rules.macros import Vocabulary, build_vocabulary
from rules.model import TIERS_HIGH_FIRST, Tier
from rules.routing import Router
from rules.schema import PackSpec, RuleCaseSpec, RuleMode, RuleSpec
from rules.shadow import check_replacements
from rules.suggest import did_you_mean, keys_at, unknown_key
from rules.templates import Template

__all__ = ["CompiledRule", "Condition", "PackCase", "RuleSet", "load_pack", "load_ruleset", "pack_files"]
from rules.yaml_source import load_yaml, load_yaml_text, locate, to_plain


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
    uses: frozenset[str] = frozenset()
    """The pack lists and macros its conditions name (``rules.macros``); ``spec`` keeps them as
    written, the compiled conditions hold them expanded."""
    mode: RuleMode = "live"
    """The rule's own mode, else its pack's: a shadow rule's notices reach no agency."""

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
    vocabulary: Vocabulary = field(default_factory=Vocabulary)
    """The packs' lists and macros."""
    zone: tzinfo = DEFAULT_CITY_ZONE
    """The city's zone, in which conditions read ``local.hour``, ``local.weekday``, ..."""

    def by_id(self) -> dict[str, CompiledRule]:
        return {r.id: r for r in self.rules}

    @property
    def warnings(self) -> list[RuleWarning]:
        """Every rule's warnings, in file order, then the lists and macros no rule uses."""
        return [w for r in self.rules for w in r.warnings] + self.vocabulary.unused()

    def dispatcher(self) -> Dispatcher:
        """The lifecycle for these rules: their routing, and which of them still run."""
        return Dispatcher(self.router, rule_ids={r.id for r in self.rules if r.spec.enabled})


def compile_rule(
    spec: RuleSpec,
    where: Location,
    router: Router | None,
    node: Any,
    mode: RuleMode = "live",
    vocabulary: Vocabulary | None = None,
    zone: tzinfo = DEFAULT_CITY_ZONE,
) -> CompiledRule:
    """Check one rule's meaning; raise every problem found (RuleSetError when more than one),
    each with its line.

    ``vocabulary``: the packs' lists and macros, expanded into the conditions compiled (``spec``
    stays as written); ``zone``: the city's, for ``local.hour`` and the like."""

    def at(*path: str | int) -> Location:
        return locate(node, list(path), where.file) if node is not None else where

    family = spec.on
    vocab = vocabulary or Vocabulary()
    expanded, uses = vocab.expand_rule(spec)
    # Every check runs and its error is kept (``problems``), so the lint shows all of a rule's errors
    # at once. Tiers and summary read the stateful form's figures: checked once the form compiles.
    problems = ErrorList()
    problems.attempt(lambda: _check_names(vocab, spec, expanded, at), None)
    problems.attempt(lambda: check_kinds(spec.kinds, family, at("kind"), spec.id), None)
    no_form: tuple[Form | None, tuple[str, ...]] = (None, spec.kinds)
    form, kinds = problems.attempt(lambda: compile_form(expanded, at), no_form)
    figures_known = form is not None or not spec.forms
    keys = form.figures if form is not None else ()

    def tier_condition(t: Tier, written: str, text: str) -> Condition | None:
        _raise(vocab.unknown_name(written, text, family, at("tier", t.value), spec.id, keys))
        return compile_condition(text, family, at("tier", t.value), spec.id, keys)

    when = problems.attempt(lambda: compile_condition(expanded.when, family, at("when"), spec.id), None)
    if isinstance(expanded.tier, Tier):
        ladder: tuple[tuple[Tier, Condition | None], ...] = ((expanded.tier, None),)
    else:
        tiers = expanded.tier
        written = spec.tier if isinstance(spec.tier, dict) else tiers
        ladder = tuple(
            (t, problems.attempt(partial(tier_condition, t, written[t], tiers[t]), None))
            if figures_known
            else (t, None)
            for t in TIERS_HIGH_FIRST
            if t in tiers
        )
    paths = field_paths(MODELS[family])
    for i, path in enumerate(spec.group_by):
        if path not in paths and not _is_attribute(path):
            problems.add(RuleError(
                f"group_by field '{path}' is not a {family.value} event field{did_you_mean(path, paths)} "
                "(nor an attribute, written attributes.<key>)",
                at("group_by", i),
                spec.id,
            ))
    summary = Template(spec.summary or spec.title)
    allowed = paths | {f"window.{k}" for k in keys} | {f"{LOCAL}.{k}" for k in LOCAL_FIELDS}
    unknown = [p for p in summary.fields if p not in allowed and not _is_attribute(p)]
    if unknown and figures_known:
        extra = f" (window figures: {', '.join(keys)})" if keys else ""
        problems.add(RuleError(
            f"summary uses {', '.join(repr(f'{{{p}}}') for p in unknown)}, which {family.value} events "
            f"do not have{extra}{did_you_mean(unknown, allowed)}",
            at("summary"),
            spec.id,
        ))
    if router is not None:
        for i, agency in enumerate(spec.route):
            if agency not in router.agencies:
                problems.add(RuleError(
                    f"route names agency '{agency}', which the routing file does not declare"
                    f"{did_you_mean(agency, router.agencies)} "
                    f"(declared: {', '.join(sorted(router.agencies))})",
                    at("route", i),
                    spec.id,
                ))
    problems.raise_any()
    conditions = [when, *(c for _, c in ladder)]
    if isinstance(form, SequenceForm):
        conditions += [step.when for step in form.steps]
    reads = _in_zone(reduce(or_, (c.reads for c in conditions if c is not None), NOTHING), zone)
    text_reads = template_reads(summary)
    if form is not None:
        text_reads |= reduce(or_, (c.reads for _, c in ladder if c is not None), NOTHING)
    text_reads = _in_zone(text_reads, zone)
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
        mode=mode,
        uses=uses,
    )


def _check_names(vocab: Vocabulary, spec: RuleSpec, expanded: RuleSpec, at: Callable[..., Location]) -> None:
    """Names in ``when`` and sequence steps that a list or macro explains better than the field
    check would (tiers are checked once the window's figures are known)."""
    _raise(vocab.unknown_name(spec.when, expanded.when, spec.on, at("when"), spec.id))
    for i, (step, done) in enumerate(zip(spec.sequence or [], expanded.sequence or [], strict=True)):
        _raise(vocab.unknown_name(step.when, done.when, spec.on, at("sequence", i, "when"), spec.id))


def _raise(error: RuleError | None) -> None:
    if error is not None:
        raise error


def _is_attribute(path: str) -> bool:
    """``attributes.<key>``: a key of the event's free-form attributes (absent: null)."""
    head, _, key = path.partition(".")
    return head == "attributes" and bool(key) and "." not in key


def _in_zone(reads: Reads, zone: tzinfo) -> Reads:
    """``reads`` with the city's zone, if it reads the local time."""
    return replace(reads, zone=zone) if LOCAL in reads.variables else reads


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
            msg = unknown_key(str(loc[-1]), keys_at(PackSpec, loc[:-1]))
        elif err["type"] == "missing":
            msg = f"missing required key '{loc[-1]}'"
        out.append(RuleError(f"{dotted}: {msg}", locate(node, loc, path), rule_id))
    return out


@dataclass(frozen=True)
class _Pack:
    """A pack file read and validated for shape, with its YAML tree for line numbers."""

    path: Path
    node: Any
    spec: PackSpec

    def at(self, path: list[str | int]) -> Location:
        return locate(self.node, path, self.path)


def read_pack(path: Path, text: str | None = None) -> tuple[_Pack | None, list[RuleError]]:
    """One pack file's shape (None, with every error, when it has none to compile).

    ``text``: the file's content when it does not come from disk (a rule version read from the rules
    topic); ``path`` then only names it in errors."""
    try:
        node = load_yaml(path) if text is None else load_yaml_text(text, path)
    except RuleError as exc:
        return None, [exc]
    if node is None:
        empty = RuleError("file is empty; a pack needs 'version: 1', 'pack' and 'rules'", Location(path, 1))
        return None, [empty]
    if not isinstance(node, dict):
        what = "a list" if isinstance(node, list) else "a single value"
        where = locate(node, [], path)
        return None, [RuleError(
            f"a pack is a mapping with 'version: 1', 'pack' and 'rules', not {what}",
            where if where.line is not None else Location(path, 1),
        )]
    try:
        return _Pack(path, node, PackSpec.model_validate(to_plain(node))), []
    except ValidationError as exc:
        return None, _validation_errors(exc, node, path)


def compile_pack(
    pack: _Pack, router: Router | None, vocabulary: Vocabulary, zone: tzinfo = DEFAULT_CITY_ZONE
) -> tuple[list[CompiledRule], list[PackCase], list[RuleError]]:
    """A pack's rules and cases, collecting every error instead of stopping at the first."""
    rules, errors = [], []
    for i, spec in enumerate(pack.spec.rules):
        rule_node = pack.node["rules"][i]
        where = pack.at(["rules", i])
        if pack.spec.require_references and not spec.references:
            errors.append(RuleError(
                "this pack says require_references: true, and the rule has no 'references'; list the "
                "standards, laws or documents it rests on (a title, or {title, section, url})",
                where,
                spec.id,
            ))
        if vocabulary.expand_rule(spec)[1] & vocabulary.broken:
            continue  # the broken macro is reported where it is defined
        try:
            rules.append(
                compile_rule(spec, where, router, rule_node, spec.mode or pack.spec.mode, vocabulary, zone)
            )
        except RuleSetError as exc:  # every error of the rule
            errors.extend(exc.errors)
        except RuleError as exc:
            errors.append(exc)
    cases = [PackCase(c, pack.at(["tests", i])) for i, c in enumerate(pack.spec.tests)]
    return rules, cases, errors


def load_pack(
    path: Path, router: Router | None, text: str | None = None, zone: tzinfo = DEFAULT_CITY_ZONE
) -> tuple[list[CompiledRule], list[PackCase], list[RuleError]]:
    """One pack file on its own (its own lists and macros only), collecting every error."""
    pack, errors = read_pack(path, text)
    if pack is None:
        return [], [], errors
    vocabulary, errors = build_vocabulary([(pack.spec, pack.at)])
    rules, cases, more = compile_pack(pack, router, vocabulary, zone)
    return rules, cases, errors + more


def pack_files(paths: Iterable[Path]) -> list[Path]:
    """Files named directly, plus every *.yaml under directories named."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*.y*ml") if q.suffix in (".yaml", ".yml")))
        else:
            out.append(p)
    return out


def load_ruleset(
    paths: Sequence[Path],
    router: Router,
    texts: Mapping[Path, str] | None = None,
    zone: tzinfo = DEFAULT_CITY_ZONE,
) -> RuleSet:
    """All packs under ``paths``; raises RuleSetError listing every problem in every file.

    With ``texts`` (file name to content, a rule version read from the rules topic) the packs are
    those, in that order, and nothing is read from disk; errors name those files and lines.
    ``zone``: the city's (setting ``city_zone``), in which conditions read ``local.hour`` and the like.
    Lists and macros of any pack serve the rules of every pack."""
    files = list(texts) if texts is not None else pack_files(paths)
    if not files:
        where = Location(", ".join(map(str, paths)))
        raise RuleSetError([RuleError("no rule files found (expected *.yaml)", where)])
    rules: list[CompiledRule] = []
    cases: list[PackCase] = []
    errors: list[RuleError] = []
    seen: dict[str, Location] = {}
    packs: list[_Pack] = []
    for f in files:
        pack, e = read_pack(f, None if texts is None else texts[f])
        errors.extend(e)
        packs += [pack] if pack is not None else []
    vocabulary, e = build_vocabulary((p.spec, p.at) for p in packs)
    errors.extend(e)
    for pack in packs:
        r, c, e = compile_pack(pack, router, vocabulary, zone)
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
    rules, unpaired = check_replacements(rules)
    errors.extend(unpaired)
    if errors:
        order = {str(f): i for i, f in enumerate(files)}
        errors.sort(key=lambda e: order.get(str(e.location.file), len(order)) if e.location else len(order))
        raise RuleSetError(errors)
    return RuleSet(rules=rules, router=router, cases=cases, files=files, vocabulary=vocabulary, zone=zone)
