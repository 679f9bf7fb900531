"""Reading one JSON section of a workflow definition into typed values, collecting field errors.

Errors are keyed by path (`definition.tools.0.url`); the first error of a path wins. A reader
never raises on any JSON value: a wrong type gives an error and the default.
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
# a group holding + * or {n,} that is itself followed by + * or {n,}: catastrophic backtracking
_NESTED_REPEAT = re.compile(r"\((?:[^()\\]|\\.)*(?:[+*]|\{\d*,\d*\})(?:[^()\\]|\\.)*\)(?:[+*]|\{\d*,)")


class Fields:
    """Collects errors under a path prefix while reading one object."""

    def __init__(self, path: str, errors: dict[str, str]) -> None:
        self.path, self.errors = path, errors

    def at(self, key: str | int) -> Fields:
        return Fields(f"{self.path}.{key}", self.errors)

    def fail(self, message: str) -> None:
        self.errors.setdefault(self.path, message)

    def obj(self, raw: object) -> Mapping[str, Any] | None:
        if not isinstance(raw, dict):
            self.fail("must be an object")
            return None
        return raw

    def only(self, raw: Mapping[str, Any], allowed: set[str]) -> None:
        for key in raw:
            if key not in allowed:
                self.at(key).fail(f"unknown field {key!r}")

    def text(self, raw: Mapping[str, Any], key: str, default: str = "", *, limit: int = 2000,
             required: bool = False) -> str:
        value = raw.get(key, default)
        if not isinstance(value, str):
            self.at(key).fail("must be text")
            return default
        if required and not value.strip():
            self.at(key).fail("required")
        if len(value) > limit:
            self.at(key).fail(f"at most {limit} characters")
            return value[:limit]
        return value

    def number(self, raw: Mapping[str, Any], key: str, default: float, low: float, high: float) -> float:
        value = raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.at(key).fail("must be a number")
            return default
        if not (math.isfinite(value) and low <= value <= high):
            self.at(key).fail(f"must be between {low:g} and {high:g}")
            return default
        return float(value)

    def whole(self, raw: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
        value = raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            self.at(key).fail("must be a whole number")
            return default
        if not low <= value <= high:
            self.at(key).fail(f"must be between {low} and {high}")
            return default
        return value

    def flag(self, raw: Mapping[str, Any], key: str, default: bool) -> bool:
        value = raw.get(key, default)
        if not isinstance(value, bool):
            self.at(key).fail("must be true or false")
            return default
        return value

    def items(self, raw: Mapping[str, Any], key: str, *, limit: int) -> list[Any]:
        value = raw.get(key, [])
        if not isinstance(value, list):
            self.at(key).fail("must be a list")
            return []
        if len(value) > limit:
            self.at(key).fail(f"at most {limit} entries")
            return value[:limit]
        return value

    def choice(self, raw: Mapping[str, Any], key: str, choices: tuple[str, ...], default: str) -> str:
        value = raw.get(key, default)
        if value not in choices:
            self.at(key).fail("must be one of " + ", ".join(choices))
            return default
        return str(value)

    def regex(self, raw: Mapping[str, Any], key: str) -> str | None:
        """A regular expression that compiles and cannot backtrack catastrophically."""
        value = raw.get(key)
        if value is None:
            return None
        problem = regex_problem(value)
        if problem:
            self.at(key).fail(problem)
            return None
        assert isinstance(value, str)
        return value


def regex_problem(value: object) -> str | None:
    if not isinstance(value, str) or not value:
        return "must be a regular expression (text)"
    if len(value) > 500:
        return "at most 500 characters"
    try:
        re.compile(value)
    except (re.error, OverflowError, RecursionError, ValueError) as exc:  # a{4294967296}: OverflowError
        return f"not a valid regular expression: {exc}"
    if _NESTED_REPEAT.search(value):
        return "a repeated group that itself repeats, like (a+)+, can take exponential time; rewrite it without nesting"
    return None
