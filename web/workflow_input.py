"""Turning workflow form fields or API JSON into a validated (name, definition)."""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from agent.definition import validate_definition
from web.forms import CONTROL_CHARS
from web.requests import parse_json

Errors = dict[str, str]


def validate_name(raw: Any) -> tuple[str | None, Errors]:
    name = raw.strip() if isinstance(raw, str) else ""
    if not name or len(name) > 100 or CONTROL_CHARS.search(name):
        return None, {"name": "enter a name of at most 100 characters"}
    return name, {}


def from_api(data: Mapping[str, Any], current: dict[str, Any] | None = None) -> tuple[Any, Errors]:
    name, errors = validate_name(data.get("name"))
    raw = data.get("definition", current if current is not None else {})
    if not isinstance(raw, dict):
        return None, {**errors, "definition": "the definition must be a JSON object"}
    if "greeting" in data:
        raw = {**raw, "greeting": data["greeting"]}
    definition, def_errors = validate_definition(raw)
    errors.update(def_errors)
    return (None, errors) if errors else ((name, definition), {})


def from_form(values: Mapping[str, str]) -> tuple[Any, Errors]:
    """The form has a name, a greeting and the raw JSON of the rest of the definition."""
    try:
        raw = parse_json(values.get("definition", "").strip() or "{}")
    except ValueError as exc:
        _, errors = validate_name(values.get("name"))
        return None, {**errors, "definition": f"not valid JSON: {exc}"}
    if not isinstance(raw, dict):
        _, errors = validate_name(values.get("name"))
        return None, {**errors, "definition": "the definition must be a JSON object"}
    if "greeting" in values:
        raw = {**raw, "greeting": values["greeting"].strip()}
    return from_api({"name": values.get("name"), "definition": raw})


def definition_json(definition: Mapping[str, Any]) -> str:
    """The definition without the greeting (edited in its own field), pretty-printed."""
    return json.dumps({k: v for k, v in definition.items() if k != "greeting"}, indent=2)
