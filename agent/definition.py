"""Workflow definitions: a versioned JSON document, validated here before it is stored.

Version 1 knows the common fields below; the dialog engines add their own sections. Unknown
top-level keys are refused so a typo does not silently do nothing.
"""
from __future__ import annotations

from typing import Any

SCHEMA_VERSION = 1
ENGINES = ("script", "llm")

# field -> (type, default, check description)
_FIELDS: dict[str, tuple[type | tuple[type, ...], Any]] = {
    "version": (int, SCHEMA_VERSION),
    "engine": (str, "script"),
    "greeting": (str, ""),
    "language": (str, "en"),
    "voice": (str, "default"),
    "barge_in": (bool, True),
    "end_of_speech_ms": (int, 600),
    "no_input_reprompt_s": (int, 8),
    "no_input_hangup_s": (int, 20),
    "max_duration_s": (int, 900),
    "recording": (bool, False),
    "farewell": (str, "Goodbye."),
    "script": (dict, None),
    "llm": (dict, None),
}

_RANGES = {
    "end_of_speech_ms": (100, 5000),
    "no_input_reprompt_s": (1, 300),
    "no_input_hangup_s": (1, 600),
    "max_duration_s": (10, 86400),
}


def default_definition(greeting: str = "") -> dict[str, Any]:
    return {k: v for k, (_, v) in _FIELDS.items() if v is not None} | {"greeting": greeting}


def validate_definition(raw: Any) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """(definition with defaults filled in, {}) or (None, {"definition.<field>": message})."""
    if not isinstance(raw, dict):
        return None, {"definition": "the definition must be a JSON object"}
    errors: dict[str, str] = {}
    clean = default_definition()
    for key, value in raw.items():
        if key not in _FIELDS:
            errors[f"definition.{key}"] = f"unknown field {key!r}"
            continue
        kind, _ = _FIELDS[key]
        if isinstance(value, bool) and kind is not bool:
            errors[f"definition.{key}"] = f"must be {_type_name(kind)}"
            continue
        if value is None and key in ("script", "llm"):
            continue
        if not isinstance(value, kind):
            errors[f"definition.{key}"] = f"must be {_type_name(kind)}"
            continue
        clean[key] = value
    if clean["version"] != SCHEMA_VERSION:
        errors["definition.version"] = f"this server understands version {SCHEMA_VERSION}"
    if clean["engine"] not in ENGINES:
        errors["definition.engine"] = "engine must be 'script' or 'llm'"
    for key, (low, high) in _RANGES.items():
        value = clean[key]
        if isinstance(value, int) and not low <= value <= high:
            errors[f"definition.{key}"] = f"must be between {low} and {high}"
    for key in ("greeting", "farewell"):
        if isinstance(clean[key], str) and len(clean[key]) > 2000:
            errors[f"definition.{key}"] = "at most 2000 characters"
    return (None, errors) if errors else (clean, {})


def _type_name(kind: type | tuple[type, ...]) -> str:
    names = {int: "a whole number", str: "text", bool: "true or false", dict: "an object"}
    if isinstance(kind, tuple):
        return " or ".join(names.get(k, k.__name__) for k in kind)
    return names.get(kind, kind.__name__)
