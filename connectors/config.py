"""A connector's file: which source, which payload format, and the mapping to one event family.

Read like a rule pack: strict YAML, every problem collected and reported with file:line, so
``riskstream connect check`` can refuse a broken file before it meets traffic.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connectors.mapping import (
    DEFAULT_ZONE,
    EventMapping,
    FieldPath,
    MappingSpecError,
    NativeMapping,
    compile_mapping,
)
from connectors.records import FORMATS, Format, FormatOptions
from connectors.sources import SOURCES
from connectors.sources.base import SourceSpec
from rules.errors import Location, RuleError, RuleSetError
from rules.events import Family
from rules.yaml_source import load_yaml, locate, to_plain

ConnectorName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)]


class _ConnectorFile(BaseModel):
    """The file's shape; ``source`` and ``event`` are checked by their own parts below."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: ConnectorName = Field(description="Names the connector in metrics, logs and dead letters")
    family: Family = Field(description="The event family every record becomes")
    zone: str = Field(default=DEFAULT_ZONE, description="Time zone of source times that carry none")
    source: dict[str, Any]
    format: str | None = Field(default=None, description="Payload format (default: the source's)")
    records: str | None = Field(default=None, description="Path of the record list inside a JSON payload")
    delimiter: str = Field(default=",", min_length=1, max_length=1, description="CSV delimiter")
    encoding: str = Field(default="utf-8", description="Text encoding of CSV and text payloads, e.g. gbk")
    event: dict[str, Any] | Literal["native"] = Field(description="The mapping, or 'native' for "
                                                    "payloads that already are riskstream events")


@dataclass(frozen=True)
class ConnectorConfig:
    """A checked connector file, ready to run."""

    path: Path
    name: str
    family: Family
    source: SourceSpec
    format: Format
    options: FormatOptions
    mapping: EventMapping | NativeMapping


def load_connector(path: Path) -> ConnectorConfig:
    """Raises RuleSetError listing every problem with its file:line, or RuleError for unreadable YAML."""
    node = load_yaml(path)
    if not isinstance(node, Mapping):
        raise RuleError("a connector file is a mapping with name, family, source and event "
                        "(see docs/connectors.md)", Location(path))
    try:
        shape = _ConnectorFile.model_validate(to_plain(node))
    except ValidationError as exc:
        raise RuleSetError(_shape_errors(exc, node, path, ())) from None
    errors: list[RuleError] = []
    source: SourceSpec | None = None
    source_type = shape.source.get("type")
    spec_class = SOURCES.get(str(source_type)) if source_type is not None else None
    if spec_class is None:
        errors.append(RuleError(f"source.type: must be one of {', '.join(sorted(SOURCES))}",
                                locate(node, ["source", "type"] if source_type else ["source"], path)))
    else:
        try:
            source = _relative_to(spec_class.model_validate(shape.source), path.parent)
        except ValidationError as exc:
            errors += _shape_errors(exc, node, path, ("source",))
    format_name = shape.format or (source.default_format if source is not None else "json")
    fmt = FORMATS.get(format_name)
    if fmt is None:
        errors.append(RuleError(f"format: must be one of {', '.join(sorted(FORMATS))}",
                                locate(node, ["format"], path)))
    records: FieldPath | None = None
    if shape.records is not None:
        try:
            records = FieldPath.parse(shape.records)
        except ValueError as exc:
            errors.append(RuleError(f"records: {exc}", locate(node, ["records"], path)))
    if shape.encoding:
        try:
            "".encode(shape.encoding)
        except LookupError:
            errors.append(RuleError(f"encoding: unknown encoding {shape.encoding!r} (e.g. utf-8, gbk)",
                                    locate(node, ["encoding"], path)))
    mapping: EventMapping | NativeMapping | None = None
    try:
        mapping = compile_mapping(shape.name, shape.family, node["event"], shape.zone)
    except ExceptionGroup as group:
        for problem in group.exceptions:
            assert isinstance(problem, MappingSpecError)
            errors.append(RuleError(str(problem), locate(node, list(problem.path), path)))
    if errors:
        raise RuleSetError(errors)
    assert source is not None and fmt is not None and mapping is not None
    options = FormatOptions(records, shape.delimiter, shape.encoding, ZoneInfo(shape.zone))
    return ConnectorConfig(path, shape.name, shape.family, source, fmt, options, mapping)


def _relative_to(spec: SourceSpec, base: Path) -> SourceSpec:
    """Paths in a connector file are relative to the file, so a file and its inputs move together."""
    updates = {name: base / value for name in type(spec).model_fields
               if isinstance(value := getattr(spec, name), Path) and not value.is_absolute()}
    return spec.model_copy(update=updates) if updates else spec


def _shape_errors(exc: ValidationError, node: Any, path: Path, prefix: tuple[str, ...]) -> list[RuleError]:
    out = []
    for err in exc.errors(include_url=False):
        loc = [*prefix, *(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))]
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = f"unknown key '{loc[-1]}'"
        elif err["type"] == "missing":
            msg = f"missing required key '{loc[-1]}'"
        where = ".".join(map(str, loc))
        out.append(RuleError(f"{where}: {msg}", locate(node, loc, path)))
    return out
