"""Stateful rule forms, one small class each, found by the key that names them in a rule.

Adding a form is one module here (how it compiles, what an event tells it, when it is met, what
the clock does to it) and one line in ``FORMS`` (plus its key in ``rules.schema.RuleSpec``).
"""

from __future__ import annotations

from rules.errors import RuleError
from rules.forms.absence import ABSENCE_FORGET, AbsenceForm
from rules.forms.aggregate import AggregateForm, numeric_fields
from rules.forms.base import At, Form, Reading, WindowedForm
from rules.forms.count import CountForm
from rules.forms.distinct import DistinctForm
from rules.forms.holds import HoldsForm
from rules.forms.sequence import SequenceForm, Step
from rules.schema import STATEFUL_FORMS, RuleSpec

FORMS: dict[str, type[Form]] = {
    form.key: form for form in (CountForm, DistinctForm, AggregateForm, HoldsForm, SequenceForm, AbsenceForm)
}
assert tuple(FORMS) == STATEFUL_FORMS, "every form needs its key in RuleSpec, in the same order"


def compile_form(spec: RuleSpec, at: At) -> tuple[Form | None, tuple[str, ...]]:
    """The rule's form (None when stateless) and the event kinds it reads.

    The mistakes caught here are the ones that would make a stateful rule quietly wrong rather
    than fail: two forms at once, a sequence with no time bound, a window shorter than the
    lateness (late events would find their window already forgotten), a field the family lacks.
    """
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
    if not forms:
        return None, spec.kinds
    form = FORMS[forms[0]].compile(spec, at)
    return form, form.kinds(spec)


__all__ = [
    "ABSENCE_FORGET",
    "FORMS",
    "AbsenceForm",
    "AggregateForm",
    "At",
    "CountForm",
    "DistinctForm",
    "Form",
    "HoldsForm",
    "Reading",
    "SequenceForm",
    "Step",
    "WindowedForm",
    "compile_form",
    "numeric_fields",
]
