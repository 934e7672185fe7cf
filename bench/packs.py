"""The rule packs a run loads: the shipped ones, the latency probe, generated packs of known match rate."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from bench.workload import (
    FAMILY_MIX,
    METRIC_OF,
    METRIC_TOP,
    PROBE_FAMILY,
    PROBE_KIND,
    STREETS,
    Metric,
    inverse_survival,
    survival,
)
from rules.compiler import load_ruleset
from rules.events import KINDS, Family
from rules.routing import Router
from streams.settings import PACKAGE_RULES

SHIPPED_PACKS = PACKAGE_RULES / "packs"

PROBE_RULE_ID = "bench-latency-probe"


RISK_OF: dict[Family, str] = {
    Family.sensor: "public_safety",
    Family.camera: "public_order",
    Family.safety: "public_safety",
    Family.cyber: "cyber_security",
    Family.hotline: "social_conflict",
}
ROUTE_OF: dict[Family, str] = {
    Family.sensor: "emergency",
    Family.camera: "police",
    Family.safety: "emergency",
    Family.cyber: "cyber_center",
    Family.hotline: "hotline",
}


def probe_pack() -> dict[str, Any]:
    """One rule that fires on every probe and opens a new alert each time (unique group)."""
    return {
        "version": 1,
        "pack": "bench-probe",
        "description": "riskstream bench latency probe (generated)",
        "rules": [
            {
                "id": PROBE_RULE_ID,
                "title": "bench latency probe",
                "risk": "public_safety",
                "on": PROBE_FAMILY.value,
                "kind": PROBE_KIND,
                "when": "source_id.startsWith('bench-probe-')",
                "tier": "blue",
                "group_by": ["source_id"],
                "cooldown": "1s",
                "route": ["device_ops"],
                "summary": "bench probe {source_id}",
            }
        ],
    }


def rule_pairs() -> list[tuple[Family, str]]:
    """Every (family, kind) a generated rule may read, in a fixed order."""
    return [(f, k) for f in Family for k in sorted(KINDS[f]) if (f, k) != (PROBE_FAMILY, PROBE_KIND)]


def max_generated_rules() -> int:
    return len(rule_pairs()) * len(STREETS)


def _threshold(metric: Metric, match: float) -> float:
    """The cut with P(metric >= cut) == ``match``, rounded the way the YAML writes it."""
    cut = inverse_survival(min(1.0, match))
    return float(math.ceil(cut)) if metric.integer else round(cut, 2)


def _literal(metric: Metric, cut: float) -> str:
    value = cut * metric.scale
    return str(int(value)) if metric.integer else f"{value:.4f}"


def _generated_rule(family: Family, kind: str, street: int, cut: float, agencies: set[str]) -> dict[str, Any]:
    """Shaped like the shipped packs (scope, null guard, tier ladder), so CEL cost is realistic."""
    metric = METRIC_OF[family]
    path = metric.path
    step = METRIC_TOP - cut
    red, orange = cut + 0.8 * step, cut + 0.5 * step
    guard = "" if "." in path else f"{path} != null && "
    route = [ROUTE_OF[family]] if ROUTE_OF[family] in agencies else []
    return {
        "id": f"bench-{family.value}-{kind.replace('_', '-')}-{STREETS[street].lower()}",
        "title": f"bench {family.value} {kind} {STREETS[street]}",
        "risk": RISK_OF[family],
        "on": family.value,
        "kind": kind,
        "when": f"location.street == '{STREETS[street]}' && {guard}{path} >= {_literal(metric, cut)}",
        "tier": {
            "red": f"{path} >= {_literal(metric, red)}",
            "orange": f"{path} >= {_literal(metric, orange)}",
            "yellow": "true",
        },
        "group_by": ["source_id"],
        "cooldown": "10m",
        "route": route,
        "summary": f"{{location.street}} {{source_id}} {kind}" + ("" if "." in path else f" {{{path}}}"),
    }


def generate_pack(count: int, match_rate: float, router: Router) -> tuple[dict[str, Any], float]:
    """``count`` rules spread round-robin over kinds, one street each; returns (pack, P(match)).

    With m rules on a kind (m streets out of 24), P(an event of that kind matches) is
    m/24 * survival(cut); the cut is chosen to make that ``match_rate`` where it can, and the
    returned fraction is recomputed from the written thresholds so the report states the truth
    (an integer metric matches int(metric) >= cut, which equals metric >= cut for integer cuts).
    """
    pairs = rule_pairs()
    if not 0 < count <= max_generated_rules():
        raise ValueError(f"generated rule count must be 1..{max_generated_rules()}, got {count}")
    per_pair = [count // len(pairs) + (1 if i < count % len(pairs) else 0) for i in range(len(pairs))]
    agencies = set(router.agencies)
    rules: list[dict[str, Any]] = []
    expected = 0.0
    for (family, kind), m in zip(pairs, per_pair, strict=True):
        if m == 0:
            continue
        metric = METRIC_OF[family]
        cut = _threshold(metric, match_rate * len(STREETS) / m)
        rules += [_generated_rule(family, kind, street, cut, agencies) for street in range(m)]
        kinds_in_family = sum(1 for f, _ in pairs if f is family)
        expected += FAMILY_MIX[family] / kinds_in_family * m / len(STREETS) * survival(cut)
    pack = {
        "version": 1,
        "pack": f"bench-generated-{count}",
        "description": "riskstream bench: generated stateless rules",
        "rules": rules,
    }
    return pack, expected


def write_pack(path: Path, pack: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    yaml = YAML(typ="rt")  # keeps key order, so the file reads like a hand-written pack
    yaml.default_flow_style = False
    with path.open("w", encoding="utf-8") as fh:
        yaml.dump(pack, fh)
    return path


def count_rules(paths: Sequence[Path], router: Router) -> int:
    """Load the packs exactly as the worker will, so a broken pack fails here with its message."""
    return sum(1 for r in load_ruleset(list(paths), router).rules if r.spec.enabled)
