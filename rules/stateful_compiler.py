"""Checking a rule's stateful form and turning it into what the window stage runs.

The mistakes caught here are the ones that would make a stateful rule quietly wrong rather than
fail: two forms at once, a sequence with no time bound, a window shorter than the lateness (late
events would find their window already forgotten), a field the family does not have.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable

from rules.conditions import check_kinds, compile_condition
from rules.durations import format_duration
from rules.errors import Location, RuleError
from rules.events import MODELS, Family, field_paths
from rules.forms import (
    AbsenceForm,
    AggregateForm,
    CountForm,
    DistinctForm,
    Form,
    HoldsForm,
    SequenceForm,
    Step,
)
from rules.schema import STATEFUL_FORMS, RuleSpec

At = Callable[..., Location]


def numeric_fields(family: Family) -> set[str]:
    """Top-level fields of a family that hold numbers (what avg/min/max/sum can read)."""
    out = set()
    for name, info in MODELS[family].model_fields.items():
        ann = info.annotation
        members = typing.get_args(ann) if isinstance(ann, types.UnionType) else (ann,)
        if any(m in (int, float) for m in members):
            out.add(name)
    return out


def compile_form(spec: RuleSpec, at: At) -> tuple[Form | None, tuple[str, ...]]:
    """The rule's form (None when stateless) and the event kinds it reads."""
    forms = spec.forms
    if len(forms) > 1:
        raise RuleError(
            f"a rule has at most one stateful form, this one has {' and '.join(forms)}; "
            "split it into two rules",
            at(forms[1]),
            spec.id,
        )
    if spec.within is not None and spec.sequence is None:
        raise RuleError(
            "'within' bounds a sequence; for a window write e.g. count: {at_least: 3, within: 10m}",
            at("within"),
            spec.id,
        )
    kinds = spec.kinds
    if not forms:
        return None, kinds
    family, rid = spec.on, spec.id
    paths = field_paths(MODELS[family])
    form: Form
    if spec.count is not None:
        form = CountForm(spec.count.at_least, spec.count.within)
        _window_covers_lateness(spec, form.within, at("count", "within"))
    elif spec.distinct is not None:
        d = spec.distinct
        if d.field not in paths:
            raise RuleError(
                f"distinct field '{d.field}' is not a {family.value} event field; "
                f"fields are: {', '.join(sorted(MODELS[family].model_fields))}",
                at("distinct", "field"),
                rid,
            )
        form = DistinctForm(d.field, d.at_least, d.within)
        _window_covers_lateness(spec, form.within, at("distinct", "within"))
    elif spec.aggregate is not None:
        a = spec.aggregate
        numbers = numeric_fields(family)
        if a.field not in numbers:
            raise RuleError(
                f"aggregate field '{a.field}' is not a numeric {family.value} event field; "
                f"numeric fields are: {', '.join(sorted(numbers))}",
                at("aggregate", "field"),
                rid,
            )
        comparison, threshold = a.comparison
        form = AggregateForm(a.fn, a.field, a.within, comparison, threshold, a.min_events)
        _window_covers_lateness(spec, form.within, at("aggregate", "within"))
    elif spec.holds_for is not None:
        form = HoldsForm(spec.holds_for.duration, spec.holds_for.max_gap)
    elif spec.sequence is not None:
        form, kinds = _sequence(spec, at)
    else:
        assert spec.absent_for is not None
        form = AbsenceForm(spec.absent_for)
    return form, kinds


def _window_covers_lateness(spec: RuleSpec, within: float, where: Location) -> None:
    if within < spec.lateness:
        raise RuleError(
            f"the window ({format_duration(within)}) is shorter than the allowed lateness "
            f"({format_duration(spec.lateness)}); late events would miss their window. "
            "Widen the window or set a smaller 'lateness'",
            where,
            spec.id,
        )


def _sequence(spec: RuleSpec, at: At) -> tuple[SequenceForm, tuple[str, ...]]:
    assert spec.sequence is not None
    if spec.within is None:
        raise RuleError(
            "a sequence needs 'within', the most time from its first step to its last (e.g. within: 15m); "
            "without it, state would grow without bound",
            at("sequence"),
            spec.id,
        )
    _window_covers_lateness(spec, spec.within, at("within"))
    steps = []
    for i, step in enumerate(spec.sequence):
        check_kinds(step.kinds, spec.on, at("sequence", i, "kind"), spec.id)
        if spec.kinds and step.kinds and not set(step.kinds) <= set(spec.kinds):
            raise RuleError(
                f"step {i + 1} reads kinds {list(step.kinds)} that the rule's 'kind' leaves out",
                at("sequence", i, "kind"),
                spec.id,
            )
        when = compile_condition(step.when, spec.on, at("sequence", i, "when"), spec.id)
        if step.count is not None and step.count.within > spec.within:
            raise RuleError(
                f"step {i + 1} counts within {format_duration(step.count.within)}, longer than the "
                f"sequence's within ({format_duration(spec.within)})",
                at("sequence", i, "count", "within"),
                spec.id,
            )
        n, w = (step.count.at_least, step.count.within) if step.count else (1, 0.0)
        steps.append(Step(step.kinds or tuple(spec.kinds), when, n, w))
    if spec.kinds:
        kinds: tuple[str, ...] = spec.kinds
    elif all(s.kinds for s in steps):
        kinds = tuple(dict.fromkeys(k for s in steps for k in s.kinds))
    else:
        kinds = ()
    return SequenceForm(tuple(steps), spec.within), kinds


__all__ = ["STATEFUL_FORMS", "compile_form", "numeric_fields"]
