"""The JSON-schema subset a tool's parameters use, and the check of the LLM's arguments against it.

    {"type": "object",
     "properties": {"date": {"type": "string", "format": "date", "description": "the day, YYYY-MM-DD"},
                    "party": {"type": "integer", "minimum": 1, "maximum": 12},
                    "room": {"type": "string", "enum": ["small", "large"]}},
     "required": ["date"]}

A flat object of up to 20 named scalars: `string` (minLength, maxLength, pattern, format "date"),
`integer` and `number` (minimum, maximum), `boolean`; each may have `description` and `enum`.
`additionalProperties` may only be false (unknown arguments are refused anyway).
"""
from __future__ import annotations

import dataclasses
import datetime
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agent.errors import ToolArgumentsError
from agent.fields import IDENTIFIER, FieldCheck

Scalar = str | int | float | bool
TYPES = ("string", "integer", "number", "boolean")
MAX_PARAMETERS = 20
MAX_ARGUMENTS_TEXT = 8192
DEFAULT_MAX_LENGTH = 1000
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}\Z")
_KEYS = {"type", "description", "enum", "minimum", "maximum", "minLength", "maxLength", "pattern", "format"}


@dataclass(frozen=True)
class ParamSpec:
    name: str
    type: str
    description: str = ""
    enum: tuple[Scalar, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    format: str | None = None

    def to_json(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": self.type}
        for key, value in (("description", self.description), ("enum", list(self.enum) or None),
                           ("minimum", self.minimum), ("maximum", self.maximum), ("minLength", self.min_length),
                           ("maxLength", self.max_length), ("pattern", self.pattern), ("format", self.format)):
            if value not in (None, ""):
                schema[key] = value
        return schema

    def problem(self, value: object) -> str | None:
        """Why `value` does not fit (None when it does)."""
        problem = _type_problem(self.type, value)
        if problem is None and self.enum and value not in self.enum:
            problem = "must be one of " + ", ".join(json.dumps(v) for v in self.enum)
        if problem is None and isinstance(value, str):
            problem = self._string_problem(value)
        if problem is None and isinstance(value, (int, float)) and not isinstance(value, bool):
            if self.minimum is not None and value < self.minimum:
                problem = f"must be at least {self.minimum:g}"
            elif self.maximum is not None and value > self.maximum:
                problem = f"must be at most {self.maximum:g}"
        return problem

    def _string_problem(self, value: str) -> str | None:
        if self.min_length is not None and len(value) < self.min_length:
            return f"must have at least {self.min_length} characters"
        if len(value) > (self.max_length if self.max_length is not None else DEFAULT_MAX_LENGTH):
            return f"must have at most {self.max_length or DEFAULT_MAX_LENGTH} characters"
        if self.pattern is not None and not re.search(self.pattern, value):
            return f"must match {self.pattern}"
        if self.format == "date" and not _is_date(value):
            return "must be a date like 2026-03-05"
        return None


@dataclass(frozen=True)
class Parameters:
    properties: tuple[ParamSpec, ...] = ()
    required: tuple[str, ...] = ()

    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.properties)

    def to_json(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "object", "properties": {p.name: p.to_json() for p in self.properties}}
        if self.required:
            schema["required"] = list(self.required)
        return schema

    def validate(self, raw: str | Mapping[str, Any] | None) -> dict[str, Scalar]:
        """The arguments as a dict, or `ToolArgumentsError` with every problem (said to the LLM)."""
        values = _decode(raw)
        known = {p.name: p for p in self.properties}
        problems = [f"unknown argument {name!r}" for name in values if name not in known]
        problems += [f"missing required argument {name!r}" for name in self.required if name not in values]
        clean: dict[str, Scalar] = {}
        for name, value in values.items():
            spec = known.get(name)
            if spec is None:
                continue
            problem = spec.problem(value)
            if problem:
                problems.append(f"argument {name!r} {problem}")
            else:
                clean[name] = int(value) if spec.type == "integer" else value  # 3.0 -> 3
        if problems:
            raise ToolArgumentsError("; ".join(problems))
        return clean


def parse_parameters(fields: FieldCheck, raw: object) -> Parameters:
    """The `parameters` of a tool definition (`None` or absent: no parameters)."""
    if raw is None:
        return Parameters()
    section = fields.obj(raw)
    if section is None:
        return Parameters()
    fields.only(section, {"type", "properties", "required", "additionalProperties", "description"})
    if section.get("type", "object") != "object":
        fields.at("type").fail('parameters are an object: "type": "object"')
    if section.get("additionalProperties", False) is not False:
        fields.at("additionalProperties").fail("may only be false")
    properties = section.get("properties", {})
    if not isinstance(properties, dict):
        fields.at("properties").fail("must be an object of named parameters")
        properties = {}
    if len(properties) > MAX_PARAMETERS:
        fields.at("properties").fail(f"at most {MAX_PARAMETERS} parameters")
    specs = tuple(spec for name, schema in list(properties.items())[:MAX_PARAMETERS]
                  if (spec := _param(fields.at("properties").at(name), name, schema)) is not None)
    required = _required(fields.at("required"), section.get("required", []), set(properties))
    return Parameters(specs, required)


def _param(fields: FieldCheck, name: str, raw: object) -> ParamSpec | None:
    if not IDENTIFIER.match(name):
        fields.fail("a parameter name has 1-64 letters, digits or '_' and does not start with a digit")
        return None
    schema = fields.obj(raw)
    if schema is None:
        return None
    fields.only(schema, _KEYS)
    kind = fields.choice(schema, "type", TYPES, "string")
    spec = ParamSpec(
        name, kind, fields.text(schema, "description", limit=500),
        minimum=_bound(fields, schema, "minimum") if kind in ("integer", "number") else None,
        maximum=_bound(fields, schema, "maximum") if kind in ("integer", "number") else None,
        min_length=_length(fields, schema, "minLength") if kind == "string" else None,
        max_length=_length(fields, schema, "maxLength") if kind == "string" else None,
        pattern=fields.regex(schema, "pattern") if kind == "string" else None,
        format=fields.choice(schema, "format", ("date",), "date") if kind == "string" and "format" in schema else None,
    )
    for key in ("minimum", "maximum", "minLength", "maxLength", "pattern", "format"):
        if key in schema and getattr(spec, _ATTRS[key]) is None and f"{fields.path}.{key}" not in fields.errors:
            fields.at(key).fail(f"does not apply to a {kind}")
    return _with_enum(fields, schema, spec)


_ATTRS = {"minimum": "minimum", "maximum": "maximum", "minLength": "min_length", "maxLength": "max_length",
          "pattern": "pattern", "format": "format"}


def _with_enum(fields: FieldCheck, schema: Mapping[str, Any], spec: ParamSpec) -> ParamSpec:
    if "enum" not in schema:
        return spec
    values = schema["enum"]
    if not isinstance(values, list) or not 1 <= len(values) <= 50:
        fields.at("enum").fail("must be a list of 1 to 50 values")
        return spec
    for index, value in enumerate(values):
        if _type_problem(spec.type, value) is not None:
            fields.at("enum").at(index).fail(f"must be a {spec.type}")
            return spec
    return dataclasses.replace(spec, enum=tuple(values))


def _bound(fields: FieldCheck, schema: Mapping[str, Any], key: str) -> float | None:
    value = schema.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        fields.at(key).fail("must be a number")
        return None
    return value


def _length(fields: FieldCheck, schema: Mapping[str, Any], key: str) -> int | None:
    if key not in schema:
        return None
    return fields.whole(schema, key, 0, 0, 10000)


def _required(fields: FieldCheck, raw: object, names: set[str]) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(name, str) for name in raw):
        fields.fail("must be a list of parameter names")
        return ()
    for index, name in enumerate(raw):
        if name not in names:
            fields.at(index).fail("must name one of the properties")
    return tuple(dict.fromkeys(name for name in raw if name in names))


def _type_problem(kind: str, value: object) -> str | None:
    if kind == "boolean":
        return None if isinstance(value, bool) else "must be true or false"
    if kind == "string":
        return None if isinstance(value, str) and _encodable(value) else "must be text"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return "must be a number"
    if kind == "integer" and not float(value).is_integer():
        return "must be a whole number"
    return None


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, \ud800 in JSON
        return False
    return True


def _is_date(value: str) -> bool:
    if not _DATE.match(value):
        return False
    try:
        datetime.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _decode(raw: str | Mapping[str, Any] | None) -> Mapping[str, Any]:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    if isinstance(raw, str):
        if len(raw) > MAX_ARGUMENTS_TEXT:
            raise ToolArgumentsError(f"the arguments are longer than {MAX_ARGUMENTS_TEXT} characters")
        try:
            raw = json.loads(raw)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise ToolArgumentsError(f"the arguments are not JSON: {exc}") from exc
    if not isinstance(raw, Mapping):
        raise ToolArgumentsError("the arguments must be a JSON object")
    return raw
