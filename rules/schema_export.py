"""JSON Schema for the event families and the alert, for producers and consumers in any language."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from rules.alerts import Alert, CloudEvent
from rules.events import MODELS
from rules.schema import PackSpec


def schemas() -> dict[str, dict[str, object]]:
    models: dict[str, type[BaseModel]] = {f"event.{f.value}": m for f, m in MODELS.items()}
    models["alert"] = Alert
    models["alert.cloudevent"] = CloudEvent
    models["rule-pack"] = PackSpec
    return {name: m.model_json_schema() for name, m in models.items()}


def export_schemas(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in schemas().items():
        path = out_dir / f"{name}.schema.json"
        path.write_text(json.dumps(schema, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written
